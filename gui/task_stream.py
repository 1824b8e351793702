"""A task stream in the manner of Dask's dashboard: one lane per worker, one bar
per task from its start to its end, coloured by how it ended.

Data flow::

    window tick ──apply_changes(Changes)──► _BarHistory.ingest_changes   per task: starts and ends paired
                                          ├─ running: task id → (start, lane, worker)   a few per worker
                                          └─ ring arrays x0, x1, lane, state, task, worker  (the last N bars)
                 ──► _BarsItem.update() ──► paint: cull to the exposed rect, one drawRects per colour

However many bars there are, the scene holds one item for all of them, and
memory is the ring's, allocated once (100,000 bars by default): old bars are
overwritten by new ones. Lanes are recycled when their worker exits, so an
endless run that keeps replacing workers does not grow its lanes either.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from enum import IntEnum
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Slot
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from core import EventKind, TaskState, TaskTimeout
from core.changes import ENDED, STARTED, Changes

from .charts import ElapsedAxis, TimeOrigin

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from PySide6.QtGui import QPainter
    from PySide6.QtWidgets import QStyleOptionGraphicsItem

    from core import Event, Task

__all__ = ["BarInfo", "BarState", "Bars", "TaskStream"]

#: How often running bars grow when no tick brings events.
CLOCK_INTERVAL_MS = 100
#: Height of a bar in lanes; the rest of the lane is the gap between lanes.
BAR_HEIGHT = 0.8
#: Bars narrower than this many pixels are summed up per pixel column.
SUMMARY_PIXELS = 2.0


class BarState(IntEnum):
    """How a bar is coloured: a task's state, with time-outs told apart from
    other failures because users hunt for them separately."""

    RUNNING = 0
    DONE = 1
    FAILED = 2
    TIMED_OUT = 3
    CANCELLED = 4
    #: The task's end was never seen (events dropped by a stalled consumer):
    #: closed when its worker started another task or exited.
    UNKNOWN = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True)
class Bars:
    """Bars as parallel arrays, oldest first (x in seconds since the stream's start)."""

    x0: np.ndarray
    x1: np.ndarray
    lane: np.ndarray
    state: np.ndarray
    task_id: np.ndarray
    worker_id: np.ndarray

    def __len__(self) -> int:
        return int(self.x0.size)


class BarInfo(NamedTuple):
    """One bar under the mouse."""

    task_id: int
    worker_id: int
    lane: int
    state: BarState
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def describe(self) -> str:
        still = " so far" if self.state is BarState.RUNNING else ""
        return (
            f"Task {self.task_id} on W{self.worker_id} (lane {self.lane + 1})\n"
            f"{self.state.label}, {_duration_text(self.duration)}{still}"
        )


_E = EventKind
_STARTED, _DONE, _CANCELLED = _E.TASK_STARTED, _E.TASK_DONE, _E.TASK_CANCELLED
_WORKER_STARTED, _WORKER_EXITED = _E.WORKER_STARTED, _E.WORKER_EXITED
_DONE_STATE, _FAILED_STATE, _TIMED_OUT_STATE, _CANCELLED_STATE, _UNKNOWN = (
    int(BarState.DONE),
    int(BarState.FAILED),
    int(BarState.TIMED_OUT),
    int(BarState.CANCELLED),
    int(BarState.UNKNOWN),
)
# Columns of the rows an ingest collects before one vectorised write.
_X0, _X1, _LANE, _STATE, _TASK, _WORKER = range(6)
_seq_of = itemgetter(0)


def _state_of_record(task: Task) -> int:
    """The colour of the bar of a task that ended, from its record."""
    if task.state is TaskState.DONE:
        return _DONE_STATE
    if task.state is TaskState.CANCELLED:
        return _CANCELLED_STATE
    return _TIMED_OUT_STATE if isinstance(task.error, TaskTimeout) else _FAILED_STATE


def _ending_state(ended: Event) -> int:
    """The colour of a bar that ``ended`` closed."""
    kind = ended[1]
    if kind is _DONE:
        return _DONE_STATE
    if kind is _CANCELLED:
        return _CANCELLED_STATE
    return _TIMED_OUT_STATE if isinstance(ended[5], TaskTimeout) else _FAILED_STATE


class _BarHistory:
    """The bars of a stream, Qt-free: finished bars in ring arrays, running
    tasks in a small dict, lanes per worker."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a task stream needs room for at least one bar, got {capacity}")
        self.capacity = capacity
        self.x0 = np.zeros(capacity)
        self.x1 = np.zeros(capacity)
        self.lane = np.zeros(capacity, dtype=np.int32)
        self.state = np.zeros(capacity, dtype=np.uint8)
        self.task_id = np.zeros(capacity, dtype=np.int64)
        self.worker_id = np.zeros(capacity, dtype=np.int64)
        self.clear()

    def clear(self) -> None:
        self.head = 0  # where the next bar goes
        self.count = 0
        self.total = 0  # bars ever added
        self.t0: float | None = None  # epoch seconds of x = 0
        self.now = 0.0  # x of "now": where running bars end
        self.running: dict[int, tuple[float, int, int]] = {}  # task id → (x0, lane, worker id)
        self._lane_task: dict[int, int] = {}  # lane → the task that last started in it
        self.lanes: dict[int, int] = {}  # live worker id → lane
        self.lane_labels: list[str] = []  # lane → "W<id>" of its latest worker
        self._free_lanes: list[int] = []  # a heap: the lowest free lane is reused first
        # Never reset, so a view that showed the old lanes sees the change.
        self.lanes_version = getattr(self, "lanes_version", 0) + 1
        self.x_min = 0.0
        self.x_max = 0.0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.x0, self.x1, self.lane, self.state, self.task_id, self.worker_id))

    # ---------------------------------------------------------------- ingest

    def ingest(self, batch: Sequence[Event], now: float) -> int:
        """Take one tick's events; returns how many bars were finished."""
        return self.ingest_changes(Changes.of(batch), now)

    def ingest_changes(self, changes: Changes, now: float) -> int:
        """Take one tick's changes; returns how many bars were finished.

        Per task, not per event: a task that starts and ends within the tick
        becomes one finished bar directly. Lanes depend on the order of
        starts and worker events (a lane opens at a worker's first
        appearance, a start closes a bar whose end was lost), so those few
        are taken in event order; bars are stored in the order the tasks
        ended, so the ring lets go of the oldest endings first.
        """
        if self.t0 is None:
            first = changes.first_time
            self.t0 = now if first is None else min(now, first)
        t0 = self.t0
        tasks = changes.tasks
        running, lanes, lane_task = self.running, self.lanes, self._lane_task
        pop_running = running.pop
        # (seq of the event that ended the bar, x0, x1, lane, state, task, worker)
        rows: list[tuple[int, float, float, int, int, int, int]] = []
        add_row = rows.append
        timeline: list[Event] = []
        for task_id, entry in tasks.items():
            started, ended = entry[STARTED], entry[ENDED]
            if started is not None:
                if started[4] is not None:
                    timeline.append(started)
            elif ended is not None:
                start = pop_running(task_id, None)
                if start is not None:  # else cancelled before it started, or its start was never seen
                    add_row(
                        (ended[0], start[0], ended[2] - t0, start[1], _ending_state(ended), task_id, start[2])
                    )
        timeline += [e for e in changes.others if e[1] is _WORKER_STARTED or e[1] is _WORKER_EXITED]
        timeline.sort(key=_seq_of)
        for seq, kind, when, task_id, worker_id, _payload in timeline:
            if kind is _STARTED:
                lane = lanes.get(worker_id)
                if lane is None:
                    lane = self._open_lane(worker_id)
                x = when - t0
                previous = lane_task.get(lane)
                if previous is not None and previous in running:
                    # Its end was lost: close it where the next one begins.
                    px0, plane, pworker = pop_running(previous)
                    add_row((seq, px0, x, plane, _UNKNOWN, previous, pworker))
                lane_task[lane] = task_id
                ended = tasks[task_id][ENDED]
                if ended is None:
                    running[task_id] = (x, lane, worker_id)
                else:
                    add_row((ended[0], x, ended[2] - t0, lane, _ending_state(ended), task_id, worker_id))
            elif kind is _WORKER_STARTED:
                if worker_id is not None and worker_id not in lanes:
                    self._open_lane(worker_id)
            elif worker_id is not None:  # exited
                self._close_lane(worker_id, when - t0, seq, rows)
        # Emitting threads may append a few microseconds out of order: close enough for "now".
        last = changes.last_time
        self.now = max(self.now, now - t0, 0.0 if last is None else last - t0)
        if rows:
            rows.sort(key=_seq_of)
            self._append(rows)
        self._update_extent(bool(rows))
        return len(rows)

    def resync(self, lookup: Callable[[int], Task | None]) -> int:
        """Close the running bars of tasks that ended unseen (their events
        were dropped); returns how many were closed.

        ``lookup`` gives a task's record, None when nobody knows it any
        more: a bar whose record ended closes where and how the record says,
        one without a record closes now, as UNKNOWN."""
        if self.t0 is None or not self.running:
            return 0
        t0 = self.t0
        rows: list[tuple[int, float, float, int, int, int, int]] = []
        for task_id, (x0, lane, worker_id) in list(self.running.items()):
            task = lookup(task_id)
            if task is None:
                x1, state = self.now, _UNKNOWN
            elif task.finished_at is not None and task.state.finished:
                x1, state = task.finished_at - t0, _state_of_record(task)
            else:
                continue
            del self.running[task_id]
            rows.append((len(rows), x0, max(x0, x1), lane, state, task_id, worker_id))
        if rows:
            self._append(rows)
            self._update_extent(True)
        return len(rows)

    def open_lanes(self, worker_ids: Iterable[int]) -> None:
        """Lanes for workers that are already there, in worker id order: their
        start came before the stream did, so no event would open them until
        their first task (and then in the order those tasks started)."""
        for worker_id in sorted(worker_ids):
            if worker_id not in self.lanes:
                self._open_lane(worker_id)

    def _open_lane(self, worker_id: int) -> int:
        if self._free_lanes:
            lane = heapq.heappop(self._free_lanes)
            self.lane_labels[lane] = f"W{worker_id}"
        else:
            lane = len(self.lane_labels)
            self.lane_labels.append(f"W{worker_id}")
        self.lanes[worker_id] = lane
        self.lanes_version += 1
        return lane

    def _close_lane(self, worker_id: int, x: float, seq: int, rows: list) -> None:
        """A worker left: its lane is free for the next new worker (its bars stay)."""
        lane = self.lanes.pop(worker_id, None)
        if lane is None:
            return
        task_id = self._lane_task.pop(lane, None)
        if task_id is not None and task_id in self.running:
            x0, _, _ = self.running.pop(task_id)
            rows.append((seq, x0, x, lane, _UNKNOWN, task_id, worker_id))
        heapq.heappush(self._free_lanes, lane)

    def _append(self, rows: list[tuple[int, float, float, int, int, int, int]]) -> None:
        """Store finished bars (rows as ``ingest_changes`` makes them, the
        first column an event seq), overwriting the oldest once full."""
        capacity = self.capacity
        self.total += len(rows)
        if len(rows) > capacity:
            rows = rows[-capacity:]
        # fromiter over the flattened rows: np.array on a list of tuples
        # inspects every tuple, several times slower.
        n = len(rows)
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=n * 7)
        block = flat.reshape(n, 7)[:, 1:]
        where = (self.head + np.arange(n)) % capacity
        self.x0[where] = block[:, _X0]
        self.x1[where] = block[:, _X1]
        self.lane[where] = block[:, _LANE]
        self.state[where] = block[:, _STATE]
        self.task_id[where] = block[:, _TASK]
        self.worker_id[where] = block[:, _WORKER]
        self.head = (self.head + n) % capacity
        self.count = min(self.count + n, capacity)

    def _update_extent(self, bars_changed: bool) -> None:
        """Keep x_min/x_max (the item's bounding box). A full scan only when
        bars were added, since only then can the oldest finished bar change;
        between scans x_min may be lower than needed, never higher."""
        if bars_changed:
            n = self.count
            self.x_min = float(self.x0[:n].min())
            self.x_max = float(self.x1[:n].max())
        lows = [self.x_min] if self.count else []
        if self.running:
            lows.append(min(start for start, _, _ in self.running.values()))
        self.x_min = min(lows) if lows else 0.0
        self.x_max = max(self.x_max, self.now)

    # ----------------------------------------------------------------- reads

    def finished(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x0, x1, lane, state of the finished bars held, in storage order."""
        n = self.count
        return self.x0[:n], self.x1[:n], self.lane[:n], self.state[:n]

    def advance(self, seconds: float) -> None:
        """Move "now" on by ``seconds`` without new events."""
        self.now += seconds
        self.x_max = max(self.x_max, self.now)

    def running_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """x0 and lane of the running bars."""
        n = len(self.running)
        x0 = np.fromiter((v[0] for v in self.running.values()), dtype=np.float64, count=n)
        lane = np.fromiter((v[1] for v in self.running.values()), dtype=np.int32, count=n)
        return x0, lane

    def bars(self, include_running: bool = True) -> Bars:
        """Copies of every bar held, oldest first (running bars last, ending now)."""
        if self.count < self.capacity:
            order = np.arange(self.count)
        else:
            order = (self.head + np.arange(self.capacity)) % self.capacity
        parts = [
            self.x0[order],
            self.x1[order],
            self.lane[order],
            self.state[order],
            self.task_id[order],
            self.worker_id[order],
        ]
        if include_running and self.running:
            ids = list(self.running)
            values = list(self.running.values())
            extra = [
                np.array([v[0] for v in values]),
                np.full(len(values), self.now),
                np.array([v[1] for v in values], dtype=np.int32),
                np.full(len(values), BarState.RUNNING, dtype=np.uint8),
                np.array(ids, dtype=np.int64),
                np.array([v[2] for v in values], dtype=np.int64),
            ]
            parts = [np.concatenate([a, b]) for a, b in zip(parts, extra, strict=True)]
        return Bars(*parts)

    def bar_at(self, x: float, lane: int, slack: float = 0.0) -> BarInfo | None:
        """The bar in ``lane`` that covers ``x`` (give or take ``slack``), newest first."""
        for task_id, (x0, bar_lane, worker_id) in self.running.items():
            if bar_lane == lane and x0 - slack <= x <= self.now + slack:
                return BarInfo(task_id, worker_id, lane, BarState.RUNNING, x0, self.now)
        x0, x1, lanes, states = self.finished()
        hits = np.flatnonzero((lanes == lane) & (x0 - slack <= x) & (x1 + slack >= x))
        if not hits.size:
            return None
        i = int(hits[np.argmax(x0[hits])])
        return BarInfo(
            int(self.task_id[i]),
            int(self.worker_id[i]),
            lane,
            BarState(int(states[i])),
            float(x0[i]),
            float(x1[i]),
        )


class _RectBuffer:
    """Rectangles for ``QPainter.drawRects`` in one reusable numpy block.

    pyqtgraph's ``PrimitiveArray`` hands Qt a pointer to numpy memory (its own
    BarGraphItem draws that way), which spares building one QRectF object per
    bar. It is internal to pyqtgraph, so fall back to a list of QRectF should
    it move.
    """

    def __init__(self) -> None:
        try:
            from pyqtgraph.Qt.internals import PrimitiveArray

            self._array = PrimitiveArray(QRectF, 4)
        except (ImportError, AttributeError, TypeError):
            self._array = None

    def draw(
        self, painter: QPainter, x: np.ndarray, y: np.ndarray, w: np.ndarray | float, h: np.ndarray | float
    ) -> None:
        n = x.size
        if self._array is None:
            ws, hs = np.broadcast_to(w, n).tolist(), np.broadcast_to(h, n).tolist()
            painter.drawRects([QRectF(*r) for r in zip(x.tolist(), y.tolist(), ws, hs, strict=True)])
            return
        self._array.resize(n)
        block = self._array.ndarray()
        block[:, 0] = x
        block[:, 1] = y
        block[:, 2] = w
        block[:, 3] = h
        painter.drawRects(*self._array.drawargs())


class _BarsItem(pg.GraphicsObject):
    """Every bar of the stream as one graphics item.

    A scene with one item per bar slows to a crawl past a few thousand bars
    (each is indexed, hit-tested and painted on its own); here a paint culls
    the arrays to the exposed rectangle and draws each colour with a single
    ``drawRects``.

    Bars narrower than ``SUMMARY_PIXELS`` at the current zoom (a busy pool of
    short tasks puts hundreds into each pixel column of a lane) are not drawn
    one by one -- that costs tens of milliseconds per paint and shows nothing
    more -- but summed up per pixel column of each lane: one rectangle per
    state present in the column, as tall as that state's share of the
    column's bars, and at least a pixel, so that a single failure among a
    thousand successes still shows. Zoom in and they are bars again.
    """

    def __init__(self, history: _BarHistory) -> None:
        super().__init__()
        self._history = history
        self._brushes: dict[int, QBrush] = {}
        self._rects = _RectBuffer()
        self._bounds = QRectF()
        self._grid_pen: QPen | None = None
        self._grid_ticks: Callable[[float, float], Sequence[float]] | None = None
        self.painted = 0  # bars drawn by the last paint (for tests and tuning)
        # Ask for exposedRect in item coordinates, to cull to it.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def set_colours(self, colours: dict[BarState, str]) -> None:
        self._brushes = {int(state): QBrush(QColor(colour)) for state, colour in colours.items()}
        self.update()

    def set_grid(self, colour: QColor | None, ticks: Callable[[float, float], Sequence[float]]) -> None:
        """Vertical grid lines in ``colour`` at ``ticks(left, right)``, drawn
        behind the bars. pyqtgraph's own grid (drawn by the axis) measured
        four milliseconds a repaint at this size, more than the bars; one
        ``drawLines`` with a cosmetic pen costs a few microseconds."""
        self._grid_pen = None if colour is None else QPen(colour, 0)
        self._grid_ticks = ticks
        self.update()

    def data_changed(self) -> None:
        """The history changed: move the bounds if they grew, and repaint."""
        h = self._history
        lanes = max(1, len(h.lane_labels))
        bounds = QRectF(h.x_min, -0.5, max(h.x_max - h.x_min, 1e-9), lanes)
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(self._bounds)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        area = option.exposedRect
        view = self.viewRect()
        if view is not None:
            area = area.intersected(view)
        if area.isEmpty():
            self.painted = 0
            return
        left, right = area.left(), area.right()
        top, bottom = area.top() - BAR_HEIGHT, area.bottom() + BAR_HEIGHT
        pixel = self.pixelWidth() or 0.0
        if self._grid_pen is not None and self._grid_ticks is not None:
            painter.setPen(self._grid_pen)
            y0, y1 = area.top(), area.bottom()
            painter.drawLines([QLineF(x, y0, x, y1) for x in self._grid_ticks(left, right)])
        painter.setPen(Qt.PenStyle.NoPen)

        h = self._history
        x0, x1, lane, state = h.finished()
        visible = (x1 >= left) & (x0 <= right) & (lane >= top) & (lane <= bottom)
        painted = int(np.count_nonzero(visible))
        if painted:
            if painted < visible.size:  # else every bar shows (a following view): no copies
                x0, x1, lane, state = x0[visible], x1[visible], lane[visible], state[visible]
            if pixel > 0:
                narrow = x1 - x0 < SUMMARY_PIXELS * pixel
                if narrow.any():
                    self._draw_summary(painter, x0[narrow], lane[narrow], state[narrow], pixel)
                    wide = ~narrow
                    x0, x1, lane, state = x0[wide], x1[wide], lane[wide], state[wide]
            order = np.argsort(state, kind="stable")
            counts = np.bincount(state, minlength=len(BarState))
            start = 0
            for value, count in enumerate(counts.tolist()):
                if count:
                    chosen = order[start : start + count]
                    self._draw(painter, value, x0[chosen], x1[chosen], lane[chosen], pixel)
                    start += count
        if h.running:
            rx0, rlane = h.running_arrays()
            self._draw(painter, BarState.RUNNING, rx0, np.full(rx0.size, h.now), rlane, pixel)
            painted += rx0.size
        self.painted = painted

    def _draw_summary(
        self, painter: QPainter, x0: np.ndarray, lane: np.ndarray, state: np.ndarray, pixel: float
    ) -> None:
        """Narrow bars as a stack of state shares per pixel column of each
        lane (see the class docstring). The columns sit on a grid fixed in
        time, not to the view's edge, so a scrolling view does not make them
        shimmer."""
        states = len(BarState)
        column = (x0 * (1.0 / pixel)).astype(np.int64)  # x >= 0: truncation is floor
        first_column = int(column.min())
        column -= first_column
        columns = int(column.max()) + 1
        first_lane = int(lane.min())
        cell = (lane.astype(np.int64) - first_lane) * columns + column
        cells = (int(lane.max()) - first_lane + 1) * columns
        counts = np.bincount(cell * states + state, minlength=cells * states).reshape(cells, states)
        occupied = np.flatnonzero(counts.any(axis=1))
        counts = counts[occupied].astype(np.float64)
        shares = counts * (BAR_HEIGHT / counts.sum(axis=1, keepdims=True))
        least = min(abs(self.pixelHeight() or 0.0), BAR_HEIGHT / states)
        heights = np.where(counts > 0, np.maximum(shares, least), 0.0)
        heights *= BAR_HEIGHT / heights.sum(axis=1, keepdims=True)
        tops = np.cumsum(heights, axis=1) - heights
        lanes = occupied // columns + first_lane
        xs = (occupied % columns + first_column) * pixel
        for value in range(states):
            present = heights[:, value] > 0
            if present.any():
                painter.setBrush(self._brushes.get(value, QBrush(QColor("#888888"))))
                y = lanes[present] - BAR_HEIGHT / 2 + tops[present, value]
                self._rects.draw(painter, xs[present], y, pixel, heights[present, value])

    def _draw(
        self,
        painter: QPainter,
        state: int,
        x0: np.ndarray,
        x1: np.ndarray,
        lane: np.ndarray,
        pixel: float,
    ) -> None:
        # A one-pixel gap ends each bar, so back-to-back tasks stay apart;
        # a bar never gets narrower than a pixel, so short tasks stay visible.
        width = np.maximum(x1 - x0 - pixel, pixel)
        painter.setBrush(self._brushes.get(state, QBrush(QColor("#888888"))))
        self._rects.draw(painter, x0, lane - BAR_HEIGHT / 2, width, BAR_HEIGHT)


@dataclass(frozen=True)
class _Theme:
    background: str
    foreground: str
    states: dict[BarState, str]


THEMES: dict[str, _Theme] = {
    "light": _Theme(
        background="#ffffff",
        foreground="#4a5263",
        states={
            BarState.RUNNING: "#3b82c4",
            BarState.DONE: "#2e9e6a",
            BarState.FAILED: "#d03b3b",
            BarState.TIMED_OUT: "#e08a00",
            BarState.CANCELLED: "#8c95a3",
            BarState.UNKNOWN: "#c3c8d1",
        },
    ),
    "dark": _Theme(
        background="#1b2130",
        foreground="#a9b2c3",
        states={
            BarState.RUNNING: "#5ab4f0",
            BarState.DONE: "#4cc38a",
            BarState.FAILED: "#ff6b6b",
            BarState.TIMED_OUT: "#f2b33d",
            BarState.CANCELLED: "#7c8596",
            BarState.UNKNOWN: "#4a5263",
        },
    ),
}


class TaskStream(QWidget):
    """One lane per worker, one bar per task; follows the latest
    ``follow_seconds`` until the user pans or zooms (the Follow button
    brings it back)."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        capacity: int = 100_000,
        follow_seconds: float = 60.0,
        theme: str = "light",
        show_interval: float = 0.0,
        origin: TimeOrigin | None = None,
        workers: Iterable[int] = (),
    ) -> None:
        """``origin``: time zero shared with the charts (None: the first
        event); ``workers``: ids of the workers already running, each given
        its lane at once."""
        super().__init__(parent)
        self.history = _BarHistory(capacity)
        self._origin = origin
        self.history.t0 = None if origin is None else origin.wall
        self.history.open_lanes(workers)
        self.follow_seconds = follow_seconds
        #: Seconds between two showings of new data at least: a window fed
        #: 30 ticks a second takes every tick's bars, but repaints the stream
        #: (the costliest panel to paint) at most 1 / show_interval times a second.
        self.show_interval = show_interval
        self._shown_at = float("-inf")
        self._show_later = QTimer(self)
        self._show_later.setSingleShot(True)
        self._show_later.timeout.connect(self._show_changes)
        self._lanes_shown = -1
        self.hover_text = ""

        self.plot_widget = pg.PlotWidget(axisItems={"bottom": ElapsedAxis("bottom")})
        self.plot: pg.PlotItem = self.plot_widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.getAxis("left").setWidth(44)
        self.view_box: pg.ViewBox = self.plot.getViewBox()
        self.view_box.invertY(True)  # W1 on top, as in a list of workers
        self.view_box.disableAutoRange()
        self.bars_item = _BarsItem(self.history)
        self.plot.addItem(self.bars_item)

        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.follow_button = QToolButton()
        self.follow_button.setText("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip(f"Keep the latest {follow_seconds:g} s in view")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.legend, stretch=1)
        header.addWidget(self.follow_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.plot_widget, stretch=1)

        self.follow_button.toggled.connect(self._on_follow_button_toggled)
        self.view_box.sigRangeChangedManually.connect(self._on_view_box_range_changed_manually)
        self._last_tick = time.monotonic()
        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_INTERVAL_MS)
        self._clock.timeout.connect(self._on_clock_timeout)
        self._mouse_proxy = pg.SignalProxy(
            self.plot_widget.scene().sigMouseMoved,
            rateLimit=30,
            slot=self._on_scene_mouse_moved,
            threadSafe=False,
        )
        self.set_theme(theme)
        self._update_lane_ticks()
        self._follow()

    # ------------------------------------------------------------------ data

    def apply_events(self, batch: Sequence[Event], now: float | None = None) -> None:
        """Take one tick's events and let running bars grow to ``now``
        (epoch seconds, like ``Event.time``; ``time.time()`` when None)."""
        self.apply_changes(Changes.of(batch), now)

    def apply_changes(self, changes: Changes, now: float | None = None) -> None:
        """Take one tick's changes (see ``apply_events``)."""
        self._last_tick = time.monotonic()
        self.history.ingest_changes(changes, time.time() if now is None else now)
        self._show_changes()

    def _show_changes(self) -> None:
        now = time.monotonic()
        wait = self._shown_at + self.show_interval - now
        if wait > 0:
            if not self._show_later.isActive():
                self._show_later.start(max(1, round(wait * 1000)))
            return
        self._shown_at = now
        self.bars_item.data_changed()
        if self.history.lanes_version != self._lanes_shown:
            self._update_lane_ticks()
        if self.following:
            self._follow()
        running = bool(self.history.running)
        if running != self._clock.isActive():
            if running:
                self._clock.start()
            else:
                self._clock.stop()

    @Slot()
    def _on_clock_timeout(self) -> None:
        # A window may pass on only the ticks that brought events; while
        # tasks run and no tick came, running bars still grow with the clock
        # (the stream's own clock: the time given last, plus what elapsed).
        quiet = time.monotonic() - self._last_tick
        if quiet < CLOCK_INTERVAL_MS / 1000 * 0.9:
            return
        self._last_tick += quiet
        self.history.advance(quiet)
        self._show_changes()

    def clear(self) -> None:
        """Forget every bar and lane; the next event starts the clock again
        (with a shared origin, time zero stays the origin)."""
        self.history.clear()
        if self._origin is not None:
            self.history.t0 = self._origin.wall
        self._show_changes()

    def add_lanes(self, worker_ids: Iterable[int]) -> None:
        """Give these workers (already running, say) their lanes now, in id order."""
        self.history.open_lanes(worker_ids)
        self._show_changes()

    def resync(self, lookup: Callable[[int], Task | None]) -> int:
        """Close running bars of tasks that ended unseen (``_BarHistory.resync``)."""
        closed = self.history.resync(lookup)
        if closed:
            self._show_changes()
        return closed

    def bars(self, include_running: bool = True) -> Bars:
        """Copies of the bars held, oldest first."""
        return self.history.bars(include_running)

    def lane_labels(self) -> list[str]:
        return list(self.history.lane_labels)

    @property
    def item_count(self) -> int:
        """Graphics items in the plot's scene (it must not grow with the bars)."""
        return len(self.plot_widget.scene().items())

    def _grid_ticks(self, left: float, right: float) -> list[float]:
        """Where the time axis puts its major ticks between ``left`` and ``right``."""
        axis = self.plot.getAxis("bottom")
        levels = axis.tickValues(left, right, max(1.0, axis.width()))
        return [float(x) for x in levels[0][1]] if levels else []

    def _update_lane_ticks(self) -> None:
        labels = self.history.lane_labels
        self.plot.getAxis("left").setTicks([list(enumerate(labels)), []])
        self._lanes_shown = self.history.lanes_version

    # ---------------------------------------------------------------- follow

    @property
    def following(self) -> bool:
        return self.follow_button.isChecked()

    def set_following(self, follow: bool) -> None:
        self.follow_button.setChecked(follow)

    @Slot(bool)
    def _on_follow_button_toggled(self, checked: bool) -> None:
        if checked:
            self._follow()

    @Slot(object)
    def _on_view_box_range_changed_manually(self, _mask: object) -> None:
        # The user panned or zoomed: stop moving the view under their hands.
        self.follow_button.setChecked(False)

    def _follow(self) -> None:
        now = self.history.now
        left = max(0.0, now - self.follow_seconds)
        right = max(now, left + self.follow_seconds)
        lanes = max(1, len(self.history.lane_labels))
        self.view_box.setRange(xRange=(left, right), yRange=(-0.5, lanes - 0.5), padding=0)

    def x_range(self) -> tuple[float, float]:
        (left, right), _ = self.view_box.viewRange()
        return left, right

    # ----------------------------------------------------------------- hover

    def bar_at(self, x: float, y: float) -> BarInfo | None:
        """The bar at view coordinates (``x`` seconds, ``y`` lanes), if any."""
        lane = round(y)
        if abs(y - lane) > BAR_HEIGHT / 2:
            return None
        pixel = self.bars_item.pixelWidth() or 0.0
        return self.history.bar_at(x, lane, slack=pixel)

    @Slot(object)
    def _on_scene_mouse_moved(self, args: tuple[QPointF]) -> None:
        pos = args[0]
        info = None
        if self.view_box.sceneBoundingRect().contains(pos):
            point = self.view_box.mapSceneToView(pos)
            info = self.bar_at(point.x(), point.y())
        self.hover_text = info.describe() if info is not None else ""
        if info is None:
            QToolTip.hideText()
            return
        view = self.plot_widget
        QToolTip.showText(view.viewport().mapToGlobal(view.mapFromScene(pos)), self.hover_text, view)

    # ----------------------------------------------------------------- theme

    def set_theme(self, theme: str) -> None:
        """Recolour for a "light" or "dark" background."""
        if theme not in THEMES:
            raise ValueError(f"no task stream theme {theme!r}; the themes are: {', '.join(THEMES)}")
        colours = THEMES[theme]
        self.plot_widget.setBackground(colours.background)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(colours.foreground))
            axis.setTextPen(pg.mkPen(colours.foreground))
        self.bars_item.set_colours(colours.states)
        grid = QColor(colours.foreground)
        grid.setAlphaF(0.15)
        self.bars_item.set_grid(grid, self._grid_ticks)
        self.legend.setText(
            "  ".join(
                f'<span style="color:{colours.states[state]}">&#9632;</span> {state.label}'
                for state in BarState
                if state is not BarState.UNKNOWN
            )
        )


def _duration_text(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:.0f} s"
