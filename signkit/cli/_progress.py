"""Progress bar and summary table of ``signkit extract`` (rich, on stderr)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

console = Console(stderr=True)


class _FramesColumn(ProgressColumn):
    def __init__(self, owner: ExtractProgress):
        super().__init__()
        self.owner = owner

    def render(self, task) -> Text:
        elapsed = max(time.monotonic() - self.owner.started, 1e-9)
        return Text(f"{self.owner.frames} frames, {self.owner.frames / elapsed:.1f} frames/s")


class ExtractProgress:
    """Receives the runner's events; shows videos done and frames/s, and one line per failed or flagged clip."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.frames = 0
        self.started = time.monotonic()
        self._progress = Progress(
            TextColumn("extract"), BarColumn(), MofNCompleteColumn(), TextColumn("videos"), _FramesColumn(self),
            TimeElapsedColumn(), console=console, disable=not enabled,
        )
        self._task = None

    def __enter__(self) -> ExtractProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def event(self, kind: str, data: dict) -> None:
        if kind == "plan":
            self.started = time.monotonic()
            self._task = self._progress.add_task("extract", total=data["todo"])
            if data["skipped"]:
                self._progress.console.print(f"skipping {data['skipped']} finished clips (use --overwrite to redo)")
        elif kind == "frames":
            self.frames += data["frames"]
        elif kind == "done":
            result = data["result"]
            if self._task is not None:
                self._progress.advance(self._task)
            if result.status == "failed":
                self._progress.console.print(f"[red]failed[/red] {result.key}: {result.error}", markup=True,
                                             highlight=False)
            elif result.flags:
                self._progress.console.print(f"[yellow]flagged[/yellow] {result.key}: {', '.join(result.flags)}",
                                             markup=True, highlight=False)


def print_summary(summary) -> None:
    table = Table(title="signkit extract", show_header=True)
    for col in ("ok", "skipped", "failed", "flagged", "frames", "frames/s", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        str(summary.count("ok")), str(summary.count("skipped")), str(summary.count("failed")),
        str(len(summary.flagged)), str(summary.frames), f"{summary.fps:.1f}", f"{summary.seconds:.1f}",
    )
    console.print(table)
    console.print(f"run log: {summary.log_path}", highlight=False)
