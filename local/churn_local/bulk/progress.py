"""The progress bar of a bulk run on a terminal (rich): bytes of the input read, rows, rows/s and time left.

The total is the input's size, known without reading it: the bar and the time left follow the bytes consumed, the
rate the rows this run scored. Off a terminal (a pipe, CI, a test) nothing is drawn; the summary says it all.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from churn_local.bulk import resume


class ProgressBar:
    """Draw a run's progress while it lasts, on a terminal only."""

    def __init__(self, input_path: Path, stream: TextIO) -> None:
        self.console = Console(file=stream)
        self.total = max(1, input_path.stat().st_size)
        self.bar = Progress(
            TextColumn("scoring"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:>12,} rows  {task.fields[rate]:>9,.0f} rows/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
            transient=False,
        )
        self.task = self.bar.add_task("scoring", total=self.total, rows=0, rate=0.0)
        self.started = time.monotonic()
        self.rows_before = 0

    def __enter__(self) -> ProgressBar:
        self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.bar.stop()

    def begin(self, progress: resume.Progress) -> None:
        """Start from where the run starts: a resumed run's rate and time left count only what it reads itself."""
        self.bar.reset(self.task, completed=progress.input_offset, rows=progress.rows, rate=0.0)
        self.started, self.rows_before = time.monotonic(), progress.rows

    def update(self, progress: resume.Progress) -> None:
        """Show the progress saved after a chunk."""
        rate = (progress.rows - self.rows_before) / max(time.monotonic() - self.started, 1e-9)
        self.bar.update(self.task, completed=progress.input_offset, rows=progress.rows, rate=rate)
