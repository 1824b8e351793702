"""The table of tasks: one row per task attempt, fed by batches of pool events.

Data flow, once per GUI tick (about 30 Hz)::

    list[Event] ──apply_events──► per event: find the row by id (or make one) and
                                  set its fields in place; remember the lowest and
                                  highest changed row, collect the new rows
                 ──end of tick──► one dataChanged(lowest..highest changed row)
                                  drop the oldest finished rows beyond max_finished
                                  one beginInsertRows/endInsertRows for the new rows

Setting the fields of the same row object event after event *is* the
coalescing: a task submitted, started and finished within one tick is one new
row in its final state, and the view hears about it once.

Rows are small ``__slots__`` objects kept in submission order. Each carries a
serial number that only grows, so a row's position is a bisect away and
removing rows never rebuilds the id index (it only forgets the removed ids).
Memory is bounded by ``max_finished`` plus the tasks still queued or running.
"""

from __future__ import annotations

import reprlib
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from enum import IntEnum, StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor

from core import EventKind, TaskError, TaskState, TaskTimeout
from core.changes import Changes

if TYPE_CHECKING:
    from core import Event, Task

__all__ = [
    "Column",
    "FilterRole",
    "ProgressRole",
    "RowState",
    "SortRole",
    "StateRole",
    "TaskFilterProxy",
    "TaskRole",
    "TaskRow",
    "TaskTableModel",
    "format_duration",
    "state_color",
]

TaskRole = Qt.ItemDataRole.UserRole + 1  #: the core ``Task`` record (None when never seen)
StateRole = Qt.ItemDataRole.UserRole + 2  #: the ``RowState``
ProgressRole = Qt.ItemDataRole.UserRole + 3  #: progress as an int, 0..100
SortRole = Qt.ItemDataRole.UserRole + 4  #: numbers for numeric columns, folded text otherwise
#: "state<US>id<US>label<US>result", what TaskFilterProxy matches its pattern against
FilterRole = Qt.ItemDataRole.UserRole + 5
_SEP = "\x1f"  # the ASCII unit separator: it never occurs in what people type

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TASK, _STATE, _PROGRESS, _SORT = int(TaskRole), int(StateRole), int(ProgressRole), int(SortRole)
_FILTER = int(FilterRole)


class Column(IntEnum):
    ID = 0
    LABEL = 1
    STATE = 2
    WORKER = 3
    QUEUED_AT = 4
    WAIT = 5
    RUN_TIME = 6
    PROGRESS = 7
    RESULT = 8


_HEADERS = ("ID", "Label", "State", "Worker", "Queued at", "Wait", "Run time", "Progress", "Result")
_HEADER_TIPS = (
    "Task id, unique across every pool of the process",
    "The task's label, or its function's name",
    "queued, running, done, failed, timed out or cancelled",
    "The worker that ran the task",
    "When the task was submitted (local time)",
    "How long the task waited in the queue",
    "How long the task ran (still growing while it runs)",
    "What the task reported with report_progress()",
    "The result, or the error as 'Type: message'",
)


class RowState(StrEnum):
    """What the State column says. ``TIMED_OUT`` is a failure whose error is a
    ``core.TaskTimeout``: users look for those separately."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED

    @classmethod
    def of_task(cls, task: Task) -> RowState:
        """What the State column would say of an engine record now."""
        if task.state is TaskState.FAILED and isinstance(task.error, TaskTimeout):
            return cls.TIMED_OUT
        return _FROM_TASK_STATE[task.state]


QUEUED, RUNNING, DONE, FAILED, TIMED_OUT, CANCELLED = RowState
_FINISHED = frozenset({DONE, FAILED, TIMED_OUT, CANCELLED})
_FAILED_OR_CANCELLED = frozenset({FAILED, TIMED_OUT, CANCELLED})  # their Result is an error
_STATE_ORDER = {state: i for i, state in enumerate(RowState)}
_FROM_TASK_STATE = {
    TaskState.QUEUED: QUEUED,
    TaskState.RUNNING: RUNNING,
    TaskState.DONE: DONE,
    TaskState.FAILED: FAILED,
    TaskState.CANCELLED: CANCELLED,
}

# Mid-tone colours read on white and on a dark base; backgrounds are
# translucent tints so they blend with whatever base (and alternate base) the
# theme paints underneath.
_COLORS = {
    RUNNING: QColor("#3b82f6"),
    DONE: QColor("#22a35a"),
    FAILED: QColor("#e5484d"),
    TIMED_OUT: QColor("#e8890c"),
    CANCELLED: QColor("#8b93a1"),
}


def _tint(color: QColor, alpha: int) -> QColor:
    tint = QColor(color)
    tint.setAlpha(alpha)
    return tint


_TINTS = {
    RUNNING: _tint(_COLORS[RUNNING], 26),
    FAILED: _tint(_COLORS[FAILED], 40),
    TIMED_OUT: _tint(_COLORS[TIMED_OUT], 40),
}


def state_color(state: RowState) -> QColor | None:
    """The colour that marks ``state`` (None for queued: the theme's text colour)."""
    return _COLORS.get(state)


def foreground(row: TaskRow, column: int) -> QColor | None:
    """The colour of one cell's text (None: the theme's text colour): the
    state column, and the result of a task that did not succeed."""
    if column == Column.STATE or (column == Column.RESULT and row.state in _FAILED_OR_CANCELLED):
        return _COLORS.get(row.state)
    return None


def background(state: RowState) -> QColor | None:
    """The translucent tint behind a row in ``state``, if any."""
    return _TINTS.get(state)


_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_CENTER = int(Qt.AlignmentFlag.AlignCenter)
_ALIGNMENTS = {
    Column.ID: _RIGHT,
    Column.WORKER: _RIGHT,
    Column.WAIT: _RIGHT,
    Column.RUN_TIME: _RIGHT,
    Column.PROGRESS: _CENTER,
}


def alignment(column: int) -> int | None:
    """How a column's text is aligned (None: the view's default)."""
    return _ALIGNMENTS.get(column)


#: Result summaries are one line of at most this many characters.
SUMMARY_LENGTH = 120
#: A traceback tooltip shows at most this many of its last lines.
TOOLTIP_LINES = 40
#: How many ids of dropped rows are remembered, so that a late event for a
#: task that was already dropped does not bring it back as a phantom row. A
#: late event trails its task's end by a tick at most, and even at 50,000
#: tasks a second a tick drops fewer than 2,000 rows.
FORGET_MEMORY = 16_384
#: The id index is rebuilt after this many of its ids were dropped. A dict
#: never reuses the slots of deleted keys: under the window's steady churn
#: (a row in, a row out) CPython let the index's table grow to three times
#: the live rows and its pages fill one by one until the next resize, so the
#: resident size rose and fell by up to 6 MB with a full window of 100,000
#: rows (and doubled, 5 MB more, at a resize hours later). Rebuilt, the table
#: is sized for the rows it holds, and the slots used between two rebuilds
#: are bounded (24 bytes each): under a megabyte. A rebuild copies the live
#: entries in C, about 3 ms for 100,000 rows.
COMPACT_INDEX_AFTER = 32_768
#: Past this many separate ranges, a removal resets the model instead: one
#: reset is cheaper for views and proxies than thousands of remove signals.
MAX_REMOVE_RANGES = 256

_short_repr = reprlib.Repr()
_short_repr.maxstring = SUMMARY_LENGTH
_short_repr.maxother = SUMMARY_LENGTH
_short_repr.maxlevel = 3


class TaskRow:
    """What the table knows about one task attempt.

    Plain attributes, written only by ``TaskTableModel.apply_events`` on the
    GUI thread; read them, never write them. ``task`` is the engine's record
    (None for a task first seen after its submission and no longer in the
    pool); ``outcome`` the result or the ``TaskError``. The label is made from
    the record when first read: a busy pool's rows mostly leave the bounded
    window without ever being shown."""

    __slots__ = (
        "_label",
        "finished",
        "outcome",
        "progress",
        "serial",
        "started",
        "state",
        "submitted",
        "summary",
        "task",
        "task_id",
        "worker",
    )

    def __init__(
        self, serial: int, task_id: int, task: Task | None, label: str | None, submitted: float | None
    ) -> None:
        self.serial = serial
        self.task_id = task_id
        self.task = task
        self._label = label  # None: from the record, when first read
        self.state = QUEUED
        self.worker: int | None = None
        self.submitted = submitted
        self.started: float | None = None
        self.finished: float | None = None
        self.progress: float | None = None
        self.outcome: Any = None
        self.summary: str | None = None  # filled in when first shown or searched

    @property
    def label(self) -> str:
        """The task's label, or its function's name, with the attempt of a retry."""
        label = self._label
        if label is None:
            label = self._label = _label_of(self.task) if self.task is not None else ""
        return label

    @property
    def error(self) -> TaskError | None:
        outcome = self.outcome
        return outcome if isinstance(outcome, TaskError) else None

    def result_text(self) -> str:
        """The one-line Result text, computed once: a repr can be costly and
        most rows are never looked at."""
        summary = self.summary
        if summary is None:
            summary = self.summary = _summarize(self.state, self.outcome)
        return summary

    def __repr__(self) -> str:
        return f"<TaskRow {self.task_id} {self.label!r} {self.state.value}>"


def _label_of(task: Any) -> str:
    """``task.name`` with the attempt when it is a retry; tolerant of records
    that lack fields (synthetic events, other engines)."""
    name = getattr(task, "name", None)
    if name is None:
        name = getattr(task, "label", None) or ""
    attempt = getattr(task, "attempt", 1)
    return f"{name} (attempt {attempt})" if attempt and attempt > 1 else str(name)


def _summarize(state: RowState, outcome: Any) -> str:
    if outcome is None and state is not DONE:
        return ""
    if isinstance(outcome, TaskError):
        text = str(outcome)
    elif isinstance(outcome, str):
        text = outcome[: SUMMARY_LENGTH * 4]
    else:
        try:
            text = _short_repr.repr(outcome)
        except Exception:
            text = f"<{type(outcome).__name__}: repr failed>"
    text = " ".join(text[: SUMMARY_LENGTH * 4].split())
    if len(text) > SUMMARY_LENGTH:
        text = text[: SUMMARY_LENGTH - 1] + "…"
    return text


def format_duration(seconds: float) -> str:
    """Durations as people read them: ms below a second, then s, then m and h."""
    seconds = max(0.0, seconds)
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60.0:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def _format_clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


_serial_of = attrgetter("serial")

_DONE = EventKind.TASK_DONE
_CANCELLED = EventKind.TASK_CANCELLED


def _ending_state(ended: Event) -> RowState:
    """What a task's ending event makes of its row."""
    kind = ended[1]
    if kind is _DONE:
        return DONE
    if kind is _CANCELLED:
        return CANCELLED
    return TIMED_OUT if isinstance(ended[5], TaskTimeout) else FAILED


TaskLookup = Callable[[int], "Task | None"]


class TaskTableModel(QAbstractTableModel):
    """Tasks as table rows, updated in batches from pool events.

    ``max_finished`` bounds the finished rows kept; past it the oldest
    finished rows (in submission order) are dropped. Queued and running rows
    are never dropped. ``task_lookup`` (``pool.task``) names tasks whose
    submission happened before the model saw any event."""

    def __init__(
        self,
        max_finished: int = 100_000,
        task_lookup: TaskLookup | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if max_finished < 0:
            raise ValueError(f"max_finished must be 0 or more, got {max_finished!r}")
        self._max_finished = max_finished
        self._task_lookup = task_lookup
        self._rows: list[TaskRow] = []
        self._index: dict[int, TaskRow] = {}
        self._finished = 0  # finished rows, including new ones not yet inserted
        self._next_serial = 0
        self._forgotten: set[int] = set()
        self._forgotten_order: deque[int] = deque()
        self._dropped_since_compact = 0  # see COMPACT_INDEX_AFTER
        #: A storm's shedding: a tick's changes of more tasks than this list
        #: only the newest this many (and every queued or running task); the
        #: tasks that started and ended within the tick before them get no
        #: row, but are counted (``not_listed``). They are finished tasks,
        #: each of which a window of ``max_finished`` would show for a second
        #: or two at most; their events still reach every other panel. None:
        #: every task gets a row.
        self.shed_above: int | None = None
        #: tasks left out by shed_above so far
        self.not_listed = 0
        #: queued and running rows by task id: what a resync looks at
        self._active: dict[int, TaskRow] = {}
        #: ids of active rows without a record whose task the pool no longer
        #: had at the last resync (see ``resync``)
        self._suspects: set[int] = set()
        self._now = time.time()

    # ----------------------------------------------------------------- public

    @property
    def max_finished(self) -> int:
        return self._max_finished

    def set_max_finished(self, max_finished: int) -> None:
        """Change the bound; a smaller one drops the excess at once."""
        if max_finished < 0:
            raise ValueError(f"max_finished must be 0 or more, got {max_finished!r}")
        self._max_finished = max_finished
        if self._finished > max_finished:
            self._drop_finished(self._finished - max_finished)

    @property
    def finished_count(self) -> int:
        return self._finished

    @property
    def has_suspects(self) -> bool:
        """Rows the last resync found without a record and unknown to the
        pool: the next one removes those still so."""
        return bool(self._suspects)

    @property
    def unfinished_count(self) -> int:
        """Rows still queued or running."""
        return len(self._rows) - self._finished

    @property
    def now(self) -> float:
        """The time of the last tick: what growing run times are measured to."""
        return self._now

    def tick(self, now: float | None = None) -> None:
        """Move the clock that running tasks' times are shown against."""
        self._now = time.time() if now is None else now

    def row_at(self, row: int) -> TaskRow:
        return self._rows[row]

    def find(self, task_id: int) -> TaskRow | None:
        """The row of a task, or None (never seen, or dropped)."""
        return self._index.get(task_id)

    def row_of(self, task_id: int) -> int:
        """The row number of a task, or -1."""
        row = self._index.get(task_id)
        if row is None:
            return -1
        position = bisect_left(self._rows, row.serial, key=_serial_of)
        rows = self._rows
        return position if position < len(rows) and rows[position] is row else -1

    def rows(self) -> Iterable[TaskRow]:
        return iter(self._rows)

    def apply_events(self, batch: list[Event]) -> None:
        """Fold one tick's events into the table (see the module docstring)."""
        self.apply_changes(Changes.of(batch))

    def apply_changes(self, changes: Changes) -> None:
        """Bring the rows up to date with one tick's changes, per task.

        Tasks this model never saw submitted make a row from what their
        events tell (and the pool still knows); events that are not about
        tasks are ignored."""
        self._now = time.time()
        if not changes.tasks:
            return
        index, active, forgotten = self._index, self._active, self._forgotten
        get = index.get
        first_new = self._next_serial
        serial = first_new
        new_rows: list[TaskRow] = []
        add_row = new_rows.append
        lo = hi = -1
        finished = 0
        # Shedding (see shed_above): of the oldest entries, tasks whose whole
        # life fell in this tick get no row.
        shed = 0 if self.shed_above is None else len(changes.tasks) - self.shed_above
        unlisted: list[int] = []
        for task_id, (submitted, started, progress, ended) in changes.tasks.items():
            shed -= 1
            row = get(task_id)
            if row is None:
                if submitted is not None:
                    if started is not None and ended is not None and shed >= 0:
                        unlisted.append(task_id)
                        continue
                    record = submitted[5]
                    row = TaskRow(
                        serial, task_id, record, None, getattr(record, "submitted_at", submitted[2])
                    )
                    if started is not None and ended is not None:
                        # Its whole life in this tick (most tasks in a storm):
                        # straight to its final state, nothing to compare.
                        serial += 1
                        index[task_id] = row
                        add_row(row)
                        row.started = started[2]
                        row.worker = started[4] if ended[4] is None else ended[4]
                        if progress is not None:
                            row.progress = progress[5][0]
                        row.state = _ending_state(ended)
                        row.outcome = ended[5]
                        row.finished = ended[2]
                        finished += 1
                        continue
                elif task_id in forgotten:
                    continue  # a late event of a task whose row was dropped
                else:
                    first = started or progress or ended
                    assert first is not None
                    row = self._adopt(serial, task_id, first[2])
                serial += 1
                index[task_id] = row
                add_row(row)
            state = row.state
            changed = False
            if started is not None and state is QUEUED:
                row.state = state = RUNNING
                row.started = started[2]
                row.worker = started[4]
                changed = True
            if progress is not None:
                if state is RUNNING:
                    row.progress = progress[5][0]
                    changed = True
                elif state is QUEUED:  # its start came before we attached
                    row.state = state = RUNNING
                    row.progress = progress[5][0]
                    if progress[4] is not None:
                        row.worker = progress[4]
                    changed = True
                # else a late report from a task that ended (timed out)
            if ended is not None and state not in _FINISHED:
                row.state = _ending_state(ended)
                row.outcome = ended[5]
                row.summary = None
                row.finished = ended[2]
                if ended[4] is not None:
                    row.worker = ended[4]
                finished += 1
                active.pop(task_id, None)
                changed = True
            elif row.state is QUEUED or row.state is RUNNING:
                active[task_id] = row
            if changed:
                s = row.serial
                if s < first_new:
                    if lo < 0 or s < lo:
                        lo = s
                    if s > hi:
                        hi = s
        self._next_serial = serial
        self._finished += finished
        if unlisted:
            self.not_listed += len(unlisted)
            self._remember_forgotten(unlisted)
        if hi >= 0:
            rows = self._rows
            top = bisect_left(rows, lo, key=_serial_of)
            bottom = bisect_left(rows, hi, key=_serial_of)
            # ID, Label and Queued at never change once a row exists: leaving
            # the first two out of the range spares a proxy sorted by them a
            # re-sort of every row in the range.
            self.dataChanged.emit(self.index(top, Column.STATE), self.index(bottom, Column.RESULT))
        excess = self._finished - self._max_finished
        if excess > 0:
            excess -= self._drop_finished(excess)
            if excess > 0:
                new_rows = self._skip_new_finished(new_rows, excess)
        if new_rows:
            rows = self._rows
            start = len(rows)
            self.beginInsertRows(QModelIndex(), start, start + len(new_rows) - 1)
            rows.extend(new_rows)
            self.endInsertRows()

    def clear_finished(self) -> None:
        """Remove every finished row; queued and running ones stay."""
        if self._finished:
            self._drop_finished(self._finished)

    def resync(self, lookup: TaskLookup | None = None) -> int:
        """Bring the queued and running rows in line with the engine's records.

        When the event buffer dropped events, the start or end of some tasks
        never arrives, and their rows would stay queued or running for ever.
        The engine's record knows better: the row's own, or ``lookup``'s
        (``pool.task`` by default) for a row made without one. A record sets
        ``started_at`` and ``finished_at`` once the event was sent, so a row
        takes what those say, with the record's outcome; the event, should
        it still come, changes nothing. A row with no record whose task the
        pool no longer has ended unseen: it goes at the second resync that
        finds it so (an ending still on its way gets that long to arrive).
        Returns how many rows changed or went."""
        self._now = time.time()
        lookup = lookup or self._task_lookup
        active = self._active
        changed: list[TaskRow] = []
        gone: list[TaskRow] = []
        suspects: set[int] = set()
        finished = 0
        for task_id, row in list(active.items()):
            task = row.task
            if task is None and lookup is not None:
                task = lookup(task_id)
            if task is None:
                if task_id in self._suspects:
                    gone.append(row)
                    del active[task_id]
                else:
                    suspects.add(task_id)
                continue
            if row.task is None:
                row.task = task
                if not row._label:
                    row._label = None  # from the record now
                row.submitted = row.submitted or task.submitted_at
            moved = False
            if row.state is QUEUED and task.started_at is not None:
                row.state = RUNNING
                row.started = task.started_at
                row.worker = task.worker_id
                moved = True
            if task.finished_at is not None and task.state.finished:
                row.state = RowState.of_task(task)
                row.outcome = task.result if task.state is TaskState.DONE else task.error
                row.summary = None
                row.started = row.started or task.started_at
                row.finished = task.finished_at
                row.worker = task.worker_id if task.worker_id is not None else row.worker
                del active[task_id]
                finished += 1
                moved = True
            if moved:
                changed.append(row)
        self._suspects = suspects
        self._finished += finished
        if changed:
            rows = self._rows
            serials = [r.serial for r in changed]
            top = bisect_left(rows, min(serials), key=_serial_of)
            bottom = bisect_left(rows, max(serials), key=_serial_of)
            self.dataChanged.emit(self.index(top, Column.STATE), self.index(bottom, Column.RESULT))
        if gone:
            positions = [self.row_of(r.task_id) for r in gone]
            self._remove_positions(sorted(p for p in positions if p >= 0))
            self._forget([r.task_id for r in gone])  # a late event must not bring one back
        excess = self._finished - self._max_finished
        if excess > 0:
            self._drop_finished(excess)
        return len(changed) + len(gone)

    def _remove_positions(self, positions: list[int]) -> None:
        """Remove the rows at ``positions`` (ascending), one signal pair per
        contiguous run, bottom up so that the positions above stay valid."""
        runs: list[list[int]] = []
        for position in positions:
            if runs and runs[-1][1] == position:
                runs[-1][1] = position + 1
            else:
                runs.append([position, position + 1])
        rows = self._rows
        for first, end in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, end - 1)
            del rows[first:end]
            self.endRemoveRows()

    # ------------------------------------------------------------ Qt overrides

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:  # noqa: N802 - Qt override
        if parent is not None and parent.isValid():
            return 0
        return len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:  # noqa: N802 - Qt override
        if parent is not None and parent.isValid():
            return 0
        return len(_HEADERS)

    # flags() is not overridden: QAbstractTableModel's own (enabled,
    # selectable, no children) is what a row needs, and it answers in C++,
    # which a view asks for every cell it paints.

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(_HEADERS):
            return None
        if role == _DISPLAY:
            return _HEADERS[section]
        if role == _TOOLTIP:
            return _HEADER_TIPS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        position = index.row()
        if position < 0:  # an invalid index
            return None
        try:
            row = self._rows[position]
        except IndexError:
            return None
        column = index.column()
        if role == _SORT:  # first: a sorting proxy asks twice per comparison
            return self._sort_key(row, column)
        if role == _DISPLAY:
            return self.display(row, column)
        if role == _FILTER:
            return f"{row.state.value}{_SEP}{row.task_id}{_SEP}{row.label}{_SEP}{row.result_text()}"
        if role == _FOREGROUND:
            return foreground(row, column)
        if role == _BACKGROUND:
            return background(row.state)
        if role == _ALIGNMENT:
            return alignment(column)
        if role == _STATE:
            return row.state
        if role == _TASK:
            return row.task
        if role == _PROGRESS:
            return self.percent(row)
        if role == _TOOLTIP:
            return self._tooltip(row, column)
        return None

    # -------------------------------------------------------------- internals

    def _adopt(self, serial: int, task_id: int, t: float) -> TaskRow:
        """A row for a task whose submission we did not see: what the pool
        still knows about it, or else what the event says (the caller sets
        the state from the event)."""
        task = self._task_lookup(task_id) if self._task_lookup is not None else None
        if task is None:
            return TaskRow(serial, task_id, None, "", None)
        row = TaskRow(serial, task_id, task, None, task.submitted_at)
        row.started = task.started_at
        row.worker = task.worker_id
        return row

    def percent(self, row: TaskRow) -> int:
        """The row's progress, 0..100."""
        if row.state is DONE:
            return 100
        progress = row.progress
        return 0 if progress is None else round(progress * 100)

    def display(self, row: TaskRow, column: int) -> str:
        """The text of one cell."""
        if column == Column.ID:
            return str(row.task_id)
        if column == Column.LABEL:
            return row.label
        if column == Column.STATE:
            return row.state.value
        if column == Column.WORKER:
            return "" if row.worker is None else str(row.worker)
        if column == Column.QUEUED_AT:
            return "" if row.submitted is None else _format_clock(row.submitted)
        if column == Column.WAIT:
            wait = self._wait(row)
            return "" if wait is None else format_duration(wait)
        if column == Column.RUN_TIME:
            run = self._run_time(row)
            return "" if run is None else format_duration(run)
        if column == Column.PROGRESS:
            if row.state is DONE or row.progress is not None:
                return f"{self.percent(row)} %"
            return ""
        if column == Column.RESULT:
            return row.result_text()
        return ""

    def _wait(self, row: TaskRow) -> float | None:
        """Started minus submitted; for a task still queued, how long so far."""
        submitted = row.submitted
        if submitted is None:
            return None
        if row.started is not None:
            return row.started - submitted
        if row.state is QUEUED:
            return self._now - submitted
        return None

    def _run_time(self, row: TaskRow) -> float | None:
        started = row.started
        if started is None:
            return None
        if row.finished is not None:
            return row.finished - started
        return self._now - started if row.state is RUNNING else None

    def _sort_key(self, row: TaskRow, column: int) -> Any:
        if column == Column.ID:
            return row.task_id
        if column == Column.LABEL:
            return row.label.casefold()
        if column == Column.STATE:
            return _STATE_ORDER[row.state]
        if column == Column.WORKER:
            return -1 if row.worker is None else row.worker
        if column == Column.QUEUED_AT:
            return -1.0 if row.submitted is None else row.submitted
        if column == Column.WAIT:
            wait = self._wait(row)
            return -1.0 if wait is None else wait
        if column == Column.RUN_TIME:
            run = self._run_time(row)
            return -1.0 if run is None else run
        if column == Column.PROGRESS:
            return self.percent(row) if row.state is DONE or row.progress is not None else -1
        if column == Column.RESULT:
            return row.result_text().casefold()
        return None

    def _tooltip(self, row: TaskRow, column: int) -> str | None:
        error = row.error
        if error is not None and row.state is not CANCELLED:
            text = error.traceback or str(error)
            lines = text.splitlines()
            if len(lines) > TOOLTIP_LINES:  # the innermost frames; "Copy traceback" has it all
                text = "\n".join(["…", *lines[-TOOLTIP_LINES:]])
            return text
        if column == Column.RESULT:
            return row.result_text() or None
        if column == Column.LABEL and row.task is not None:
            task = row.task
            retry = f", retry of task {task.retry_of}" if task.retry_of is not None else ""
            return f"{row.label}\nattempt {task.attempt}{retry}"
        return None

    def _forget(self, ids: list[int]) -> None:
        """Drop ``ids`` from the index, remembering them (see FORGET_MEMORY).
        Thousands per tick in a storm: the loops run in C (map, update)."""
        deque(map(self._index.__delitem__, ids), maxlen=0)
        self._remember_forgotten(ids)
        self._dropped_since_compact += len(ids)
        if self._dropped_since_compact >= COMPACT_INDEX_AFTER:
            self._compact_index()

    def _compact_index(self) -> None:
        """Rebuild the id index without the slots its deleted ids left (see
        COMPACT_INDEX_AFTER). ``update`` into an empty dict sizes the table
        for the live entries once and copies them in C."""
        index: dict[int, TaskRow] = {}
        index.update(self._index)
        self._index = index
        self._dropped_since_compact = 0

    def _remember_forgotten(self, ids: list[int]) -> None:
        forgotten, order = self._forgotten, self._forgotten_order
        forgotten.update(ids)
        order.extend(ids)
        excess = len(order) - FORGET_MEMORY
        if excess > 0:
            popleft = order.popleft
            forgotten.difference_update([popleft() for _ in range(excess)])

    def _drop_finished(self, limit: int) -> int:
        """Remove up to ``limit`` finished rows, oldest first, in as few
        contiguous ranges as the queued and running rows between them allow.
        Returns how many went."""
        rows = self._rows
        ranges, taken = self._finished_ranges(limit)
        if not taken:
            return 0
        if len(ranges) > MAX_REMOVE_RANGES:
            self.beginResetModel()
            for first, end in reversed(ranges):
                self._forget([r.task_id for r in rows[first:end]])
                del rows[first:end]
            self._finished -= taken
            self.endResetModel()
            return taken
        for first, end in reversed(ranges):  # bottom up, so earlier positions hold
            self.beginRemoveRows(QModelIndex(), first, end - 1)
            self._forget([r.task_id for r in rows[first:end]])
            del rows[first:end]
            self._finished -= end - first
            self.endRemoveRows()
        return taken

    def _finished_ranges(self, limit: int) -> tuple[list[list[int]], int]:
        """The oldest ``limit`` finished rows as [first, end) position ranges,
        top to bottom, and how many they hold.

        The rows in between are the queued and running ones, which
        ``_active`` holds: their positions split the table into runs of
        finished rows, so this costs a bisect per active row rather than a
        look at every row (a storm drops thousands a tick)."""
        rows = self._rows
        count = len(rows)
        splits = sorted(
            p
            for p in (bisect_left(rows, r.serial, key=_serial_of) for r in self._active.values())
            if p < count
        )
        ranges: list[list[int]] = []
        taken, start = 0, 0
        for end in [*splits, count]:
            if end > start:
                take = min(end - start, limit - taken)
                ranges.append([start, start + take])
                taken += take
                if taken >= limit:
                    break
            start = end + 1
        return ranges, taken

    def _skip_new_finished(self, new_rows: list[TaskRow], count: int) -> list[TaskRow]:
        """More tasks finished this tick than the window holds: the oldest of
        the new finished rows are dropped before they are ever inserted."""
        kept: list[TaskRow] = []
        skipped: list[int] = []
        for row in new_rows:
            if count and row.state in _FINISHED:
                skipped.append(row.task_id)
                count -= 1
            else:
                kept.append(row)
        self._forget(skipped)
        self._finished -= len(skipped)
        return kept


class TaskFilterProxy(QSortFilterProxyModel):
    """Filters the task table by state and by a search text, and sorts it by
    ``SortRole`` so that numeric columns sort as numbers.

    The filter is a regular expression over each row's ``StateRole`` text, or
    its ``FilterRole`` text ("state, id, label, result") when there is a
    search text, matched by QSortFilterProxyModel in C++. With
    no filter set, Qt accepts rows without asking the model anything, so an
    unfiltered table pays nothing for rows that change (a Python
    ``filterAcceptsRow`` would cost a call per row of every changed range)."""

    def __init__(self, model: TaskTableModel | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._states: frozenset[str] | None = None
        self._text = ""
        self.setSortRole(SortRole)
        self.setFilterRole(FilterRole)
        # A column that every change of a row covers (see apply_events), so a
        # row whose state changes is filtered again.
        self.setFilterKeyColumn(Column.STATE)
        self.setDynamicSortFilter(True)
        if model is not None:
            self.setSourceModel(model)

    @property
    def states(self) -> frozenset[str] | None:
        return self._states

    @property
    def text(self) -> str:
        return self._text

    def set_states(self, states: Iterable[str] | None) -> None:
        """Show only rows in these states (texts such as "failed", "timed out");
        None shows every state, an empty set none."""
        new = None if states is None else frozenset(str(s) for s in states)
        if new != self._states:
            self._states = new
            self._update_filter()

    def set_text(self, text: str) -> None:
        """Show only rows whose id, label or result contains ``text`` (any case)."""
        new = "".join(c for c in text if c != _SEP).strip()
        if new != self._text:
            self._text = new
            self._update_filter()

    def _update_filter(self) -> None:
        states, text = self._states, self._text
        role = FilterRole
        if states is None and not text:
            pattern = ""
        elif not text:
            # States alone match the short StateRole text: no result summary
            # needs to be made for rows nobody searches.
            role = StateRole
            pattern = "^(?:" + "|".join(QRegularExpression.escape(s) for s in sorted(states or ())) + ")$"
            if not states:
                pattern = "^(?!)"
        else:
            if states is None:
                head = f"^[^{_SEP}]*{_SEP}"
            elif states:
                head = "^(?:" + "|".join(QRegularExpression.escape(s) for s in sorted(states)) + f"){_SEP}"
            else:
                head = "^(?!)"
            pattern = head + ".*" + QRegularExpression.escape(text)
        options = (
            QRegularExpression.PatternOption.CaseInsensitiveOption
            | QRegularExpression.PatternOption.DotMatchesEverythingOption
            | QRegularExpression.PatternOption.UseUnicodePropertiesOption
        )
        if role != self.filterRole():
            self.setFilterRole(role)
        self.setFilterRegularExpression(QRegularExpression(pattern, options))
