"""The training loop with a small stand-in model and in-memory batches: schedule, exact resume, kill -9, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from signkit.errors import SignkitError
from signkit.train import checkpoint as C
from signkit.train.config import TrainConfig
from signkit.train.loop import fit, param_groups, warmup_cosine
from signkit.train.tasks import ISLRTask, LabelSpace

HERE = Path(__file__).parent
K, CLASSES = 5, 4


# ------------------------------------------------------------------------ test doubles (tests only, not library)


@dataclass
class Out:
    loss: torch.Tensor
    terms: dict = field(default_factory=dict)
    logits: torch.Tensor | None = None


class TinyModel(nn.Module):
    """Follows the model contract: batch dict in, output with loss/terms/logits; the head's names start with head."""

    def __init__(self, dropout: float = 0.3):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(K * 3, 32), nn.GELU(), nn.Dropout(dropout), nn.LayerNorm(32))
        self.head = nn.Linear(32, CLASSES)

    def forward(self, batch):
        m = batch["mask"].float()
        feat = (batch["pose"].flatten(2) * m[..., None]).sum(1) / m.sum(1, keepdim=True)
        logits = self.head(self.backbone(feat))
        loss = F.cross_entropy(logits, batch["label"])
        return Out(loss, {"ce": loss.detach()}, logits)


class MemorySource:
    """Variable-length synthetic samples; order is a function of (seed, epoch); augmentation draws from the global
    torch RNG (as a careless reader would), which exact resume must still reproduce."""

    def __init__(self, n: int = 40, batch_size: int = 8, seed: int = 0, shuffle: bool = True, noise: float = 0.05):
        g = torch.Generator().manual_seed(1000 + seed)
        self.samples = []
        for i in range(n):
            t = int(torch.randint(3, 9, (1,), generator=g))
            label = i % CLASSES
            pose = torch.randn(t, K, 3, generator=g) * 0.3 + label
            self.samples.append((f"s{i:03d}", pose, label))
        self.batch_size, self.seed, self.shuffle, self.noise = batch_size, seed, shuffle, noise

    def batches(self, epoch: int):
        order = list(range(len(self.samples)))
        if self.shuffle:
            order = torch.randperm(len(order), generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
            order = order.tolist()
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):  # drop_last: equal batches
            items = [self.samples[i] for i in order[start : start + self.batch_size]]
            yield collate(items, self.noise)


def collate(items, noise: float = 0.0):
    t = max(p.shape[0] for _, p, _ in items)
    pose = torch.zeros(len(items), t, K, 3)
    mask = torch.zeros(len(items), t, dtype=torch.bool)
    for i, (_, p, _) in enumerate(items):
        pose[i, : p.shape[0]] = p + noise * torch.randn_like(p)
        mask[i, : p.shape[0]] = True
    return {
        "pose": pose,
        "conf": mask.float()[..., None].expand(-1, -1, K).clone(),
        "mask": mask,
        "length": mask.sum(1),
        "label": torch.tensor([lab for _, _, lab in items]),
        "key": [k for k, _, _ in items],
        "gloss": [f"c{lab}" for _, _, lab in items],
        "text": [None] * len(items),
        "signer": [None] * len(items),
        "language": [None] * len(items),
    }


class Interrupt(Exception):
    pass


class InterruptingSource:
    """Raises after ``after`` batches: an in-process stand-in for a crash."""

    def __init__(self, inner, after: int):
        self.inner, self.after, self.count = inner, after, 0

    def batches(self, epoch):
        for b in self.inner.batches(epoch):
            self.count += 1
            if self.count > self.after:
                raise Interrupt
            yield b


def config(**kw) -> TrainConfig:
    base = dict(
        task="islr",
        max_steps=12,
        batch_size=8,
        grad_accum=2,
        lr=3e-3,
        warmup_steps=3,
        ckpt_every=4,
        eval_every=5,
        log_every=2,
        progress=False,
        seed=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def task() -> ISLRTask:
    return ISLRTask(LabelSpace(classes=[f"c{i}" for i in range(CLASSES)]))


def run(run_dir, cfg, source=None, dev=None, resume=False):
    C.seed_everything(cfg.seed)
    model = TinyModel()
    res = fit(task(), model, source or MemorySource(), cfg, run_dir, dev=dev, resume=resume)
    return model, res


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(a, b, atol=1e-6):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-5, msg=k)


# ------------------------------------------------------------------------------------------------------- tests


def test_warmup_cosine_schedule():
    f = warmup_cosine(4, 14, min_ratio=0.1)
    assert [round(f(s), 3) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the decay
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)


def test_backbone_and_head_get_their_own_learning_rates():
    groups = param_groups(TinyModel(), config(lr=1e-3, head_lr=5e-3, weight_decay=0.1))
    by = {(g["name"], g["weight_decay"]): g["lr"] for g in groups}
    assert by == {("backbone", 0.0): 1e-3, ("backbone", 0.1): 1e-3, ("head", 0.0): 5e-3, ("head", 0.1): 5e-3}
    assert config(lr=1e-3).head_learning_rate == pytest.approx(1e-2)  # fine-tuning default: 10 x backbone


def test_training_learns_and_logs(tmp_path):
    dev = MemorySource(n=16, seed=5, shuffle=False, noise=0.0)
    model, res = run(tmp_path / "run", config(max_steps=30, eval_every=10), dev=dev)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in lines if x["event"] == "train"]
    evals = [x for x in lines if x["event"] == "eval"]
    assert [x["step"] for x in evals] == [10, 20, 30]
    assert train[-1]["loss"] < train[0]["loss"]
    assert res.best_eval["top1"] >= 75.0  # the classes are well separated
    assert C.best_checkpoint(tmp_path / "run").name == f"step-{res.state.best_step:07d}"
    assert res.state.samples_seen == 30 * 2 * 8


def test_resume_after_crash_matches_uninterrupted_run(tmp_path):
    dev = MemorySource(n=16, seed=5, shuffle=False)
    cfg = config()
    ref_model, ref = run(tmp_path / "ref", cfg, dev=dev)
    # 40 samples / 8 = 5 batches per epoch; crash in the middle of epoch 2 and in the middle of an accumulation
    with pytest.raises(Interrupt):
        run(tmp_path / "b", cfg, source=InterruptingSource(MemorySource(), after=17), dev=dev)
    assert json.loads((C.latest_checkpoint(tmp_path / "b") / "state.json").read_text())["batch_in_epoch"] == 1
    model, res = run(tmp_path / "b", cfg, dev=dev, resume=True)
    assert res.state.step == cfg.max_steps and res.state.to_dict() == ref.state.to_dict()
    assert_same(weights(model), weights(ref_model))
    # the log holds each step once (lines a crashed run wrote after its checkpoint were dropped)
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    ref_steps = [json.loads(x)["step"] for x in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    assert steps == ref_steps


def test_a_new_run_refuses_a_used_directory_and_resume_of_finished_run_is_a_no_op(tmp_path):
    cfg = config(max_steps=4)
    model, _ = run(tmp_path / "r", cfg)
    with pytest.raises(SignkitError, match="--resume"):
        run(tmp_path / "r", cfg)
    again, res = run(tmp_path / "r", cfg, resume=True)
    assert res.state.step == 4
    assert_same(weights(again), weights(model))


def test_resume_refuses_a_damaged_latest_checkpoint_and_says_which_one_to_resume_from(tmp_path):
    cfg = config(max_steps=8, ckpt_every=4)
    ref_model, _ = run(tmp_path / "ref", cfg)
    run(tmp_path / "r", cfg)
    root = tmp_path / "r" / "checkpoints"
    (root / "step-0000008" / "state.json").unlink()  # damaged after it was written (saves are atomic)
    want = r"names step-0000008, which is missing or incomplete .*the newest complete one is step-0000004"
    with pytest.raises(SignkitError, match=want):  # not a silent restart from step 0 over the finished work
        run(tmp_path / "r", cfg, resume=True)
    with pytest.raises(SignkitError, match="already holds a run"):  # nor a new run over it
        run(tmp_path / "r", cfg)
    (root / "latest").write_text("step-0000004\n")  # what the message says to do
    model, res = run(tmp_path / "r", cfg, resume=True)
    assert res.state.step == 8
    assert_same(weights(model), weights(ref_model))


def test_checkpoint_pruning_keeps_best_and_last(tmp_path):
    run(tmp_path / "r", config(max_steps=20, ckpt_every=2, eval_every=100, keep_last=2))
    names = sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir() if p.is_dir())
    assert names == ["step-0000018", "step-0000020"]
    assert not list((tmp_path / "r" / "checkpoints").glob(".*partial"))


def test_half_written_checkpoint_is_invisible(tmp_path):
    run(tmp_path / "r", config(max_steps=4))
    root = tmp_path / "r" / "checkpoints"
    (root / ".step-0000008.abcd.partial").mkdir()  # what a kill during a write leaves
    (root / "step-0000009").mkdir()  # a folder no pointer names
    assert C.latest_checkpoint(tmp_path / "r").name == "step-0000004"


# ------------------------------------------------------------------------------- subprocess tests (kill -9, DDP)

SCRIPT = r"""
import os, signal, sys, torch
sys.path.insert(0, {here!r})
from test_train_loop import MemorySource, TinyModel, config, task
from signkit.train.checkpoint import seed_everything
from signkit.train.loop import fit
from safetensors.torch import save_model

kill_after = int(sys.argv[2])

class Killing:
    def __init__(self, inner): self.inner, self.count = inner, 0
    def batches(self, epoch):
        for b in self.inner.batches(epoch):
            self.count += 1
            if kill_after and self.count > kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            yield b

cfg = config(max_steps=10, ckpt_every=3, batch_size={batch}, eval_every=5)
seed_everything(0)
model = TinyModel(dropout={dropout})
src = MemorySource(batch_size={batch}, noise={noise})
dev = MemorySource(n=12, seed=5, batch_size=4, shuffle=False, noise=0.0)
fit(task(), model, Killing(src), cfg, sys.argv[1], dev=dev, resume=True)
if int(os.environ.get("RANK", 0)) == 0:
    save_model(model, os.path.join(sys.argv[1], "final.safetensors"))
"""


def _script(tmp_path, batch=8, dropout=0.3, noise=0.05) -> Path:
    path = tmp_path / "train_script.py"
    path.write_text(SCRIPT.format(here=str(HERE), batch=batch, dropout=dropout, noise=noise))
    return path


def _final(run_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(run_dir) / "final.safetensors"))


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


@pytest.mark.slow
def test_kill_dash_9_then_resume_matches_uninterrupted(tmp_path):
    script = _script(tmp_path)
    py = sys.executable
    subprocess.run([py, str(script), str(tmp_path / "ref"), "0"], check=True, env=_env())
    run_dir = str(tmp_path / "killed")
    for kill_after in (7, 11):  # killed twice, at different points (mid-accumulation, right after a checkpoint)
        proc = subprocess.run([py, str(script), run_dir, str(kill_after)], env=_env())
        assert proc.returncode == -9
    subprocess.run([py, str(script), run_dir, "0"], check=True, env=_env())
    assert_same(_final(run_dir), _final(tmp_path / "ref"))


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    script = _script(tmp_path, dropout=0.0, noise=0.0)  # no randomness that differs between ranks
    py = sys.executable
    subprocess.run([py, str(script), str(tmp_path / "one"), "0"], check=True, env=_env())
    cmd = [
        py,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
        str(tmp_path / "two"),
        "0",
    ]
    subprocess.run(cmd, check=True, env=_env(), timeout=300)
    assert_same(_final(tmp_path / "two"), _final(tmp_path / "one"), atol=1e-5)
    # evaluation is sharded across the ranks and gathered: the same dev scores as one process
    evals = [
        [x for x in map(json.loads, (tmp_path / r / "metrics.jsonl").read_text().splitlines()) if x["event"] == "eval"]
        for r in ("one", "two")
    ]
    assert len(evals[0]) == 2 and evals[0] == evals[1]
