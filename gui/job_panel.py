"""A job in the window: its progress, its results table, and its commands.

The panel owns a ``core.jobs.Job`` and polls it on a timer, so the Qt side
crosses threads in one place and in batches::

    feeder thread / workers ──messages──► Job inbox
    QTimer tick (20 Hz) ──► Job.poll() ──JobChanges──► JobResultsModel: one beginInsertRows for
                                                       the new rows, one dataChanged for the
                                                       changed ones
                         ──► JobProgress ──► progress bar, ETA, counts, "scanning… N found"

Everything the panel does to the job (cancel, retry failed, export) runs on
the GUI thread and returns at once: waiting for room in a pool's queue is the
job's feeder thread's business.
"""

from __future__ import annotations

import os
import time
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.jobs import InputRow, Job, JobChanges, JobProgress, printable, summarize
from core.result_files import write_results

from .task_table_model import RowState, format_duration, state_color

if TYPE_CHECKING:
    from PySide6.QtGui import QColor

__all__ = ["Column", "InputRowRole", "JobPanel", "JobResultsModel", "JobsDock"]

#: How often the panel polls its job: 20 Hz is smooth for a progress bar, and
#: each tick costs Qt calls that wait for the GIL while workers are busy.
TICK_MS = 50
#: Messages one tick applies at most, and the time it may spend on them; the
#: rest wait for the next tick (a scan reports thousands of files at once).
MESSAGES_PER_TICK = 20_000
TICK_BUDGET_SECONDS = 0.010
#: The Jobs dock's height when it first appears, in pixels.
DOCK_HEIGHT = 240
#: Every this many ticks the visible running rows' states and times move on.
REFRESH_TICKS = 10

InputRowRole = Qt.ItemDataRole.UserRole + 1  #: the ``core.jobs.InputRow``
_SORT_ROLE = Qt.ItemDataRole.UserRole + 2
_STATE_ROLE = Qt.ItemDataRole.UserRole + 3  #: the input's state, as text (for the filter)

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_ROW_ROLE = int(InputRowRole)
_SORT = int(_SORT_ROLE)
_STATE = int(_STATE_ROLE)


class Column(IntEnum):
    INPUT = 0
    OUTPUT = 1
    RESULT = 2
    DURATION = 3
    STATE = 4
    ERROR = 5


_HEADERS = ("Input", "Output", "Result", "Duration", "State", "Error")
_HEADER_TIPS = (
    "The file (or the path that was rejected)",
    "The file the processor wrote, if any",
    "What the processor returned, in short (the export holds all of it)",
    "How long the last attempt ran",
    "queued, running, done, failed, cancelled or rejected",
    "Why the input failed or was rejected",
)
#: The colours of the tasks table, so a failure looks the same everywhere.
_STATE_COLORS: dict[str, QColor | None] = {
    "running": state_color(RowState.RUNNING),
    "done": state_color(RowState.DONE),
    "failed": state_color(RowState.FAILED),
    "cancelled": state_color(RowState.CANCELLED),
    "rejected": state_color(RowState.FAILED),
}


def _state_text(row: InputRow) -> str:
    return "running" if row.running else str(row.state)


def _duration_of(row: InputRow) -> float | None:
    if row.seconds is not None:
        return row.seconds
    if row.running:
        started = row.started_at()
        if started:
            return max(0.0, time.time() - started)
    return None


class JobResultsModel(QAbstractTableModel):
    """The job's rows, read straight from ``Job.rows`` (no copies).

    ``rowCount`` is the model's own count, raised only inside
    begin/endInsertRows, so a view never sees a row the model has not
    announced even though the job's list grew during the tick."""

    def __init__(self, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self._count = 0

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        if role == _DISPLAY:
            return _HEADERS[section]
        if role == _TOOLTIP:
            return _HEADER_TIPS[section]
        return None

    def row(self, index: int) -> InputRow:
        return self.job.rows[index]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid() or index.row() >= self._count:
            return None
        row = self.job.rows[index.row()]
        column = index.column()
        if role == _DISPLAY:
            return self._display(row, column)
        if role == _ROW_ROLE:
            return row
        if role == _STATE:
            return str(row.state)
        if role == _SORT:
            if column == Column.DURATION:
                seconds = _duration_of(row)
                return -1.0 if seconds is None else seconds
            return (self._display(row, column) or "").casefold()
        if role == _FOREGROUND and column in (Column.STATE, Column.ERROR):
            return _STATE_COLORS.get(_state_text(row))
        if role == _TOOLTIP:
            if column == Column.ERROR and row.error:
                return printable(row.error) if "\n" not in row.error else row.error
            if column == Column.RESULT and row.result is not None:
                return summarize(row.result, width=400).replace(", ", "\n")
            if column in (Column.INPUT, Column.OUTPUT):
                return self._display(row, column)
        if role == _ALIGNMENT and column == Column.DURATION:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(row: InputRow, column: int) -> str:
        if column == Column.INPUT:
            return printable(row.input)
        if column == Column.OUTPUT:
            return printable(row.output or "")
        if column == Column.RESULT:
            return printable(summarize(row.result))
        if column == Column.DURATION:
            seconds = _duration_of(row)
            return "" if seconds is None else format_duration(seconds)
        if column == Column.STATE:
            return _state_text(row)
        if column == Column.ERROR:
            return printable(row.error.strip().splitlines()[-1]) if row.error else ""
        return ""

    def apply(self, changes: JobChanges) -> None:
        """One tick's changes: one dataChanged over the changed old rows, one
        insert for the new ones."""
        if changes.first_changed is not None and changes.last_changed is not None:
            self.dataChanged.emit(
                self.index(changes.first_changed, 0), self.index(changes.last_changed, len(Column) - 1)
            )
        if changes.added:
            self.beginInsertRows(QModelIndex(), self._count, self._count + changes.added - 1)
            self._count += changes.added
            self.endInsertRows()

    def refresh(self, first: int, last: int) -> None:
        """The running rows' state and time move on without any message."""
        if first <= last < self._count:
            self.dataChanged.emit(self.index(first, Column.DURATION), self.index(last, Column.STATE))


class _ResultsProxy(QSortFilterProxyModel):
    """Sorts by column; optionally shows only the inputs that went wrong (a
    pattern on the state, matched in C++ rather than a Python callback per row)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(_SORT_ROLE)
        self.setFilterRole(_STATE_ROLE)
        self.setFilterKeyColumn(Column.STATE)

    @Slot(bool)
    def set_problems_only(self, on: bool) -> None:
        self.setFilterRegularExpression(QRegularExpression(_PROBLEMS if on else ""))


_PROBLEMS = "^(failed|rejected|cancelled)$"


class JobPanel(QWidget):
    """One job: a progress bar with ETA and counts, the results table, and
    Cancel, Retry failed and Export buttons."""

    #: JobProgress, on each tick that changed something
    progressed = Signal(object)
    #: the number of inputs found so far, while the scan runs (and once at its end)
    scan_counted = Signal(int)
    #: about to queue a new round (the start, a retry): the window records it in the history
    round_started = Signal()
    #: the job halted by its stop rule; the reason
    halted = Signal(str)
    #: every input of the round has an outcome
    finished = Signal()

    def __init__(self, job: Job, pool_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.pool_name = pool_name
        self.title = f"{job.spec.processor.name} · {_inputs_title(job.spec.paths)}"
        self.model = JobResultsModel(job, self)
        self.proxy = _ResultsProxy(self)
        self.proxy.setSourceModel(self.model)
        self._ticks = 0
        self._last_found = -1
        self._reported_halt: str | None = None
        self._reported_finish = False
        self._last_progress: JobProgress | None = None
        self._on_screen: dict[str, object] = {}
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    def _build(self) -> None:
        self.heading = QLabel(f"<b>{_html(self.title)}</b> on {self.pool_name}")
        self.heading.setToolTip("\n".join(printable(path) for path in self.job.spec.paths[:50]))
        self.state_label = QLabel("Starting…", objectName="jobState")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setMinimumWidth(260)
        self.counts_label = QLabel(objectName="jobCounts")
        self.cancel_button = QPushButton("Cancel job")
        self.cancel_button.setToolTip("Stop scanning and cancel every task of this job that has not finished")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.setToolTip("Run the failed inputs again, and those a halt or a cancel left unrun")
        self.retry_button.clicked.connect(self.retry_failed)
        self.retry_button.setEnabled(False)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save one row per input as CSV or JSON (as poolscope run --results)")
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.problems_box = QCheckBox("Problems only")
        self.problems_box.setToolTip("Show only failed, rejected and cancelled inputs")
        self.problems_box.toggled.connect(self.proxy.set_problems_only)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the order they were found in
        self.table.setSortingEnabled(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        zero = self.fontMetrics().horizontalAdvance("0")
        for column, chars in (
            (Column.INPUT, 44),
            (Column.OUTPUT, 24),
            (Column.RESULT, 44),
            (Column.DURATION, 10),
        ):
            self.table.setColumnWidth(column, chars * zero)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)

        top = QHBoxLayout()
        top.addWidget(self.heading)
        top.addWidget(self.state_label, 1)
        top.addWidget(self.problems_box)
        top.addWidget(self.cancel_button)
        top.addWidget(self.retry_button)
        top.addWidget(self.export_button)
        figures = QHBoxLayout()
        figures.addWidget(self.progress_bar, 2)
        figures.addWidget(self.counts_label, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(figures)
        layout.addWidget(self.table, 1)

    # -------------------------------------------------------------- control

    def start(self) -> None:
        """Start the job and follow it."""
        self.round_started.emit()
        self.job.start()
        self._timer.start()

    @Slot()
    def cancel(self) -> None:
        self.job.cancel()
        self._timer.start()
        self._tick()

    @Slot()
    def retry_failed(self) -> int:
        """Queue the failed (and unrun) inputs again; returns how many."""
        if self.job.feeding:
            return 0
        self.round_started.emit()
        count = self.job.retry_failed()
        if count:
            self._reported_halt = None
            self._reported_finish = False
            self._timer.start()
            self._tick()
        return count

    def export_results(self, path: str) -> None:
        """Write one row per input to ``path`` (.csv or .json), in the format
        of ``poolscope run --results``."""
        write_results(path, self.job.records())

    def close_job(self) -> None:
        """Stop following and stop the job's feeder thread (the window is
        closing or the tab goes away); the pool's own tasks are the pool's."""
        self._timer.stop()
        self.job.close()

    @property
    def following(self) -> bool:
        return self._timer.isActive()

    # ----------------------------------------------------------------- tick

    @Slot()
    def _on_timer_timeout(self) -> None:
        self._tick()

    def _tick(self) -> None:
        changes = self.job.poll(limit=MESSAGES_PER_TICK, budget=TICK_BUDGET_SECONDS)
        self.model.apply(changes)
        self._ticks += 1
        if self._ticks % REFRESH_TICKS == 0:
            self._refresh_running_rows()
        progress = self.job.progress()
        if changes or progress != self._last_progress:
            self._show(progress)
            self._last_progress = progress
            self.progressed.emit(progress)
        if progress.halted and progress.halted != self._reported_halt:
            self._reported_halt = progress.halted
            self.halted.emit(progress.halted)
        if progress.finished and not self._reported_finish:
            self._reported_finish = True
            self._timer.stop()
            self._show(progress)
            self.finished.emit()

    def _refresh_running_rows(self) -> None:
        """Repaint the visible rows' State and Duration (one dataChanged)."""
        viewport = self.table.viewport()
        top = self.table.rowAt(0)
        if top < 0:
            return
        bottom = self.table.rowAt(viewport.height() - 1)
        bottom = self.proxy.rowCount() - 1 if bottom < 0 else bottom
        rows = [self.proxy.mapToSource(self.proxy.index(r, 0)).row() for r in range(top, bottom + 1)]
        rows = [r for r in rows if r >= 0]
        if rows:
            self.model.refresh(min(rows), max(rows))

    def _show(self, progress: JobProgress) -> None:
        """Put the figures on screen, calling Qt only for what changed: under
        busy worker threads every Qt call waits for the GIL again."""
        total = max(progress.inputs, 1)
        if progress.finished:
            bar_format = f"all {progress.inputs:,} finished"
        elif progress.scanning:
            bar_format = "%v of %m found so far"
        elif progress.eta_seconds is not None:
            bar_format = f"%v of %m (%p%) · {format_duration(progress.eta_seconds)} left"
        else:
            bar_format = "%v of %m (%p%)"
        wanted = {
            "state": printable(_state_words(progress)),
            "counts": (
                f"done {progress.done:,} · failed {progress.failed:,} · rejected {progress.rejected:,}"
                f" · cancelled {progress.cancelled:,} · left {progress.queued:,}"
            ),
            "range": total,
            "value": progress.settled,
            "format": bar_format,
            "cancel": not progress.finished and not progress.cancelled_by_user,
            "retry": not progress.feeding
            and bool(progress.failed or progress.cancelled)
            and not progress.queued,
        }
        setters = {
            "state": self.state_label.setText,
            "counts": self.counts_label.setText,
            "range": lambda n: self.progress_bar.setRange(0, n),
            "value": self.progress_bar.setValue,
            "format": self.progress_bar.setFormat,
            "cancel": self.cancel_button.setEnabled,
            "retry": self.retry_button.setEnabled,
        }
        for key, value in wanted.items():
            if self._on_screen.get(key) != value:
                self._on_screen[key] = value
                setters[key](value)
        if progress.inputs != self._last_found:
            self._last_found = progress.inputs
            self.scan_counted.emit(progress.inputs)

    # ------------------------------------------------------------- menus

    @Slot()
    def _on_export_button_clicked(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export results", "results.csv", "CSV files (*.csv);;JSON files (*.json)"
        )
        if not path:
            return
        if not path.endswith((".csv", ".json")):
            path += ".json" if "json" in chosen.lower() else ".csv"
        try:
            self.export_results(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Cannot write {path}: {exc.strerror or exc}")

    @Slot(QPoint)
    def _on_table_context_menu_requested(self, point: QPoint) -> None:
        index = self.table.indexAt(point)
        if not index.isValid():
            return
        row = index.data(_ROW_ROLE)
        menu = QMenu(self)
        for text, value in (
            ("Copy input path", row.input),
            ("Copy output path", row.output),
            ("Copy error", row.error),
        ):
            act = QAction(text, menu)
            act.setEnabled(bool(value))
            act.triggered.connect(
                lambda _=False, v=value: QGuiApplication.clipboard().setText(printable(v or ""))
            )
            menu.addAction(act)
        menu.popup(self.table.viewport().mapToGlobal(point))


class JobsDock(QDockWidget):
    """The window's jobs, one tab each; hidden until the first job starts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Jobs", parent)
        self.setObjectName("jobsDock")
        self.tabs = QTabWidget(documentMode=True, tabsClosable=True)
        self.tabs.tabCloseRequested.connect(self._on_tabs_tab_close_requested)
        self.setWidget(self.tabs)

    def add(self, panel: JobPanel) -> None:
        first = not self.tabs.count()
        self.tabs.addTab(panel, panel.title)
        self.tabs.setTabToolTip(self.tabs.indexOf(panel), f"{panel.title} on {panel.pool_name}")
        self.tabs.setCurrentWidget(panel)
        self.show()
        self.raise_()
        window = self.parentWidget()
        if first and isinstance(window, QMainWindow):
            # Enough for the figures and a few rows; the pool's charts keep their room.
            window.resizeDocks([self], [DOCK_HEIGHT], Qt.Orientation.Vertical)

    @property
    def panels(self) -> list[JobPanel]:
        return [self.tabs.widget(i) for i in range(self.tabs.count())]  # type: ignore[misc]

    def feeding(self) -> bool:
        """True while a job still scans or queues (its pool may look idle)."""
        return any(panel.job.feeding for panel in self.panels)

    def close_jobs(self) -> None:
        for panel in self.panels:
            panel.close_job()

    @Slot(int)
    def _on_tabs_tab_close_requested(self, index: int) -> None:
        panel: JobPanel = self.tabs.widget(index)  # type: ignore[assignment]
        if not panel.job.finished:
            panel.state_label.setText(panel.state_label.text() + " — cancel the job before closing it")
            return
        self.tabs.removeTab(index)
        panel.close_job()
        panel.deleteLater()
        if not self.tabs.count():
            self.hide()


def _state_words(progress: JobProgress) -> str:
    found = f"{progress.inputs:,} found"
    if progress.scanning:
        return f"Scanning… {found}"
    if progress.halted:
        return f"{found} · halted: {progress.halted}"
    if progress.cancelled_by_user:
        return f"{found} · cancelled" + ("" if progress.finished else " (waiting for running tasks)")
    if progress.ended_early:
        return f"{found} · stopped: {progress.ended_early}"
    if progress.feeding:
        return f"{found} · queueing the failed inputs again…"
    if progress.finished:
        return f"{found} · finished in {format_duration(progress.elapsed)}"
    return f"{found} · running"


def _inputs_title(paths: tuple[str, ...]) -> str:
    if len(paths) == 1:
        return printable(os.path.basename(paths[0].rstrip(os.sep)) or paths[0])
    return f"{len(paths):,} paths"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
