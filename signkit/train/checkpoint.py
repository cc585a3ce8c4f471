"""Checkpoints that a ``kill -9`` at any moment cannot corrupt, and that resume a run exactly.

The run folder's layout (names, what a complete checkpoint is, which one a reader takes) is owned by
`signkit._run_folder`; this module is its writer.

A checkpoint is written into a hidden temporary folder and renamed into place when complete; the ``latest`` and
``best`` pointers are replaced atomically after that. A folder without its pointer is never read, so a half-written
checkpoint is invisible. ``trainer.pt`` and ``rng.pt`` hold only tensors and plain Python values and are read with
``weights_only=True``; weights are safetensors (``save_model`` keeps tied embeddings tied).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_model

from .. import _run_folder as run_folder
from .._atomic import atomic_write_text
from .._run_folder import LATEST, RNG, STATE, TRAINER, WEIGHTS, checkpoint_dir, step_name
from ..errors import ConfigError, SignkitError
from . import distributed as D
from .state import TrainState

# ------------------------------------------------------------------------------------------------------------- RNG


def rng_state() -> dict[str, Any]:
    """Every random generator a training step can draw from (python, numpy, torch CPU and CUDA)."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "python": [py_version, list(py_internal), py_gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    py_version, py_internal, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_internal), py_gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------------- write / read


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    return run_folder.pointed(run_dir, run_folder.LATEST)


def agreed_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint every rank resumes from: global rank 0's latest (or None), which every rank must read. When
    ``latest`` names a checkpoint that is gone or damaged: an error on every rank if an older complete one is left
    (it says how to continue from it), else a warning and a start from step 0.

    A rank never picks its own: on a run folder that is not shared by all nodes it would see an older checkpoint or
    none, and train from another step than rank 0 (silently diverging, or hanging in a collective). Every rank
    must call this; it raises on all of them when one cannot read rank 0's checkpoint.
    """
    found = None
    if D.env_info().is_main:
        latest = latest_checkpoint(run_dir)
        found = (latest.name, None) if latest is not None else (None, run_folder.damaged_pointer(run_dir, LATEST))
    name, damaged = D.broadcast_object(found)
    if damaged is not None:
        what, newest = damaged
        if newest is not None:  # starting over would silently redo finished work
            raise SignkitError(f"{what}, or train into a new -o folder")
        warnings.warn(f"{what}, and no complete checkpoint is left: starting again from step 0", stacklevel=2)
    if name is None:
        return None
    path = checkpoint_dir(run_dir) / name
    views = D.gather_objects((socket.gethostname(), run_folder.is_complete(path)))
    blind = [f"rank {rank} on {host}" for rank, (host, ok) in enumerate(views) if not ok]
    if blind:
        raise SignkitError(
            f"{', '.join(blind)} cannot read {path}, the checkpoint rank 0 resumes from; put -o RUN_DIR on a "
            "filesystem that every node mounts at the same path (NFS, Lustre, ...): see docs/scale.md"
        )
    return path


def best_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint that scored best on the dev split, or None (no dev split, or no evaluation yet)."""
    return run_folder.pointed(run_dir, run_folder.BEST)


def save_checkpoint(
    run_dir: str | Path,
    model: torch.nn.Module,
    state: TrainState,
    trainer: dict[str, Any] | None,
    rng: list[dict[str, Any]] | None,
    name: str | None = None,
    pointers: tuple[str, ...] = (run_folder.LATEST,),
    keep_last: int = 2,
) -> Path:
    """Write a checkpoint folder atomically and point ``pointers`` (``latest``, ``best``) at it.

    ``trainer`` holds the optimiser and scheduler state dicts, ``rng`` one `rng_state()` per rank; both may be
    None for a weights-only checkpoint. Older step checkpoints beyond ``keep_last`` are removed unless ``best``
    points at them.
    """
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    name = name or step_name(state.step)
    final = root / name
    tmp = root / f".{name}.{uuid.uuid4().hex[:8]}.partial"
    tmp.mkdir()
    try:
        save_model(model, str(tmp / WEIGHTS))
        if trainer is not None:
            torch.save(trainer, tmp / TRAINER)
        if rng is not None:
            torch.save(rng, tmp / RNG)
        (tmp / STATE).write_text(json.dumps(state.to_dict(), indent=2))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():  # a rerun of the same step (after a crash between rename and pointer update)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for ptr in pointers:
        atomic_write_text(root / ptr, name + "\n")
    _prune(root, keep_last)
    return final


def _prune(root: Path, keep_last: int) -> None:
    keep = set()
    for ptr in run_folder.POINTERS:
        if (root / ptr).is_file():
            keep.add((root / ptr).read_text().strip())
    steps = sorted(p.name for p in root.glob(f"{run_folder.STEP_PREFIX}*") if p.is_dir())
    keep.update(steps[-max(keep_last, 1) :])
    for name in steps:
        if name not in keep:
            shutil.rmtree(root / name, ignore_errors=True)
    for leftover in root.glob(".*.partial"):  # from writers killed mid-write
        shutil.rmtree(leftover, ignore_errors=True)


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load ``model.safetensors`` from a checkpoint folder (or the file itself); every key must fit.

    Tensors the model ties (shared embeddings, shared streams) are stored once; the zoo's strict loader restores
    the aliases, and a key it would initialise fresh is refused here (a resumed run must be complete).
    """
    from safetensors.torch import load_file

    from ..zoo import load_state_dict_strict

    path = Path(path)
    file = path / WEIGHTS if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"no weights at {file}; point at a checkpoint folder that holds {WEIGHTS}")
    report = load_state_dict_strict(model, load_file(str(file)), str(file))
    if report.new_keys or report.discarded_keys:
        raise ConfigError(
            f"weights in {file} do not fit the model: missing {report.new_keys[:5]}, "
            f"discarded {report.discarded_keys[:5]} (was the checkpoint made for another model config or task?)"
        )


def load_checkpoint(path: str | Path, model: torch.nn.Module) -> tuple[TrainState, dict | None, list | None]:
    """Load weights into ``model``; return the saved TrainState, trainer state and per-rank RNG states."""
    path = Path(path)
    load_weights(model, path)
    state = TrainState.from_dict(json.loads((path / STATE).read_text()))
    trainer = torch.load(path / TRAINER, weights_only=True) if (path / TRAINER).is_file() else None
    rng = torch.load(path / RNG, weights_only=True) if (path / RNG).is_file() else None
    return state, trainer, rng


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
