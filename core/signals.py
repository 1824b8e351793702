"""Pool events as Qt signals, delivered on the thread that owns the QObject.

The one module of ``core`` that imports Qt (QtCore only). Workers never touch
Qt: they append events to a bounded buffer; a QTimer here drains it in
batches, about 30 times a second, and emits. So a pool finishing tens of
thousands of tasks a second costs the GUI thread one drain per tick, never
one cross-thread signal per task::

    worker threads ──append──► EventBuffer ──QTimer tick──► PoolSignals
                                                             ├─ events_batched(list)
                                                             ├─ task_* / worker_changed (when connected)
                                                             └─ stats_changed(PoolStats)

Task callbacks (``apply_async(callback=…)``) of a pool with PoolSignals
attached are queued here too and run on the same thread.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QMetaMethod, QObject, QTimer, Signal, SignalInstance

from .events import EventKind

if TYPE_CHECKING:
    from .events import Event
    from .pool import Pool

__all__ = ["PoolSignals"]

log = logging.getLogger(__name__)

_WORKER_KINDS = frozenset(k for k in EventKind if k.value.startswith("worker_"))


class PoolSignals(QObject):
    """Drains ``pool``'s events every ``interval_ms`` and emits them as signals.

    A tick hands events over in slices of ``slice_size`` until it has spent
    ``budget_ms`` (or handled ``max_batch``), so a storm of events cannot
    freeze the event loop: what is left waits for the next tick, and the
    bounded buffer drops the oldest if the window stays behind for long.
    """

    #: drained events, oldest first (a list of Event; several per tick in a storm)
    events_batched = Signal(object)
    task_submitted = Signal(object)
    task_started = Signal(object)
    task_progressed = Signal(object)
    task_finished = Signal(object)
    task_failed = Signal(object)
    task_cancelled = Signal(object)
    #: any worker event (started, busy, idle, dismissed, abandoned, exited, joined)
    worker_changed = Signal(object)
    #: PoolStats, once per tick
    stats_changed = Signal(object)

    def __init__(
        self,
        pool: Pool,
        parent: QObject | None = None,
        interval_ms: int = 33,
        max_batch: int = 20_000,
        max_callbacks: int = 2_000,
        budget_ms: float = 5.0,
        slice_size: int = 250,
        buffer_size: int = 100_000,
    ) -> None:
        super().__init__(parent)
        self.pool = pool
        self.max_batch = max_batch
        self.budget = budget_ms / 1000
        self.slice_size = slice_size
        self.max_callbacks = max_callbacks
        # A few seconds of backlog at most: a window that falls further behind
        # drops the oldest events rather than holding (and garbage-collecting)
        # millions of them.
        self._buffer = pool.events.buffer(buffer_size)
        self._callbacks: deque[Callable[[], object]] = deque()
        pool.callback_sink = self._callbacks.append
        self._per_kind = {
            EventKind.TASK_SUBMITTED: self.task_submitted,
            EventKind.TASK_STARTED: self.task_started,
            EventKind.TASK_PROGRESS: self.task_progressed,
            EventKind.TASK_DONE: self.task_finished,
            EventKind.TASK_FAILED: self.task_failed,
            EventKind.TASK_CANCELLED: self.task_cancelled,
            **{kind: self.worker_changed for kind in _WORKER_KINDS},
        }
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    @property
    def backlog(self) -> int:
        """Events waiting for the next tick."""
        return len(self._buffer)

    def skip_backlog(self, keep: int) -> int:
        """Drop all but the newest ``keep`` waiting events (they count as
        ``dropped``); returns how many went."""
        return self._buffer.discard(keep)

    @property
    def dropped(self) -> int:
        """Events lost because the buffer overflowed between ticks."""
        return self._buffer.dropped

    def drain(self) -> list[Event]:
        """One tick: emit what the pool reported since the last one, within
        the tick's time budget; returns what was handed over."""
        deadline = time.perf_counter() + self.budget
        connected = {kind: signal for kind, signal in self._per_kind.items() if self._is_connected(signal)}
        drained: list[Event] = []
        while len(drained) < self.max_batch:
            batch = self._buffer.drain(min(self.slice_size, self.max_batch - len(drained)))
            if not batch:
                break
            drained += batch
            self.events_batched.emit(batch)
            if connected:
                for event in batch:
                    signal = connected.get(event.kind)
                    if signal is not None:
                        signal.emit(event)
            if time.perf_counter() >= deadline:
                break
        self._run_callbacks()
        self.stats_changed.emit(self.pool.stats())
        return drained

    def _run_callbacks(self) -> None:
        callbacks = self._callbacks
        for _ in range(min(len(callbacks), self.max_callbacks)):
            callbacks.popleft()()  # each reports its own errors

    def _is_connected(self, signal: SignalInstance) -> bool:
        return self.isSignalConnected(QMetaMethod.fromSignal(signal))

    def close(self) -> None:
        """Stop draining; run the callbacks still queued, then detach from the pool."""
        self._timer.stop()
        self._buffer.close()
        if self.pool.callback_sink == self._callbacks.append:
            self.pool.callback_sink = None
        while self._callbacks:
            self._callbacks.popleft()()
