"""Progress on stderr: a bar per connector on a terminal, nothing otherwise (the summaries
still print)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Progress:
    """Called from each connector's thread; one lock keeps the bars consistent."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, connector: str, records: int, total: int | None) -> None:
        if self.bar is None:
            return
        with self._lock:
            task = self.tasks.get(connector)
            if task is None:
                task = self.tasks[connector] = self.bar.add_task(connector, total=total)
            self.bar.update(task, completed=records, total=total)

    def done(self, connector: str) -> None:
        with self._lock:
            if self.bar is not None and connector in self.tasks:
                self.bar.remove_task(self.tasks.pop(connector))


@contextmanager
def progress_for(quiet: bool) -> Iterator[Progress]:
    if quiet or not sys.stderr.isatty():
        yield Progress(None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield Progress(bar)
