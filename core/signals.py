"""Pool events as Qt signals, delivered on the thread that owns the QObject.

The one module of ``core`` that imports Qt (QtCore only). Workers never touch
Qt: they append events to a bounded buffer; a QTimer here drains it about 30
times a second, folds what it took per task (``core.changes``) and emits it
once. So a pool finishing tens of thousands of tasks a second costs the GUI
thread one fold per tick, never one cross-thread signal per task::

    worker threads ──append──► EventBuffer ──QTimer tick──► PoolSignals
                                (bounded)     (time budget)   ├─ changes_batched(Changes)   once per tick
                                                              ├─ events_batched(list)       when connected
                                                              ├─ task_* / worker_changed     when connected
                                                              └─ stats_changed(PoolStats)   once per tick

A tick takes events until it has spent ``budget_ms``; what is left waits for
the next tick, or for a catch-up turn soon after when much is waiting. A
consumer still busy with the last changes ``hold()``s the hand-over and
``release()``s it when done: meanwhile events wait in the bounded buffer,
which drops the oldest (and counts them, ``dropped``) only when the window
stays behind for long. Changes say how many were lost before them, so views
can catch up from the pool's own records.

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

from .changes import Changes
from .events import EventKind

if TYPE_CHECKING:
    from .pool import Pool

__all__ = ["PoolSignals"]

log = logging.getLogger(__name__)

_WORKER_KINDS = frozenset(k for k in EventKind if k.value.startswith("worker_"))


class PoolSignals(QObject):
    """Drains ``pool``'s events every ``interval_ms`` and emits them as signals.

    A tick takes events in slices of ``slice_size`` until it has spent
    ``budget_ms`` (or taken ``max_batch``), so a storm of events cannot
    freeze the event loop: what is left waits for the next tick -- or, when
    more than ``catch_up`` are waiting, for a turn of the event loop soon
    after, so that the window keeps pace without ever taking one long turn.
    """

    #: the tick's events folded per task (a core.changes.Changes), once per hand-over
    changes_batched = Signal(object)
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
        budget_ms: float = 4.0,
        slice_size: int = 500,
        buffer_size: int = 100_000,
        catch_up: int = 10_000,
    ) -> None:
        super().__init__(parent)
        self.pool = pool
        self.max_batch = max_batch
        self.budget = budget_ms / 1000
        self.slice_size = slice_size
        self.max_callbacks = max_callbacks
        self.catch_up = catch_up
        self._held = False
        self._dropped_reported = 0
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
        # A turn of its own for a catch-up hand-over, after what is pending
        # (a repaint, other timers): never two hand-overs in one turn.
        self._more = QTimer(self)
        self._more.setSingleShot(True)
        self._more.setInterval(0)
        self._more.timeout.connect(self._on_more_timeout)

    @property
    def backlog(self) -> int:
        """Events waiting for the next tick."""
        return len(self._buffer)

    @property
    def dropped(self) -> int:
        """Events lost because the buffer overflowed between ticks."""
        return self._buffer.dropped

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> None:
        """Hand no events over until ``release()``: the consumer is still busy
        with the last ones. Ticks go on running callbacks and emitting stats;
        events wait in the bounded buffer."""
        self._held = True
        self._more.stop()

    def release(self) -> None:
        """Hand events over again: in a turn of their own soon if many are
        waiting, else on the next tick."""
        self._held = False
        if len(self._buffer) >= self.catch_up and self._timer.isActive():
            self._more.start()

    def drain(self) -> Changes:
        """One tick: hand over what the pool reported since the last one
        (within the tick's time budget, unless held), run the queued
        callbacks, emit the stats; returns the changes handed over."""
        changes = self._hand_over()
        self._run_callbacks()
        self.stats_changed.emit(self.pool.stats())
        return changes

    def _on_more_timeout(self) -> None:
        self._hand_over()

    def _hand_over(self) -> Changes:
        """Take events for up to ``budget`` seconds, fold them, emit them."""
        if self._held:
            return Changes()
        deadline = time.perf_counter() + self.budget
        raw = self._is_connected(self.events_batched)
        connected = {kind: signal for kind, signal in self._per_kind.items() if self._is_connected(signal)}
        changes = Changes()
        buffer, taken = self._buffer, 0
        while taken < self.max_batch:
            batch = buffer.drain(min(self.slice_size, self.max_batch - taken))
            if not batch:
                break
            taken += len(batch)
            changes.add(batch)
            if raw:
                self.events_batched.emit(batch)
            if connected:
                for event in batch:
                    signal = connected.get(event.kind)
                    if signal is not None:
                        signal.emit(event)
            if time.perf_counter() >= deadline:
                break
        # An event held up between numbering and appending for longer than
        # the buffer's LATE_SECONDS can still arrive after it was counted:
        # ``dropped`` can fall again, so only a new high counts as lost.
        dropped = buffer.dropped
        if dropped > self._dropped_reported:
            changes.lost = dropped - self._dropped_reported
            self._dropped_reported = dropped
        if changes or changes.lost:
            self.changes_batched.emit(changes)
        if len(buffer) >= self.catch_up and not self._held and self._timer.isActive():
            self._more.start()
        return changes

    def _run_callbacks(self) -> None:
        callbacks = self._callbacks
        for _ in range(min(len(callbacks), self.max_callbacks)):
            callbacks.popleft()()  # each reports its own errors

    def _is_connected(self, signal: SignalInstance) -> bool:
        return self.isSignalConnected(QMetaMethod.fromSignal(signal))

    def close(self) -> None:
        """Stop draining; run the callbacks still queued, then detach from the pool."""
        self._timer.stop()
        self._more.stop()
        self._buffer.close()
        if self.pool.callback_sink == self._callbacks.append:
            self.pool.callback_sink = None
        while self._callbacks:
            self._callbacks.popleft()()
