"""Queueing many tasks without freezing the window: a plan goes into its
pool a slice per event-loop turn, each slice a few milliseconds long.

A small plan goes in at once, before ``Feed.start`` returns. A large one (the
enqueue dialog allows a million) keeps the window painting and answering
while it goes in, and says how far it got. A task the pool refuses (its
function cannot travel to a worker process, a bounded queue is full, the
pool was shut down) stops the feed, and ``failed`` says why and how many went
in before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

__all__ = ["Feed"]

#: How long one slice may queue (seconds): short enough for a smooth window.
SLICE_SECONDS = 0.008


class Feed(QObject):
    """Queues ``tasks`` (``len(tasks)`` of them) with ``submit``, one slice
    per event-loop turn. ``submit(task)`` queues one, or raises."""

    #: tasks queued so far, all to queue
    progressed = Signal(int, int)
    #: every task is queued
    finished = Signal()
    #: the reason the feed stopped, and how many tasks were queued before
    failed = Signal(str, int)

    def __init__(
        self, tasks: Iterable[Any], count: int, submit: Callable[[Any], object], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.count = count
        self.queued = 0
        self._tasks: Iterator[Any] | None = iter(tasks)
        self._submit = submit
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def active(self) -> bool:
        return self._tasks is not None

    def start(self) -> None:
        """Queue the first slice now; the rest follows, a slice a turn."""
        self._on_timer_timeout()

    def stop(self) -> None:
        """Queue nothing more."""
        self._tasks = None
        self._timer.stop()

    @Slot()
    def _on_timer_timeout(self) -> None:
        tasks = self._tasks
        if tasks is None:
            return
        deadline = time.perf_counter() + SLICE_SECONDS
        before = self.queued
        try:
            for task in tasks:
                self._submit(task)
                self.queued += 1
                if self.queued % 64 == 0 and time.perf_counter() >= deadline:
                    break
            else:
                self.stop()
        except Exception as exc:
            self.stop()
            self.failed.emit(f"{type(exc).__name__}: {exc}", self.queued)
            return
        if self.queued != before:
            self.progressed.emit(self.queued, self.count)
        if self.active:
            self._timer.start()
        else:
            self.finished.emit()
