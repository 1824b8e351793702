"""The History panel: the runs the store recorded and, for one run, its
tasks and failures, with retry, resume, export, delete and pruning.

A run's attempts show in the live view's own table (``TaskTableModel``,
``TaskFilterProxy``, ``TaskTableView``: the same columns, colours, state
filter and search) and its failures in the live inspector's
``FailureBrowser``. Both are fed what the store recorded, turned into what
they are fed live: the attempts into the events a pool would have sent
(``recorded_changes``), the failures into ``Failure`` groups
(``group_failures``).

Data flow::

    Store ──list_runs() on the GUI thread (one small query)──► RunsModel ──► runs view
      │
      └─ a run is selected ─► _Job on a short-lived thread:
            failures(run_id) ─► group_failures ─► list[FailureGroup]
            tasks(run_id, limit, offset), a page at a time ─► recorded_changes ─► Changes
         ──SimpleQueue──► the panel's 30 Hz pump (GUI thread) ─► FailureBrowser.set_groups
                                                               └► TaskTableModel.apply_changes
                                                                  (a few pages per tick)

Why a thread: a run may hold 100,000 attempts or more, and reading them and
making their rows' events takes a second or two -- the window must not
freeze while a user clicks through old runs. The store answers reads from
any thread (one reader connection behind a lock), and a page holds that
lock only briefly, so the GUI thread's own small reads wait at most a few
milliseconds. Exports stream through the same kind of job.

Nothing here runs a task: "Retry failures", the failures' Retry buttons and
"Resume" are signals that the window acts on (it owns the pools and the
store's recordings). Deleting and pruning are the store's own writes, after
the user confirmed.

The panel's jobs read the store: call ``shutdown()`` before closing it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core import Event, EventKind, TaskError, TaskState, TaskTimeout
from core.changes import Changes
from core.errors import StoreError
from core.store import RunState

from .inspector import Failure, FailureBrowser, FailureGroup, FailureGroupsModel, message_signatures
from .task_table_model import Column, RowState, TaskFilterProxy, TaskTableModel, format_duration, state_color
from .tasks_panel import COLUMN_SAMPLES, TaskFilterBar, TaskTableView, set_up_table, set_up_task_view

if TYPE_CHECKING:
    from core.store import RunRecord, Store, TaskRecord

__all__ = [
    "HistoryPanel",
    "RecordRole",
    "RecordedTask",
    "RunColumn",
    "RunsModel",
    "export_format",
    "group_failures",
    "recorded_changes",
]

_Index = QModelIndex | QPersistentModelIndex

#: The ``RunRecord`` behind a row of the runs list.
RecordRole = Qt.ItemDataRole.UserRole + 16

#: Attempts read per query: small enough that the store's read lock is never
#: held long, large enough that a 100,000-attempt run takes 20 queries.
PAGE_ROWS = 5_000
#: Attempts of one run held at most: memory stays bounded for a run of
#: millions (an export writes them all).
MAX_TASK_ROWS = 200_000
#: Rows put into the tasks table per pump tick (whole pages, at least one),
#: so a tick stays short even with a filter active (a filtering proxy asks
#: Python about each row).
ROWS_PER_TICK = 25_000
#: How often the pump looks at what the jobs found.
PUMP_INTERVAL_MS = 33
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_RECORD = int(RecordRole)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

_RUN_STATE_COLORS = {
    RunState.RUNNING: state_color(RowState.RUNNING),
    RunState.INTERRUPTED: state_color(RowState.TIMED_OUT),
    RunState.HALTED: state_color(RowState.CANCELLED),
}

# The live table's column widths, with a label as the history shows one.
_TASK_COLUMN_SAMPLES = {**COLUMN_SAMPLES, Column.LABEL: "a-long-input-name.txt (attempt 2)"}


def _when(t: float | None) -> str:
    """A moment as date and time: history spans days, the live view's clock does not."""
    if t is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def export_format(path: str, chosen_filter: str = "") -> tuple[str, str]:
    """The (path, format) an export writes: by the file's suffix, else by the
    filter chosen in the dialog (whose suffix is then added)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".json"):
        return path, suffix[1:]
    fmt = "json" if "json" in chosen_filter.lower() else "csv"
    return f"{path}.{fmt}", fmt


# ------------------------------------------------- records as the live views take them


class RecordedTask:
    """A recorded attempt in the place of the engine's ``Task`` record: what
    the live table reads of one (its name and attempt label the row, the
    tooltip adds what it retried), and the ``TaskRecord`` itself."""

    __slots__ = ("attempt", "name", "record", "retry_of", "submitted_at")

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        self.name = record.label or record.input or ""
        self.attempt = record.attempt
        self.retry_of = None  # the store does not keep which attempt a retry started from
        self.submitted_at = record.submitted


def _recorded_error(record: TaskRecord) -> TaskError | None:
    """The engine's error of a recorded attempt; a time-out as a
    ``TaskTimeout``, which the table tells apart ("timed out")."""
    if record.error_type is None:
        return None
    if record.error_type == TaskTimeout.__name__:
        error = TaskTimeout(0.0, record.traceback or "")
        error.message = record.message or error.message
        return error
    return TaskError(record.error_type, record.message or "", record.traceback or "")


_SUBMITTED = EventKind.TASK_SUBMITTED
_STARTED = EventKind.TASK_STARTED
_ENDINGS = {
    TaskState.DONE: EventKind.TASK_DONE,
    TaskState.FAILED: EventKind.TASK_FAILED,
    TaskState.CANCELLED: EventKind.TASK_CANCELLED,
}


def recorded_changes(records: Sequence[TaskRecord], first_id: int) -> Changes:
    """The changes a pool would have reported for ``records``: each attempt
    submitted, started (if it did) and ended (if it did), as task
    ``first_id``, ``first_id + 1``, and so on (an attempt's number in its
    run: the row's ID). Qt-free and pure, so a job thread makes them."""
    events: list[Event] = []
    add = events.append
    for task_id, record in enumerate(records, first_id):
        worker = record.worker
        add(Event(0, _SUBMITTED, record.submitted or 0.0, task_id, None, RecordedTask(record)))
        if record.started is not None and record.state is not TaskState.QUEUED:
            add(Event(0, _STARTED, record.started, task_id, worker, None))
        kind = _ENDINGS.get(record.state)
        if kind is not None:
            outcome = record.result if record.state is TaskState.DONE else _recorded_error(record)
            add(Event(0, kind, record.finished, task_id, worker, outcome))
    return Changes.of(events)


def group_failures(records: Iterable[TaskRecord]) -> list[FailureGroup]:
    """Failed attempts grouped by problem as the live inspector groups them
    ("user 17 not found" and "user 42 not found" are one problem), the most
    frequent problem first; each group's failures oldest first. A failure's
    ``task_id`` is its input's number in the run. Pure Python and Qt-free,
    so a job thread does it."""
    ordered = sorted(records, key=lambda r: (r.finished or 0.0, r.seq))
    signatures = message_signatures([r.message or "" for r in ordered])
    groups: dict[tuple[str, str], FailureGroup] = {}
    for seq, (record, signature) in enumerate(zip(ordered, signatures, strict=True)):
        key = (record.error_type or "Error", signature)
        when = record.finished or 0.0
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureGroup(key[0], key[1], when, when)
        error = TaskError(key[0], record.message or "", record.traceback or "")
        group.failures.append(
            Failure(seq, record.seq, None, error, when, record.worker, group, record=record)
        )
        group.count += 1
        group.last_seen = when
    return sorted(groups.values(), key=lambda g: (-g.count, -g.last_seen, g.type_name, g.signature))


# -------------------------------------------------------------------- models


class _RowsModel(QAbstractTableModel):
    """A flat table over ``self._rows`` with fixed ``HEADERS``."""

    HEADERS: tuple[str, ...] = ()
    TIPS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []

    def rowCount(self, parent: _Index | None = None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index | None = None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.HEADERS)

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.HEADERS):
            return None
        if role == _DISPLAY:
            return self.HEADERS[section]
        if role == _TOOLTIP and section < len(self.TIPS):
            return self.TIPS[section]
        return None

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[Any]:
        return list(self._rows)

    def record(self, row: int) -> Any:
        return self._rows[row]

    def _row(self, index: _Index) -> Any:
        position = index.row()  # -1 for an invalid index; a table's indexes have no parent
        return self._rows[position] if 0 <= position < len(self._rows) else None


class RunColumn(IntEnum):
    ID = 0
    STARTED = 1
    WHAT = 2
    POOLS = 3
    DONE = 4
    FAILED = 5
    CANCELLED = 6
    TOTAL = 7
    DURATION = 8
    STATE = 9


_RUN_NUMBERS = frozenset(
    {RunColumn.ID, RunColumn.DONE, RunColumn.FAILED, RunColumn.CANCELLED, RunColumn.TOTAL}
)


class RunsModel(_RowsModel):
    """One row per recorded run, in the store's order (newest first)."""

    HEADERS = ("Run", "Started", "What", "Pools", "Done", "Failed", "Cancelled", "Total", "Duration", "State")
    TIPS = (
        "The run's id (poolscope history export ID)",
        "When the run started (local time)",
        "The run's title, or the processor it ran",
        "The kinds of pool it ran on",
        "Inputs whose newest attempt is done",
        "Inputs whose newest attempt failed",
        "Inputs whose newest attempt was cancelled (or stopped by a crash)",
        "Inputs recorded",
        "From start to end",
        "running, finished, halted, or interrupted (resumable)",
    )

    def set_runs(self, runs: Sequence[RunRecord]) -> None:
        self.set_rows(runs)

    def run(self, row: int) -> RunRecord:
        return self._rows[row]

    def row_of(self, run_id: int) -> int | None:
        for row, run in enumerate(self._rows):
            if run.id == run_id:
                return row
        return None

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        run: RunRecord | None = self._row(index)
        if run is None:
            return None
        column = index.column()
        if role == _DISPLAY:
            return self.display(run, column)
        if role == _RECORD:
            return run
        if role == _ALIGNMENT and (column in _RUN_NUMBERS or column == RunColumn.DURATION):
            return _RIGHT
        if role == _FOREGROUND:
            if column == RunColumn.FAILED and run.failed:
                return state_color(RowState.FAILED)
            if column == RunColumn.STATE:
                return _RUN_STATE_COLORS.get(run.state)
            return None
        if role == _TOOLTIP:
            return self._tooltip(run, column)
        return None

    @staticmethod
    def display(run: RunRecord, column: int) -> str:
        if column == RunColumn.ID:
            return str(run.id)
        if column == RunColumn.STARTED:
            return _when(run.started)
        if column == RunColumn.WHAT:
            return run.title or run.processor or "—"
        if column == RunColumn.POOLS:
            return (run.pools or "").replace(",", ", ")
        if column == RunColumn.DONE:
            return f"{run.done:,}"
        if column == RunColumn.FAILED:
            return f"{run.failed:,}"
        if column == RunColumn.CANCELLED:
            return f"{run.cancelled:,}"
        if column == RunColumn.TOTAL:
            return f"{run.total:,}"
        if column == RunColumn.DURATION:
            duration = run.duration
            return "—" if duration is None else format_duration(duration)
        if column == RunColumn.STATE:
            return run.state.value
        return ""

    @staticmethod
    def _tooltip(run: RunRecord, column: int) -> str | None:
        if column == RunColumn.STATE and run.state is RunState.INTERRUPTED:
            return f"Stopped before it ended: {_plural(run.unfinished, 'input')} can be resumed"
        if column != RunColumn.WHAT:
            return None
        lines = [run.title or f"run {run.id}"]
        if run.processor:
            lines.append(f"processor: {run.processor}")
        if run.options:
            lines.append("options: " + ", ".join(f"{k}={v!r}" for k, v in run.options.items()))
        if run.arguments:
            lines.append("arguments: " + ", ".join(f"{k}={v!r}" for k, v in run.arguments.items()))
        return "\n".join(lines)


# ----------------------------------------------------------------- the jobs

_PART, _DONE, _ERROR = range(3)


class _Job:
    """One piece of reading on a short-lived thread. The thread only puts
    into a queue; the panel's pump takes from it on the GUI thread, so no
    widget or model is ever touched from the thread."""

    def __init__(
        self,
        name: str,
        work: Callable[[_Job], Any],
        on_part: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.work = work
        self.on_part = on_part
        self.on_done = on_done
        self.on_error = on_error
        #: set by the panel when it no longer wants the result; the work checks it between queries
        self.cancelled = threading.Event()
        self.finished = False
        self._out: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def post(self, part: Any) -> None:
        """Hand a partial result to the GUI thread (called by ``work``)."""
        self._out.put((_PART, part))

    def _run(self) -> None:
        try:
            value = self.work(self)
        except Exception as exc:  # handed to the GUI thread, which says what happened
            self._out.put((_ERROR, exc))
        else:
            self._out.put((_DONE, value))

    def take(self) -> list[tuple[int, Any]]:
        items = []
        while True:
            try:
                items.append(self._out.get_nowait())
            except queue.Empty:
                return items

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _read_run(store: Store, run_id: int, job: _Job, page: int, cap: int) -> tuple[int, bool]:
    """A run's failures (grouped), then its attempts a page at a time as the
    changes that fill the table, on a job's thread. Returns (attempts read,
    whether the run has more than ``cap``)."""
    failures = store.failures(run_id)
    job.post(("failures", failures, group_failures(failures)))
    loaded = 0
    while loaded < cap:
        if job.cancelled.is_set():
            return loaded, False
        want = min(page, cap - loaded)
        rows = store.tasks(run_id, limit=want, offset=loaded)
        if rows:
            job.post(("tasks", recorded_changes(rows, loaded + 1), len(rows)))
        loaded += len(rows)
        if len(rows) < want:
            return loaded, False
    return loaded, bool(store.tasks(run_id, limit=1, offset=cap))


# ----------------------------------------------------------------- the panel


def _table(parent: QWidget, model: QAbstractItemModel, widths: Sequence[int]) -> QTableView:
    """A read-only row-selecting table with columns ``widths`` characters
    wide and the last one stretching. Fixed row heights: the view never
    measures rows, which keeps 100,000 of them cheap."""
    view = QTableView(parent)
    view.setModel(model)
    set_up_table(view, QAbstractItemView.SelectionMode.SingleSelection)
    header = view.horizontalHeader()
    digit = view.fontMetrics().horizontalAdvance("0")
    for column, chars in enumerate(widths):
        header.resizeSection(column, chars * digit + 16)
    return view


class HistoryPanel(QWidget):
    """Recorded runs and, for the selected run, its attempts and failures.

    ``store`` is None when history is off; ``set_unavailable(message)`` says
    why. The window wires ``retry_requested`` and ``resume_requested`` to its
    pools, saves ``keep_runs_changed`` as a setting, and calls ``refresh()``
    when a run starts or ends, and ``shutdown()`` before it closes the store.

    ``confirm(title, question) -> bool`` and ``ask_export_path(run) ->
    (path, "csv" | "json") | None`` are plain attributes, so a test (or an
    embedding app) can answer them without a dialog."""

    #: (run id, failed attempts whose inputs to run again: the newest of each
    #: input for "Retry failures", those picked for the failures' Retry buttons)
    retry_requested = Signal(int, object)
    #: an interrupted run to resume (the window re-runs its unfinished inputs)
    resume_requested = Signal(int)
    #: the user applied a new "keep the last N runs" (0: keep every run)
    keep_runs_changed = Signal(int)
    #: a run's attempts and failures are all in the tables
    run_loaded = Signal(int)
    #: an export finished: (path, attempts written)
    run_exported = Signal(str, int)

    def __init__(self, store: Store | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store: Store | None = store
        #: attempts read per query, and at most per run (see PAGE_ROWS, MAX_TASK_ROWS)
        self.page_rows = PAGE_ROWS
        self.max_task_rows = MAX_TASK_ROWS
        self.confirm: Callable[[str, str], bool] = self._ask_yes_no
        self.ask_export_path: Callable[[RunRecord], tuple[str, str] | None] = self._ask_export_path
        self._run: RunRecord | None = None
        self._failures: list[TaskRecord] | None = None
        self._load: _Job | None = None
        self._load_result: tuple[int, bool] | None = None
        #: pages read and not yet in the table: (changes, attempts)
        self._pending: deque[tuple[Changes, int]] = deque()
        self._jobs: list[_Job] = []
        self._export_folder: Path | None = None
        self._offered: int | None = None

        self.runs_model = RunsModel(self)
        # The live view's table, fed a recorded run (see recorded_changes).
        self.tasks_model = TaskTableModel(max_finished=self.max_task_rows, parent=self)
        self.tasks_proxy = TaskFilterProxy(self.tasks_model, self)
        self._build()

        self._pump = QTimer(self)
        self._pump.setInterval(PUMP_INTERVAL_MS)
        self._pump.timeout.connect(self._on_pump_timeout)

        if store is None:
            self.set_unavailable("History is off.")
        else:
            self.refresh()

    # ------------------------------------------------------------------ build

    def _build(self) -> None:
        self.refresh_action = self._action("Refresh", "Read the list of runs again", self.refresh)
        self.refresh_action.setShortcut("F5")
        self.resume_action = self._action(
            "Resume", "Run the unfinished inputs of this interrupted run again", self.resume
        )
        self.retry_action = self._action(
            "Retry failures",
            "Run every input of this run whose last attempt failed again",
            self.retry_failures,
        )
        self.export_action = self._action(
            "Export…", "Save every attempt of this run as CSV or JSON", self.export
        )
        self.delete_action = self._action("Delete run", "Remove this run from the history", self.delete_run)

        toolbar = QToolBar(self)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.refresh_action, self.resume_action, self.retry_action, self.export_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.delete_action)
        spacer = QWidget(toolbar)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(QLabel("Keep ", toolbar))
        self.keep_spin = QSpinBox(toolbar)
        self.keep_spin.setObjectName("historyKeepRuns")
        self.keep_spin.setRange(0, 1_000_000)
        self.keep_spin.setPrefix("the last ")
        self.keep_spin.setSuffix(" runs")
        self.keep_spin.setSpecialValueText("every run")
        self.keep_spin.setToolTip(
            "How many runs the history keeps (older ones are deleted); 0 keeps every run"
        )
        toolbar.addWidget(self.keep_spin)
        self.keep_button = QPushButton("Apply", toolbar)
        self.keep_button.setToolTip("Save this number and delete the runs beyond it now")
        self.keep_button.clicked.connect(self.apply_keep_runs)
        toolbar.addWidget(self.keep_button)
        self.toolbar = toolbar

        self.runs_view = _table(self, self.runs_model, (6, 19, 24, 12, 8, 8, 9, 8, 10, 10))
        self.runs_view.selectionModel().currentRowChanged.connect(self._on_runs_current_changed)
        self.runs_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for action in (self.resume_action, self.retry_action, self.export_action, self.delete_action):
            self.runs_view.addAction(action)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_tasks_tab(), "Tasks")
        self.tabs.addTab(self._build_failures_tab(), "Failures")

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.runs_view)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        self.splitter = splitter

        self.off_label = QLabel(self)
        self.off_label.setObjectName("historyOff")
        self.off_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.off_label.setWordWrap(True)
        self.off_label.setTextFormat(Qt.TextFormat.PlainText)
        self.off_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(splitter)
        self.pages.addWidget(self.off_label)

        self.status_label = QLabel(self)
        self.status_label.setObjectName("historyStatus")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.offer_bar = self._build_offer_bar()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(toolbar)
        layout.addWidget(self.offer_bar)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.status_label)
        self._update_actions()

    def _build_offer_bar(self) -> QFrame:
        """The bar that offers to resume a run the last session left unfinished."""
        bar = QFrame(self)
        bar.setObjectName("resumeOffer")
        bar.setFrameShape(QFrame.Shape.StyledPanel)
        bar.setAutoFillBackground(True)
        self.offer_label = QLabel(bar)
        self.offer_label.setWordWrap(True)
        self.offer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.offer_resume_button = QPushButton("Resume", bar)
        self.offer_resume_button.setDefault(True)
        self.offer_resume_button.clicked.connect(self._on_offer_resume_button_clicked)
        self.offer_dismiss_button = QPushButton("Not now", bar)
        self.offer_dismiss_button.setToolTip("The run stays in the list: Resume there runs it later")
        self.offer_dismiss_button.clicked.connect(self._on_offer_dismiss_button_clicked)
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.offer_label, 1)
        row.addWidget(self.offer_resume_button)
        row.addWidget(self.offer_dismiss_button)
        bar.hide()
        return bar

    def _action(self, text: str, tip: str, slot: Callable[[], Any]) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_tasks_tab(self) -> QWidget:
        page = QWidget(self)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.setSpacing(4)
        self.filter = TaskFilterBar(
            self.tasks_proxy, bar, page, rows="attempts", name_prefix="historyStateFilter_",
            search_tip="Case-insensitive; matches anywhere in the id, label or result "
            "(a failure's result is its error)",
            search_width=160,
        )  # fmt: skip
        self.search = self.filter.search
        self.count_label = QLabel(page)
        self.count_label.setObjectName("historyTaskCount")
        bar.addWidget(self.count_label)

        self.tasks_view = self._build_tasks_view(page)
        for signal in (
            self.tasks_proxy.rowsInserted,
            self.tasks_proxy.rowsRemoved,
            self.tasks_proxy.modelReset,
            self.tasks_proxy.layoutChanged,
        ):
            signal.connect(self._on_tasks_rows_changed)

        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.tasks_view, 1)
        return page

    def _build_tasks_view(self, parent: QWidget) -> TaskTableView:
        """The live view's table, set up as the Tasks panel sets it up."""
        view = TaskTableView(self.tasks_model, self.tasks_proxy, parent)
        set_up_task_view(view, _TASK_COLUMN_SAMPLES)
        return view

    def _build_failures_tab(self) -> QWidget:
        """The live inspector's failure browser, showing the run's failures
        the most frequent problem first (the live one puts the newest first)."""
        self.inspector = FailureBrowser(self, dated=True)
        self.inspector.groups_view.sortByColumn(FailureGroupsModel.COL_COUNT, Qt.SortOrder.DescendingOrder)
        self.inspector.retry_requested.connect(self._on_inspector_retry_requested)
        return self.inspector

    # -------------------------------------------------------------- the store

    @property
    def store(self) -> Store | None:
        return self._store

    def set_store(self, store: Store | None, message: str | None = None) -> None:
        """Show another history (None: history off, ``message`` says why; with
        a store, ``message`` is a note such as "the damaged file was moved").
        The panel stops reading the old store first (see ``shutdown``)."""
        self.shutdown()
        self._show_run(None)
        self._store = store
        if store is None:
            self.set_unavailable(message or "History is off.")
            return
        self.pages.setCurrentIndex(0)
        self.refresh()
        if message:
            self.status_label.setText(message)

    def set_unavailable(self, message: str) -> None:
        """Say why there is no history (it could not be opened, or it was
        turned off) in place of the tables; the panel lets go of its store."""
        self.shutdown()
        self._store = None
        self.off_label.setText(message)
        self.pages.setCurrentWidget(self.off_label)
        self.status_label.clear()
        self.runs_model.set_runs([])
        self._show_run(None)

    @property
    def available(self) -> bool:
        return self._store is not None and self.pages.currentIndex() == 0

    def refresh(self) -> None:
        """Read the list of runs again, keeping the selected run selected (and
        reading its attempts again if it changed, say a run still going)."""
        store = self._store
        if store is None:
            return
        try:
            runs = store.list_runs()
        except StoreError as exc:
            self.status_label.setText(f"The history cannot be read: {exc}")
            return
        selected = self._run
        self.runs_model.set_runs(runs)
        row = self.runs_model.row_of(selected.id) if selected is not None else None
        if row is None:
            if selected is not None:
                self._show_run(None)
        else:
            # Lands in _on_runs_current_changed, which reloads only a changed run.
            self.runs_view.setCurrentIndex(self.runs_model.index(row, 0))
        if store.problem:
            self.status_label.setText(store.problem)
        elif selected is None:
            self.status_label.setText(
                f"{_plural(len(runs), 'run')} in {store.path}"
                if runs
                else f"No runs recorded yet in {store.path}"
            )
        self._update_actions()

    # -------------------------------------------------------------- selection

    @property
    def current_run(self) -> RunRecord | None:
        """The selected run, as last read."""
        return self._run

    @property
    def loading(self) -> bool:
        """True while the selected run's attempts are still being read."""
        return self._load is not None

    @property
    def busy(self) -> bool:
        """True while any reading or export is still under way or not yet shown."""
        return bool(self._jobs or self._pending)

    @property
    def failures(self) -> list[TaskRecord] | None:
        """The selected run's inputs whose newest attempt failed (None until read)."""
        return None if self._failures is None else list(self._failures)

    def select_run(self, run_id: int) -> bool:
        """Select a run by id; False if the list does not hold it."""
        row = self.runs_model.row_of(run_id)
        if row is None:
            return False
        self.runs_view.setCurrentIndex(self.runs_model.index(row, 0))
        return True

    def _on_runs_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        run = self.runs_model.run(current.row()) if current.isValid() else None
        if run is not None and self._run is not None and run.id == self._run.id and run == self._run:
            return  # the same run, unchanged: keep what the tables hold
        self._show_run(run)

    def _show_run(self, run: RunRecord | None) -> None:
        """Empty the tables and, for a run, start reading its attempts."""
        if self._load is not None:
            self._load.cancelled.set()
            self._load = None
        self._pending.clear()
        self._load_result = None
        self._run = run
        self._failures = None
        self._clear_tasks()
        self.inspector.set_groups([])
        self.tabs.setTabText(1, "Failures")
        store = self._store
        if run is not None and store is not None:
            run_id, page, cap = run.id, self.page_rows, self.max_task_rows
            self.tasks_model.set_max_finished(cap)
            self._load = self._start(
                _Job(
                    f"poolscope-history-run-{run_id}",
                    lambda job: _read_run(store, run_id, job, page, cap),
                    on_part=self._on_load_part,
                    on_done=self._on_load_done,
                    on_error=self._on_load_error,
                )
            )
            self.status_label.setText(f"Reading run {run_id}…")
        self._update_actions()
        self._on_tasks_rows_changed()

    def _on_load_part(self, part: tuple) -> None:
        if part[0] == "failures":
            _, records, groups = part
            self._failures = records
            # The most frequent problem and its newest failure show at once.
            self.inspector.set_groups(groups)
            self.tabs.setTabText(1, f"Failures ({len(records):,})" if records else "Failures")
            self._update_actions()
        else:
            self._pending.append((part[1], part[2]))

    def _on_load_done(self, result: tuple[int, bool]) -> None:
        self._load_result = result

    def _on_load_error(self, exc: Exception) -> None:
        self._load = None
        self._pending.clear()
        run_id = self._run.id if self._run is not None else "?"
        self.status_label.setText(f"Run {run_id} cannot be read: {exc}")
        self._update_actions()

    def _finish_load(self) -> None:
        """Every attempt read is in the table: say so, and tell the window."""
        assert self._load_result is not None and self._run is not None
        loaded, more = self._load_result
        self._load = None
        self._load_result = None
        run = self._run
        text = f"Run {run.id}: {_plural(loaded, 'attempt')} of {_plural(run.total, 'input')}"
        if more:
            text = (
                f"Run {run.id}: the first {loaded:,} attempts are shown (the run has more; "
                "Export… writes them all)"
            )
        self.status_label.setText(text)
        self._update_actions()
        self._on_tasks_rows_changed()
        self.run_loaded.emit(run.id)

    # ---------------------------------------------------------------- the pump

    def _start(self, job: _Job) -> _Job:
        self._jobs.append(job)
        job.start()
        if not self._pump.isActive():
            self._pump.start()
        return job

    def _on_pump_timeout(self) -> None:
        for job in list(self._jobs):
            for kind, value in job.take():
                if kind != _PART:
                    job.finished = True
                if job.cancelled.is_set():
                    continue
                handler = job.on_part if kind == _PART else job.on_done if kind == _DONE else job.on_error
                if handler is not None:
                    handler(value)
            if job.finished:
                job.join()  # it put its last item: the thread is ending
                self._jobs.remove(job)
        if self._pending:
            taken = 0
            while self._pending and (taken == 0 or taken + self._pending[0][1] <= ROWS_PER_TICK):
                changes, count = self._pending.popleft()
                self.tasks_model.apply_changes(changes)
                taken += count
            if self._load is not None:
                run_id = self._run.id if self._run is not None else "?"
                self.status_label.setText(f"Reading run {run_id}… {self.tasks_model.rowCount():,} attempts")
        if self._load is not None and self._load_result is not None and not self._pending:
            self._finish_load()
        if not self._jobs and not self._pending:
            self._pump.stop()

    def _cancel_jobs(self) -> None:
        for job in self._jobs:
            job.cancelled.set()
        self._load = None
        self._pending.clear()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop reading and wait for the panel's threads to end (an export in
        progress is finished first). Call it before closing the store."""
        self._cancel_jobs()
        self._pump.stop()
        for job in self._jobs:
            job.join(timeout)
        self._jobs.clear()

    # -------------------------------------------------------------- filtering

    def set_state_filter(self, states: Iterable[RowState | str] | None) -> None:
        """Check the state buttons of ``states`` (None: every state)."""
        self.filter.set_states(states)

    def _on_tasks_rows_changed(self, *_args: Any) -> None:
        total, shown = self.tasks_model.rowCount(), self.tasks_proxy.rowCount()
        text = _plural(total, "attempt") if shown == total else f"{shown:,} of {total:,} attempts"
        if self._load is not None:
            text += " (reading…)"
        self.count_label.setText(text)

    def _clear_tasks(self) -> None:
        """Empty the table through the model's own feed: rows of a run that
        was still going end (they were only its picture at the time read),
        then every finished row goes."""
        model = self.tasks_model
        if model.unfinished_count:
            ends = [
                Event(0, EventKind.TASK_CANCELLED, 0.0, row.task_id, None, None)
                for row in model.rows()
                if not row.state.finished
            ]
            model.apply_changes(Changes.of(ends))
        model.clear_finished()

    # ---------------------------------------------------------------- actions

    def _update_actions(self) -> None:
        run = self._run
        usable = self._store is not None and run is not None
        going = run is not None and run.state is RunState.RUNNING
        self.refresh_action.setEnabled(self._store is not None)
        self.resume_action.setEnabled(usable and run is not None and run.state is RunState.INTERRUPTED)
        self.retry_action.setEnabled(usable and not going and bool(self._failures))
        self.export_action.setEnabled(usable)
        self.delete_action.setEnabled(usable and not going)
        self.inspector.set_retry_enabled(usable and not going)
        self.keep_button.setEnabled(self._store is not None)
        self.keep_spin.setEnabled(self._store is not None)

    def retry_failures(self) -> list[TaskRecord]:
        """Ask the window to run again every input of the selected run whose
        newest attempt failed; returns those attempts."""
        run, records = self._run, self._failures
        if run is None or not records or not self.retry_action.isEnabled():
            return []
        self.retry_requested.emit(run.id, list(records))
        self.status_label.setText(f"Retrying {_plural(len(records), 'failed input')} of run {run.id}")
        return list(records)

    def _on_inspector_retry_requested(self, failures: list[Failure]) -> None:
        """Retry or Retry group in the failures: ask the window to run those
        inputs again."""
        run = self._run
        records = [failure.record for failure in failures if failure.record is not None]
        if run is None or not records:
            return
        self.retry_requested.emit(run.id, records)
        self.status_label.setText(f"Retrying {_plural(len(records), 'failed input')} of run {run.id}")

    def offer_resume(self, run: RunRecord, others: int = 0) -> None:
        """Offer, in a bar above the list, to resume ``run`` (one the last
        session left unfinished) and select it; ``others`` more such runs
        wait in the list."""
        self._offered = run.id
        left = run.unfinished
        text = (
            f"Run {run.id} ({run.title or run.processor or 'untitled'}) stopped before it ended"
            + (f" on {_when(run.ended)}" if run.ended else "")
            + f": {_plural(left, 'input')} did not finish"
            + ("" if run.inputs_complete else ", and some inputs were never reached")
            + "."
        )
        if others:
            text += f" {_plural(others, 'other unfinished run')} can be resumed from the list."
        self.offer_label.setText(text)
        self.offer_bar.show()
        self.select_run(run.id)

    @property
    def offered_run(self) -> int | None:
        """The run the bar offers to resume (None when the bar is hidden)."""
        return self._offered if self.offer_bar.isVisibleTo(self) else None

    def _on_offer_resume_button_clicked(self) -> None:
        run_id = self._offered
        self.offer_bar.hide()
        if run_id is not None:
            self.resume_requested.emit(run_id)
            self.status_label.setText(f"Resuming run {run_id}")

    def _on_offer_dismiss_button_clicked(self) -> None:
        self.offer_bar.hide()

    def resume(self) -> bool:
        """Ask the window to resume the selected run, if it was interrupted."""
        run = self._run
        if run is None or run.state is not RunState.INTERRUPTED:
            return False
        if run.id == self._offered:
            self.offer_bar.hide()
        self.resume_requested.emit(run.id)
        self.status_label.setText(f"Resuming run {run.id}")
        return True

    def delete_run(self) -> bool:
        """Delete the selected run from the history, once the user agreed."""
        run, store = self._run, self._store
        if run is None or store is None or not self.delete_action.isEnabled():
            return False
        what = run.title or run.processor or "untitled"
        question = (
            f"Delete run {run.id} ({what}, {_plural(run.total, 'input')}) from the history? "
            "This cannot be undone."
        )
        if not self.confirm(f"Delete run {run.id}", question):
            return False
        self._show_run(None)
        try:
            store.delete_run(run.id)
        except StoreError as exc:
            self.status_label.setText(f"Run {run.id} was not deleted: {exc}")
            self.refresh()
            return False
        if run.id == self._offered:
            self.offer_bar.hide()
        self.refresh()
        self.status_label.setText(f"Run {run.id} deleted")
        return True

    @property
    def keep_runs(self) -> int:
        """How many runs the spin box says to keep (0: every run)."""
        return self.keep_spin.value()

    def set_keep_runs(self, n: int) -> None:
        """Show a saved setting in the spin box (nothing is deleted or emitted)."""
        self.keep_spin.setValue(max(0, n))

    def apply_keep_runs(self) -> list[int]:
        """Keep only the newest N runs (N from the spin box; 0 keeps every
        run): deletes older ones once the user agreed, and emits
        ``keep_runs_changed``. Returns the ids deleted."""
        store = self._store
        if store is None:
            return []
        n = self.keep_spin.value()
        if n == 0:
            self.keep_runs_changed.emit(0)
            self.status_label.setText("Every run is kept")
            return []
        try:
            runs = store.list_runs()
        except StoreError as exc:
            self.status_label.setText(f"The history cannot be read: {exc}")
            return []
        extra = len(runs) - n
        if extra > 0 and not self.confirm(
            "Delete old runs",
            f"Keep the newest {_plural(n, 'run')} and delete the {_plural(extra, 'older run')}? "
            "This cannot be undone.",
        ):
            return []
        self.keep_runs_changed.emit(n)
        try:
            deleted = store.keep_runs(n)
        except StoreError as exc:
            self.status_label.setText(f"Old runs were not deleted: {exc}")
            return []
        self.refresh()
        self.status_label.setText(
            f"Deleted {_plural(len(deleted), 'old run')}; keeping the newest {n:,}"
            if deleted
            else f"Keeping the newest {_plural(n, 'run')}"
        )
        return deleted

    def export(self) -> bool:
        """Ask where to export the selected run, then write it in the background
        (``run_exported`` says when it is done)."""
        run = self._run
        if run is None or self._store is None:
            return False
        answer = self.ask_export_path(run)
        if answer is None:
            return False
        path, fmt = answer
        self.export_run(run.id, path, fmt)
        return True

    def export_run(self, run_id: int, path: str, fmt: str) -> None:
        """Write every attempt of run ``run_id`` to ``path`` as ``fmt`` ("csv"
        or "json") on a job thread."""
        store = self._store
        if store is None:
            return
        if fmt not in ("csv", "json"):
            raise ValueError(f"export format must be csv or json, not {fmt!r}")
        self._export_folder = Path(path).parent
        self.status_label.setText(f"Exporting run {run_id} to {path}…")

        def done(count: int) -> None:
            self.status_label.setText(f"Exported {_plural(count, 'attempt')} of run {run_id} to {path}")
            self.run_exported.emit(path, count)

        def failed(exc: Exception) -> None:
            self.status_label.setText(f"Run {run_id} was not exported: {exc}")

        self._start(
            _Job(
                f"poolscope-history-export-{run_id}",
                lambda _job: store.export(run_id, fmt, path),
                on_done=done,
                on_error=failed,
            )
        )

    # ---------------------------------------------------------------- dialogs

    def _ask_yes_no(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _ask_export_path(self, run: RunRecord) -> tuple[str, str] | None:
        folder = self._export_folder or Path.home()
        path, chosen = QFileDialog.getSaveFileName(
            self,
            f"Export run {run.id}",
            str(folder / f"run-{run.id}.csv"),
            "CSV files (*.csv);;JSON files (*.json)",
        )
        return export_format(path, chosen) if path else None
