"""Progress hooks and stage timing, shared by the pipeline, the workflows and the console.

A leaf module (standard library only), so presentation code can subclass :class:`Reporter`
without importing the pipeline (and, through it, matplotlib and the report).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class Reporter:
    """Progress hooks; the default does nothing. The CLI subclasses it with progress bars."""

    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage starts; ``total`` is its number of steps when known."""

    def advance(self, done: int, total: int, description: str) -> None:
        """``done`` of ``total`` steps of the current stage are finished."""

    def end_stage(self) -> None:
        """The current stage is finished."""


class Timer:
    """Wall-clock seconds per named stage (``seconds[name]``, rounded to milliseconds)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(
        self, name: str, reporter: Reporter | None = None, total: int | None = None
    ) -> Iterator[None]:
        """Time the ``with`` body as stage ``name``, announcing it to ``reporter`` if given."""
        if reporter is not None:
            reporter.stage(name, total)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        if reporter is not None:
            reporter.end_stage()
