"""The training run folder: its file names and the rules for reading it, in one place.

`signkit.train.checkpoint` writes run folders; the zoo (`load`, `export`) and `signkit.train.evaluate` read them,
all through this module. It sits below both (plain paths, no torch), since the zoo may not import train::

    RUN_DIR/config.json                 the resolved TrainConfig
    RUN_DIR/model.json                  how to rebuild the model: model config, task, classes / gloss vocabulary
    RUN_DIR/metrics.jsonl               one JSON line per log / eval event (rank 0)
    RUN_DIR/checkpoints/step-0000200/   model.safetensors, trainer.pt (optimiser + scheduler), rng.pt, state.json
    RUN_DIR/checkpoints/latest          the name of the newest complete checkpoint (a one-line text file)
    RUN_DIR/checkpoints/best            the name of the best checkpoint on the dev split

A checkpoint is **complete** when it holds its weights and its ``state.json`` (written last); anything else (an
interrupted or damaged save) is not a checkpoint, for resuming and for loading alike.
"""

from __future__ import annotations

from pathlib import Path

CHECKPOINTS = "checkpoints"
LATEST = "latest"
BEST = "best"
POINTERS = (LATEST, BEST)
CONFIG_JSON = "config.json"
MODEL_JSON = "model.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
TRAINER = "trainer.pt"
RNG = "rng.pt"
STATE = "state.json"
STEP_PREFIX = "step-"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def step_name(step: int) -> str:
    return f"{STEP_PREFIX}{step:07d}"


def is_complete(checkpoint: str | Path) -> bool:
    """Whether a checkpoint folder was written to the end (weights and ``state.json``): the one definition."""
    checkpoint = Path(checkpoint)
    return (checkpoint / WEIGHTS).is_file() and (checkpoint / STATE).is_file()


def is_run(folder: str | Path) -> bool:
    """Whether ``folder`` is a training run folder (it has ``checkpoints/``)."""
    return checkpoint_dir(folder).is_dir()


def pointed(run_dir: str | Path, pointer: str) -> Path | None:
    """The complete checkpoint that ``pointer`` (``latest`` or ``best``) names, or None."""
    ptr = checkpoint_dir(run_dir) / pointer
    if not ptr.is_file():
        return None
    target = checkpoint_dir(run_dir) / ptr.read_text().strip()
    return target if is_complete(target) else None


def has_started(run_dir: str | Path) -> bool:
    """Whether a run has written its first checkpoint (its ``latest`` pointer exists, even if what it names was
    damaged since)."""
    return (checkpoint_dir(run_dir) / LATEST).is_file() or bool(complete_checkpoints(run_dir))


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's complete step checkpoints, oldest first."""
    return sorted(p for p in checkpoint_dir(run_dir).glob(f"{STEP_PREFIX}*") if is_complete(p))


def damaged_pointer(run_dir: str | Path, pointer: str) -> tuple[str, Path | None] | None:
    """When ``pointer`` names a checkpoint that is missing or incomplete (deleted or damaged after it was written:
    saves are atomic): what to tell the user, and the newest complete checkpoint left (None: none is). None when
    the pointer is absent or sound."""
    ptr = checkpoint_dir(run_dir) / pointer
    if not ptr.is_file() or pointed(run_dir, pointer) is not None:
        return None
    complete = complete_checkpoints(run_dir)
    newest = complete[-1] if complete else None
    what = f"{run_dir}: checkpoints/{pointer} names {ptr.read_text().strip()}, which is missing or incomplete (its "
    what += f"{WEIGHTS} or {STATE} is gone)"
    if newest is not None:
        what += f"; the newest complete one is {newest.name} (`echo {newest.name} > {ptr}` continues from it)"
    return what, newest


def checkpoint_to_read(run_dir: str | Path) -> Path | None:
    """The checkpoint a reader of a finished or running run takes: its best, else its latest (None: none yet)."""
    return pointed(run_dir, BEST) or pointed(run_dir, LATEST)


def run_of(path: str | Path) -> Path | None:
    """The run folder of ``path`` (the run folder itself, or one of its checkpoint folders), or None."""
    path = Path(path)
    if path.is_dir() and is_run(path):
        return path
    folder = path if path.is_dir() else path.parent
    if folder.parent.name == CHECKPOINTS and is_run(folder.parent.parent):
        return folder.parent.parent
    return None


def run_file(path: str | Path, name: str) -> Path | None:
    """A run's own file (``model.json``, ``config.json``) for ``path``, if present: beside the weights (a run folder,
    or a loose folder of weights + ``model.json``), else in the run folder of a checkpoint."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    run = run_of(path)
    for candidate in (folder / name, *([run / name] if run is not None else [])):
        if candidate.is_file():
            return candidate
    return None
