"""The Exception inspector: failures grouped like Sentry groups them, with
their tracebacks, and retry.

Data flow::

    window tick ──apply_changes(Changes)──► ExceptionInspector, per task of the tick:
                                              ├─ submitted: remember the Task (until it ends)
                                              ├─ done / cancelled: forget it
                                              └─ failed: Failure(task, error) into its group
    after lost events ──resync()──► failed records of remembered tasks filed the same way
                                                 │  key = (type name, message signature)
                                                 ▼
                       FailureGroupsModel ──proxy, newest first──► groups view
                       FailuresModel (the selected group) ───────► failures view ──► detail pane

A group's key is the exception's type name and its message with the parts
that vary per occurrence (numbers, hex ids, quoted strings, paths, URLs)
replaced by placeholders, so "user 17 not found" and "user 42 not found" are
one problem. Memory is bounded: at most ``max_failures`` failures are kept
over all groups (the oldest go first), while each group's count stays exact.
A Task record is kept only while its task runs and, once it failed, with its
failure (a retry needs the record: ``pool.retry(task)``).

The lists, the detail pane and the buttons are a ``FailureBrowser``, which
``ExceptionInspector`` extends with the filing above and retries through its
pool. The History panel shows a recorded run's failures in a browser of its
own, filled at once (``set_groups``) with failures that carry the store's
record instead of a Task; its Retry buttons emit ``retry_requested``.
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QPalette,
    QResizeEvent,
    QShowEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core import EventKind, PoolClosed, QueueFull, TaskState
from core.changes import Changes

from .columns import fit_columns
from .throttled_label import ThrottledLabel

if TYPE_CHECKING:
    from core import Event, Pool, Task, TaskError, TaskFuture
    from core.store import TaskRecord

__all__ = [
    "ExceptionInspector",
    "Failure",
    "FailureBrowser",
    "FailureGroup",
    "FailureGroupsModel",
    "FailuresModel",
    "TracebackHighlighter",
    "message_signature",
    "message_signatures",
]

_Index = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole

# ------------------------------------------------------------------ grouping

# Order matters: a URL or a quoted string may hold a path or numbers, and a
# path may hold numbers; each is replaced whole before its parts could be.
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://\S+"), "<url>"),
    (re.compile(r"""(?<!\w)'(?:[^'\\\n]|\\.)*'(?!\w)|(?<!\w)"(?:[^"\\\n]|\\.)*"(?!\w)"""), "<str>"),
    (re.compile(r"(?<![\w:/])(?:[A-Za-z]:\\|\\\\)[^\s'\"<>|]*"), "<path>"),
    (re.compile(r"(?<![\w:/.])(?:~|\.{1,2})?(?:/[\w.\-+@~%]+)+/?"), "<path>"),
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        "<uuid>",
    ),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    # A digit run not glued to an identifier before it ("user42" stays).
    (re.compile(r"(?<![A-Za-z_\d])\d+(?:\.\d+)?"), "<num>"),
)
_SPACES = re.compile(r"\s+")
_SIGNATURE_LENGTH = 300


def message_signature(message: str) -> str:
    """The message with the parts that vary per occurrence replaced by
    placeholders: what makes two failures "the same problem"."""
    text = message.strip()
    for pattern, placeholder in _NORMALISERS:
        text = pattern.sub(placeholder, text)
    return _SPACES.sub(" ", text)[:_SIGNATURE_LENGTH]


def message_signatures(messages: Sequence[str]) -> list[str]:
    """``message_signature`` of each message, in one pass per pattern.

    A storm files thousands of failures a second; eight regex calls per
    message cost more than the rest of filing it. One-line messages are
    joined by newlines, which no pattern crosses (none matches a newline,
    and a newline ends or begins a match just as the ends of a string do);
    messages that hold a newline themselves are done one by one."""
    single = [i for i, m in enumerate(messages) if "\n" not in m]
    out = [""] * len(messages)
    if single:
        text = "\n".join(messages[i].strip() for i in single)
        for pattern, placeholder in _NORMALISERS:
            text = pattern.sub(placeholder, text)
        for i, line in zip(single, text.split("\n"), strict=True):
            out[i] = _SPACES.sub(" ", line)[:_SIGNATURE_LENGTH]
    for i, message in enumerate(messages):
        if "\n" in message:
            out[i] = message_signature(message)
    return out


@dataclasses.dataclass(eq=False, slots=True)
class Failure:
    """One failed attempt, as the inspector keeps it (or as the history recorded it)."""

    seq: int  # arrival order over all groups
    task_id: int | None
    #: the engine's record (None when its submission was not seen): a retry needs it
    task: Task | None
    error: TaskError
    time: float
    worker_id: int | None
    group: FailureGroup
    #: the id of the attempt a retry from here started
    retried_as: int | None = None
    #: the store's record, for a failure read from the history (``task`` is then None)
    record: TaskRecord | None = None

    @property
    def name(self) -> str:
        """The task's name, or the recorded attempt's label or input ("" when unknown)."""
        if self.task is not None:
            return self.task.name
        if self.record is not None:
            return self.record.label or self.record.input or ""
        return ""

    @property
    def attempt(self) -> int | None:
        if self.task is not None:
            return self.task.attempt
        return self.record.attempt if self.record is not None else None

    @property
    def traceback_text(self) -> str:
        """The traceback, or the error line when there is none (a lost worker,
        a time-out: nothing in the task raised)."""
        return self.error.traceback or f"{self.error}\n"


@dataclasses.dataclass(eq=False, slots=True)
class FailureGroup:
    """Failures of one exception type with one message signature."""

    type_name: str
    signature: str
    first_seen: float
    last_seen: float
    #: exact, also when the oldest failures were dropped to bound memory
    count: int = 0
    #: kept failures, oldest first
    failures: deque[Failure] = dataclasses.field(default_factory=deque)

    @property
    def short_type(self) -> str:
        return self.type_name.rsplit(".", 1)[-1]


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def _clock(when: float | None) -> str:
    if when is None:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"


def _date_time(when: float | None) -> str:
    if when is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"


def _later(when: float | None, since: float | None) -> str:
    """``when`` as a time of day if it falls on the day of ``since`` (shown
    in full beside it), else in full: the same date three times over made
    the fields too wide for a small panel."""
    if when is None:
        return "—"
    if since is not None and time.localtime(when)[:3] == time.localtime(since)[:3]:
        return _clock(when)
    return _date_time(when)


_ARGS_REPR = reprlib.Repr()
_ARGS_REPR.maxstring = 120
_ARGS_REPR.maxother = 120
_ARGS_REPR.maxlist = _ARGS_REPR.maxtuple = _ARGS_REPR.maxdict = _ARGS_REPR.maxset = 8
_ARGS_REPR.maxlevel = 3
_ARGS_LENGTH = 400


def describe_arguments(task: Task) -> str:
    """``args`` and ``kwargs`` as a call would show them, truncated: a task's
    arguments may be a huge list or a blob."""
    parts = [_ARGS_REPR.repr(arg) for arg in task.args]
    parts += [f"{key}={_ARGS_REPR.repr(value)}" for key, value in (task.kwargs or {}).items()]
    text = ", ".join(parts)
    return text if len(text) <= _ARGS_LENGTH else text[: _ARGS_LENGTH - 1] + "…"


# -------------------------------------------------------------------- models


class _ListModel(QAbstractTableModel):
    """A flat table over a Python list (``_items()``) with fixed ``COLUMNS``."""

    COLUMNS: tuple[str, ...] = ()

    def _items(self) -> Sequence[Any]:
        raise NotImplementedError

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self._items())

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt override
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(  # noqa: N802 - Qt override
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section] if 0 <= section < len(self.COLUMNS) else None
        return None


class FailureGroupsModel(_ListModel):
    """One row per group, in the order groups first appeared (a proxy sorts
    them newest first). Rows are only ever appended, so a group's row number
    never changes and updates are plain ``dataChanged`` signals."""

    COLUMNS = ("Exception", "Message", "Count", "Last seen")
    COL_TYPE, COL_MESSAGE, COL_COUNT, COL_LAST_SEEN = range(4)

    def __init__(self, parent: QObject | None = None, *, dated: bool = False) -> None:
        super().__init__(parent)
        self._groups: list[FailureGroup] = []
        self._row_of: dict[int, int] = {}  # id(group) -> row
        #: how times read: a clock for a live pool, the date too for a run of another day
        self._when = _date_time if dated else _clock

    def _items(self) -> Sequence[Any]:
        return self._groups

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._groups):
            return None
        group = self._groups[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.COL_TYPE:
                return group.short_type
            if column == self.COL_MESSAGE:
                return _first_line(group.signature)
            if column == self.COL_COUNT:
                return f"{group.count:,}"
            if column == self.COL_LAST_SEEN:
                return self._when(group.last_seen)
        elif role == SORT_ROLE:
            return (group.short_type, group.signature, group.count, group.last_seen)[column]
        elif role == Qt.ItemDataRole.ToolTipRole:
            kept = len(group.failures)
            note = "" if kept == group.count else f"\n({kept:,} of {group.count:,} kept; older ones dropped)"
            return (
                f"{group.type_name}: {group.signature}\nfirst seen {_date_time(group.first_seen)}"
                f"\nlast seen {_date_time(group.last_seen)}{note}"
            )
        elif role == Qt.ItemDataRole.TextAlignmentRole and column == self.COL_COUNT:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def group(self, row: int) -> FailureGroup:
        return self._groups[row]

    def groups(self) -> list[FailureGroup]:
        return list(self._groups)

    def row_of(self, group: FailureGroup) -> int | None:
        return self._row_of.get(id(group))

    def add_groups(self, groups: Sequence[FailureGroup]) -> None:
        if not groups:
            return
        first = len(self._groups)
        self.beginInsertRows(QModelIndex(), first, first + len(groups) - 1)
        for offset, group in enumerate(groups):
            self._groups.append(group)
            self._row_of[id(group)] = first + offset
        self.endInsertRows()

    def set_groups(self, groups: Sequence[FailureGroup]) -> None:
        """Show ``groups`` in place of every group shown so far."""
        self.beginResetModel()
        self._groups = list(groups)
        self._row_of = {id(group): row for row, group in enumerate(self._groups)}
        self.endResetModel()

    def groups_changed(self, groups: Sequence[FailureGroup]) -> None:
        """Their counts, last-seen times or kept failures changed."""
        for group in groups:
            row = self._row_of.get(id(group))
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))


class FailuresModel(_ListModel):
    """The kept failures of one group, newest first.

    A group only gains failures at its new end and loses them at its old end,
    so ``sync`` inserts rows at the top and removes rows at the bottom: the
    rows in between, and the view's selection on them, stay put."""

    COLUMNS = ("Time", "Task", "Attempt", "Worker", "Message", "Retried as")
    COL_TIME, COL_TASK, COL_ATTEMPT, COL_WORKER, COL_MESSAGE, COL_RETRIED = range(6)

    def __init__(self, parent: QObject | None = None, *, dated: bool = False) -> None:
        super().__init__(parent)
        self._group: FailureGroup | None = None
        self._rows: list[Failure] = []  # newest first
        self._when = _date_time if dated else _clock

    def _items(self) -> Sequence[Any]:
        return self._rows

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        failure = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.COL_TIME:
                return self._when(failure.time)
            if column == self.COL_TASK:
                name = failure.name
                return f"#{failure.task_id} {name}" if name else f"#{failure.task_id}"
            if column == self.COL_ATTEMPT:
                attempt = failure.attempt
                return "" if attempt is None else str(attempt)
            if column == self.COL_WORKER:
                return "" if failure.worker_id is None else str(failure.worker_id)
            if column == self.COL_MESSAGE:
                return _first_line(failure.error.message)
            if column == self.COL_RETRIED:
                return "" if failure.retried_as is None else f"#{failure.retried_as}"
        elif role == Qt.ItemDataRole.ToolTipRole and column == self.COL_MESSAGE:
            return str(failure.error)
        return None

    @property
    def group(self) -> FailureGroup | None:
        return self._group

    def failure(self, row: int) -> Failure:
        return self._rows[row]

    def row_of(self, failure: Failure) -> int | None:
        for row, kept in enumerate(self._rows):
            if kept is failure:
                return row
        return None

    def set_group(self, group: FailureGroup | None) -> None:
        self.beginResetModel()
        self._group = group
        self._rows = list(reversed(group.failures)) if group is not None else []
        self.endResetModel()

    def sync(self) -> None:
        """Follow the group's kept failures: drop gone ones at the bottom,
        insert new ones at the top."""
        group = self._group
        if group is None:
            return
        failures = group.failures
        oldest_kept = failures[0].seq if failures else None
        rows = self._rows
        dropped = 0
        for failure in reversed(rows):
            if oldest_kept is not None and failure.seq >= oldest_kept:
                break
            dropped += 1
        if dropped:
            first = len(rows) - dropped
            self.beginRemoveRows(QModelIndex(), first, len(rows) - 1)
            del rows[first:]
            self.endRemoveRows()
        newest_shown = rows[0].seq if rows else -1
        new = [f for f in reversed(failures) if f.seq > newest_shown]  # short: new ones are at the end
        if new:
            self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
            rows[0:0] = new
            self.endInsertRows()

    def failures_changed(self, failures: Sequence[Failure]) -> None:
        """Their rows show something new (a retry): one pass over the rows,
        one dataChanged per run of changed rows."""
        wanted = {id(f) for f in failures}
        if not wanted:
            return
        last_column = len(self.COLUMNS) - 1
        start = None
        for row, failure in enumerate([*self._rows, None]):
            hit = failure is not None and id(failure) in wanted
            if hit and start is None:
                start = row
            elif not hit and start is not None:
                self.dataChanged.emit(self.index(start, 0), self.index(row - 1, last_column))
                start = None


# ---------------------------------------------------------------- traceback


class TracebackHighlighter(QSyntaxHighlighter):
    """Makes a Python traceback scannable: the frames' file, line and function
    stand out, the source lines stay plain, the exception line is red.

    Colours depend on the theme (``dark``), since one set cannot read well on
    both a white and a near-black background."""

    _FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<fn>.+))?$')
    _HEADER = re.compile(r"^\s*Traceback \(most recent call last\):\s*$")
    _CHAIN = re.compile(
        r"^\s*(The above exception was the direct cause of the following exception:"
        r"|During handling of the above exception, another exception occurred:)\s*$"
    )
    _CARETS = re.compile(r"^\s*[\^~]+\s*$")
    # The exception line: unindented "Name: message" or a bare "Name" (frames
    # and their source lines are always indented).
    _EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?::( .*)?)?$")

    def __init__(self, document: QTextDocument, dark: bool = False) -> None:
        super().__init__(document)
        self.set_dark(dark)

    def set_dark(self, dark: bool) -> None:
        self.dark = dark

        def fmt(colour: str | None, bold: bool = False, italic: bool = False) -> QTextCharFormat:
            f = QTextCharFormat()
            if colour:
                f.setForeground(QColor(colour))
            if bold:
                f.setFontWeight(QFont.Weight.Bold)
            f.setFontItalic(italic)
            return f

        self.header_format = fmt("#9aa3b5" if dark else "#5a6272", bold=True)
        self.file_format = fmt("#7fb0ff" if dark else "#1f5fbf")
        self.line_format = fmt("#e6c07b" if dark else "#9a6700", bold=True)
        self.function_format = fmt("#c8a6ff" if dark else "#7a3fc4", bold=True)
        self.chain_format = fmt("#9aa3b5" if dark else "#5a6272", italic=True)
        self.caret_format = fmt("#ff7b72" if dark else "#c62828")
        self.exception_format = fmt("#ff7b72" if dark else "#c62828", bold=True)
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt override
        frame = self._FRAME.match(text)
        if frame:
            for group, style in (
                ("file", self.file_format),
                ("line", self.line_format),
                ("fn", self.function_format),
            ):
                if frame.group(group) is not None:
                    self.setFormat(frame.start(group), frame.end(group) - frame.start(group), style)
            return
        if self._HEADER.match(text):
            self.setFormat(0, len(text), self.header_format)
        elif self._CHAIN.match(text):
            self.setFormat(0, len(text), self.chain_format)
        elif self._CARETS.match(text):
            self.setFormat(0, len(text), self.caret_format)
        elif self._EXCEPTION.match(text):
            self.setFormat(0, len(text), self.exception_format)


# ----------------------------------------------------------------- the widget

#: Seconds an ending may trail the newest event taken (emitting threads append
#: slightly out of order): ``resync`` leaves records that ended later alone.
LATE_EVENT_MARGIN = 1.0
#: How many ids of failures filed from their records are remembered.
RECOVERED_MEMORY = 16_384


#: Widths (pixels) from which the lists sit beside the details, not above them.
WIDE_LAYOUT = 720


class FailureBrowser(QWidget):
    """Failures grouped by problem: the groups, the failures of the selected
    group, the selected failure's details and traceback, and Copy, Retry and
    Retry group.

    What fills it and what a retry does belong to its owner. The live
    ``ExceptionInspector`` files a pool's failures as their events arrive
    and retries through the pool; the History panel shows a recorded run's
    failures (``set_groups``) and acts on ``retry_requested``. ``dated``
    shows times with their date (a recorded run may be days old)."""

    #: the failures whose Retry or Retry group was clicked (ExceptionInspector
    #: retries them itself and emits ``tasks_retried`` instead)
    retry_requested = Signal(list)

    def __init__(self, parent: QWidget | None = None, *, dated: bool = False) -> None:
        super().__init__(parent)
        self._groups: dict[tuple[str, str], FailureGroup] = {}
        self._total = 0  # failures filed, over all groups (the sum of their counts)
        self._unseen = 0  # failures the pool counted that the inspector never heard of
        self._current: Failure | None = None
        self._retry_enabled = True

        self.groups_model = FailureGroupsModel(self, dated=dated)
        self.groups_proxy = QSortFilterProxyModel(self)
        self.groups_proxy.setSourceModel(self.groups_model)
        self.groups_proxy.setSortRole(SORT_ROLE)
        self.failures_model = FailuresModel(self, dated=dated)
        self._build(dated)

    # ------------------------------------------------------------------ build

    def _build(self, dated: bool) -> None:
        groups, failures = FailureGroupsModel, FailuresModel
        when = "2000-01-01 00:00:00.000" if dated else "00:00:00.000"
        self.groups_view = self._table(
            self.groups_proxy,
            {
                groups.COL_TYPE: "ConnectionError",
                groups.COL_COUNT: "99,999",
                groups.COL_LAST_SEEN: when,
            },
            groups.COL_MESSAGE,
            sort_column=groups.COL_LAST_SEEN,
        )
        self.groups_view.setSortingEnabled(True)
        self.groups_view.sortByColumn(FailureGroupsModel.COL_LAST_SEEN, Qt.SortOrder.DescendingOrder)
        self.groups_view.selectionModel().currentRowChanged.connect(self._on_groups_current_changed)
        self.groups_proxy.rowsInserted.connect(self._on_groups_proxy_rows_inserted)

        self.failures_view = self._table(
            self.failures_model,
            {
                failures.COL_TIME: when,
                failures.COL_TASK: "#9999 may fail #59",
                failures.COL_ATTEMPT: "9",
                failures.COL_WORKER: "99",
                failures.COL_RETRIED: "#9999",
            },
            failures.COL_MESSAGE,
        )
        # The message next to the task it failed: both read together.
        self.failures_view.horizontalHeader().moveSection(failures.COL_MESSAGE, failures.COL_TASK + 1)
        self.failures_view.selectionModel().currentRowChanged.connect(self._on_failures_current_changed)
        self.failures_model.rowsRemoved.connect(self._on_failures_rows_removed)

        self.summary_label = QLabel("No failures", self)
        #: the summary's text, slowed down by a busy window (see ThrottledLabel)
        self.summary_text = ThrottledLabel(self.summary_label)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setToolTip("Copy the traceback to the clipboard")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.setToolTip("Run this task again as a new attempt")
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.retry_group_button = QPushButton("Retry group", self)
        self.retry_group_button.setToolTip("Run again every kept failure of this group not retried yet")
        self.retry_group_button.clicked.connect(self._on_retry_group_clicked)
        self.status_label = QLabel(self)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # One row above everything: what there is, and what to do with the
        # selected failure (the buttons were below the lists, the traceback
        # below them, out of sight in a small panel).
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        self.summary_label.setWordWrap(True)  # a long summary wraps rather than widen the panel
        header.addWidget(self.summary_label, 1)
        header.addWidget(self.copy_button)
        header.addWidget(self.retry_button)
        header.addWidget(self.retry_group_button)

        # The failure's fields in a compact grid, two to a row, so the
        # traceback below them gets the height.
        self.detail_labels: dict[str, QLabel] = {}
        fields = QGridLayout()
        fields.setContentsMargins(0, 0, 0, 0)
        fields.setHorizontalSpacing(8)
        fields.setVerticalSpacing(2)
        for key, caption, row, column, span in (
            ("error", "Error", 0, 0, 3),
            ("task", "Task", 1, 0, 1),
            ("worker", "Worker", 1, 2, 1),
            ("attempt", "Attempt", 2, 0, 1),
            ("submitted", "Submitted", 2, 2, 1),
            ("started", "Started", 3, 0, 1),
            ("failed", "Failed", 3, 2, 1),
            ("arguments", "Arguments", 4, 0, 3),
        ):
            label = QLabel(self)
            label.setTextFormat(Qt.TextFormat.PlainText)
            # The long ones wrap across the grid; the short ones stay one line
            # and never widen the panel (a long task name is cut, not wrapped).
            label.setWordWrap(span > 1)
            if span == 1:
                label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.detail_labels[key] = label
            title = QLabel(caption, self)
            title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            fields.addWidget(title, row, column)
            fields.addWidget(label, row, column + 1, 1, span)
        fields.setColumnStretch(1, 1)
        fields.setColumnStretch(3, 1)

        self.traceback_view = QPlainTextEdit(self)
        self.traceback_view.setReadOnly(True)
        self.traceback_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.traceback_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.traceback_view.setPlaceholderText("Select a failure to see its traceback")
        self.traceback_view.setMinimumHeight(80)
        # Its preferred height is ignored: the scroll area around the details
        # asks the wrapping fields for a height-for-width, which counts every
        # widget's preferred height, and scrolled although everything fitted.
        self.traceback_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        self.highlighter = TracebackHighlighter(self.traceback_view.document(), self._is_dark())

        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.setSpacing(4)
        detail_layout.addLayout(fields)
        detail_layout.addWidget(self.traceback_view, 1)
        detail_layout.addWidget(self.status_label)

        lists = QSplitter(Qt.Orientation.Vertical, self)
        lists.setChildrenCollapsible(False)
        lists.addWidget(self.groups_view)
        lists.addWidget(self.failures_view)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        # Scrolled, so that the details never force their size on the window:
        # in a small panel they scroll instead of squeezing the charts.
        scroller = QScrollArea(self)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setWidget(detail)
        self.splitter.addWidget(lists)
        self.splitter.addWidget(scroller)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([460, 640])
        lists.setSizes([300, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.splitter)
        self._show_failure(None)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Lists beside the details when there is room, above them when not:
        side by side in a narrow panel, both were too thin to read."""
        wide = event.size().width() >= WIDE_LAYOUT
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            extent = event.size().width() if wide else event.size().height()
            lists = extent * 2 // 5 if wide else extent * 9 // 20
            self.splitter.setSizes([lists, extent - lists])
            # ...and a panel that grows later shares the room the same way.
            self.splitter.setStretchFactor(0, 2 if wide else 9)
            self.splitter.setStretchFactor(1, 3 if wide else 11)
        super().resizeEvent(event)

    def _table(
        self,
        model: QAbstractTableModel | QSortFilterProxyModel,
        samples: Mapping[int, str],
        stretch: int,
        sort_column: int | None = None,
    ) -> QTableView:
        """A list view with columns as wide as their ``samples`` (and titles)
        and ``stretch`` taking the rest. Fixed widths, not ResizeToContents:
        that one measures every row it can on each change, several times a
        second while failures pour in."""
        view = QTableView(self)
        view.setModel(model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setAlternatingRowColors(True)
        view.verticalHeader().setVisible(False)
        view.setWordWrap(False)
        rows = view.verticalHeader()  # compact rows: a small panel shows more of them
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(view.fontMetrics().height() + 8)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        fit_columns(view, samples, sort_column=sort_column)
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
        return view

    # ------------------------------------------------------------------ API

    @property
    def groups(self) -> list[FailureGroup]:
        """Every group, newest problem first."""
        return sorted(self._groups.values(), key=lambda g: g.last_seen, reverse=True)

    @property
    def failure_count(self) -> int:
        """Failures filed, kept or not: the sum of the groups' counts."""
        return self._total

    @property
    def unseen_failure_count(self) -> int:
        """Failures the pool counted that the inspector never heard of."""
        return self._unseen

    @property
    def current_failure(self) -> Failure | None:
        return self._current

    def select_group(self, group: FailureGroup) -> None:
        row = self.groups_model.row_of(group)
        if row is None:
            return
        index = self.groups_proxy.mapFromSource(self.groups_model.index(row, 0))
        self.groups_view.setCurrentIndex(index)

    def select_failure(self, failure: Failure) -> None:
        if self.failures_model.group is not failure.group:
            self.select_group(failure.group)
        row = self.failures_model.row_of(failure)
        if row is not None:
            self.failures_view.setCurrentIndex(self.failures_model.index(row, 0))

    def set_groups(self, groups: Sequence[FailureGroup]) -> None:
        """Show ``groups`` in place of all shown so far (a recorded run's
        failures; a browser fed by events files its own), and select the
        first group in the view's order, with its newest failure."""
        self._groups = {(group.type_name, group.signature): group for group in groups}
        self._total = sum(group.count for group in groups)
        self._unseen = 0
        self.failures_model.set_group(None)
        self._show_failure(None)
        self.groups_model.set_groups(groups)
        self._update_summary()
        if self.groups_proxy.rowCount():
            self.groups_view.setCurrentIndex(self.groups_proxy.index(0, 0))

    def set_retry_enabled(self, enabled: bool) -> None:
        """Whether Retry and Retry group may be used at all (a recorded run
        still going, or a history that is closed, cannot be retried)."""
        self._retry_enabled = enabled
        self._update_actions()

    def can_retry(self, failure: Failure | None) -> bool:
        """Whether ``failure`` may be asked to run again."""
        return failure is not None and self._retry_enabled and failure.retried_as is None

    def _retry(self, failures: Sequence[Failure]) -> None:
        """What Retry and Retry group do: ask the owner."""
        if failures:
            self.retry_requested.emit(list(failures))

    # ------------------------------------------------------------ selection

    def _on_groups_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            source = self.groups_proxy.mapToSource(current)
            group = self.groups_model.group(source.row())
        else:
            group = None
        if group is self.failures_model.group:
            return
        self.failures_model.set_group(group)
        self._show_failure(None)
        if group is not None and self.failures_model.rowCount():
            # The newest failure, so a traceback shows at once.
            self.failures_view.setCurrentIndex(self.failures_model.index(0, 0))

    def _on_groups_proxy_rows_inserted(self, *_: object) -> None:
        """The first problem shows at once, its newest failure and traceback
        with it, without a click; a group the user picked stays picked."""
        if not self.groups_view.currentIndex().isValid():
            self.groups_view.setCurrentIndex(self.groups_proxy.index(0, 0))

    def _on_failures_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_failure(self.failures_model.failure(current.row()) if current.isValid() else None)

    def _on_failures_rows_removed(self, *_: object) -> None:
        current = self.failures_view.currentIndex()
        if not current.isValid():
            self._show_failure(None)

    def _show_failure(self, failure: Failure | None) -> None:
        self._current = failure
        labels = self.detail_labels
        if failure is None:
            for label in labels.values():
                label.clear()
            self.traceback_view.clear()
            self._update_actions()
            return
        labels["error"].setText(str(failure.error))
        name = failure.name
        labels["task"].setText(f"#{failure.task_id} {name}" if name else f"#{failure.task_id}")
        labels["worker"].setText("—" if failure.worker_id is None else str(failure.worker_id))
        task, record = failure.task, failure.record
        if task is not None:
            arguments = describe_arguments(task)
            attempt = str(task.attempt)
            if task.retry_of is not None:
                attempt += f" (a retry of #{task.retry_of})"
            submitted, started = task.submitted_at, task.started_at
        elif record is not None:
            arguments = record.input or "—"
            attempt = str(record.attempt)
            submitted, started = record.submitted, record.started
        else:
            labels["arguments"].setText("unknown (submitted before the inspector started)")
            for key in ("attempt", "submitted", "started"):
                labels[key].setText("—")
            labels["failed"].setText(_date_time(failure.time))
            self.traceback_view.setPlainText(failure.traceback_text)
            self._update_actions()
            return
        labels["arguments"].setText(arguments)
        labels["attempt"].setText(attempt)
        labels["submitted"].setText(_date_time(submitted))
        labels["started"].setText(_later(started, submitted))
        ran = f" (ran {failure.time - started:.3f} s)" if started else ""
        labels["failed"].setText(_later(failure.time, submitted) + ran)
        self.traceback_view.setPlainText(failure.traceback_text)
        self._update_actions()

    def _update_actions(self) -> None:
        failure = self._current
        self.copy_button.setEnabled(failure is not None)
        can_retry = self.can_retry
        self.retry_button.setEnabled(can_retry(failure))
        group = self.failures_model.group
        self.retry_group_button.setEnabled(group is not None and any(map(can_retry, group.failures)))

    def _update_summary(self) -> None:
        total = self._total
        groups = len(self._groups)
        text = f"{total:,} failure{'s' if total != 1 else ''} in {groups} group{'s' if groups != 1 else ''}"
        if self._unseen:
            text += f" · {self._unseen:,} more not shown (their events were dropped)"
        self.summary_text.set_text(text)

    # --------------------------------------------------------------- actions

    def _on_copy_clicked(self) -> None:
        if self._current is not None:
            QGuiApplication.clipboard().setText(self._current.traceback_text)
            self.status_label.setText("Traceback copied")

    def _on_retry_clicked(self) -> None:
        if self._current is not None:
            self._retry([self._current])

    def _on_retry_group_clicked(self) -> None:
        group = self.failures_model.group
        if group is not None:
            self._retry([f for f in group.failures if self.can_retry(f)])

    # ----------------------------------------------------------------- theme

    def _is_dark(self) -> bool:
        # Themes come as stylesheets, which reach a widget's palette once it is
        # polished: light text means a dark background.
        view = self.traceback_view
        view.ensurePolished()
        palette = view.palette()
        return (
            palette.color(QPalette.ColorRole.Text).lightness()
            > palette.color(QPalette.ColorRole.Base).lightness()
        )

    def _on_theme_changed(self) -> None:
        dark = self._is_dark()
        if dark != self.highlighter.dark:
            self.highlighter.set_dark(dark)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            # After the children were re-polished too.
            QTimer.singleShot(0, self, self._on_theme_changed)
        super().changeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        self._on_theme_changed()
        super().showEvent(event)


class ExceptionInspector(FailureBrowser):
    """Failures of ``pool``, grouped by problem, with traceback and retry.

    The window feeds it ``apply_changes(changes)`` every tick; Retry and
    Retry group run the failed tasks again on the pool."""

    #: futures of the attempts a Retry or Retry group just started
    tasks_retried = Signal(list)

    def __init__(self, pool: Pool, parent: QWidget | None = None, max_failures: int = 5_000) -> None:
        super().__init__(parent)
        self.pool = pool
        #: failures kept over all groups; the oldest go first
        self.max_failures = max_failures
        self._live: dict[int, Task] = {}  # submitted, not ended yet
        self._kept: deque[Failure] = deque()  # every kept failure, oldest first
        self._failure_of: dict[int, Failure] = {}  # task id -> its kept failure
        self._seq = 0
        self._newest_event = float("-inf")  # Event.time of the newest event taken
        # Ids of failures filed from their record (see resync), so that their
        # event, should it come after all, is not filed again.
        self._recovered: set[int] = set()
        self._recovered_order: deque[int] = deque()

    # ------------------------------------------------------------ the window

    def apply_events(self, batch: Sequence[Event]) -> None:
        """Take one tick's events: remember running tasks, file failures."""
        self.apply_changes(Changes.of(batch))

    def apply_changes(self, changes: Changes) -> None:
        """Take one tick's changes: remember running tasks, file failures."""
        live = self._live
        retried: list[Failure] = []
        records: dict[int, Task | None] = {}  # of the tasks that failed
        failed = EventKind.TASK_FAILED
        for task_id, (submitted, _started, _progress, ended) in changes.tasks.items():
            if submitted is not None:
                task = submitted[5]
                if task.retry_of is not None:
                    self._note_retry(task, retried)
                if ended is None:
                    live[task_id] = task
                    continue
            elif ended is None:
                continue
            else:
                task = live.pop(task_id, None)
            if ended[1] is failed:
                records[task_id] = task
        if changes.last_time is not None:
            self._newest_event = max(self._newest_event, changes.last_time)
        new_groups: list[FailureGroup] = []
        touched: dict[int, FailureGroup] = {}
        recovered = self._recovered
        failures = changes.failures
        if recovered:
            failures = [e for e in failures if e[3] not in recovered]
            recovered.difference_update(e[3] for e in changes.failures)  # filed from their records (resync)
        signatures = message_signatures([e[5].message for e in failures])
        for event, signature in zip(failures, signatures, strict=True):
            task_id = event[3]
            group = self._file(
                task_id, records.get(task_id), event[5], event[2], event[4], new_groups, signature
            )
            touched[id(group)] = group
        self.failures_model.failures_changed(retried)
        if not touched:
            if retried:
                self._update_actions()
            return
        self._show_filed(new_groups, touched)

    def resync(self, horizon: float | None = None) -> int:
        """File the failures whose events were lost, and let go of the records
        of tasks that ended unseen; returns how many failures were filed.

        The window dropped events (it fell behind a storm): some tasks the
        inspector saw submitted ended without it hearing. Their records say
        how: a failed one is filed from its record (its error, worker and
        end time), as its event would have been. Only tasks that ended
        before ``horizon`` (epoch seconds; by default the newest event taken
        less ``LATE_EVENT_MARGIN``) count: a later ending may still be on
        its way, and would then be filed twice."""
        if horizon is None:
            horizon = self._newest_event - LATE_EVENT_MARGIN
        new_groups: list[FailureGroup] = []
        touched: dict[int, FailureGroup] = {}
        filed = 0
        for task_id, task in list(self._live.items()):
            ended = task.finished_at
            if ended is None or ended >= horizon or not task.state.finished:
                continue
            del self._live[task_id]
            if task.state is TaskState.FAILED and task.error is not None:
                group = self._file(task_id, task, task.error, ended, task.worker_id, new_groups)
                touched[id(group)] = group
                self._recovered.add(task_id)
                self._recovered_order.append(task_id)
                filed += 1
        while len(self._recovered_order) > RECOVERED_MEMORY:
            self._recovered.discard(self._recovered_order.popleft())
        if touched:
            self._show_filed(new_groups, touched)
        return filed

    def _show_filed(self, new_groups: list[FailureGroup], touched: dict[int, FailureGroup]) -> None:
        """Show what was just filed: new groups, changed counts, the selected
        group's new failures."""
        for group in self._bound():
            touched[id(group)] = group
        self.groups_model.add_groups(new_groups)
        self.groups_model.groups_changed(list(touched.values()))
        if self.failures_model.group is not None and id(self.failures_model.group) in touched:
            self.failures_model.sync()
        self._update_summary()
        self._update_actions()

    def _file(
        self,
        task_id: int | None,
        task: Task | None,
        error: TaskError,
        when: float,
        worker_id: int | None,
        new_groups: list[FailureGroup],
        signature: str | None = None,
    ) -> FailureGroup:
        key = (error.type_name, message_signature(error.message) if signature is None else signature)
        group = self._groups.get(key)
        if group is None:
            group = FailureGroup(key[0], key[1], when, when)
            self._groups[key] = group
            new_groups.append(group)
        self._seq += 1
        failure = Failure(self._seq, task_id, task, error, when, worker_id, group)
        group.count += 1
        group.last_seen = max(group.last_seen, when)
        group.failures.append(failure)
        self._kept.append(failure)
        self._total += 1
        if task_id is not None:
            self._failure_of[task_id] = failure
        return group

    def _note_retry(self, task: Task, retried: list[Failure]) -> None:
        """A new attempt of a kept failure started (the pool's own retries,
        this panel's, or anyone's): mark the failure so it is not re-run twice."""
        failure = self._failure_of.get(task.retry_of)  # type: ignore[arg-type]
        if failure is not None and failure.retried_as is None:
            failure.retried_as = task.id
            retried.append(failure)

    def _bound(self) -> list[FailureGroup]:
        """Drop the oldest failures beyond ``max_failures``; the groups they left."""
        kept, left = self._kept, []
        while len(kept) > self.max_failures:
            oldest = kept.popleft()
            group = oldest.group
            # A group's kept failures are in arrival order too: its oldest is this one.
            group.failures.popleft()
            if self._failure_of.get(oldest.task_id) is oldest:  # type: ignore[arg-type]
                del self._failure_of[oldest.task_id]  # type: ignore[arg-type]
            left.append(group)
        return left

    # ------------------------------------------------------------------ API

    @property
    def live_task_count(self) -> int:
        """How many Task records are held for tasks that have not ended."""
        return len(self._live)

    @property
    def kept_failure_count(self) -> int:
        return len(self._kept)

    def set_pool_failures(self, failed: int) -> None:
        """The pool counted ``failed`` failures since the inspector started
        listening: what it never heard of (their events dropped, with those
        of their submission, so no record tells) is said in the summary.
        Meant for when the window has caught up: events still on their way
        would count as unseen meanwhile."""
        unseen = max(0, failed - self._total)
        if unseen != self._unseen:
            self._unseen = unseen
            self._update_summary()

    def can_retry(self, failure: Failure | None) -> bool:
        return self._retry_enabled and _can_retry(failure)

    def _retry(self, failures: Sequence[Failure]) -> None:
        self.retry(failures)

    def retry(self, failures: Sequence[Failure]) -> list[TaskFuture]:
        """Start a new attempt of each failure's task; returns their futures.

        Failures without a task record, or whose pool refuses (shut down),
        are skipped and said so in the status line."""
        futures: list[TaskFuture] = []
        retried: list[Failure] = []
        problems: list[str] = []
        for failure in failures:
            task = failure.task
            if task is None:
                problems.append(f"#{failure.task_id}: its submission was not seen, so it cannot be re-run")
                continue
            try:
                future = self.pool.retry(task, block=False)  # never freeze the window
            except (PoolClosed, QueueFull, ValueError) as exc:
                problems.append(f"#{failure.task_id}: {exc}")
                continue
            failure.retried_as = future.task_id
            retried.append(failure)
            futures.append(future)
        self.failures_model.failures_changed(retried)
        message = f"Retried {len(futures)} task{'s' if len(futures) != 1 else ''}" if futures else ""
        if problems:
            message = "; ".join(filter(None, [message, *problems[:3]]))
            if len(problems) > 3:
                message += f"; and {len(problems) - 3} more"
        self.status_label.setText(message)
        self._update_actions()
        if futures:
            self.tasks_retried.emit(futures)
        return futures


def _can_retry(failure: Failure | None) -> bool:
    """A failure can run again once, if its record is at hand and finished."""
    return (
        failure is not None
        and failure.task is not None
        and failure.retried_as is None
        and failure.task.state is TaskState.FAILED
    )
