"""The window at its default size (1280 x 820), as a user first sees it:
every control reachable, the columns readable, the inspector showing a
failure with its traceback; the task stream's lanes, the charts' time zero
and their ticks."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QToolButton

from core import PoolStats
from core.demo import nap, unlucky
from gui.charts import LiveCharts
from gui.enqueue_dialog import PlannedTask
from gui.inspector import FailureGroupsModel
from gui.main_window import CANCEL, MainWindow
from gui.settings import Settings
from gui.task_table_model import Column
from gui.workers_panel import COL_MEMORY, COL_TASK, WorkersPanel

WAIT = 20_000
DEFAULT_SIZE = QSize(1280, 820)


def wait_for_gate(gate: threading.Event) -> str:
    if not gate.wait(WAIT / 1000):
        raise TimeoutError("the test never opened the gate")
    return "through"


@pytest.fixture
def window(qtbot):
    """A first start (no saved geometry): the default size. Closed and
    waited for here, not by ``qtbot.addWidget`` (see test_main_window)."""
    window = MainWindow(Settings(thread_workers=4, process_workers=2, history=1000))
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.views[0].panels_built, timeout=WAIT)
    window.views[1].build_panels()
    yield window
    window.ask_on_close = lambda: CANCEL
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT)
    window.deleteLater()


def show_tab(qtbot, window: MainWindow, index: int) -> None:
    window.tabs.setCurrentIndex(index)
    qtbot.waitUntil(lambda: window.views[index].workers_panel.isVisible(), timeout=WAIT)


def right_edges_fit(table) -> list[str]:
    """The columns of ``table`` that end beyond its viewport (scrolled off)."""
    header, width = table.horizontalHeader(), table.viewport().width()
    model = table.model()
    return [
        str(model.headerData(c, Qt.Orientation.Horizontal))
        for c in range(header.count())
        if header.sectionViewportPosition(c) + header.sectionSize(c) > width
    ]


def test_the_window_fits_its_default_size(window):
    assert window.size() == DEFAULT_SIZE
    assert window.minimumSizeHint().width() <= DEFAULT_SIZE.width()
    assert window.minimumSizeHint().height() <= DEFAULT_SIZE.height()
    assert not window.history_dock.isVisible()  # a first start gives the panels the room


# ------------------------------------------------------------ workers panel


def toolbar_problems(panel: WorkersPanel) -> list[str]:
    bar = panel.toolbar
    problems = []
    chevron = bar.findChild(QToolButton, "qt_toolbar_ext_button")
    if chevron is not None and chevron.isVisible():
        problems.append("the overflow chevron shows")
    actions = [panel.add_action, panel.dismiss_n_action, panel.dismiss_selected_action, panel.join_action]
    if panel.is_process_pool:
        actions.append(panel.force_stop_action)
    for action in actions:
        button = bar.widgetForAction(action)
        if button is None or not button.isVisible() or not bar.rect().contains(button.geometry()):
            problems.append(f"{action.text()} is hidden")
    return problems


@pytest.mark.parametrize("index", [0, 1], ids=["threads", "processes"])
def test_every_workers_action_is_on_screen_at_the_default_size(qtbot, window, index):
    show_tab(qtbot, window, index)
    panel = window.views[index].workers_panel
    assert toolbar_problems(panel) == []
    assert panel.toolbar.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonTextBesideIcon  # names shown

    # A narrower panel keeps every action, as icons with their names in
    # tooltips (the one in the window cannot get this narrow: the tasks
    # table above it needs more).
    narrow = WorkersPanel(window.pools[index])
    qtbot.addWidget(narrow)
    narrow.resize(400, 200)
    narrow.show()
    qtbot.waitExposed(narrow)
    assert narrow.toolbar.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
    assert toolbar_problems(narrow) == []
    assert narrow.toolbar.widgetForAction(narrow.join_action).toolTip()
    narrow.resize(1000, 200)
    qtbot.waitUntil(lambda: narrow.toolbar.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    assert toolbar_problems(narrow) == []

    # ... and its buttons work: Join dismissed, pressed as a user would.
    window.pools[index].dismiss_workers(1)
    button = panel.toolbar.widgetForAction(panel.join_action)
    with qtbot.waitSignal(panel.workers_joined, timeout=WAIT) as joined:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(joined.args[0]) == 1


@pytest.mark.parametrize("index", [0, 1], ids=["threads", "processes"])
def test_every_worker_column_is_readable_at_the_default_size(qtbot, window, index):
    show_tab(qtbot, window, index)
    panel = window.views[index].workers_panel
    table = panel.table
    assert right_edges_fit(table) == []
    assert table.columnWidth(COL_TASK) >= table.fontMetrics().horizontalAdvance("#123 sleep 0.25 s")
    if panel.is_process_pool:
        assert table.model().columnCount() == COL_MEMORY + 1
    rows = table.viewport().height() // table.verticalHeader().defaultSectionSize()
    assert rows >= 4, f"only {rows} workers show"


# --------------------------------------------------------------- tasks table


def test_every_task_column_shows_result_included(qtbot, window):
    window.enqueue([PlannedTask(nap, (0.01,), {}, f"sleep 0.01 s #{i}") for i in range(3)], pool_index=0)
    tasks = window.views[0].tasks
    qtbot.waitUntil(lambda: tasks.model.finished_count == 3, timeout=WAIT)
    view = tasks.view
    assert right_edges_fit(view) == []
    assert view.columnWidth(Column.RESULT) >= 60
    digits = view.fontMetrics()
    assert view.columnWidth(Column.PROGRESS) >= digits.horizontalAdvance("100 %") + 8
    assert view.columnWidth(Column.QUEUED_AT) >= digits.horizontalAdvance("00:00:00.000")
    assert tasks.minimumSizeHint().width() <= tasks.width()  # the filter bar fits too


# ----------------------------------------------------------------- inspector


def test_the_inspector_shows_groups_a_failure_and_its_traceback(qtbot, window):
    window.enqueue([PlannedTask(unlucky, (1.0, 0.0, seed), {}, f"fails #{seed}") for seed in range(8)], 0)
    inspector = window.views[0].inspector
    qtbot.waitUntil(lambda: inspector.current_failure is not None, timeout=WAIT)  # no click needed
    qtbot.waitUntil(lambda: sum(g.count for g in inspector.groups) == 8, timeout=WAIT)

    def shown_height(widget) -> int:
        return widget.visibleRegion().boundingRect().height()

    row = inspector.groups_view.verticalHeader().defaultSectionSize()
    header = inspector.groups_view.horizontalHeader().height()
    assert shown_height(inspector.groups_view) >= header + 2 * row
    assert shown_height(inspector.failures_view) >= header + 2 * row
    assert shown_height(inspector.traceback_view) >= 80
    assert inspector.traceback_view.toPlainText() == inspector.current_failure.traceback_text
    assert "DemoFailure" in inspector.detail_labels["error"].text()
    assert shown_height(inspector.detail_labels["failed"]) > 0
    message = inspector.groups_proxy.index(0, FailureGroupsModel.COL_MESSAGE).data()
    width = inspector.groups_view.columnWidth(FailureGroupsModel.COL_MESSAGE)
    assert width >= inspector.groups_view.fontMetrics().horizontalAdvance(message), "the message is cut"
    for button in (inspector.copy_button, inspector.retry_button, inspector.retry_group_button):
        assert button.isVisible() and button.isEnabled()


# ------------------------------------------------------ stream and charts


def test_the_stream_has_a_lane_per_worker_in_id_order_from_the_start(qtbot, window):
    # The pools' workers started before the views listened: no event opened their lanes.
    assert window.views[0].stream.lane_labels() == ["W1", "W2", "W3", "W4"]
    assert window.views[1].stream.lane_labels() == ["W1", "W2"]
    gate = threading.Event()
    window.enqueue([PlannedTask(wait_for_gate, (gate,), {}, "held")], pool_index=0)
    qtbot.waitUntil(lambda: len(window.views[0].stream.bars()) == 1, timeout=WAIT)
    gate.set()
    added = window.thread_pool.add_workers(1)
    qtbot.waitUntil(lambda: window.views[0].stream.lane_labels()[-1] == f"W{added[0]}", timeout=WAIT)
    assert window.views[0].stream.lane_labels()[:4] == ["W1", "W2", "W3", "W4"]


def test_the_stream_and_the_charts_share_time_zero(qtbot, window):
    view = window.views[0]
    # A second of nothing: the charts sample, no event comes.
    qtbot.waitUntil(lambda: view.charts.sample_count >= 30, timeout=WAIT)
    window.enqueue([PlannedTask(nap, (0.05,), {}, "one")], pool_index=0)
    qtbot.waitUntil(lambda: len(view.stream.bars(include_running=False)) == 1, timeout=WAIT)

    def apart() -> float:
        charts_now = view.charts.shown_data()[0][-1]  # elapsed time of the latest sample
        return abs(charts_now - view.stream.history.now)

    qtbot.waitUntil(lambda: apart() < 0.3, timeout=WAIT)
    assert view.stream.bars(include_running=False).x0[0] > 0.9  # started a second into the run


def test_count_plots_tick_on_whole_numbers(qtbot):
    charts = LiveCharts()
    qtbot.addWidget(charts)
    charts.resize(500, 400)
    charts.show()
    qtbot.waitExposed(charts)
    for i, running in enumerate([0, 1, 2, 3, 2]):
        stats = PoolStats(1, running, 0, i // 2, 0, 5, 4, 4 - running, 0.37 * i, False, False)
        charts.apply_stats(stats, now=float(i))
    charts.refresh()
    for key in ("queued", "running", "failed"):
        plot = charts.plots[key]
        low, high = plot.viewRange()[1]
        axis = plot.getAxis("left")
        ticks = [value for _, values in axis.tickValues(low, high, axis.height()) for value in values]
        assert ticks, key
        assert all(float(value).is_integer() for value in ticks), (key, ticks)
    rate = charts.plots["throughput"]
    low, high = rate.viewRange()[1]
    axis = rate.getAxis("left")
    ticks = [value for _, values in axis.tickValues(low, high, axis.height()) for value in values]
    assert not all(float(value).is_integer() for value in ticks)  # a rate may be fractional
