"""Multi-node training: torchrun launches on 127.0.0.1 forming several "nodes", each with its own SIGNKIT_HOME.

What one process group on one machine cannot show: zoo weights are fetched once per node (from a local HTTP server
that counts requests), only global rank 0 writes the run folder (a rank that took LOCAL_RANK for its rank would write
too), every rank resumes from rank 0's checkpoint, and the result equals a one-node run. The fast tests check the
pieces (`main_first`, `agreed_checkpoint`, the zoo's per-call temporary names) in one 2-process group.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_train_loop import HERE, _env, _final, _script, assert_same
from test_train_run import packed  # noqa: F401 (a module-scoped fixture: 14 tiny clips, 3 classes, packed)
from test_zoo_download import ZooServer

from signkit.errors import ZooError
from signkit.zoo import cache as zoo_cache
from signkit.zoo import downloading as dl

ENTRY = "sigma-tiny.fs-lexicon"  # what `--model sigma-tiny` resolves to
WEIGHTS = Path(__file__).parents[1] / "signkit" / "zoo" / "weights" / ENTRY
BUILTIN = Path(__file__).parents[1] / "signkit" / "zoo" / "registry.toml"
TIMEOUT = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The test_train_loop environment (one thread, no torchrun variables), offline from everything but 127.0.0.1."""
    env = _env()
    for var in (
        "SIGNKIT_ZOO_MIRROR",
        "SIGNKIT_OFFLINE",
        "HF_HUB_OFFLINE",
        "SIGNKIT_ZOO_REGISTRY",
        "GROUP_RANK",
        "LOCAL_WORLD_SIZE",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        env.pop(var, None)
    env.update(extra)
    return env


def launch(nodes: list[tuple[Path, dict[str, str]]], args: list[str], nproc: int = 1) -> None:
    """One torchrun per (cwd, env): ``len(nodes)`` nodes x ``nproc`` processes, c10d rendezvous on a free port."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    if len(nodes) == 1:
        torchrun += ["--standalone"]
    else:
        torchrun += [
            "--nnodes",
            str(len(nodes)),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            f"127.0.0.1:{free_port()}",
            "--rdzv-id",
            "signkit-test",
            "--local-addr",
            "127.0.0.1",
        ]
    procs = []
    for cwd, env in nodes:
        cwd.mkdir(parents=True, exist_ok=True)
        log = open(cwd / "torchrun.log", "w")  # noqa: SIM115 (closed below)
        procs.append((subprocess.Popen([*torchrun, *args], cwd=cwd, env=env, stdout=log, stderr=log), log))
    wait_all(procs, [cwd / "torchrun.log" for cwd, _ in nodes])


def wait_all(procs: list[tuple[subprocess.Popen, object]], logs: list[Path]) -> None:
    """Wait for every process (killing what outlives TIMEOUT), close their logs, and fail with a failed one's log."""
    try:
        for proc, _log in procs:
            proc.wait(timeout=TIMEOUT)
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    for path, (proc, _log) in zip(logs, procs, strict=True):
        assert proc.returncode == 0, path.read_text()[-4000:]


def rewind(run: Path, to: Path, step: int) -> None:
    """A copy of ``run`` as it was when step ``step``'s checkpoint was the latest (a node died right after it)."""
    shutil.copytree(run, to)
    for ckpt in (to / "checkpoints").glob("step-*"):
        if int(ckpt.name.removeprefix("step-")) > step:
            shutil.rmtree(ckpt)
    (to / "checkpoints" / "latest").write_text(f"step-{step:07d}\n")
    (to / "checkpoints" / "best").unlink(missing_ok=True)


# ---------------------------------------------------------------------------- the pieces, in one 2-process group

PIECES = r"""
import json, shutil, sys, time
from pathlib import Path
import torch
sys.path.insert(0, {here!r})
from test_train_loop import MemorySource, TinyModel, config, task
from signkit.errors import SignkitError, ZooError
from signkit.train import distributed as D
from signkit.train.checkpoint import agreed_checkpoint, save_checkpoint, seed_everything
from signkit.train.loop import fit
from signkit.train.state import TrainState

base = Path(sys.argv[1])
rank = D.init().rank
out = {{}}

# main_first: rank 0 finishes before the others start (rank 1 would not find the flag otherwise)
flag = base / "flag"
def fill():
    if rank == 0:
        time.sleep(1.0)
        flag.write_text("filled by rank 0")
    return flag.read_text()
out["main_first"] = D.main_first(fill)

# a failure on rank 0 stops every rank at once, with rank 0's message
def failing():
    if rank == 0:
        raise ZooError("no weights for lab.missing")
    return "ran after a failed rank 0"
try:
    out["failure"] = D.main_first(failing)
except SignkitError as e:
    out["failure"] = str(e)

# agreed_checkpoint: rank 1's view of the run is out of date (its latest pointer names an older checkpoint)
view = base / f"view{{rank}}"
for step in (1, 3):
    save_checkpoint(view, torch.nn.Linear(2, 2), TrainState(step=step), None, None, keep_last=5)
if rank == 1:
    (view / "checkpoints" / "latest").write_text("step-0000001\n")
out["agreed"] = agreed_checkpoint(view).name
D.barrier()
if rank == 1:
    shutil.rmtree(view / "checkpoints" / "step-0000003")
try:
    out["blind"] = str(agreed_checkpoint(view))
except SignkitError as e:
    out["blind"] = str(e)

# fit on node-local run folders (the same relative -o on two machines): only rank 0 writes one
run = base / f"node{{rank}}" / "run"
cfg = config(max_steps=2, ckpt_every=1, eval_every=100)
seed_everything(0)
fit(task(), TinyModel(dropout=0.0), MemorySource(batch_size=8, noise=0.0), cfg, run)
out["run_exists"] = run.exists()
# ... and resuming from them is refused on every rank (rank 1 cannot read rank 0's checkpoint)
try:
    fit(task(), TinyModel(dropout=0.0), MemorySource(batch_size=8, noise=0.0), cfg, run, resume=True)
    out["resume"] = "resumed"
except SignkitError as e:
    out["resume"] = str(e)

# the reader splits a split by global rank x worker: exactly once per epoch over the nodes
import signkit
loader = signkit.datasets.open(sys.argv[2], "train", shuffle=True, seed=0).loader(2, num_workers=2)
out["reader"] = []
for epoch in (0, 1):
    loader.set_epoch(epoch)
    out["reader"].append([k for batch in loader for k in batch["key"]])
(base / f"out{{rank}}.json").write_text(json.dumps(out))
D.shutdown()
"""


def process_group(script: Path, args: list[str], world_size: int, cwd: Path) -> None:
    """The processes torchrun starts for ``world_size`` nodes x 1 process (its environment variables: every
    ``LOCAL_RANK`` is 0), without its agent: faster for small checks."""
    port = str(free_port())
    procs = []
    for rank in range(world_size):
        env = clean_env(
            RANK=str(rank),
            WORLD_SIZE=str(world_size),
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
            GROUP_RANK=str(rank),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        log = open(cwd / f"rank{rank}.log", "w")  # noqa: SIM115 (closed below)
        procs.append(
            (subprocess.Popen([sys.executable, str(script), *args], cwd=cwd, env=env, stdout=log, stderr=log), log)
        )
    wait_all(procs, [cwd / f"rank{rank}.log" for rank in range(world_size)])


def test_two_nodes_rank0_first_agreed_checkpoint_rank0_only_run_folder_and_reader_split(
    packed,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    script = tmp_path / "pieces.py"
    script.write_text(PIECES.format(here=str(HERE)))
    process_group(script, [str(tmp_path), str(packed)], 2, tmp_path)
    out = [json.loads((tmp_path / f"out{r}.json").read_text()) for r in (0, 1)]
    assert out[0]["main_first"] == out[1]["main_first"] == "filled by rank 0"
    assert out[0]["failure"] == "no weights for lab.missing"
    assert "rank 0 failed (ZooError: no weights for lab.missing)" in out[1]["failure"]
    assert out[0]["agreed"] == out[1]["agreed"] == "step-0000003"
    for o in out:
        assert "rank 1 on" in o["blind"] and "cannot read" in o["blind"] and "rank 0 on" not in o["blind"]
        assert "cannot read" in o["resume"] and "docs/scale.md" in o["resume"]
    assert out[0]["run_exists"] and not out[1]["run_exists"]
    assert (tmp_path / "node0" / "run" / "checkpoints" / "latest").read_text().strip() == "step-0000002"
    train_keys = [f"clip{i:02d}" for i in range(8)]  # test_train_run's split: clips 0-7 are train
    for epoch in (0, 1):
        node0, node1 = out[0]["reader"][epoch], out[1]["reader"][epoch]
        assert len(node0) == len(node1) == 4 and sorted(node0 + node1) == train_keys
    assert out[0]["reader"][0] != out[0]["reader"][1]  # reshuffled per epoch, still exactly once


# ------------------------------------------------------------------------- the zoo cache shared by many processes


def test_write_probe_is_private_to_each_call(tmp_path, monkeypatch):
    """Processes on different nodes sharing SIGNKIT_HOME can have the same pid (containers): threads share one."""
    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    errors: list[Exception] = []

    def probe() -> None:
        try:
            for _ in range(300):
                zoo_cache.ensure_writable(tmp_path / "home" / "shared")
        except ZooError as e:
            errors.append(e)

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list((tmp_path / "home" / "shared").iterdir()) == []  # no probe left behind


def test_mirror_entry_read_while_another_process_reads_it(tmp_path, monkeypatch):
    """All ranks of a node ask the mirror for an entry no registry lists at once; their copies must not collide."""
    from signkit.zoo.registry import dumps_registry

    mirror = tmp_path / "mirror"
    (mirror / "lab.extra").mkdir(parents=True)
    spec = {"name": "model.safetensors", "url": "model.safetensors", "sha256": "0" * 64, "size": 1}
    (mirror / "lab.extra" / "entry.toml").write_text(
        dumps_registry({"schema": 1, "model": [{"name": "lab.extra", "arch": "sigma-tiny", "files": [spec]}]})
    )
    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", str(mirror))
    monkeypatch.delenv("SIGNKIT_ZOO_REGISTRY", raising=False)
    original, calls = dl.read_registry_file, []

    def read_while_another_process_fetches(path):
        calls.append(path)
        if len(calls) == 1:  # another process runs the whole lookup between our copy and our read
            assert dl._entry_from_mirror("lab.extra").name == "lab.extra"
        return original(path)

    monkeypatch.setattr(dl, "read_registry_file", read_while_another_process_fetches)
    assert dl._entry_from_mirror("lab.extra").name == "lab.extra"
    assert len(calls) == 2 and calls[0] != calls[1]
    kept = tmp_path / "home" / "zoo" / "mirror-entries"  # the served entry is kept (offline use); no temporary copy
    assert [p.name for p in kept.iterdir()] == ["lab.extra"] and [p.name for p in (kept / "lab.extra").iterdir()] == [
        "entry.toml"
    ]


# ----------------------------------------------------------------------------------- real runs: 2 nodes x 1 process


def release_files() -> list[str]:
    from signkit.zoo import resolve_name

    return [spec.name for spec in resolve_name(ENTRY).files]


# The shipped sigma-tiny is read from the package (nothing to download), so the download tests take a lab's copy of
# it: the same files under another name, served by a mirror.
LAB = "lab.tiny"


def _lab_registry(tmp_path: Path) -> Path:
    from signkit.zoo.registry import tomllib  # tomli on Python 3.10

    raw = next(m for m in tomllib.loads(BUILTIN.read_text())["model"] if m["name"] == ENTRY)
    raw = {**raw, "name": LAB, "default": False}
    raw["files"] = [{**f, "url": f"https://weights.invalid/{LAB}/{f['name']}"} for f in raw["files"]]
    path = tmp_path / "lab.json"
    path.write_text(json.dumps({"schema": 1, "model": [raw]}))
    return path


def _mirror_server(prefixes: list[str]) -> ZooServer:
    """The release's files under ``/<prefix>/<LAB>/``: one mirror URL per node, so requests are told apart."""
    server = ZooServer()
    for prefix in prefixes:
        for name in release_files():
            server.files[f"/{prefix}/{LAB}/{name}"] = (WEIGHTS / name).read_bytes()
    return server


def _node_env(tmp_path: Path, name: str, server: ZooServer) -> dict[str, str]:
    return clean_env(
        SIGNKIT_HOME=str(tmp_path / f"home-{name}"),
        SIGNKIT_ZOO_MIRROR=f"{server.url}/{name}",
        SIGNKIT_ZOO_REGISTRY=str(_lab_registry(tmp_path)),
    )


FINETUNE = [
    "-m",
    "signkit",
    "finetune",
    "--model",
    LAB,
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
]


@pytest.mark.slow
def test_two_nodes_finetune_sigma_tiny_download_once_per_node_rank0_writes_resume_and_match_one_node(
    packed,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    from signkit.train.checkpoint import latest_checkpoint

    server = _mirror_server(["node0", "node1", "single"])
    try:
        # 2 nodes x 1 process; each node has its own cache and its own disk for the relative `-o run`
        nodes = [(tmp_path / name, _node_env(tmp_path, name, server)) for name in ("node0", "node1")]
        launch(nodes, [*FINETUNE, "--data", str(packed), "-o", "run"])
        files = release_files()
        assert "model.safetensors" in files
        for name in ("node0", "node1"):
            for f in files:
                assert len(server.gets(f"/{name}/{LAB}/{f}")) == 1, (name, f)
            assert (tmp_path / f"home-{name}" / "zoo" / "models" / LAB / "model.safetensors").is_file()
        run = tmp_path / "node0" / "run"
        assert not (tmp_path / "node1" / "run").exists(), "a rank other than 0 wrote the run folder"
        assert latest_checkpoint(run).name == "step-0000003"
        logged = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        assert [x["step"] for x in logged if x["event"] == "train"] == [3]  # log_every 10: the last step only
        assert [x["step"] for x in logged if x["event"] == "eval"] == [3]

        # one node x 2 processes sharing one cache: one download, the same weights as 2 nodes x 1 process
        single = tmp_path / "single"
        launch(
            [(single, _node_env(tmp_path, "single", server))], [*FINETUNE, "--data", str(packed), "-o", "run"], nproc=2
        )
        for f in files:
            assert len(server.gets(f"/single/{LAB}/{f}")) == 1, f
        final = _weights(latest_checkpoint(run))
        assert_same(_weights(latest_checkpoint(single / "run")), final)

        # a node died after step 2's checkpoint: both nodes rerun the same command on a shared run folder and
        # resume from rank 0's checkpoint (weights cached: nothing is downloaded again)
        shared = tmp_path / "shared-run"
        rewind(run, shared, 2)
        launch(nodes, [*FINETUNE, "--data", str(packed), "-o", str(shared)])
        assert latest_checkpoint(shared).name == "step-0000003"
        assert_same(_weights(latest_checkpoint(shared)), final)
        assert sum(len(server.gets(f"/{n}/{LAB}/{f}")) for n in ("node0", "node1") for f in files) == 2 * len(files)
    finally:
        server.close()


def _weights(checkpoint: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(checkpoint / "model.safetensors"))


@pytest.mark.slow
def test_two_nodes_equal_one_process_with_the_same_global_batch(tmp_path):
    """test_train_loop's DDP script (a model without batch statistics), now as 2 nodes x 1 process."""
    script = _script(tmp_path, dropout=0.0, noise=0.0)
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one"), "0"], check=True, env=clean_env(), timeout=TIMEOUT
    )
    nodes = [(tmp_path / name, clean_env()) for name in ("node0", "node1")]
    launch(nodes, [str(script), str(tmp_path / "two"), "0"])
    assert_same(_final(tmp_path / "two"), _final(tmp_path / "one"), atol=1e-5)
    evals = [
        [x for x in map(json.loads, (tmp_path / r / "metrics.jsonl").read_text().splitlines()) if x["event"] == "eval"]
        for r in ("one", "two")
    ]
    assert len(evals[0]) == 2 and evals[0] == evals[1]
