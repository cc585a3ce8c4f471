"""``data_per_rank``: under torchrun each rank reads only its part of the training split (1/N of the bytes) instead of
every global batch. Ranks see disjoint samples, stop an epoch after the same number of batches (or DDP would hang),
and a resumed run is exact."""

from __future__ import annotations

import json

import pytest
import torch
from test_multinode import _weights, clean_env, launch, rewind
from test_train_loop import assert_same
from test_train_run import packed  # noqa: F401 (a module-scoped fixture: 14 tiny clips, 3 classes, packed)

from signkit.errors import ConfigError
from signkit.train.data import DatasetSource


def test_ranks_read_disjoint_parts_and_stop_after_the_same_number_of_batches(packed):  # noqa: F811
    # 8 training clips, 3 ranks, global batch 3: ranks hold 3, 3 and 2 clips, so all stop after 2 // 1 = 2 batches
    sources = [
        DatasetSource(packed, "train", 3, training=True, seed=1, rank=r, world_size=3, max_frames=6) for r in range(3)
    ]
    for epoch in (0, 1):
        keys = [[k for b in src.batches(epoch) for k in b["key"]] for src in sources]
        assert [len(k) for k in keys] == [2, 2, 2]
        flat = [k for ks in keys for k in ks]
        assert len(set(flat)) == 6 and all(b["pose"].shape[0] == 1 for b in sources[0].batches(epoch))
    again = DatasetSource(packed, "train", 3, training=True, seed=1, rank=1, world_size=3, max_frames=6)
    assert [k for b in again.batches(1) for k in b["key"]] == [k for b in sources[1].batches(1) for k in b["key"]]
    with pytest.raises(ConfigError, match="multiple|divide"):
        DatasetSource(packed, "train", 4, training=True, rank=0, world_size=3)


FINETUNE = [
    "-m",
    "signkit",
    "finetune",
    "--model",
    "sigma-tiny",
    "--from-scratch",
    "--task",
    "islr",
    "--max-steps",
    "3",
    "--batch-size",
    "4",
    "--max-frames",
    "6",
    "--eval-every",
    "3",
    "--ckpt-every",
    "2",
    "--no-progress",
    "--resume",
    "--set",
    "data_per_rank=true",
]


@pytest.mark.slow
def test_two_processes_reading_per_rank_train_and_resume_exactly(packed, tmp_path):  # noqa: F811
    """2 nodes x 1 process with data_per_rank; a node dies after step 2's checkpoint, both rerun: same weights."""
    from signkit.train.checkpoint import latest_checkpoint

    nodes = [(tmp_path / n, clean_env(SIGNKIT_HOME=str(tmp_path / f"home-{n}"))) for n in ("node0", "node1")]
    run = tmp_path / "run"
    launch(nodes, [*FINETUNE, "--data", str(packed), "-o", str(run)])
    assert latest_checkpoint(run).name == "step-0000003"
    logged = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in logged if x["event"] == "eval"] == [3]
    assert json.loads((run / "checkpoints" / "step-0000003" / "state.json").read_text())["samples_seen"] == 12
    resumed = tmp_path / "resumed"
    rewind(run, resumed, 2)
    launch(nodes, [*FINETUNE, "--data", str(packed), "-o", str(resumed)])
    final = _weights(latest_checkpoint(run))
    assert_same(_weights(latest_checkpoint(resumed)), final)
    # reading every global batch (the default) gives each rank other samples, so other weights
    default = tmp_path / "default"
    launch(nodes, [*FINETUNE[:-2], "--data", str(packed), "-o", str(default)])
    other = _weights(latest_checkpoint(default))
    assert any(not torch.equal(other[k], final[k]) for k in final)
