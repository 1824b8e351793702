"""One pool on screen: charts, task stream, tasks, workers and failures.

A PoolView owns the pool's PoolSignals. Once per tick it hands the tick's
changes, folded per task, to every panel (``apply_changes``) and the pool's
stats to the charts; panels never subscribe to the pool themselves, so the
events cross threads once, in one place::

    PoolSignals ──changes_batched──► PoolView ──apply_changes──► TasksPanel, TaskStream,
                ──stats_changed────►  one panel per turn      ExceptionInspector, WorkersPanel
                                              ──apply_stats────► LiveCharts
                                     after lost events, about once a second:
                                              ──resync─────────► tasks, stream, inspector

Each panel takes a tick's changes in an event-loop turn of its own, and the
signals hold the next hand-over until the last panel is done: under a storm
of events every turn stays a few milliseconds long, whatever the load, and
the events not taken yet wait in the pool's bounded buffer. Should the window
fall so far behind that the buffer drops events, the panels catch up from
the pool's own task records (``resync``), and say how many events they never
saw.

The panels are built just after the view is first painted (pyqtgraph is a
heavy import), so the window shows at once -- and a view in a hidden tab
when it is first shown, or a little later at the latest. Until then the
signals hold the events back in the buffer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from core import WorkerState
from core.signals import PoolSignals

from .throttled_label import ThrottledLabel
from .tuning import hold_collections, release_collections

if TYPE_CHECKING:
    from core import Pool, PoolStats, Task
    from core.changes import Changes

__all__ = ["PoolView"]

#: Worker states of workers that are gone: they get no lane.
_GONE = frozenset({WorkerState.EXITED, WorkerState.JOINED})

#: Re-read the workers table every this many ticks (about twice a second).
WORKER_REFRESH_TICKS = 15
#: A view nobody has looked at builds its panels after this long anyway.
BUILD_AT_THE_LATEST_MS = 2500
#: The stream and the charts cost the most to repaint: they show new data at
#: about 15 frames a second (every tick's data is taken; a later frame shows it).
STREAM_SHOW_INTERVAL = 1 / 15
CHART_REDRAW_TICKS = 2
#: A hand-over of more tasks than this makes the view busy for BUSY_SECONDS:
#: its panels then repaint in turns, one group per tick (see _hold_paints).
BUSY_TASKS = 300
BUSY_SECONDS = 0.5
#: ...and its panels' counts change at most this often (seconds), and the
#: tasks table lists at most this many tasks of a hand-over (see
#: TaskTableModel.shed_above: the rest started and ended within the tick).
BUSY_LABEL_INTERVAL = 1.0
BUSY_LISTED_TASKS = 800
#: While events are being lost, the panels catch up with the pool's records
#: this often (and once more when the storm is over).
RESYNC_INTERVAL_MS = 1000
#: Once nothing waits in the buffer, an ending older than this (seconds) has
#: been taken, or was lost: the inspector may file it from its record.
CALM_MARGIN = 0.2


class _Fed(Protocol):
    """A panel the view feeds with each tick's changes."""

    def apply_changes(self, changes: Changes) -> None: ...


class PoolView(QWidget):
    """The panels of one pool, fed from one PoolSignals."""

    #: the pool's stats, once per tick (for the window's status bar)
    stats_changed = Signal(object)

    def __init__(self, pool: Pool, name: str, history: int = 100_000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.name = name
        self.history = history
        self.theme = "light"
        # Time zero of the charts and the task stream alike, taken before the
        # view listens: no event it sees is older (a TimeOrigin once built;
        # gui.charts is not imported before the first paint).
        self._origin = (time.time(), time.monotonic())
        # What the pool counted before the view listened (the inspector's baseline).
        self._failed_before = pool.stats().failed
        self.signals = PoolSignals(pool, parent=self)
        self.signals.hold()  # until the panels are built: events wait in the buffer
        self.stats: PoolStats | None = None
        self._ticks = 0
        self._fed: tuple[_Fed, ...] = ()
        # The turns still to take: a panel applying changes, or a resync.
        self._steps: deque[Callable[[], object]] = deque()
        self._step_timer = QTimer(self)
        self._step_timer.setSingleShot(True)
        self._step_timer.setInterval(0)
        self._step_timer.timeout.connect(self._on_step_timer_timeout)
        self._lost_since_resync = False
        self._busy_until = 0.0
        self._paints_held = False
        self._frame = 0
        self._paint_groups: tuple[tuple[QWidget, ...], ...] = ()
        self._labels: tuple[ThrottledLabel, ...] = ()
        self._resync_timer = QTimer(self)
        self._resync_timer.setInterval(RESYNC_INTERVAL_MS)
        self._resync_timer.timeout.connect(self._on_resync_timer_timeout)
        self.panels_built = False
        self._splitters: list[QSplitter] = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)  # text must not touch the window's edge
        self._placeholder = QLabel(f"Starting the {name} view…")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self._placeholder)

        self.signals.changes_batched.connect(self._on_signals_changes_batched)
        self.signals.stats_changed.connect(self._on_signals_stats_changed)
        self._build_scheduled = False
        QTimer.singleShot(BUILD_AT_THE_LATEST_MS, self.build_panels)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Build the panels once the placeholder has been painted."""
        super().paintEvent(event)
        if not self.panels_built and not self._build_scheduled:
            self._build_scheduled = True
            QTimer.singleShot(0, self.build_panels)

    @Slot()
    def build_panels(self) -> None:
        """Create the panels (imports pyqtgraph); safe to call twice."""
        if self.panels_built:
            return
        from .charts import LiveCharts, TimeOrigin
        from .inspector import ExceptionInspector
        from .task_stream import TaskStream
        from .tasks_panel import TasksPanel
        from .workers_panel import WorkersPanel

        origin = TimeOrigin(*self._origin)
        self.charts = LiveCharts(origin=origin)
        # Workers started before the view listened get their lanes now, in id order.
        running = [w.id for w in self.pool.workers if w.state not in _GONE]
        self.stream = TaskStream(show_interval=STREAM_SHOW_INTERVAL, origin=origin, workers=running)
        self.tasks = TasksPanel(self.pool)
        self.tasks.model.set_max_finished(self.history)
        self.workers_panel = WorkersPanel(self.pool)
        self.inspector = ExceptionInspector(self.pool)

        # The tasks and the workers share the wider left column (their tables
        # have many columns); the inspector takes the bottom's full height on
        # the right (its lists, the failure and its traceback stacked).
        top = self._splitter(Qt.Orientation.Horizontal, "top", self.charts, self.stream)
        left = self._splitter(Qt.Orientation.Vertical, "left", self.tasks, self.workers_panel)
        bottom = self._splitter(Qt.Orientation.Horizontal, "bottom", left, self.inspector)
        main = self._splitter(Qt.Orientation.Vertical, "main", top, bottom)
        top.setSizes([520, 760])
        left.setSizes([300, 190])
        bottom.setSizes([760, 520])
        main.setSizes([240, 490])
        for splitter, stretch in ((top, (2, 3)), (left, (3, 1)), (bottom, (3, 2)), (main, (1, 2))):
            for index, factor in enumerate(stretch):
                splitter.setStretchFactor(index, factor)  # how a bigger window shares its room
        self.restore_splitters()

        layout = self.layout()
        layout.removeWidget(self._placeholder)
        self._placeholder.deleteLater()
        layout.addWidget(main)
        self._fed = (self.tasks, self.stream, self.inspector, self.workers_panel)
        # The views that change with the data, with their scroll bars and
        # headers. (Held whole, a panel would repaint its toolbar and labels
        # too when let go.)
        self._paint_groups = (
            (self.tasks.view,),
            (self.stream.plot_widget, self.workers_panel.table),
            (self.charts.graphics, self.inspector.groups_view, self.inspector.failures_view),
        )
        # Opaque panels: a label or scroll bar repainting inside one does not
        # make Qt repaint everything beneath it, up to the main window.
        for panel in (self.tasks, self.stream, self.charts, self.workers_panel, self.inspector):
            panel.setAutoFillBackground(True)
        self._labels = (self.tasks.count_text, self.inspector.summary_text, self.charts.readout_label)
        self.panels_built = True
        self.set_theme(self.theme)
        self.workers_panel.refresh()
        self.signals.release()

    def _splitter(self, orientation: Qt.Orientation, role: str, *widgets: QWidget) -> QSplitter:
        splitter = QSplitter(orientation)
        splitter.setObjectName(f"{self.name}/{role}")
        splitter.setChildrenCollapsible(False)
        for widget in widgets:
            splitter.addWidget(widget)
        self._splitters.append(splitter)
        return splitter

    def restore_splitters(self) -> None:
        settings = QSettings()
        for splitter in self._splitters:
            state = settings.value(f"splitters/{splitter.objectName()}")
            if state is not None:
                splitter.restoreState(state)

    def save_splitters(self) -> None:
        settings = QSettings()
        for splitter in self._splitters:
            settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())

    # -------------------------------------------------------------- the tick

    @Slot(object)
    def _on_signals_changes_batched(self, changes: Changes) -> None:
        """A hand-over: each panel takes it in a turn of its own, and no new
        one comes until the last panel took this one."""
        if len(changes.tasks) > BUSY_TASKS:
            self._busy_until = time.monotonic() + BUSY_SECONDS
        if changes.lost:
            self._lost_since_resync = True
            if not self._resync_timer.isActive():
                self._resync_timer.start()
        if changes.tasks or changes.others:
            if time.monotonic() < self._busy_until:
                self._hold_paints()
            self._queue(*(partial(panel.apply_changes, changes) for panel in self._fed))

    def _queue(self, *steps: Callable[[], object]) -> None:
        self._steps.extend(steps)
        if self._steps:
            self.signals.hold()
            self._step_timer.start()

    @Slot()
    def _on_step_timer_timeout(self) -> None:
        steps = self._steps
        if steps:
            steps.popleft()()
        if steps:
            self._step_timer.start()
        else:
            if self._paints_held:
                self._show_frame()
            self.signals.release()

    @Slot(object)
    def _on_signals_stats_changed(self, stats: PoolStats) -> None:
        self.stats = stats
        if self.panels_built:
            self._ticks += 1
            self._end_busy_paints()
            redraw = not self._paints_held and self._ticks % CHART_REDRAW_TICKS == 0
            self.charts.apply_stats(stats, redraw=redraw)
            if self._ticks % WORKER_REFRESH_TICKS == 0:
                self.workers_panel.refresh()
            self.tasks.set_events_not_shown(self.events_not_shown)
        self.stats_changed.emit(stats)

    # Busy, the view also holds the garbage collector back (gui.tuning), and
    # lets the tasks table list only part of a hand-over (shed_above).
    #
    # A storm changes every panel on every tick, and repainting all of them
    # took most of a tick. While busy, the panels take a tick's changes with
    # their views' updates disabled (Qt neither paints them nor queues the
    # paint), and once the last panel has them, one group of views is let go
    # -- enabling a view repaints it whole, with the newest data. So each
    # tick ends with one short repaint, and every view still moves about ten
    # times a second. Calm again, every view repaints as its data change.

    def _hold_paints(self) -> None:
        if not self._paints_held:
            self._paints_held = True
            for label in self._labels:
                label.interval = BUSY_LABEL_INTERVAL
            self.tasks.model.shed_above = BUSY_LISTED_TASKS
            hold_collections(self)
        for group in self._paint_groups:
            for widget in group:
                widget.setUpdatesEnabled(False)

    def _show_frame(self) -> None:
        group = self._paint_groups[self._frame % len(self._paint_groups)]
        self._frame += 1
        for widget in group:
            widget.setUpdatesEnabled(True)
        if self.charts.graphics in group:
            self.charts.refresh()

    def _end_busy_paints(self) -> None:
        if not self._paints_held or time.monotonic() < self._busy_until:
            return
        self._paints_held = False
        for group in self._paint_groups:
            for widget in group:
                widget.setUpdatesEnabled(True)
        for label in self._labels:
            label.interval = 0.0
        self.tasks.model.shed_above = None
        release_collections(self)
        self.charts.refresh()

    # ------------------------------------------------------------ catching up

    @property
    def events_not_shown(self) -> int:
        """The pool's events the window never took: its buffer dropped them."""
        return self.signals.dropped

    @Slot()
    def _on_resync_timer_timeout(self) -> None:
        if self.panels_built and self._resync not in self._steps:
            self._queue(self._resync)

    def _resync(self) -> None:
        """Bring the panels in line with the pool's records after lost events
        (see each panel's ``resync``); stops the timer once a resync, with
        nothing left waiting, finds nothing more to do."""
        calm = self.signals.backlog == 0 and not self._steps
        lost, self._lost_since_resync = self._lost_since_resync, False
        changed = self.tasks.resync()
        changed += self.stream.resync(self._record_of)
        changed += self.inspector.resync(time.time() - CALM_MARGIN if calm else None)
        if calm:
            self.inspector.set_pool_failures(self.pool.stats().failed - self._failed_before)
            if not (changed or lost or self.tasks.model.has_suspects):
                self._resync_timer.stop()

    def _record_of(self, task_id: int) -> Task | None:
        """A task's record: the table's (it keeps those of finished tasks too),
        or the pool's while it is queued or running."""
        row = self.tasks.model.find(task_id)
        if row is not None and row.task is not None:
            return row.task
        return self.pool.task(task_id)

    # ------------------------------------------------------------- commands

    def set_theme(self, theme: str) -> None:
        self.theme = theme
        if self.panels_built:
            self.charts.set_theme(theme)
            self.stream.set_theme(theme)

    def set_history(self, history: int) -> None:
        self.history = history
        if self.panels_built:
            self.tasks.model.set_max_finished(history)

    def clear_finished(self) -> None:
        if self.panels_built:
            self.tasks.model.clear_finished()

    def close_signals(self) -> None:
        """Stop draining (before the pool shuts down)."""
        release_collections(self)
        self._resync_timer.stop()
        self._step_timer.stop()
        self._steps.clear()
        self.signals.close()
