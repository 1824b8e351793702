"""The Workers panel: one row per worker of a pool, and the controls to steer them.

Data flow::

    window tick (~30 Hz) ──apply_changes(Changes)──► WorkersPanel ──(worker events: coalesced)──┐
    window timer (~2 Hz) ──refresh()───────────────► WorkersPanel ◄─────────────────────────────┘
                                                        │ pool.workers (snapshots, one lock)
                                                        ▼
                                                    WorkersModel.update_workers()
                                                        ├─ beginInsertRows / beginRemoveRows per run
                                                        └─ dataChanged over changed rows only

The panel never reaches into the pool's internals: it reads ``pool.workers``
and ``pool.task(id)`` and calls the public control methods. The one blocking
call, ``join_dismissed``, runs on a short-lived thread whose result comes back
through a queued signal, so the window never waits for a worker to finish.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QSpinBox,
    QStyle,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core import EventKind, PoolClosed, ProcessPool, WorkerInfo, WorkerState
from core.changes import ENDED, STARTED, Changes

from . import resources
from .columns import fit_columns

if TYPE_CHECKING:
    from core import Event, Pool

__all__ = ["STATE_COLOURS", "STATE_LABELS", "WorkersModel", "WorkersPanel"]

_Index = QModelIndex | QPersistentModelIndex

#: What each state is called in the table. "dismissed" in core means the
#: dismissal was asked for; the worker may still be finishing its task.
STATE_LABELS: dict[WorkerState, str] = {
    WorkerState.IDLE: "idle",
    WorkerState.BUSY: "busy",
    WorkerState.DISMISSED: "dismiss requested",
    WorkerState.ABANDONED: "abandoned",
    WorkerState.EXITED: "exited",
    WorkerState.JOINED: "joined",
}

_STATE_TIPS: dict[WorkerState, str] = {
    WorkerState.IDLE: "Waiting for a task",
    WorkerState.BUSY: "Running a task",
    WorkerState.DISMISSED: "Dismissal requested: it takes no new task and leaves after the current one",
    WorkerState.ABANDONED: (
        "Its task timed out and its thread cannot be stopped; a replacement took its place"
    ),
    WorkerState.EXITED: "Gone; use Join dismissed to reap it",
    WorkerState.JOINED: "Gone and joined; the row disappears shortly",
}

#: Mid-tone colours: each reads as a swatch on a light and on a dark theme, and
#: at low alpha as a tint behind the palette's own text colour. Dismiss
#: requested (amber, still alive) and the two gone states (greys) stay apart.
STATE_COLOURS: dict[WorkerState, QColor] = {
    WorkerState.IDLE: QColor("#5b8def"),
    WorkerState.BUSY: QColor("#2fb36d"),
    WorkerState.DISMISSED: QColor("#f0a020"),
    WorkerState.ABANDONED: QColor("#e0474c"),
    WorkerState.EXITED: QColor("#8c93a0"),
    WorkerState.JOINED: QColor("#5f6673"),
}
_TINT_ALPHA = 70
#: Text of rows whose worker is gone: a grey legible on white and on near-black.
_GONE_TEXT = QColor("#8a8f98")
_GONE = frozenset({WorkerState.EXITED, WorkerState.JOINED})
_ALIVE = frozenset({WorkerState.IDLE, WorkerState.BUSY})
#: Events after which the table is out of date: a worker changed, or a worker
#: moved on to its next task without going idle in between.
_REFRESH_KINDS = frozenset(
    {EventKind.TASK_STARTED, *(kind for kind in EventKind if kind.value.startswith("worker_"))}
)

#: Sort key (Qt.UserRole) and the worker id (below) of a row, for views and proxies.
SORT_ROLE = Qt.ItemDataRole.UserRole
WORKER_ID_ROLE = Qt.ItemDataRole.UserRole + 1

_BASE_COLUMNS = ("ID", "State", "Current task", "Done", "Failed", "Busy %", "Uptime")
_PROCESS_COLUMNS = ("PID", "CPU %", "Memory (MiB)")
(COL_ID, COL_STATE, COL_TASK, COL_DONE, COL_FAILED, COL_BUSY, COL_UPTIME, COL_PID, COL_CPU, COL_MEMORY) = (
    range(10)
)
_NUMERIC = frozenset({COL_ID, COL_DONE, COL_FAILED, COL_BUSY, COL_UPTIME, COL_PID, COL_CPU, COL_MEMORY})


@dataclasses.dataclass(slots=True)
class _Row:
    """What the model keeps per worker: the newest snapshot and how it shows."""

    info: WorkerInfo
    task_name: str | None
    #: when the row first showed the worker gone: its uptime stops there
    gone_at: float | None
    #: when it was first seen joined (missing from pool.workers): the row goes later
    joined_at: float | None
    display: tuple[str, ...] = ()
    sort: tuple[Any, ...] = ()
    #: done and failed counts of the last snapshot taken while it was alive
    live_counts: tuple[int, int] = (0, 0)


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``: an uptime reads at a glance without units."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class WorkersModel(QAbstractTableModel):
    """Workers of one pool as rows, updated in place from ``pool.workers``.

    Each update inserts rows of new workers and removes rows of workers that
    are gone, each run with its own begin/end call, and emits ``dataChanged``
    only over rows whose shown text changed, so a view keeps its selection and
    scroll position while the pool churns. A worker missing from the snapshot
    was joined (``pool.workers`` lists every worker until then): its row shows
    "joined" for ``joined_linger`` seconds so the user sees what happened.

    core zeroes a worker's counters when it exits (they move into the pool's
    totals), so a gone worker's Done and Failed are its last live snapshot's
    plus the task endings ``count_endings`` saw for it after that snapshot.
    """

    def __init__(self, process_columns: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = _BASE_COLUMNS + (_PROCESS_COLUMNS if process_columns else ())
        self._rows: list[_Row] = []
        self._row_of: dict[int, int] = {}
        # Per worker id: time of its last live snapshot, and [done, failed]
        # endings seen since (those the next snapshot does not count yet).
        self._live_at: dict[int, float] = {}
        self._ended_after: dict[int, list[int]] = {}
        #: seconds a joined worker's row stays before it is removed
        self.joined_linger = 3.0
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)

    # ------------------------------------------------------------ Qt overrides

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._columns)

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._columns):
            if role == Qt.ItemDataRole.DisplayRole:
                return self._columns[section]
            if role == Qt.ItemDataRole.ToolTipRole and section == COL_BUSY:
                return "Share of its uptime the worker spent running tasks"
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows) or index.column() >= len(self._columns):
            return None
        row = self._rows[index.row()]
        column = index.column()
        state = row.info.state
        if role == Qt.ItemDataRole.DisplayRole:
            return row.display[column]
        if role == SORT_ROLE:
            return row.sort[column]
        if role == WORKER_ID_ROLE:
            return row.info.id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if column == COL_STATE:
            if role == Qt.ItemDataRole.DecorationRole:
                return STATE_COLOURS[state]
            if role == Qt.ItemDataRole.BackgroundRole:
                tint = QColor(STATE_COLOURS[state])
                tint.setAlpha(_TINT_ALPHA)
                return tint
            if role == Qt.ItemDataRole.ToolTipRole:
                return _STATE_TIPS[state]
        if role == Qt.ItemDataRole.ForegroundRole and state in _GONE:
            return _GONE_TEXT
        if role == Qt.ItemDataRole.FontRole:
            if state is WorkerState.JOINED:
                return self._italic
            if column == COL_STATE and state is WorkerState.DISMISSED:
                return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and column == COL_ID and row.info.native_id is not None:
            return f"native thread id {row.info.native_id}"
        return None

    # ------------------------------------------------------------------ API

    def worker_id(self, row: int) -> int:
        return self._rows[row].info.id

    def row_of(self, worker_id: int) -> int | None:
        return self._row_of.get(worker_id)

    def info(self, row: int) -> WorkerInfo:
        """The newest snapshot of the row's worker (state JOINED once it is gone)."""
        return self._rows[row].info

    def infos(self) -> list[WorkerInfo]:
        return [row.info for row in self._rows]

    def update_workers(
        self,
        workers: Sequence[WorkerInfo],
        describe_task: Callable[[int], str | None] | None = None,
        now: float | None = None,
    ) -> None:
        """Bring the rows in line with a ``pool.workers`` snapshot.

        ``describe_task(task_id)`` names a worker's current task (None when
        unknown); ``now`` is the wall-clock time just after the snapshot was
        taken (a task ending after it is not in the snapshot's counters)."""
        now = time.time() if now is None else now
        seen = {info.id: info for info in workers}
        for info in workers:
            if info.state not in _GONE:
                self._live_at[info.id] = now
                self._ended_after.pop(info.id, None)
        for row in self._rows:
            if row.joined_at is None and row.info.id not in seen:
                # Missing from the snapshot: joined (see the class docstring).
                row.joined_at = now
                row.gone_at = row.gone_at or now
        self._remove_rows(
            [
                number
                for number, row in enumerate(self._rows)
                if row.joined_at is not None and now - row.joined_at >= self.joined_linger
            ]
        )
        changed: list[int] = []
        for row_number, row in enumerate(self._rows):
            info = seen.pop(row.info.id, None)
            if info is None:
                info = dataclasses.replace(row.info, state=WorkerState.JOINED, task_id=None)
            elif info.state is WorkerState.EXITED:
                row.gone_at = row.gone_at or now
            if self._restate(row, info, describe_task, now):
                changed.append(row_number)
        self._emit_changed(changed)
        for worker_id in [w for w in self._live_at if w not in self._row_of and w not in seen]:
            del self._live_at[worker_id]  # joined and its row gone (or never shown)
            self._ended_after.pop(worker_id, None)
        new = [self._new_row(info, describe_task, now) for info in sorted(seen.values(), key=lambda i: i.id)]
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._rows.extend(new)
            for offset, row in enumerate(new):
                self._row_of[row.info.id] = first + offset
            self.endInsertRows()

    def count_endings(self, endings: Iterable[tuple[int, bool, float]]) -> None:
        """Note tasks that ended, as ``(worker id, failed, event time)``: those
        after a worker's last live snapshot still count once it is gone."""
        touched = set()
        never = float("-inf")
        for worker_id, failed, when in endings:
            if when > self._live_at.get(worker_id, never):
                self._ended_after.setdefault(worker_id, [0, 0])[failed] += 1
                touched.add(worker_id)
        changed = []
        for worker_id in touched:
            number = self._row_of.get(worker_id)
            if number is not None and self._rows[number].info.state in _GONE:
                row = self._rows[number]
                if self._restate(row, row.info, None, row.gone_at or time.time()):
                    changed.append(number)
        self._emit_changed(sorted(changed))

    # ------------------------------------------------------------ internals

    def _counts(self, row: _Row) -> tuple[int, int]:
        info = row.info
        if info.state not in _GONE or info.tasks_done or info.tasks_failed:
            return info.tasks_done, info.tasks_failed
        done, failed = row.live_counts
        later = self._ended_after.get(info.id)
        if later:
            done, failed = done + later[0], failed + later[1]
        return done, failed

    def _remove_rows(self, numbers: list[int]) -> None:
        """Remove rows in contiguous runs, last run first, so that the row
        numbers of runs still to go stay valid."""
        if not numbers:
            return
        runs: list[list[int]] = []
        for number in numbers:
            if runs and runs[-1][1] == number - 1:
                runs[-1][1] = number
            else:
                runs.append([number, number])
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            self.endRemoveRows()
        self._row_of = {row.info.id: number for number, row in enumerate(self._rows)}

    def _emit_changed(self, rows: list[int]) -> None:
        """One dataChanged per run of changed rows, over every column."""
        last_column = len(self._columns) - 1
        start = previous = None
        for number in [*rows, None]:
            if number is not None and previous is not None and number == previous + 1:
                previous = number
                continue
            if start is not None and previous is not None:
                self.dataChanged.emit(self.index(start, 0), self.index(previous, last_column))
            start = previous = number

    def _new_row(
        self, info: WorkerInfo, describe_task: Callable[[int], str | None] | None, now: float
    ) -> _Row:
        row = _Row(info, None, now if info.state in _GONE else None, None)
        self._restate(row, info, describe_task, now)
        return row

    def _restate(
        self, row: _Row, info: WorkerInfo, describe_task: Callable[[int], str | None] | None, now: float
    ) -> bool:
        """Store ``info`` in ``row``; True when what the row shows changed."""
        if info.task_id is None:
            row.task_name = None
        elif row.info.task_id != info.task_id or row.task_name is None:
            row.task_name = describe_task(info.task_id) if describe_task is not None else None
        row.info = info
        if info.state not in _GONE:
            row.live_counts = (info.tasks_done, info.tasks_failed)
        display, sort = self._cells(row, now)
        changed = display != row.display
        row.display, row.sort = display, sort
        return changed

    def _cells(self, row: _Row, now: float) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        info = row.info
        done, failed = self._counts(row)
        uptime = max(0.0, (row.gone_at or now) - info.started_at)
        busy = min(100.0, 100.0 * info.busy_seconds / uptime) if uptime > 0 else 0.0
        if info.task_id is None:
            task = ""
        else:
            task = f"#{info.task_id} {row.task_name}" if row.task_name else f"#{info.task_id}"
        display = [
            str(info.id),
            STATE_LABELS[info.state],
            task,
            f"{done:,}",
            f"{failed:,}",
            f"{busy:.0f}",
            format_duration(uptime),
        ]
        sort: list[Any] = [
            info.id,
            info.state.value,
            info.task_id if info.task_id is not None else -1,
            done,
            failed,
            busy,
            uptime,
        ]
        if len(self._columns) > len(_BASE_COLUMNS):
            gone = info.state in _GONE
            memory = None if gone or info.memory_rss is None else info.memory_rss / (1 << 20)
            cpu = None if gone else info.cpu_percent
            display += [
                "" if info.pid is None else str(info.pid),
                "" if cpu is None else f"{cpu:.0f}",
                "" if memory is None else f"{memory:,.1f}",
            ]
            sort += [info.pid or 0, cpu or 0.0, memory or 0.0]
        return tuple(display), tuple(sort)


class _JoinRelay(QObject):
    """Carries the outcome of a join from its thread to the GUI thread (an
    emit from another thread is queued to the receiver's thread)."""

    finished = Signal(list)
    failed = Signal(str)


class WorkersPanel(QWidget):
    """The workers of ``pool`` in a table, with add, dismiss, force stop and join.

    The window feeds it ``apply_events(batch)`` every tick and calls
    ``refresh()`` about twice a second; worker events in a batch bring a
    refresh forward (at most one every ``min_refresh_interval`` seconds,
    because a process pool's CPU % is measured between two reads)."""

    #: ids of the workers a "Join dismissed" reaped, once it finished
    workers_joined = Signal(list)

    min_refresh_interval = 0.25

    def __init__(self, pool: Pool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.is_process_pool = isinstance(pool, ProcessPool)
        #: asks the user to confirm ``(title, question)``; tests replace it
        self.confirm: Callable[[str, str], bool] = self._ask
        self._last_refresh = 0.0
        self._joiner: threading.Thread | None = None
        self._relay = _JoinRelay(self)
        self._relay.finished.connect(self._on_joiner_finished)
        self._relay.failed.connect(self._on_joiner_failed)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.timeout.connect(self.refresh)

        self.model = WorkersModel(process_columns=self.is_process_pool, parent=self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self._build_actions()
        self._build_layout()
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.refresh()

    # ------------------------------------------------------------------ build

    def _build_actions(self) -> None:
        self.count_spin = QSpinBox(minimum=1, maximum=256, value=1)
        self.count_spin.setPrefix("N = ")
        self.count_spin.setToolTip("How many workers Add N and Dismiss N act on")
        self.add_action = QAction(resources.icon("add-worker"), "Add N", self)
        self.add_action.setToolTip("Start N more workers")
        self.add_action.triggered.connect(self._on_add_triggered)
        self.dismiss_n_action = QAction(resources.icon("dismiss-worker"), "Dismiss N", self)
        self.dismiss_n_action.setToolTip("Dismiss N workers: idle ones first, busy ones after their task")
        self.dismiss_n_action.triggered.connect(self._on_dismiss_n_triggered)
        self.dismiss_selected_action = QAction(resources.icon("dismiss-selected"), "Dismiss selected", self)
        self.dismiss_selected_action.setToolTip("Dismiss the selected workers (busy ones after their task)")
        self.dismiss_selected_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.dismiss_selected_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.dismiss_selected_action.triggered.connect(self._on_dismiss_selected_triggered)
        self.force_stop_action = QAction(resources.icon("cancel"), "Force stop", self)
        self.force_stop_action.setToolTip(
            "Kill the selected busy worker processes now; their tasks end CANCELLED"
        )
        self.force_stop_action.triggered.connect(self._on_force_stop_triggered)
        self.force_stop_action.setVisible(self.is_process_pool)
        self.join_action = QAction(resources.icon("join-workers"), "Join dismissed", self)
        self.join_action.setToolTip("Wait (in the background) for dismissed workers to be gone")
        self.join_action.triggered.connect(self._on_join_triggered)
        self.addActions([self.dismiss_selected_action])

    def _build_layout(self) -> None:
        self.toolbar = QToolBar("Workers", self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.setIconSize(QSize(18, 18))  # a panel's toolbar: smaller than the window's
        self.toolbar.addWidget(self.count_spin)
        self.toolbar.addAction(self.add_action)
        self.toolbar.addAction(self.dismiss_n_action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.dismiss_selected_action)
        self.toolbar.addAction(self.force_stop_action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.join_action)

        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_ID, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        # Rows as high as the tasks table's, not the style's default (half
        # again as high): a small panel shows more workers.
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Fixed widths for what the cells usually hold (not ResizeToContents,
        # which gave every column its widest text and squeezed the current
        # task to nothing); the current task takes the rest.
        samples = {
            COL_ID: "999",
            COL_STATE: "dismiss req",
            COL_DONE: "99,999",
            COL_FAILED: "9,999",
            COL_BUSY: "100",
            COL_UPTIME: "9:59:59",
        }
        if self.is_process_pool:
            samples |= {COL_PID: "9999999", COL_CPU: "100", COL_MEMORY: "9,999.9"}
        swatch = self.table.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize) + 6
        fit_columns(self.table, samples, extra={COL_STATE: swatch}, sort_column=COL_ID)
        header.setSectionResizeMode(COL_TASK, QHeaderView.ResizeMode.Stretch)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)

        self.status_label = QLabel(self)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.table)
        layout.addWidget(self.status_label)
        self._labelled_width = 0

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Names beside the icons while they fit in one row, icons alone
        (names in their tooltips) when not: no action may hide behind the
        toolbar's overflow chevron."""
        super().resizeEvent(event)
        self._fit_toolbar(event.size().width())

    def _fit_toolbar(self, width: int) -> None:
        bar = self.toolbar
        labelled = Qt.ToolButtonStyle.ToolButtonTextBesideIcon
        if bar.toolButtonStyle() == labelled:
            bar.ensurePolished()
            self._labelled_width = bar.sizeHint().width()  # measured while labelled
        style = labelled if width >= self._labelled_width else Qt.ToolButtonStyle.ToolButtonIconOnly
        if bar.toolButtonStyle() != style:
            bar.setToolButtonStyle(style)

    # ------------------------------------------------------------ the window

    def apply_events(self, batch: Sequence[Event]) -> None:
        """Take one tick's events (see ``apply_changes``)."""
        self.apply_changes(Changes.of(batch))

    def apply_changes(self, changes: Changes) -> None:
        """Take one tick's changes; worker changes and task starts bring the
        next refresh forward (coalesced: many events, one refresh)."""
        done, failed = EventKind.TASK_DONE, EventKind.TASK_FAILED
        endings = []
        worker_changed = False
        for entry in changes.tasks.values():
            ended = entry[ENDED]
            if ended is not None and ended[4] is not None and (ended[1] is done or ended[1] is failed):
                endings.append((ended[4], ended[1] is failed, ended[2]))
            if entry[STARTED] is not None:
                worker_changed = True
        if endings:
            self.model.count_endings(endings)
        if worker_changed or any(event.kind in _REFRESH_KINDS for event in changes.others):
            self._refresh_soon()

    def refresh(self) -> None:
        """Re-read ``pool.workers`` and update the table in place."""
        self._refresh_timer.stop()
        self._last_refresh = time.monotonic()
        workers = self.pool.workers
        # The time after the read: task endings later than it are not in it.
        self.model.update_workers(workers, self._describe_task, time.time())
        self._update_actions()

    def _refresh_soon(self) -> None:
        if self._refresh_timer.isActive():
            return
        wait = self.min_refresh_interval - (time.monotonic() - self._last_refresh)
        self._refresh_timer.start(max(0, int(wait * 1000)))

    def _describe_task(self, task_id: int) -> str | None:
        task = self.pool.task(task_id)
        return task.name if task is not None else None

    # -------------------------------------------------------------- selection

    def selected_worker_ids(self) -> list[int]:
        rows = self.table.selectionModel().selectedRows()
        return sorted(self.proxy.data(index, WORKER_ID_ROLE) for index in rows)

    def select_workers(self, worker_ids: Sequence[int]) -> None:
        """Select the rows of these workers (and nothing else)."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for worker_id in worker_ids:
            row = self.model.row_of(worker_id)
            if row is not None:
                selection.select(self.proxy.mapFromSource(self.model.index(row, 0)), flags)

    def _selected_infos(self) -> list[WorkerInfo]:
        infos = []
        for worker_id in self.selected_worker_ids():
            row = self.model.row_of(worker_id)
            if row is not None:
                infos.append(self.model.info(row))
        return infos

    def _update_actions(self) -> None:
        infos = self._selected_infos()
        self.dismiss_selected_action.setEnabled(any(i.state in _ALIVE for i in infos))
        self.force_stop_action.setEnabled(self.is_process_pool and any(_is_running(i) for i in infos))
        self.join_action.setEnabled(self._joiner is None)

    def _on_table_selection_changed(self, *_: object) -> None:
        self._update_actions()

    def _on_table_context_menu_requested(self, position: QPoint) -> None:
        menu = QMenu(self)
        menu.addAction(self.dismiss_selected_action)
        if self.is_process_pool:
            menu.addAction(self.force_stop_action)
        menu.addSeparator()
        menu.addActions([self.add_action, self.dismiss_n_action, self.join_action])
        menu.exec(self.table.viewport().mapToGlobal(position))
        menu.deleteLater()

    # ---------------------------------------------------------------- actions

    def _on_add_triggered(self) -> None:
        n = self.count_spin.value()
        try:
            ids = self.pool.add_workers(n)
        except PoolClosed as exc:
            self._say(str(exc))
        else:
            self._say(f"Added {_workers_phrase(ids)}")
        self.refresh()

    def _on_dismiss_n_triggered(self) -> None:
        ids = self.pool.dismiss_workers(self.count_spin.value())
        self._say(f"Dismissed {_workers_phrase(ids)}" if ids else "No worker left to dismiss")
        self.refresh()

    def _on_dismiss_selected_triggered(self) -> None:
        ids = [i.id for i in self._selected_infos() if i.state in _ALIVE]
        dismissed = []
        for worker_id in ids:
            try:
                self.pool.dismiss_worker(worker_id)
            except LookupError:
                continue  # it exited between the refresh and the click
            dismissed.append(worker_id)
        if dismissed:
            self._say(f"Dismissed {_workers_phrase(dismissed)}")
        self.refresh()

    def _on_force_stop_triggered(self) -> None:
        if not self.is_process_pool:
            return
        busy = [i for i in self._selected_infos() if _is_running(i)]
        if not busy:
            return
        tasks = ", ".join(f"#{i.task_id}" for i in busy)
        question = (
            f"Kill {_workers_phrase([i.id for i in busy])} now?\n\n"
            f"The running task{'s' if len(busy) > 1 else ''} ({tasks}) will end CANCELLED, "
            "and the worker is not replaced."
        )
        if not self.confirm("Force stop workers", question):
            return
        stopped = []
        for info in busy:
            try:
                self.pool.dismiss_worker(info.id, force=True)  # type: ignore[call-arg]  # a ProcessPool
            except LookupError:
                continue
            stopped.append(info.id)
        if stopped:
            self._say(f"Force-stopped {_workers_phrase(stopped)}")
        self.refresh()

    def _on_join_triggered(self) -> None:
        if self._joiner is not None:
            return
        relay, pool = self._relay, self.pool

        def join() -> None:
            try:
                ids = pool.join_dismissed()
            except Exception as exc:
                outcome: tuple[Callable[..., Any], Any] = (relay.failed.emit, f"Join failed: {exc}")
            else:
                outcome = (relay.finished.emit, ids)
            try:
                outcome[0](outcome[1])
            except RuntimeError:
                pass  # the panel was deleted meanwhile: nobody to tell

        self._joiner = threading.Thread(target=join, name="poolscope-join-dismissed", daemon=True)
        self.join_action.setEnabled(False)
        self._say("Joining dismissed workers…")
        self._joiner.start()

    def _on_joiner_finished(self, ids: list[int]) -> None:
        self._joiner = None
        self._say(f"Joined {_workers_phrase(ids)}" if ids else "No dismissed worker to join")
        self.refresh()
        self.workers_joined.emit(ids)

    def _on_joiner_failed(self, message: str) -> None:
        self._joiner = None
        self._say(message)
        self.refresh()

    # ---------------------------------------------------------------- helpers

    def _say(self, text: str) -> None:
        self.status_label.setText(text)

    def _ask(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes


def _is_running(info: WorkerInfo) -> bool:
    """Busy, or dismissed while still finishing its task (force stop's target)."""
    return info.task_id is not None and info.state in (WorkerState.BUSY, WorkerState.DISMISSED)


def _workers_phrase(ids: Sequence[int]) -> str:
    ids = list(ids)
    if len(ids) == 1:
        return f"worker {ids[0]}"
    return f"workers {', '.join(map(str, ids))}"
