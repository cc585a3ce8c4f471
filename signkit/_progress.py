"""The one progress display of every long command: a live bar on a terminal, plain periodic lines elsewhere.

A bar redrawn with ``\\r`` is right on a terminal and wrong in a log file (a nohup'd or redirected run collects
dozens of partial updates per line). When the stream is not a terminal, `Progress` writes one complete line every
``interval`` seconds (``SIGNKIT_PROGRESS_INTERVAL``, default 30) and one when it closes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")
INTERVAL_ENV = "SIGNKIT_PROGRESS_INTERVAL"


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get(INTERVAL_ENV, "30")))
    except ValueError:
        return 30.0


class Progress:
    """``update(n)``, ``set_postfix(**values)``, ``close()``; also a context manager. Disabled: does nothing."""

    def __init__(
        self,
        total: int | None = None,
        initial: int = 0,
        desc: str = "",
        unit: str = "it",
        enabled: bool = True,
        stream: IO[str] | None = None,
        interval: float | None = None,
        unit_scale: bool = False,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.n, self.desc, self.unit, self.unit_scale = total, initial, desc, unit, unit_scale
        self.enabled = enabled
        self.postfix: dict[str, Any] = {}
        self._bar = None
        self._start = self._last = time.monotonic()
        self._start_n = initial
        self._interval = _interval() if interval is None else interval
        self._closed = False
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=desc or None,
                unit=unit,
                file=self.stream,
                dynamic_ncols=True,
                leave=False,
                unit_scale=unit_scale,
                unit_divisor=1024 if unit_scale else 1000,
            )

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and time.monotonic() - self._last >= self._interval:
            self._line()

    def set_postfix(self, **values: Any) -> None:
        self.postfix.update(values)
        if self._bar is not None:
            self._bar.set_postfix(**self.postfix)

    def write(self, line: str) -> None:
        """A message line that does not break the bar (tqdm redraws it below the line)."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.n > self._start_n:
            self._line()

    def _fmt(self, value: float) -> str:
        if not self.unit_scale:
            return str(int(value))
        for prefix in ("", "Ki", "Mi", "Gi"):
            if value < 1024 or prefix == "Gi":
                return f"{value:.1f}{prefix}" if prefix else str(int(value))
            value /= 1024
        return str(value)

    def _line(self) -> None:
        now = time.monotonic()
        self._last = now
        done = self._fmt(self.n) + (f"/{self._fmt(self.total)}" if self.total else "")
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = (self.n - self._start_n) / max(now - self._start, 1e-9)
        extra = "".join(f" {k}={v}" for k, v in self.postfix.items())
        head = f"{self.desc}: " if self.desc else ""
        self.stream.write(f"{head}{done} {self.unit}{pct}, {self._fmt(rate)} {self.unit}/s{extra}\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(
    items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it", enabled: bool = True
) -> Iterator[T]:
    """Iterate ``items`` with a `Progress`."""
    with Progress(total, desc=desc, unit=unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update(1)
