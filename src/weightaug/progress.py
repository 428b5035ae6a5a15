"""Progress bars for long work: drawn live on a terminal, and written to a log file as a line every half minute.

rich draws a live bar only on a terminal; with output sent to a file (``nohup ... > log``) it prints the final
state alone, so an hours-long fit or training run would show nothing until it ends. Each task carries a
``note`` field (mean PSNR, the last epoch's metrics) shown after its bar.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

LOG_INTERVAL_S = 30.0
LOG_WIDTH = 140  # off a terminal rich would assume 80 columns and cut the lines short
console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else LOG_WIDTH)
SPEED_WINDOW_S = 900.0  # rates and ETAs over the last 15 minutes: an epoch may take minutes


class _RateColumn(ProgressColumn):
    """INRs per second, averaged over the progress bar's speed window."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} INRs/s" if speed else "", style="cyan")


class _LoggedProgress(Progress):
    """A rich Progress that, off a terminal, also prints each unfinished task's line at most every
    ``LOG_INTERVAL_S`` seconds (rich prints the finished state when the bar stops)."""

    def __init__(self, *columns: ProgressColumn, **kwargs) -> None:
        super().__init__(*columns, **kwargs)
        self._logged: dict[TaskID, float] = {}

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        if self.disable or self.console.is_terminal:
            return
        task = next(t for t in self.tasks if t.id == task_id)
        now = time.monotonic()
        if not task.finished and now - self._logged.get(task_id, float("-inf")) >= LOG_INTERVAL_S:
            self._logged[task_id] = now
            self.console.print(self.make_tasks_table([task]))


def progress_bar(rate: bool = False, enabled: bool = True) -> Progress:
    """A progress bar on stderr; ``rate`` adds INRs/s (fitting, importing), training bars count epochs.
    Add tasks with a ``note`` field."""
    return _LoggedProgress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *([_RateColumn()] if rate else []),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        speed_estimate_period=SPEED_WINDOW_S,
        disable=not enabled,
    )
