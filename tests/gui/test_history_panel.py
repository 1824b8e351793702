"""The History panel over a real history file, filled by running real tasks
on real thread pools with the store recording them (failures carry the
tracebacks their tasks really raised).

Every test waits on the panel's signals or on conditions (``qtbot``), never
on sleeps, and leaves no thread behind: the panel's reading threads are
joined by ``shutdown()`` before the store closes.
"""

from __future__ import annotations

import csv
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from pathlib import Path

import pytest
from PySide6.QtCore import QAbstractItemModel, Qt, QTimer
from PySide6.QtGui import QFontInfo, QGuiApplication

from core import TaskState, ThreadPool
from core.store import EXPORT_COLUMNS, INTERRUPTED, Store, TaskRecord
from gui.history_panel import HistoryPanel, RecordedTask, RunColumn, export_format, group_failures
from gui.inspector import ExceptionInspector, FailureBrowser, FailureGroupsModel, FailuresModel
from gui.task_table_model import Column, RowState, StateRole, TaskFilterProxy, TaskTableModel
from gui.tasks_panel import TaskTableView

WAIT = 15.0  # seconds: generous, a loaded CI machine is slow

# ------------------------------------------------------------ task functions


def noop(value: object = None) -> object:
    return value


def find_user(user_id: int) -> None:
    raise LookupError(f"user {user_id} not found")


def parse_number(text: str) -> int:
    return int(text)  # ValueError: invalid literal for int() with base 10: '...'


def wait_for(gate: threading.Event, started: threading.Event) -> str:
    """Keep a worker busy until the test opens the gate."""
    started.set()
    if not gate.wait(WAIT):
        raise TimeoutError("the test never opened the gate")
    return "through"


# ------------------------------------------------------------------ the file

MIXED, INTERRUPTED_RUN, CLEAN = 1, 2, 3
GOOD = [f"file-{i}.txt" for i in range(6)]
USERS = (17, 42, 99)


def record_mixed_run(store: Store) -> int:
    """6 inputs done, 3 LookupErrors (one problem), 1 ValueError failing on
    both of its attempts: 10 inputs, 11 attempts."""
    run_id = store.begin_run(title="mixed", processor="python", options={"function": "several"})
    with ThreadPool(2) as pool:
        store.attach(pool, run_id)
        futures = [pool.schedule(noop, (name,), label=name) for name in GOOD]
        futures += [pool.schedule(find_user, (user,), label=f"user-{user}") for user in USERS]
        futures.append(pool.schedule(parse_number, ("twelve",), label="parse-twelve", retries=1))
        wait(futures, timeout=WAIT)
    store.finish_run(run_id)
    return run_id


def record_interrupted_run(store: Store) -> int:
    """One input done, one running and two queued when the app "stops": the
    store closes under a run still going, as at a crash or a close."""
    run_id = store.begin_run(title="interrupted", processor="checksum")
    gate, started = threading.Event(), threading.Event()
    pool = ThreadPool(1)
    try:
        store.attach(pool, run_id)
        pool.schedule(noop, ("first.txt",), label="first.txt").result(timeout=WAIT)
        pool.schedule(wait_for, (gate, started), label="slow.txt")
        assert started.wait(WAIT)
        for name in ("later-1.txt", "later-2.txt"):
            pool.schedule(noop, (name,), label=name)
        store.close()
    finally:
        gate.set()
        pool.shutdown(wait=True)
    return run_id


def record_clean_run(store: Store) -> int:
    run_id = store.begin_run(title="clean", processor="python")
    with ThreadPool(2) as pool:
        store.attach(pool, run_id)
        wait([pool.schedule(noop, (n,), label=f"ok-{n}") for n in range(2)], timeout=WAIT)
    store.finish_run(run_id)
    return run_id


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A history of three runs, written by one store that then closed."""
    file = tmp_path / "history.sqlite3"
    first = Store(file)
    assert record_mixed_run(first) == MIXED
    assert record_interrupted_run(first) == INTERRUPTED_RUN  # closes ``first``
    with Store(file) as second:
        assert record_clean_run(second) == CLEAN
    return file


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    opened = Store(path)
    yield opened
    opened.close()


@pytest.fixture
def make_panel(qtbot) -> Iterator[Callable[[Store | None], HistoryPanel]]:
    panels: list[HistoryPanel] = []

    def make(store: Store | None) -> HistoryPanel:
        panel = HistoryPanel(store)
        qtbot.addWidget(panel)
        panel.resize(1100, 700)
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()  # before the store closes: its threads read it


@pytest.fixture
def panel(store: Store, make_panel: Callable[[Store | None], HistoryPanel]) -> HistoryPanel:
    return make_panel(store)


def column(model: QAbstractItemModel, col: int) -> list[str]:
    return [model.index(row, col).data() for row in range(model.rowCount())]


def click_row(qtbot, view, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def load(qtbot, panel: HistoryPanel, run_id: int) -> None:
    with qtbot.waitSignal(panel.run_loaded, timeout=WAIT * 1000) as blocker:
        assert panel.select_run(run_id)
    assert blocker.args == [run_id]


# ----------------------------------------------------------------- the runs


def test_the_runs_list_shows_every_run_newest_first_with_its_counts(panel: HistoryPanel) -> None:
    model = panel.runs_model
    assert column(model, RunColumn.ID) == ["3", "2", "1"]
    assert column(model, RunColumn.WHAT) == ["clean", "interrupted", "mixed"]
    assert column(model, RunColumn.STATE) == ["finished", "interrupted", "finished"]
    counts = [
        tuple(
            model.index(row, c).data()
            for c in (RunColumn.DONE, RunColumn.FAILED, RunColumn.CANCELLED, RunColumn.TOTAL)
        )
        for row in range(3)
    ]
    assert counts == [("2", "0", "0", "2"), ("1", "0", "3", "4"), ("6", "4", "0", "10")]
    assert column(model, RunColumn.POOLS) == ["thread"] * 3
    assert all(text and text != "—" for text in column(model, RunColumn.DURATION))
    assert model.index(2, RunColumn.FAILED).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert "function='several'" in model.index(2, RunColumn.WHAT).data(Qt.ItemDataRole.ToolTipRole)
    assert "3 inputs can be resumed" in model.index(1, RunColumn.STATE).data(Qt.ItemDataRole.ToolTipRole)
    assert panel.current_run is None and not panel.loading


def test_refresh_shows_new_runs_and_keeps_the_selected_one_without_reading_it_again(
    qtbot, panel: HistoryPanel, store: Store
) -> None:
    load(qtbot, panel, MIXED)
    new = record_clean_run(store)
    panel.refresh()
    assert column(panel.runs_model, RunColumn.ID)[0] == str(new)
    assert panel.current_run is not None and panel.current_run.id == MIXED
    assert panel.runs_view.currentIndex().row() == panel.runs_model.row_of(MIXED)
    assert not panel.loading and panel.tasks_model.rowCount() == 11


# ---------------------------------------------------------- a run's contents


def test_selecting_a_run_fills_its_tasks_and_failure_groups(qtbot, panel: HistoryPanel) -> None:
    load(qtbot, panel, MIXED)
    tasks = panel.tasks_model
    assert tasks.rowCount() == 11  # 10 inputs, the last one tried twice
    assert column(tasks, Column.ID) == [str(n) for n in range(1, 12)]  # an attempt's number in the run
    assert column(tasks, Column.LABEL) == [
        *GOOD,
        "user-17",
        "user-42",
        "user-99",
        "parse-twelve",
        "parse-twelve (attempt 2)",
    ]
    assert column(tasks, Column.STATE) == ["done"] * 6 + ["failed"] * 5
    assert column(tasks, Column.RESULT)[:6] == GOOD
    assert column(tasks, Column.PROGRESS)[:6] == ["100 %"] * 6
    assert column(tasks, Column.RESULT)[6] == "LookupError: user 17 not found"
    assert column(tasks, Column.RESULT)[-1] == "ValueError: invalid literal for int() with base 10: 'twelve'"
    assert all(column(tasks, Column.WORKER)) and all(column(tasks, Column.RUN_TIME))
    assert all(column(tasks, Column.QUEUED_AT)) and all(column(tasks, Column.WAIT))
    assert "raise LookupError" in tasks.index(6, Column.RESULT).data(Qt.ItemDataRole.ToolTipRole)
    record = tasks.row_at(6).task.record
    assert isinstance(record, TaskRecord) and (record.seq, record.label) == (7, "user-17")
    assert panel.tabs.tabText(1) == "Failures (4)"
    assert panel.count_label.text() == "11 attempts"
    assert "11 attempts of 10 inputs" in panel.status_label.text()

    inspector = panel.inspector
    groups = inspector.groups_proxy
    assert [(g.type_name, g.signature, g.count) for g in inspector.groups_model.groups()] == [
        ("LookupError", "user <num> not found", 3),
        ("ValueError", "invalid literal for int() with base <num>: <str>", 1),
    ]
    assert column(groups, FailureGroupsModel.COL_COUNT) == ["3", "1"]
    assert "4 failures in 2 groups" in inspector.summary_label.text()
    # The most frequent problem is selected, and its newest failure.
    assert inspector.failures_model.group is inspector.groups_model.group(0)
    assert sorted(column(inspector.failures_model, FailuresModel.COL_TASK)) == [
        "#7 user-17",
        "#8 user-42",
        "#9 user-99",
    ]
    assert inspector.current_failure is inspector.failures_model.failure(0)


def test_the_state_filter_and_the_search_narrow_the_tasks(qtbot, panel: HistoryPanel) -> None:
    load(qtbot, panel, MIXED)
    proxy = panel.tasks_proxy
    panel.set_state_filter([RowState.FAILED])
    assert column(proxy, Column.LABEL) == [
        "user-17",
        "user-42",
        "user-99",
        "parse-twelve",
        "parse-twelve (attempt 2)",
    ]
    assert panel.count_label.text() == "5 of 11 attempts"
    panel.search.setText("TWELVE")  # case-insensitive, and the error text counts
    qtbot.waitUntil(lambda: proxy.rowCount() == 2, timeout=int(WAIT * 1000))
    panel.set_state_filter(None)
    panel.search.setText("file-3")
    qtbot.waitUntil(lambda: column(proxy, Column.LABEL) == ["file-3.txt"], timeout=int(WAIT * 1000))
    panel.search.clear()
    panel.set_state_filter(["done", "failed"])
    qtbot.waitUntil(lambda: proxy.rowCount() == 11, timeout=int(WAIT * 1000))
    panel.set_state_filter([RowState.CANCELLED])
    assert proxy.rowCount() == 0


def test_sorting_a_column_sorts_the_records_and_a_third_click_restores_input_order(
    qtbot, panel: HistoryPanel
) -> None:
    load(qtbot, panel, MIXED)
    view, proxy = panel.tasks_view, panel.tasks_proxy
    view.setCurrentIndex(proxy.index(0, 0))  # file-0.txt: the selection follows its record
    view.sortByColumn(Column.STATE, Qt.SortOrder.DescendingOrder)
    assert column(proxy, Column.STATE) == ["failed"] * 5 + ["done"] * 6
    assert view.currentIndex().data() == "1" and view.currentIndex().row() == 5
    view.sortByColumn(Column.LABEL, Qt.SortOrder.AscendingOrder)
    assert column(proxy, Column.LABEL)[:2] == ["file-0.txt", "file-1.txt"]
    assert column(proxy, Column.LABEL)[-1] == "user-99"
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    assert column(proxy, Column.ID) == [str(n) for n in range(1, 12)]


def test_the_traceback_viewer_shows_the_real_traceback_and_copies_it(qtbot, panel: HistoryPanel) -> None:
    load(qtbot, panel, MIXED)
    inspector = panel.inspector
    viewer = inspector.traceback_view
    text = viewer.toPlainText()
    assert text.startswith("Traceback (most recent call last):")
    assert 'raise LookupError(f"user {user_id} not found")' in text
    assert ", in find_user" in text and text.rstrip().endswith("not found")
    assert viewer.isReadOnly()
    assert QFontInfo(viewer.font()).fixedPitch()
    labels = inspector.detail_labels
    assert labels["error"].text().startswith("LookupError: user ")
    assert labels["attempt"].text() == "1" and labels["worker"].text().isdigit()
    assert labels["task"].text() in ("#7 user-17", "#8 user-42", "#9 user-99")
    assert labels["submitted"].text()[:2] == "20"  # a date: the run may be days old

    inspector.groups_view.setCurrentIndex(inspector.groups_proxy.index(1, 0))
    text = viewer.toPlainText()
    assert "return int(text)" in text and ", in parse_number" in text
    assert text.rstrip().endswith("ValueError: invalid literal for int() with base 10: 'twelve'")
    failure = inspector.current_failure
    assert failure is not None and failure.record is not None and failure.record.attempt == 2
    assert labels["attempt"].text() == "2" and labels["task"].text() == "#10 parse-twelve"

    inspector.copy_button.click()
    assert QGuiApplication.clipboard().text() == text
    assert inspector.status_label.text() == "Traceback copied"


def test_a_run_shows_in_the_live_views_own_table_and_failure_browser(qtbot, panel: HistoryPanel) -> None:
    """Not look-alikes: the classes the live view shows a pool with."""
    assert isinstance(panel.inspector, FailureBrowser)
    assert issubclass(ExceptionInspector, FailureBrowser)
    assert type(panel.inspector.groups_model) is FailureGroupsModel
    assert type(panel.inspector.failures_model) is FailuresModel
    assert type(panel.tasks_model) is TaskTableModel
    assert type(panel.tasks_proxy) is TaskFilterProxy
    assert type(panel.tasks_view) is TaskTableView and panel.tasks_view.model() is panel.tasks_proxy

    def headers(model: QAbstractItemModel) -> list[str]:
        return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]

    assert headers(panel.tasks_model) == headers(TaskTableModel()) == [
        "ID", "Label", "State", "Worker", "Queued at", "Wait", "Run time", "Progress", "Result",
    ]  # fmt: skip
    load(qtbot, panel, MIXED)
    rows = list(panel.tasks_model.rows())
    assert all(isinstance(row.task, RecordedTask) for row in rows)
    assert [row.task.record.seq for row in rows] == [*range(1, 11), 10]
    # The table's roles are the live ones: the state filter and the colours follow.
    index = panel.tasks_model.index(6, Column.STATE)
    assert index.data(StateRole) == RowState.FAILED
    assert index.data(Qt.ItemDataRole.ForegroundRole) is not None


def test_a_recorded_failure_clicked_shows_its_traceback_and_retry_sends_that_input(
    qtbot, panel: HistoryPanel, store: Store
) -> None:
    load(qtbot, panel, MIXED)
    panel.show()
    qtbot.waitExposed(panel)
    panel.tabs.setCurrentIndex(1)
    inspector = panel.inspector
    model = inspector.failures_model
    row = next(r for r in range(model.rowCount()) if model.failure(r).record.label == "user-42")
    click_row(qtbot, inspector.failures_view, row)
    failure = inspector.current_failure
    assert failure is not None and failure.record is not None and failure.record.label == "user-42"
    (recorded,) = [r for r in store.failures(MIXED) if r.label == "user-42"]
    assert inspector.traceback_view.toPlainText() == recorded.traceback
    assert inspector.traceback_view.toPlainText().rstrip().endswith("LookupError: user 42 not found")
    assert inspector.detail_labels["arguments"].text() == (recorded.input or "—")

    assert inspector.retry_button.isEnabled()
    with qtbot.waitSignal(panel.retry_requested, timeout=1000) as blocker:
        qtbot.mouseClick(inspector.retry_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [MIXED, [recorded]]
    assert panel.status_label.text() == "Retrying 1 failed input of run 1"


def test_failures_of_a_run_still_going_cannot_be_retried(qtbot, panel: HistoryPanel, store: Store) -> None:
    run_id = store.begin_run(title="going", processor="python")
    with ThreadPool(1) as pool:
        store.attach(pool, run_id)
        wait([pool.schedule(find_user, (5,), label="user-5")], timeout=WAIT)
    qtbot.waitUntil(lambda: store.run(run_id).failed == 1, timeout=int(WAIT * 1000))
    panel.refresh()
    load(qtbot, panel, run_id)
    inspector = panel.inspector
    assert inspector.current_failure is not None
    assert not inspector.retry_button.isEnabled() and not inspector.retry_group_button.isEnabled()
    store.finish_run(run_id)
    panel.refresh()
    qtbot.waitUntil(
        lambda: not panel.loading and inspector.retry_button.isEnabled(), timeout=int(WAIT * 1000)
    )


@pytest.mark.parametrize(
    "name",
    ["runs_model", "tasks_model", "tasks_proxy", "inspector.groups_model", "inspector.failures_model"],
)
def test_the_models_pass_the_model_tester_through_every_change(
    qtbot, panel: HistoryPanel, qtmodeltester, name: str
) -> None:
    """The Python tester (it raises; the C++ one only warns) watches the model
    from before a run is read, through pages arriving, sorting, filtering,
    another run, a refresh and a delete."""
    panel.page_rows = 2  # several pages, several inserts
    model = panel
    for part in name.split("."):
        model = getattr(model, part)
    qtmodeltester.check(model, force_py=True)
    load(qtbot, panel, MIXED)
    panel.tasks_view.sortByColumn(Column.RESULT, Qt.SortOrder.DescendingOrder)
    panel.set_state_filter([RowState.FAILED])
    panel.inspector.groups_view.setCurrentIndex(panel.inspector.groups_proxy.index(1, 0))
    panel.tasks_view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    panel.set_state_filter(None)
    load(qtbot, panel, INTERRUPTED_RUN)
    panel.refresh()
    load(qtbot, panel, MIXED)
    panel.confirm = lambda title, question: True
    assert panel.delete_run()
    assert panel.runs_model.rowCount() == 2


# ------------------------------------------------------------------ actions


def test_retry_failures_carries_the_newest_failed_attempt_of_each_input(
    qtbot, panel: HistoryPanel, store: Store
) -> None:
    load(qtbot, panel, MIXED)
    assert panel.retry_action.isEnabled()
    with qtbot.waitSignal(panel.retry_requested, timeout=1000) as blocker:
        panel.retry_action.trigger()
    run_id, records = blocker.args
    assert run_id == MIXED
    assert all(isinstance(r, TaskRecord) and r.state is TaskState.FAILED for r in records)
    assert [(r.label, r.attempt) for r in records] == [
        ("user-17", 1), ("user-42", 1), ("user-99", 1), ("parse-twelve", 2),
    ]  # fmt: skip
    assert records == store.failures(MIXED)
    assert "raise LookupError" in (records[0].traceback or "")

    # The group's "Retry group" sends only that problem's inputs.
    with qtbot.waitSignal(panel.retry_requested, timeout=1000) as blocker:
        panel.inspector.retry_group_button.click()
    assert blocker.args[0] == MIXED
    assert sorted(r.label for r in blocker.args[1]) == ["user-17", "user-42", "user-99"]

    load(qtbot, panel, CLEAN)
    assert not panel.retry_action.isEnabled()
    assert not panel.inspector.retry_group_button.isEnabled()
    with qtbot.assertNotEmitted(panel.retry_requested):
        assert panel.retry_failures() == []


def test_resume_is_offered_for_an_interrupted_run_only(qtbot, panel: HistoryPanel, store: Store) -> None:
    load(qtbot, panel, INTERRUPTED_RUN)
    tasks = {t.label: t for t in store.tasks(INTERRUPTED_RUN)}
    assert tasks["slow.txt"].error_type == INTERRUPTED  # what a resume runs again
    assert column(panel.tasks_model, Column.STATE) == ["done", "cancelled", "cancelled", "cancelled"]
    assert panel.resume_action.isEnabled()
    with qtbot.waitSignal(panel.resume_requested, timeout=1000) as blocker:
        panel.resume_action.trigger()
    assert blocker.args == [INTERRUPTED_RUN]

    load(qtbot, panel, MIXED)
    assert not panel.resume_action.isEnabled()
    with qtbot.assertNotEmitted(panel.resume_requested):
        assert not panel.resume()


def test_delete_asks_first_and_deletes_only_on_yes(qtbot, panel: HistoryPanel, store: Store) -> None:
    questions: list[tuple[str, str]] = []
    answer = False

    def confirm(title: str, question: str) -> bool:
        questions.append((title, question))
        return answer

    panel.confirm = confirm
    load(qtbot, panel, MIXED)
    panel.delete_action.trigger()
    assert questions and "run 1" in questions[0][1] and "10 inputs" in questions[0][1]
    assert [run.id for run in store.list_runs()] == [3, 2, 1]
    assert panel.current_run is not None and panel.tasks_model.rowCount() == 11

    answer = True
    panel.delete_action.trigger()
    assert len(questions) == 2
    assert [run.id for run in store.list_runs()] == [3, 2]
    assert column(panel.runs_model, RunColumn.ID) == ["3", "2"]
    assert panel.current_run is None and panel.tasks_model.rowCount() == 0
    assert panel.inspector.groups_model.rowCount() == 0
    assert panel.inspector.traceback_view.toPlainText() == ""
    assert not panel.delete_action.isEnabled()
    assert store.tasks(MIXED) == []


def test_export_writes_every_attempt_as_csv_or_json(
    qtbot, panel: HistoryPanel, store: Store, tmp_path: Path
) -> None:
    load(qtbot, panel, MIXED)
    asked: list[int] = []
    target, fmt = str(tmp_path / "mixed.csv"), "csv"

    def ask(run) -> tuple[str, str] | None:
        asked.append(run.id)
        return target, fmt

    panel.ask_export_path = ask
    with qtbot.waitSignal(panel.run_exported, timeout=WAIT * 1000) as blocker:
        panel.export_action.trigger()
    assert asked == [MIXED] and blocker.args == [target, 11]
    with open(target, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [row["label"] for row in rows] == [
        *GOOD,
        "user-17",
        "user-42",
        "user-99",
        "parse-twelve",
        "parse-twelve",
    ]
    assert [row["state"] for row in rows].count("failed") == 5
    assert "raise LookupError" in rows[6]["traceback"]
    assert "Exported 11 attempts" in panel.status_label.text()

    # A name without a suffix takes the one of the filter chosen in the dialog.
    target, fmt = export_format(str(tmp_path / "mixed"), "JSON files (*.json)")
    with qtbot.waitSignal(panel.run_exported, timeout=WAIT * 1000):
        panel.export_action.trigger()
    document = json.loads(Path(target).read_text(encoding="utf-8"))
    assert fmt == "json" and target.endswith("mixed.json")
    assert document["run"]["id"] == MIXED and document["run"]["failed"] == 4
    assert [t["label"] for t in document["tasks"]][-2:] == ["parse-twelve", "parse-twelve"]
    assert document["tasks"][-1]["error_type"] == "ValueError"

    # Cancelling the dialog exports nothing.
    panel.ask_export_path = lambda run: None
    with qtbot.assertNotEmitted(panel.run_exported):
        assert not panel.export()


def test_export_format_follows_the_suffix_then_the_filter() -> None:
    assert export_format("/x/a.json", "CSV files (*.csv)") == ("/x/a.json", "json")
    assert export_format("/x/a.CSV", "") == ("/x/a.CSV", "csv")
    assert export_format("/x/a", "JSON files (*.json)") == ("/x/a.json", "json")
    assert export_format("/x/a.txt", "CSV files (*.csv)") == ("/x/a.txt.csv", "csv")


def test_keep_the_last_n_runs_prunes_after_asking(qtbot, panel: HistoryPanel, store: Store) -> None:
    answers: list[bool] = []
    panel.confirm = lambda title, question: answers.pop(0)
    panel.set_keep_runs(1)
    assert panel.keep_runs == 1

    answers.append(False)
    with qtbot.assertNotEmitted(panel.keep_runs_changed):
        assert panel.apply_keep_runs() == []
    assert len(store.list_runs()) == 3

    answers.append(True)
    with qtbot.waitSignal(panel.keep_runs_changed, timeout=1000) as blocker:
        panel.keep_button.click()
    assert blocker.args == [1]
    assert [run.id for run in store.list_runs()] == [CLEAN]
    assert column(panel.runs_model, RunColumn.ID) == ["3"]
    assert "Deleted 2 old runs" in panel.status_label.text()

    # 0 keeps every run: saved, and nothing asked or deleted.
    panel.set_keep_runs(0)
    with qtbot.waitSignal(panel.keep_runs_changed, timeout=1000) as blocker:
        assert panel.apply_keep_runs() == []
    assert blocker.args == [0] and not answers
    assert len(store.list_runs()) == 1


def test_without_a_store_the_panel_says_why(
    qtbot, make_panel: Callable[[Store | None], HistoryPanel], store: Store
) -> None:
    panel = make_panel(None)
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.off_label.isVisible() and panel.off_label.text() == "History is off."
    message = "history is off: the history file is locked by another PoolScope (pid 4242)"
    panel.set_unavailable(message)
    assert panel.off_label.text() == message and not panel.available
    assert not panel.runs_view.isVisible()
    for action in (panel.refresh_action, panel.resume_action, panel.retry_action, panel.delete_action):
        assert not action.isEnabled()
    assert not panel.keep_button.isEnabled()
    panel.refresh()  # nothing to read: no error
    assert panel.apply_keep_runs() == [] and not panel.export()

    panel.set_store(store)
    assert panel.available and panel.runs_view.isVisible()
    assert panel.runs_model.rowCount() == 3


def test_a_run_beyond_the_cap_shows_its_first_attempts_and_says_so(
    qtbot, store: Store, make_panel: Callable[[Store | None], HistoryPanel]
) -> None:
    panel = make_panel(store)
    panel.page_rows, panel.max_task_rows = 3, 5
    load(qtbot, panel, MIXED)
    assert column(panel.tasks_model, Column.LABEL) == GOOD[:5]
    assert "first 5 attempts" in panel.status_label.text()
    assert panel.inspector.groups_model.rowCount() == 2  # failures are read whole


def test_switching_runs_while_one_is_read_shows_only_the_last_one(qtbot, panel: HistoryPanel) -> None:
    panel.page_rows = 1
    panel.select_run(MIXED)
    load(qtbot, panel, CLEAN)
    # The first run's reading ended and went through the pump: nothing of it showed.
    qtbot.waitUntil(lambda: not panel.busy, timeout=int(WAIT * 1000))
    assert column(panel.tasks_model, Column.LABEL) == ["ok-0", "ok-1"]
    assert panel.inspector.groups_model.rowCount() == 0 and panel.tabs.tabText(1) == "Failures"


def test_group_failures_is_pure_and_puts_the_most_frequent_problem_first(store: Store) -> None:
    failures = store.failures(MIXED)
    groups = group_failures(failures)
    assert [g.short_type for g in groups] == ["LookupError", "ValueError"]
    assert sum(g.count for g in groups) == len(failures)
    assert [len(g.failures) for g in groups] == [g.count for g in groups]
    kept = groups[0].failures  # oldest first, as the live inspector keeps them
    assert [f.time for f in kept] == sorted(f.time for f in kept)
    assert all(f.group is groups[0] and f.task is None for f in kept)
    assert {f.record.label for f in kept} == {"user-17", "user-42", "user-99"}
    assert [f.task_id for f in kept] == [f.record.seq for f in kept]


# --------------------------------------------------------------- a big run


def test_selecting_a_run_of_50000_tasks_never_blocks_the_window(
    qtbot, tmp_path: Path, make_panel: Callable[[Store | None], HistoryPanel]
) -> None:
    with Store(tmp_path / "big.sqlite3") as store:
        run_id = store.begin_run(title="big")
        with ThreadPool(4) as pool:
            store.attach(pool, run_id)
            futures = [pool.submit(noop, f"in-{n}") for n in range(50_000)]
            futures.append(pool.schedule(find_user, (7,), label="the one failure"))
            wait(futures, timeout=WAIT * 2)
        assert store.finish_run(run_id).total == 50_001
        panel = make_panel(store)
        panel.show()
        qtbot.waitExposed(panel)

        # A probe: a 10 ms timer notes when the event loop last ran.
        ticks: list[float] = []
        probe = QTimer()
        probe.setInterval(10)
        probe.timeout.connect(lambda: ticks.append(time.monotonic()))
        probe.start()
        qtbot.waitUntil(lambda: len(ticks) >= 3, timeout=1000)
        started = time.monotonic()
        with qtbot.waitSignal(panel.run_loaded, timeout=WAIT * 4 * 1000):
            assert panel.select_run(run_id)
            selected = time.monotonic() - started
            assert panel.loading
        probe.stop()
        assert panel.tasks_model.rowCount() == 50_001
        assert panel.inspector.groups_model.rowCount() == 1
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert selected < 0.5, f"selecting took {selected:.3f} s"
        assert max(gaps) < 0.5, f"the event loop stood still for {max(gaps):.3f} s"
        # Filtering 50,001 rows is a proxy's job, and stays quick too.
        panel.set_state_filter([RowState.FAILED])
        assert panel.tasks_proxy.rowCount() == 1
        assert panel.tasks_proxy.index(0, Column.LABEL).data() == "the one failure"
        panel.shutdown()


def test_shutdown_waits_for_a_read_in_progress(qtbot, panel: HistoryPanel) -> None:
    panel.page_rows = 1
    panel.select_run(MIXED)
    panel.shutdown()
    assert not panel.loading
    assert not [t for t in threading.enumerate() if t.name.startswith("poolscope-history")]
