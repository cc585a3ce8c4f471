"""What the demo's steps share: where each one writes and reads (fixed paths under the output folder, so a step
can run, or be rerun, on its own once the steps before it have run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoContext:
    out_dir: Path
    workers: int | None = None  # extraction and packing processes (None: extraction uses the cores)

    @property
    def poses(self) -> Path:
        """Pose files extracted from the embedded clips."""
        return self.out_dir / "poses"

    @property
    def packed(self) -> Path:
        """The packed fingerspelling lexicon (ISLR: which sign language)."""
        return self.out_dir / "packed"

    @property
    def run(self) -> Path:
        """The ISLR fine-tuning run."""
        return self.out_dir / "run"

    @property
    def word_poses(self) -> Path:
        """Fingerspelled words composed from the lexicon's letter clips."""
        return self.out_dir / "words-poses"

    @property
    def words_packed(self) -> Path:
        return self.out_dir / "words-packed"

    @property
    def cslr_run(self) -> Path:
        """The CSLR fine-tuning run on the fingerspelled words."""
        return self.out_dir / "cslr-run"


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[DemoContext], dict]
