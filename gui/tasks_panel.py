"""The Tasks panel: every task of one pool in a filterable, sortable table.

The window drains the pool's events once per tick and hands them to
``TasksPanel.apply_events``; the panel forwards them to its ``TaskTableModel``
and never touches the pool except on a user's request from the context menu
(``pool.cancel``, ``pool.retry``), always on the GUI thread::

    window tick ─► apply_events(batch) ─► TaskTableModel ─► TaskFilterProxy ─► QTableView
    right-click ─► context_actions(task) ─► pool.cancel / pool.retry / clipboard / file manager
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QPointF, QRectF, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QColor,
    QDesktopServices,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QPalette,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import PoolClosed, QueueFull, TaskError, UnknownTask
from core.changes import Changes

from . import resources
from .columns import fit_columns
from .task_table_model import (
    Column,
    RowState,
    TaskFilterProxy,
    TaskTableModel,
    alignment,
    background,
    foreground,
    state_color,
)
from .throttled_label import ThrottledLabel

if TYPE_CHECKING:
    from core import Event, Pool, Task

__all__ = ["TaskTableView", "TasksPanel"]

log = logging.getLogger(__name__)

#: How often the run times of running tasks move on when no events arrive.
CLOCK_INTERVAL_MS = 500
#: How long the search waits for typing to pause before it filters.
SEARCH_DELAY_MS = 150
#: Arguments looked at for an input file (a task may carry thousands).
MAX_ARGS_FOR_INPUT = 32

_ACTIVE = frozenset({RowState.QUEUED, RowState.RUNNING})
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_RIGHT_FLAG = int(Qt.AlignmentFlag.AlignRight)
_CENTER_FLAG = int(Qt.AlignmentFlag.AlignHCenter)
#: Space between a cell's edge and its text, in pixels (what Fusion leaves).
_TEXT_MARGIN = 4
_FAILURES = frozenset({RowState.FAILED, RowState.TIMED_OUT})

# Column widths: each fits this sample (and its header); Result takes the rest.
#: Column widths of a tasks table: each fits this sample (and its header);
#: Result takes the rest. Tight on purpose: at the window's default size the
#: table is about 740 px wide, and Result must still show.
COLUMN_SAMPLES = {
    Column.ID: "999999",
    Column.LABEL: "progress 14 steps #59",
    Column.STATE: "timed out",
    Column.WORKER: "99",
    Column.QUEUED_AT: "00:00:00.000",
    Column.WAIT: "9 m 59 s",
    Column.RUN_TIME: "9 m 59 s",
    Column.PROGRESS: "100 %",
}
#: Pixels more for the progress bar's track around its text.
_PROGRESS_TRACK = 8


class TaskTableView(QTableView):
    """The tasks table, painted a row at a time from the model's rows.

    A stock QTableView asks its delegate to paint each cell, and the delegate
    asks the model for seven roles: a screenful costs a few thousand calls
    from C++ into Python, each taking the GIL -- about 40 us a cell, and
    much more while a busy pool's workers hold the GIL, enough to freeze the
    window for tens of milliseconds per repaint during an event storm. This
    view paints the exposed rows itself in one Python call, from the model's
    own ``display``, ``foreground``, ``background`` and ``alignment`` (what
    ``data()`` answers too), so the table looks as its model describes it.
    Selection, scrolling, the header, sizing and keyboard navigation are
    QTableView's own.
    """

    #: Laid-out cell texts kept for reuse; cleared when it grows past this.
    LAYOUT_CACHE = 1024

    def __init__(self, model: TaskTableModel, proxy: TaskFilterProxy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._proxy = proxy
        self._laid_out: dict[tuple[str, int], tuple[QStaticText, float]] = {}
        self.setModel(proxy)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        proxy = self._proxy
        count = proxy.rowCount()
        if count == 0:
            return
        area = event.rect()
        first = self.rowAt(area.top())
        if first < 0:
            return  # the exposed area is below the last row
        last = self.rowAt(area.bottom())
        last = count - 1 if last < 0 else last
        header = self.horizontalHeader()
        columns = []
        for visual in range(header.count()):
            column = header.logicalIndex(visual)
            if header.isSectionHidden(column):
                continue
            x, width = header.sectionViewportPosition(column), header.sectionSize(column)
            if x + width > area.left() and x <= area.right() and width > 0:
                columns.append((column, x, width, alignment(column) or _LEFT))

        palette = self.palette()
        group = QPalette.ColorGroup.Active if self.hasFocus() else QPalette.ColorGroup.Inactive
        alternate = palette.color(group, QPalette.ColorRole.AlternateBase)
        highlight = palette.color(group, QPalette.ColorRole.Highlight)
        text = palette.color(group, QPalette.ColorRole.Text)
        selected_text = palette.color(group, QPalette.ColorRole.HighlightedText)
        height = self.verticalHeader().defaultSectionSize()
        width = self.viewport().width()
        selection = self.selectionModel()
        current = self.currentIndex().row() if self.hasFocus() else -1
        root = QModelIndex()
        model, display, glyphs = self._model, self._model.display, self._glyphs
        top = (height - self.fontMetrics().height()) / 2
        alternating = self.alternatingRowColors()

        painter = QPainter(self.viewport())
        painter.setFont(self.font())
        for position in range(first, last + 1):
            y = self.rowViewportPosition(position)
            row = model.row_at(proxy.mapToSource(proxy.index(position, 0)).row())
            selected = selection.isRowSelected(position, root)
            if alternating and position % 2:
                painter.fillRect(0, y, width, height, alternate)
            tint = background(row.state)
            if tint is not None:
                painter.fillRect(0, y, width, height, tint)
            if selected:
                painter.fillRect(0, y, width, height, highlight)
            for column, x, column_width, align in columns:
                cell = display(row, column)
                if not cell:
                    continue
                if column == Column.PROGRESS:
                    paint_progress(
                        painter,
                        QRectF(x, y, column_width, height),
                        model.percent(row),
                        state_color(row.state) or highlight,
                        cell,
                        selected_text if selected else text,
                    )
                    continue
                colour = None if selected else foreground(row, column)
                painter.setPen(colour if colour is not None else (selected_text if selected else text))
                inner = column_width - 2 * _TEXT_MARGIN
                static, advance = glyphs(cell, inner)
                if align & _RIGHT_FLAG:
                    left = x + column_width - _TEXT_MARGIN - advance
                elif align & _CENTER_FLAG:
                    left = x + (column_width - advance) / 2
                else:
                    left = x + _TEXT_MARGIN
                painter.drawStaticText(QPointF(left, y + top), static)
            if position == current:
                painter.setPen(highlight)
                painter.drawRect(0, y, width - 1, height - 1)
        painter.end()

    def _glyphs(self, text: str, width: int) -> tuple[QStaticText, float]:
        """``text`` elided to ``width``, laid out once (a QStaticText draws
        several times faster than drawText, which lays out on every call),
        and its width."""
        key = (text, width)
        laid_out = self._laid_out.get(key)
        if laid_out is None:
            if len(self._laid_out) >= self.LAYOUT_CACHE:
                self._laid_out.clear()
            static = QStaticText(self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width))
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), self.font())
            laid_out = self._laid_out[key] = (static, static.size().width())
        return laid_out

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.FontChange:
            self._laid_out.clear()
        super().changeEvent(event)


def paint_progress(
    painter: QPainter, rect: QRectF, percent: int, fill: QColor, text: str, text_color: QColor
) -> None:
    """A slim progress bar in ``fill`` with ``text`` centred on it.

    Drawn by hand: the style's progress bar ignores the stylesheet outside a
    real QProgressBar, and a hand-drawn one takes its track and text colours
    from the palette, so it fits light and dark themes."""
    percent = max(0, min(100, percent))
    track = rect.adjusted(4, 4, -4, -4)
    radius = min(4.0, track.height() / 2)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    track_color = QColor(text_color)
    track_color.setAlpha(28)
    painter.setBrush(track_color)
    painter.drawRoundedRect(track, radius, radius)
    if percent:
        chunk = QColor(fill)
        chunk.setAlpha(170)
        bar = QRectF(track)
        bar.setWidth(track.width() * percent / 100)
        painter.setBrush(chunk)
        painter.drawRoundedRect(bar, radius, radius)
    painter.setPen(text_color)
    painter.drawText(track, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


def set_up_table(view: QTableView, selection: QAbstractItemView.SelectionMode) -> None:
    """How PoolScope's tables look and behave: whole rows selected, no
    editing, no wrapping, fixed row heights (the view never measures rows,
    which keeps 100,000 of them cheap to scroll), the last column stretching."""
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(selection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setShowGrid(False)
    rows = view.verticalHeader()
    rows.setVisible(False)
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(view.fontMetrics().height() + 8)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    header.setHighlightSections(False)


def set_up_task_view(
    view: TaskTableView, samples: dict[int, str], extra: dict[int, int] | None = None
) -> None:
    """How a tasks table looks and behaves, live or in the history: as every
    table (``set_up_table``), with many rows selectable, columns fitted to
    ``samples``, and submission order until a header is clicked (a sorted
    proxy pays a few comparisons per new row, an unsorted one none; a third
    click goes back to it)."""
    set_up_table(view, QAbstractItemView.SelectionMode.ExtendedSelection)
    fit_columns(view, samples, extra=extra)
    header = view.horizontalHeader()
    header.setSortIndicatorClearable(True)
    header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    view.setSortingEnabled(True)


class TaskFilterBar(QObject):
    """The state toggles ("Show: queued running done ...") and the search
    field over a TaskFilterProxy, added to ``bar``: no toggle checked shows
    every row; the search filters once typing pauses. The Tasks panel and
    the history's attempts table use one each."""

    def __init__(
        self,
        proxy: TaskFilterProxy,
        bar: QHBoxLayout,
        parent: QWidget,
        *,
        rows: str,
        name_prefix: str,
        search_tip: str,
        search_width: int,
    ) -> None:
        """``rows``: what a row is ("tasks", "attempts"); ``name_prefix``:
        the toggles' object names, followed by the state's name."""
        super().__init__(parent)
        self.proxy = proxy
        self.buttons: dict[RowState, QToolButton] = {}
        bar.addWidget(QLabel("Show:", parent))
        for state in RowState:
            button = QToolButton(parent)
            button.setText(state.value)
            button.setCheckable(True)
            button.setToolTip(f"Show {state.value} {rows} (none checked: every one)")
            button.setObjectName(f"{name_prefix}{state.name.lower()}")
            button.toggled.connect(self._on_button_toggled)
            self.buttons[state] = button
            bar.addWidget(button)
        bar.addSpacing(8)
        self.search = QLineEdit(parent)
        self.search.setPlaceholderText("Search id, label or result…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(search_tip)
        self.search.setMinimumWidth(search_width)  # the toggles must not squeeze it to nothing
        self.search.textChanged.connect(self._on_search_text_changed)
        bar.addWidget(self.search, 1)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)

    def set_states(self, states: Iterable[RowState | str] | None) -> None:
        """Check the toggles of ``states`` (None: every state)."""
        wanted = {RowState(s) for s in states} if states is not None else set()
        for state, button in self.buttons.items():
            button.blockSignals(True)
            button.setChecked(state in wanted)
            button.blockSignals(False)
        self._on_button_toggled(False)

    def _on_button_toggled(self, _checked: bool) -> None:
        states = {state.value for state, button in self.buttons.items() if button.isChecked()}
        self.proxy.set_states(states or None)

    def _on_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()  # restarts: filter once typing pauses

    def _on_search_timer_timeout(self) -> None:
        self.proxy.set_text(self.search.text())


class TasksPanel(QWidget):
    """Every task of ``pool``: filter by state, search, sort, and act on a
    task from its context menu. The window feeds it with ``apply_events``."""

    def __init__(self, pool: Pool, parent: QWidget | None = None, max_finished: int = 100_000) -> None:
        super().__init__(parent)
        self.pool = pool
        self.model = TaskTableModel(max_finished=max_finished, task_lookup=pool.task, parent=self)
        self.proxy = TaskFilterProxy(self.model, self)
        self._events_not_shown = 0

        self._build_filter_bar()
        #: the count label's text, slowed down by a busy window (see ThrottledLabel)
        self.count_text = ThrottledLabel(self.count_label)
        self._build_view()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(self._filter_bar)
        layout.addWidget(self.view)

        # Run times of running tasks grow between events too: a slow clock
        # moves them on when the pool is quiet.
        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_INTERVAL_MS)
        self._clock.timeout.connect(self._on_clock_timeout)
        self._clock.start()

        self.model.rowsInserted.connect(self._on_model_rows_changed)
        self.model.rowsRemoved.connect(self._on_model_rows_changed)
        self.model.modelReset.connect(self._on_model_rows_changed)
        self.proxy.rowsInserted.connect(self._on_model_rows_changed)
        self.proxy.rowsRemoved.connect(self._on_model_rows_changed)
        self.proxy.modelReset.connect(self._on_model_rows_changed)
        self.proxy.layoutChanged.connect(self._on_model_rows_changed)
        self._on_model_rows_changed()

    # ------------------------------------------------------------------ build

    def _build_filter_bar(self) -> None:
        bar = self._filter_bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        bar.setSpacing(4)
        self.filter = TaskFilterBar(
            self.proxy, bar, self, rows="tasks", name_prefix="stateFilter_",
            search_tip="Case-insensitive; matches anywhere in the id, label or result", search_width=120,
        )  # fmt: skip
        self.search = self.filter.search
        self.count_label = QLabel(self)
        self.count_label.setObjectName("taskCount")
        bar.addWidget(self.count_label)
        self.clear_button = QToolButton(self)
        # An icon (its name in the tooltip): with the state toggles and the
        # search, a labelled button made the bar wider than the panel.
        self.clear_button.setText("Clear finished")
        self.clear_button.setIcon(resources.icon("clear"))
        self.clear_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.clear_button.setToolTip(
            "Clear finished: remove every finished task from this table (the pool is not touched)"
        )
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        bar.addWidget(self.clear_button)

    def _build_view(self) -> None:
        view = self.view = TaskTableView(self.model, self.proxy, self)
        set_up_task_view(view, COLUMN_SAMPLES, extra={Column.PROGRESS: _PROGRESS_TRACK})
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._on_view_context_menu_requested)

    # ----------------------------------------------------------------- events

    def apply_events(self, batch: list[Event]) -> None:
        """Fold one tick's pool events into the table."""
        self.apply_changes(Changes.of(batch))

    def apply_changes(self, changes: Changes) -> None:
        """Bring the table up to date with one tick's changes."""
        model = self.model
        not_listed = model.not_listed
        model.apply_changes(changes)
        if model.not_listed != not_listed:  # no row came or went to say so
            self._on_model_rows_changed()
        if model.unfinished_count:
            self.view.viewport().update()  # running times moved on

    def resync(self) -> int:
        """Catch up with the pool's records after events were lost
        (``TaskTableModel.resync``); returns how many rows changed."""
        changed = self.model.resync()
        if changed:
            self.view.viewport().update()
        return changed

    def set_events_not_shown(self, count: int) -> None:
        """Say how many of the pool's events the window dropped (it fell
        behind a storm): rows were brought up to date from the pool's
        records, but tasks whose every event was lost have no row."""
        if count != self._events_not_shown:
            self._events_not_shown = count
            self._on_model_rows_changed()
        self.count_label.setToolTip(
            "\n".join(
                text
                for text, shown in (
                    (
                        "Not listed: tasks that started and finished within one tick of a storm, "
                        "beyond what the window lists a tick. The other panels count them.",
                        self.model.not_listed,
                    ),
                    (
                        "Events not shown: the window fell behind a storm and dropped the oldest. "
                        "Rows were brought up to date from the pool's own records; tasks whose "
                        "every event was dropped have no row.",
                        count,
                    ),
                )
                if shown
            )
        )

    # ----------------------------------------------------------- context menu

    def context_actions(self, task: Task) -> list[QAction]:
        """The actions the context menu offers for ``task``, parented to this
        panel: a caller that builds its own menu deletes them afterwards (the
        right-click menu does). Actions that do not apply to the task are
        there but disabled, so the menu keeps its shape."""
        row = self.model.find(task.id)
        if row is not None:
            state, error = row.state, row.error
        else:
            state, error = RowState.of_task(task), task.error
        return self._actions(task.id, task, state, error)

    def _actions(
        self, task_id: int, task: Task | None, state: RowState, error: TaskError | None
    ) -> list[QAction]:
        cancel = QAction("Cancel", self)
        cancel.setToolTip("Cancel a queued task; ask a running one to stop")
        cancel.setEnabled(state in _ACTIVE)
        cancel.triggered.connect(lambda _checked=False: self._on_cancel_action_triggered(task_id))

        retry = QAction("Retry", self)
        retry.setToolTip("Run the task again as a new attempt")
        retry.setEnabled(task is not None and state.finished)
        retry.triggered.connect(lambda _checked=False: self._on_retry_action_triggered(task))

        copy_args = QAction("Copy arguments", self)
        copy_args.setEnabled(task is not None)
        copy_args.triggered.connect(lambda _checked=False: self._on_copy_arguments_action_triggered(task))

        copy_traceback = QAction("Copy traceback", self)
        copy_traceback.setEnabled(state in _FAILURES and error is not None)
        copy_traceback.triggered.connect(
            lambda _checked=False: self._on_copy_traceback_action_triggered(error)
        )

        folder = _input_file(task)
        open_folder = QAction("Open input folder", self)
        open_folder.setEnabled(folder is not None)
        if folder is not None:
            open_folder.setToolTip(str(folder.parent))
        open_folder.triggered.connect(lambda _checked=False: self._on_open_folder_action_triggered(folder))
        return [cancel, retry, copy_args, copy_traceback, open_folder]

    def _on_view_context_menu_requested(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        row = self.model.row_at(self.proxy.mapToSource(index).row())
        actions = self._actions(row.task_id, row.task, row.state, row.error)
        menu = QMenu(self)
        menu.addActions(actions)
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()
        for action in actions:
            action.deleteLater()

    def _on_cancel_action_triggered(self, task_id: int) -> None:
        try:
            self.pool.cancel(task_id)
        except UnknownTask:
            log.warning("task %s is not one of this pool's tasks; nothing to cancel", task_id)

    def _on_retry_action_triggered(self, task: Task | None) -> None:
        if task is None:
            return
        try:
            self.pool.retry(task, block=False)  # never freeze the window
        except (ValueError, PoolClosed, QueueFull) as exc:
            log.warning("could not retry task %s: %s", task.id, exc)

    def _on_copy_arguments_action_triggered(self, task: Task | None) -> None:
        if task is None:
            return
        QGuiApplication.clipboard().setText(f"args = {task.args!r}\nkwargs = {task.kwargs or {}!r}")

    def _on_copy_traceback_action_triggered(self, error: TaskError | None) -> None:
        if error is not None:
            QGuiApplication.clipboard().setText(error.traceback or str(error))

    def _on_open_folder_action_triggered(self, path: Path | None) -> None:
        if path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))

    # ------------------------------------------------------------ filter bar

    def _on_clear_button_clicked(self) -> None:
        self.model.clear_finished()

    def _on_clock_timeout(self) -> None:
        if self.model.unfinished_count:
            self.model.tick()
            self.view.viewport().update()

    def _on_model_rows_changed(self, *_args: Any) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        text = f"{total:,} tasks" if shown == total else f"{shown:,} of {total:,} tasks"
        if self.model.not_listed:
            text += f" · {self.model.not_listed:,} more not listed"
        if self._events_not_shown:
            text += f" · {self._events_not_shown:,} events not shown"
        self.count_text.set_text(text)


def _input_file(task: Task | None) -> Path | None:
    """The first argument of ``task`` that names an existing file."""
    if task is None:
        return None
    values = list(task.args[:MAX_ARGS_FOR_INPUT])
    if task.kwargs:
        values.extend(list(task.kwargs.values())[:MAX_ARGS_FOR_INPUT])
    for value in values:
        if isinstance(value, Path) or (isinstance(value, str) and 0 < len(value) < 4096):
            try:
                path = Path(value)
                if path.is_file():
                    return path.resolve()
            except (OSError, ValueError):
                continue
    return None
