"""One pool on screen: charts, task stream, tasks, workers and failures.

A PoolView owns the pool's PoolSignals. Once per tick it hands the drained
batch of events to every panel (``apply_events``) and the pool's stats to the
charts; panels never subscribe to the pool themselves, so the events cross
threads once, in one place::

    PoolSignals ──events_batched──► PoolView ──apply_events──► TasksPanel, TaskStream,
                ──stats_changed───►          ──apply_stats──►  LiveCharts     WorkersPanel,
                                                                              ExceptionInspector

The panels are built just after the view is first painted (pyqtgraph is a
heavy import), so the window shows at once -- and a view in a hidden tab
when it is first shown, or a little later at the latest. Batches that arrive
before are kept (bounded) and handed over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from core.signals import PoolSignals

if TYPE_CHECKING:
    from core import Event, Pool, PoolStats

__all__ = ["PoolView"]

#: Re-read the workers table every this many ticks (about twice a second).
WORKER_REFRESH_TICKS = 15
#: A view nobody has looked at builds its panels after this long anyway.
BUILD_AT_THE_LATEST_MS = 2500
#: Events kept for panels not built yet; older ones are dropped.
EARLY_EVENTS = 200_000
#: A tick that leaves more than this many events behind starts storm pacing...
STORM_BACKLOG = 5_000
#: ...which ends once the backlog is down to this.
CALM_BACKLOG = 500
#: Events a tick takes while pacing (about 30,000 a second)...
STORM_EVENTS_PER_TICK = 1_000
#: ...and the most it leaves waiting: older ones are dropped (and counted),
#: so the panels show what happens now rather than seconds ago, and events
#: die young instead of piling up for the garbage collector.
STORM_KEEP = 10_000


class _Fed(Protocol):
    """A panel the view feeds with events."""

    def apply_events(self, batch: list[Event]) -> None: ...


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
        self.signals = PoolSignals(pool, parent=self)
        self.stats: PoolStats | None = None
        self._early: list[list[Event]] = []
        self._early_count = 0
        self._ticks = 0
        # Storm pacing (see _pace): each panel's batches not yet applied.
        self.storm = False
        self._fed: tuple[_Fed, ...] = ()
        self._held: dict[_Fed, list[list[Event]]] = {}
        self._turn = 0
        self.panels_built = False
        self._splitters: list[QSplitter] = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._placeholder = QLabel(f"Starting the {name} view…")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self._placeholder)

        self.signals.events_batched.connect(self._on_signals_events_batched)
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
        from .charts import LiveCharts
        from .inspector import ExceptionInspector
        from .task_stream import TaskStream
        from .tasks_panel import TasksPanel
        from .workers_panel import WorkersPanel

        self.charts = LiveCharts()
        self.stream = TaskStream()
        self.tasks = TasksPanel(self.pool)
        self.tasks.model.set_max_finished(self.history)
        self.workers_panel = WorkersPanel(self.pool)
        self.inspector = ExceptionInspector(self.pool)

        top = self._splitter(Qt.Orientation.Horizontal, "top", self.charts, self.stream)
        side = self._splitter(Qt.Orientation.Vertical, "side", self.workers_panel, self.inspector)
        bottom = self._splitter(Qt.Orientation.Horizontal, "bottom", self.tasks, side)
        main = self._splitter(Qt.Orientation.Vertical, "main", top, bottom)
        top.setSizes([520, 760])
        side.setSizes([220, 320])
        bottom.setSizes([680, 600])
        main.setSizes([290, 490])
        self.restore_splitters()

        layout = self.layout()
        layout.removeWidget(self._placeholder)
        self._placeholder.deleteLater()
        layout.addWidget(main)
        self._fed = (self.tasks, self.stream, self.inspector, self.workers_panel)
        self._held = {panel: [] for panel in self._fed}
        self._calm_max_batch = self.signals.max_batch
        self.panels_built = True
        self.set_theme(self.theme)
        for batch in self._early:
            self._apply(batch)
        self._early.clear()
        self._early_count = 0
        self.workers_panel.refresh()

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
    def _on_signals_events_batched(self, batch: list[Event]) -> None:
        if not self.panels_built:
            self._early.append(batch)
            self._early_count += len(batch)
            while self._early_count > EARLY_EVENTS and len(self._early) > 1:
                self._early_count -= len(self._early.pop(0))
            return
        if self.storm:
            for held in self._held.values():
                held.append(batch)
        else:
            self._apply(batch)

    def _apply(self, batch: list[Event]) -> None:
        for panel in self._fed:
            panel.apply_events(batch)

    @Slot(object)
    def _on_signals_stats_changed(self, stats: PoolStats) -> None:
        self.stats = stats
        if self.panels_built:
            self._ticks += 1
            redraw_charts = self._pace()
            self.charts.apply_stats(stats, redraw=redraw_charts)
            if self._ticks % WORKER_REFRESH_TICKS == 0:
                self.workers_panel.refresh()
        self.stats_changed.emit(stats)

    def _pace(self) -> bool:
        """End of a tick: while a storm of events lasts, bring one panel up
        to date per tick, in turn, and say whether the charts redraw now.

        Every panel repainting on every tick costs more than a tick's budget
        during a storm; taking turns, a tick repaints one panel, so the
        event loop stays free between ticks while each panel still moves
        several times a second. The panels see every event the window took,
        only later and in bigger batches."""
        backlog = self.signals.backlog
        if not self.storm:
            if backlog > STORM_BACKLOG:
                self.storm = True
                self._turn = 0
                self.signals.max_batch = STORM_EVENTS_PER_TICK
            return True
        if backlog <= CALM_BACKLOG:
            self.storm = False
            self.signals.max_batch = self._calm_max_batch
            for panel in self._fed:
                self._flush(panel)
            return True
        self.signals.skip_backlog(STORM_KEEP)
        turn = self._turn % (len(self._fed) + 1)  # and one turn for the charts
        self._turn += 1
        if turn == len(self._fed):
            return True
        self._flush(self._fed[turn])
        return False

    def _flush(self, panel: _Fed) -> None:
        held = self._held[panel]
        if held:
            batch = held[0] if len(held) == 1 else [event for part in held for event in part]
            held.clear()
            panel.apply_events(batch)

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
        self.signals.close()
