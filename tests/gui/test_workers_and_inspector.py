"""The Workers panel and the Exception inspector, driven against real pools.

Every test feeds the panels what the window would: ``pool.events.buffer()``
drained after the futures completed, and ``refresh()`` for the workers table.
Process pool tasks come from ``core.demo`` (a worker process imports its task
by module and name, so none is defined here).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import wait

import psutil
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from core import (
    EventBuffer,
    EventKind,
    ProcessPool,
    TaskCancelled,
    TaskError,
    TaskState,
    ThreadPool,
    WorkerInfo,
    WorkerState,
)
from core.demo import nap
from core.store import TaskRecord
from gui.inspector import (
    ExceptionInspector,
    Failure,
    FailureBrowser,
    FailureGroup,
    FailureGroupsModel,
    FailuresModel,
    message_signature,
)
from gui.workers_panel import (
    COL_DONE,
    COL_STATE,
    COL_TASK,
    STATE_COLOURS,
    WorkersModel,
    WorkersPanel,
)

WAIT = 15.0  # seconds: generous, a loaded CI machine is slow


# ------------------------------------------------------------ task functions
# (thread pools only: threads share this module, so the tasks may share state)


def wait_for(gate: threading.Event) -> str:
    """Keep a worker busy until the test opens the gate."""
    if not gate.wait(WAIT):
        raise TimeoutError("the test never opened the gate")
    return "through"


def find_user(user_id: int) -> None:
    raise LookupError(f"user {user_id} not found")


def parse_number(text: str) -> int:
    return int(text)  # ValueError: invalid literal for int() with base 10: '...'


def flaky(calls: list[int], key: int) -> str:
    """Fails on its first call for ``key`` only, so a retry succeeds."""
    calls.append(key)
    if calls.count(key) == 1:
        raise ConnectionError(f"connection to 10.0.0.{key} reset after 3 tries")
    return f"ok {key}"


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def pool(gate: threading.Event) -> Iterator[ThreadPool]:
    pool = ThreadPool(workers=2)
    yield pool
    gate.set()  # free any worker still waiting, or shutdown would wait for WAIT
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def buffer(pool: ThreadPool) -> Iterator[EventBuffer]:
    buffer = pool.events.buffer()
    yield buffer
    buffer.close()


@pytest.fixture
def panel(qtbot, pool: ThreadPool) -> WorkersPanel:
    panel = WorkersPanel(pool)
    qtbot.addWidget(panel)
    panel.show()
    return panel


@pytest.fixture
def inspector(qtbot, pool: ThreadPool) -> ExceptionInspector:
    inspector = ExceptionInspector(pool)
    qtbot.addWidget(inspector)
    inspector.resize(1000, 600)
    inspector.show()
    return inspector


@pytest.fixture
def process_pool() -> Iterator[ProcessPool]:
    """A two-process pool, terminated and joined after the test."""
    pool = ProcessPool(workers=2)
    yield pool
    pool.terminate()
    joiner = threading.Thread(target=pool.join, name="test-process-pool-join", daemon=True)
    joiner.start()
    joiner.join(WAIT)
    assert not joiner.is_alive(), "the process pool did not stop after terminate()"


# ------------------------------------------------------------------- helpers


def state_text(panel: WorkersPanel, worker_id: int) -> str | None:
    row = panel.model.row_of(worker_id)
    return None if row is None else panel.model.index(row, COL_STATE).data()


def cell(panel: WorkersPanel, worker_id: int, column: int):
    row = panel.model.row_of(worker_id)
    assert row is not None, f"worker {worker_id} has no row"
    return panel.model.index(row, column).data()


def shown_ids(panel: WorkersPanel) -> list[int]:
    return sorted(panel.model.worker_id(row) for row in range(panel.model.rowCount()))


def click(qtbot, panel: WorkersPanel, action) -> None:
    """Press the toolbar button of ``action``, as a user would."""
    button = panel.toolbar.widgetForAction(action)
    assert button is not None and button.isEnabled(), f"{action.text()} is not clickable"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def worker_running(qtbot, pool, task_id: int) -> WorkerInfo:
    """Wait until a worker runs task ``task_id``; that worker's snapshot."""
    found: list[WorkerInfo] = []

    def running() -> None:
        found[:] = [w for w in pool.workers if w.task_id == task_id]
        assert found, f"no worker runs task {task_id} yet"

    qtbot.waitUntil(running, timeout=int(WAIT * 1000))
    return found[0]


def info(worker_id: int, state: WorkerState = WorkerState.IDLE, done: int = 0, task_id=None) -> WorkerInfo:
    return WorkerInfo(worker_id, state, task_id, done, 0, 0.0, 1000.0)


# ------------------------------------------------------------- WorkersModel


def test_workers_model_passes_the_model_tester_while_the_real_pool_changes(qtmodeltester, pool):
    model = WorkersModel()
    model.joined_linger = 0.0
    model.update_workers(pool.workers)
    # The tester stays attached: every update below is checked too.
    qtmodeltester.check(model)
    assert model.rowCount() == 2

    pool.add_workers(3)
    model.update_workers(pool.workers)
    assert model.rowCount() == 5
    assert [model.worker_id(r) for r in range(5)] == sorted(w.id for w in pool.workers)

    dismissed = pool.dismiss_workers(4, join=True)
    pool.join_dismissed()
    model.update_workers(pool.workers)
    assert model.rowCount() == 1
    assert model.worker_id(0) not in dismissed
    assert model.columnCount() == 7


def test_workers_model_signals_only_the_rows_that_changed():
    model = WorkersModel()
    inserted: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []
    changed: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))
    model.dataChanged.connect(lambda top, bottom, _roles=(): changed.append((top.row(), bottom.row())))

    model.update_workers([info(i) for i in range(1, 6)], now=1010.0)
    assert inserted == [(0, 4)] and not changed

    # Worker 2 and 3 got busy, the others did not change.
    model.update_workers(
        [
            info(1),
            info(2, WorkerState.BUSY, task_id=7),
            info(3, WorkerState.BUSY, task_id=8),
            info(4),
            info(5),
        ],
        lambda task_id: f"job {task_id}",
        now=1010.2,
    )
    assert changed == [(1, 2)]
    assert model.index(1, COL_TASK).data() == "#7 job 7"

    # 4 was joined (gone from the snapshot): it shows "joined" for a while, then goes.
    changed.clear()
    model.joined_linger = 1.0
    model.update_workers([info(1), info(2), info(3), info(5)], now=1010.4)
    assert model.index(3, COL_STATE).data() == "joined"
    assert not removed
    model.update_workers([info(1), info(2), info(3), info(5), info(6)], now=1012.0)
    assert removed == [(3, 3)]
    assert [model.worker_id(r) for r in range(model.rowCount())] == [1, 2, 3, 5, 6]
    assert inserted[-1] == (4, 4)


def test_workers_model_process_columns_and_exited_counts():
    model = WorkersModel(process_columns=True)
    assert model.columnCount() == 10
    running = WorkerInfo(
        1, WorkerState.BUSY, 3, 5, 1, 25.0, 1000.0, pid=4242, cpu_percent=97.4, memory_rss=50 << 20
    )
    model.update_workers([running], now=1100.0)
    assert [model.index(0, c).data() for c in range(10)] == [
        "1", "busy", "#3", "5", "1", "25", "1:40", "4242", "97", "50.0",
    ]  # fmt: skip
    # core zeroes an exited worker's counters (they go to the pool's totals):
    # the row keeps what the worker did, and its uptime stops.
    gone = WorkerInfo(1, WorkerState.EXITED, None, 0, 0, 30.0, 1000.0, pid=4242)
    model.update_workers([gone], now=1200.0)
    model.update_workers([gone], now=1300.0)
    assert [model.index(0, c).data() for c in (COL_STATE, COL_DONE, 6, 8)] == ["exited", "5", "3:20", ""]


def test_state_colours_tell_dismiss_requested_apart_from_gone():
    dismissed = STATE_COLOURS[WorkerState.DISMISSED]
    for gone in (WorkerState.EXITED, WorkerState.JOINED):
        colour = STATE_COLOURS[gone]
        assert abs(dismissed.hue() - colour.hue()) > 20 or colour.saturation() < 40
        assert dismissed.saturation() > 150
    assert len({c.name() for c in STATE_COLOURS.values()}) == len(STATE_COLOURS)


# ------------------------------------------------------------- WorkersPanel


def test_add_and_dismiss_n_steer_the_real_pool(qtbot, pool, panel):
    assert shown_ids(panel) == sorted(w.id for w in pool.workers)

    panel.count_spin.setValue(3)
    click(qtbot, panel, panel.add_action)
    assert pool.stats().workers == 5
    assert shown_ids(panel) == sorted(w.id for w in pool.workers)
    assert "Added workers" in panel.status_label.text()

    panel.count_spin.setValue(2)
    click(qtbot, panel, panel.dismiss_n_action)
    assert pool.stats().workers == 3
    dismissed = [w.id for w in pool.workers if w.state in (WorkerState.DISMISSED, WorkerState.EXITED)]
    assert len(dismissed) == 2

    def dismissed_workers_exited() -> None:
        panel.refresh()
        assert [state_text(panel, i) for i in dismissed] == ["exited", "exited"]

    qtbot.waitUntil(dismissed_workers_exited, timeout=int(WAIT * 1000))

    with qtbot.waitSignal(panel.workers_joined, timeout=int(WAIT * 1000)) as joined:
        click(qtbot, panel, panel.join_action)
    assert sorted(joined.args[0]) == sorted(dismissed)
    assert [state_text(panel, i) for i in dismissed] == ["joined", "joined"]
    assert len(pool.workers) == 3
    panel.model.joined_linger = 0.0
    panel.refresh()
    assert shown_ids(panel) == sorted(w.id for w in pool.workers)


def test_dismiss_selected_shows_dismiss_requested_while_the_busy_worker_finishes(
    qtbot, pool, gate, buffer, panel
):
    future = pool.submit(wait_for, gate)
    busy = worker_running(qtbot, pool, future.task_id)
    idle = next(w.id for w in pool.workers if w.id != busy.id)
    panel.apply_events(buffer.drain())
    panel.refresh()
    assert state_text(panel, busy.id) == "busy"
    assert cell(panel, busy.id, COL_TASK) == f"#{future.task_id} wait_for"

    panel.select_workers([busy.id, idle])
    assert panel.selected_worker_ids() == sorted([busy.id, idle])
    assert not panel.force_stop_action.isVisible()  # a thread cannot be killed
    assert not panel.force_stop_action.isEnabled()
    click(qtbot, panel, panel.dismiss_selected_action)

    # The idle one leaves at once; the busy one finishes its task first.
    assert state_text(panel, busy.id) == "dismiss requested"
    assert cell(panel, busy.id, COL_TASK) == f"#{future.task_id} wait_for"
    assert pool.stats().workers == 0
    state_cell = panel.model.index(panel.model.row_of(busy.id), COL_STATE)
    assert state_cell.data(Qt.ItemDataRole.DecorationRole) == STATE_COLOURS[WorkerState.DISMISSED]
    assert not future.done()

    gate.set()
    assert future.result(timeout=WAIT) == "through"

    def both_exited() -> None:
        panel.apply_events(buffer.drain())
        panel.refresh()
        assert state_text(panel, busy.id) == "exited"
        assert state_text(panel, idle) == "exited"

    qtbot.waitUntil(both_exited, timeout=int(WAIT * 1000))
    assert cell(panel, busy.id, COL_DONE) == "1"  # kept, though core zeroed it on exit
    exited_colour = panel.model.index(panel.model.row_of(busy.id), COL_STATE).data(
        Qt.ItemDataRole.DecorationRole
    )
    assert exited_colour != STATE_COLOURS[WorkerState.DISMISSED]
    assert not panel.dismiss_selected_action.isEnabled()  # nothing alive is selected


def test_force_stop_kills_a_busy_worker_process_after_confirmation(qtbot, process_pool):
    panel = WorkersPanel(process_pool)
    qtbot.addWidget(panel)
    panel.show()
    questions: list[str] = []
    answers = iter([False, True])

    def confirm(title: str, question: str) -> bool:
        questions.append(question)
        return next(answers)

    panel.confirm = confirm
    future = process_pool.submit(nap, 60.0)
    busy = worker_running(qtbot, process_pool, future.task_id)
    assert busy.pid is not None and psutil.pid_exists(busy.pid)
    panel.refresh()
    assert panel.model.columnCount() == 10
    assert cell(panel, busy.id, 7) == str(busy.pid)

    # An idle worker alone cannot be force-stopped.
    idle = next(w.id for w in process_pool.workers if w.id != busy.id)
    panel.select_workers([idle])
    assert panel.force_stop_action.isVisible() and not panel.force_stop_action.isEnabled()

    panel.select_workers([busy.id])
    assert panel.force_stop_action.isEnabled()
    click(qtbot, panel, panel.force_stop_action)  # answered "No"
    assert len(questions) == 1 and f"#{future.task_id}" in questions[0]
    assert not future.done()
    assert state_text(panel, busy.id) == "busy"

    click(qtbot, panel, panel.force_stop_action)  # answered "Yes"
    assert len(questions) == 2
    qtbot.waitUntil(future.done, timeout=int(WAIT * 1000))
    assert future.cancelled() and isinstance(future.task.error, TaskCancelled)  # killed, as a cancel
    assert future.task.state is TaskState.CANCELLED

    def process_gone() -> None:
        try:
            assert psutil.Process(busy.pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            pass

    qtbot.waitUntil(process_gone, timeout=int(WAIT * 1000))

    def row_shows_it_exited() -> None:
        panel.refresh()
        assert state_text(panel, busy.id) == "exited"

    qtbot.waitUntil(row_shows_it_exited, timeout=int(WAIT * 1000))
    assert process_pool.stats().workers == 1  # a force-stopped worker is not replaced


def test_apply_events_brings_a_refresh_forward(qtbot, pool, buffer, panel):
    panel.min_refresh_interval = 0.0
    pool.add_workers(1)
    panel.apply_events(buffer.drain())
    qtbot.waitUntil(lambda: shown_ids(panel) == sorted(w.id for w in pool.workers), timeout=5000)


# --------------------------------------------------------------- inspector


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("user 17 not found", "user 42 not found"),
        ("'alice'", "'bob'"),
        ('no such file: "/tmp/a/b.txt"', 'no such file: "/var/data/c.csv"'),
        ("cannot open /home/ann/x.png", "cannot open /srv/y.png"),
        ("object at 0x7f3a2b1c9d00 is closed", "object at 0x55d0aa10 is closed"),
        ("request 9f86d081884c7d65 failed", "request 3a7bd3e2360a3d29 failed"),
        ("took 1.25 s, limit 0.5 s", "took 12.0 s, limit 3 s"),
        ("GET https://example.com/a?id=3 failed", "GET http://example.org/b failed"),
    ],
)
def test_message_signature_groups_what_varies_per_occurrence(one, other):
    assert message_signature(one) == message_signature(other)


def test_message_signature_keeps_what_names_the_problem():
    assert message_signature("user 17 not found") == "user <num> not found"
    assert message_signature("user42 not found") == "user42 not found"
    assert message_signature("can't parse 'x'") == "can't parse <str>"
    assert message_signature("disk full") != message_signature("checksum mismatch")


def _failures_row_of(inspector: ExceptionInspector, group: FailureGroup) -> int:
    row = inspector.groups_model.row_of(group)
    assert row is not None
    return inspector.groups_proxy.mapFromSource(inspector.groups_model.index(row, 0)).row()


def _click_row(qtbot, view, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_real_failures_are_grouped_and_their_tracebacks_shown(qtbot, pool, buffer, inspector):
    futures = [pool.submit(find_user, 17), pool.submit(find_user, 42), pool.submit(parse_number, "x")]
    wait(futures, timeout=WAIT)
    assert all(f.exception() is not None for f in futures)
    inspector.apply_events(buffer.drain())

    groups = {g.short_type: g for g in inspector.groups}
    assert set(groups) == {"LookupError", "ValueError"}
    assert groups["LookupError"].count == 2
    assert groups["LookupError"].signature == "user <num> not found"
    assert groups["ValueError"].count == 1
    assert inspector.groups_model.rowCount() == 2
    assert "3 failures in 2 groups" in inspector.summary_label.text()
    # Newest first: parse_number failed last.
    newest = inspector.groups_proxy.index(0, 0).data()
    assert newest == max(inspector.groups, key=lambda g: g.last_seen).short_type

    _click_row(qtbot, inspector.groups_view, _failures_row_of(inspector, groups["LookupError"]))
    assert inspector.failures_model.group is groups["LookupError"]
    assert inspector.failures_model.rowCount() == 2
    # The newest is selected at once; pick the failure of user 17.
    assert inspector.current_failure is inspector.failures_model.failure(0)
    older = next(f for f in groups["LookupError"].failures if f.task_id == futures[0].task_id)
    _click_row(qtbot, inspector.failures_view, inspector.failures_model.row_of(older))
    assert inspector.current_failure is older

    text = inspector.traceback_view.toPlainText()
    assert text == older.error.traceback
    assert text.startswith("Traceback (most recent call last):")
    assert "in find_user" in text
    assert text.rstrip().endswith("LookupError: user 17 not found")
    assert inspector.traceback_view.isReadOnly()
    assert inspector.detail_labels["arguments"].text() == "17"
    assert inspector.detail_labels["attempt"].text() == "1"
    assert inspector.detail_labels["worker"].text() == str(older.worker_id)

    # Frame lines and the exception line are highlighted.
    document = inspector.traceback_view.document()
    frame = next(b for b in _blocks(document) if b.text().lstrip().startswith('File "'))
    last = next(b for b in reversed(_blocks(document)) if b.text().strip())
    assert frame.layout().formats()
    assert last.layout().formats()

    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(inspector.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == older.error.traceback


def _blocks(document) -> list:
    blocks, block = [], document.begin()
    while block.isValid():
        blocks.append(block)
        block = block.next()
    return blocks


def test_retry_one_reruns_the_real_failed_task_and_it_succeeds(qtbot, pool, buffer, inspector):
    calls: list[int] = []
    future = pool.submit(flaky, calls, 7)
    assert isinstance(future.exception(timeout=WAIT), ConnectionError)
    inspector.apply_events(buffer.drain())
    assert inspector.live_task_count == 0

    (group,) = inspector.groups
    inspector.select_group(group)
    failure = inspector.current_failure
    assert failure is not None and failure.task_id == future.task_id
    assert inspector.retry_button.isEnabled()

    with (
        qtbot.waitSignal(inspector.tasks_retried, timeout=int(WAIT * 1000)) as retried,
        qtbot.assertNotEmitted(inspector.retry_requested),  # the live one retries on its pool
    ):
        qtbot.mouseClick(inspector.retry_button, Qt.MouseButton.LeftButton)
    (again,) = retried.args[0]
    assert again.result(timeout=WAIT) == "ok 7"
    assert again.task.attempt == 2 and again.task.retry_of == future.task_id
    assert calls == [7, 7]
    assert not inspector.retry_button.isEnabled()  # not twice by accident

    inspector.apply_events(buffer.drain())
    assert group.count == 1  # the retry succeeded: no new failure
    assert failure.retried_as == again.task_id
    row = inspector.failures_model.row_of(failure)
    assert inspector.failures_model.index(row, FailuresModel.COL_RETRIED).data() == f"#{again.task_id}"
    assert inspector.live_task_count == 0


def test_retry_group_retries_each_failure_of_the_group(qtbot, pool, buffer, inspector):
    calls: list[int] = []
    flakies = [pool.submit(flaky, calls, key) for key in (1, 2, 3)]
    other = pool.submit(find_user, 5)
    wait([*flakies, other], timeout=WAIT)
    inspector.apply_events(buffer.drain())
    groups = {g.short_type: g for g in inspector.groups}
    assert groups["ConnectionError"].count == 3

    inspector.select_group(groups["ConnectionError"])
    with qtbot.waitSignal(inspector.tasks_retried, timeout=int(WAIT * 1000)) as retried:
        qtbot.mouseClick(inspector.retry_group_button, Qt.MouseButton.LeftButton)
    retries = retried.args[0]
    assert sorted(f.task.retry_of for f in retries) == sorted(f.task_id for f in flakies)
    assert sorted(f.result(timeout=WAIT) for f in retries) == ["ok 1", "ok 2", "ok 3"]
    assert "Retried 3 tasks" in inspector.status_label.text()
    assert not inspector.retry_group_button.isEnabled()
    assert groups["LookupError"].failures[0].retried_as is None
    assert other.task.state is TaskState.FAILED

    inspector.apply_events(buffer.drain())
    assert groups["ConnectionError"].count == 3
    assert inspector.live_task_count == 0


def test_failures_are_bounded_and_counts_stay_exact(qtbot, pool, buffer):
    inspector = ExceptionInspector(pool, max_failures=5)
    qtbot.addWidget(inspector)
    futures = [pool.submit(find_user, i) for i in range(8)]
    futures += [pool.submit(parse_number, "12") for _ in range(4)]  # these succeed
    wait(futures, timeout=WAIT)
    batch = buffer.drain()
    inspector.apply_events(batch)
    (group,) = inspector.groups
    assert group.count == 8
    assert len(group.failures) == inspector.kept_failure_count == 5
    failed_in_order = [e.task_id for e in batch if e.kind is EventKind.TASK_FAILED]
    assert [f.task_id for f in group.failures] == failed_in_order[3:]  # the oldest went
    assert inspector.live_task_count == 0  # done tasks are forgotten

    inspector.select_group(group)
    assert inspector.failures_model.rowCount() == 5
    more = [pool.submit(find_user, 100 + i) for i in range(2)]
    wait(more, timeout=WAIT)
    batch = buffer.drain()
    inspector.apply_events(batch)
    assert group.count == 10
    assert inspector.failures_model.rowCount() == 5
    newest = [e.task_id for e in batch if e.kind is EventKind.TASK_FAILED][-1]
    assert inspector.failures_model.failure(0).task_id == newest


def test_a_failure_submitted_before_the_inspector_shows_without_retry(qtbot, pool):
    buffer = pool.events.buffer()
    try:
        future = pool.submit(find_user, 3)
        future.exception(timeout=WAIT)
        events = [e for e in buffer.drain() if e.kind is not EventKind.TASK_SUBMITTED]
    finally:
        buffer.close()
    inspector = ExceptionInspector(pool)
    qtbot.addWidget(inspector)
    inspector.apply_events(events)
    (group,) = inspector.groups
    inspector.select_group(group)
    assert inspector.current_failure is not None and inspector.current_failure.task is None
    assert "LookupError: user 3 not found" in inspector.traceback_view.toPlainText()
    assert not inspector.retry_button.isEnabled()
    assert inspector.copy_button.isEnabled()


def test_inspector_models_pass_the_model_tester(qtmodeltester, pool, buffer, inspector):
    futures = [pool.submit(find_user, i) for i in range(3)] + [pool.submit(parse_number, "y")]
    wait(futures, timeout=WAIT)
    inspector.apply_events(buffer.drain())
    qtmodeltester.check(inspector.groups_model)
    inspector.select_group(inspector.groups[-1])
    qtmodeltester.check(inspector.failures_model)
    assert inspector.failures_model.rowCount(QModelIndex()) >= 1


def test_traceback_colours_follow_a_dark_stylesheet(qtbot, inspector):
    assert not inspector.highlighter.dark
    inspector.setStyleSheet("QPlainTextEdit { background: #1b2130; color: #d8dde8; }")
    qtbot.waitUntil(lambda: inspector.highlighter.dark, timeout=5000)
    inspector.setStyleSheet("")
    qtbot.waitUntil(lambda: not inspector.highlighter.dark, timeout=5000)


# ------------------------------------------------- the browser of recorded failures


def recorded(seq: int, message: str, finished: float, attempt: int = 1) -> TaskRecord:
    traceback = (
        f'Traceback (most recent call last):\n  File "job.py", line 3, in run\nLookupError: {message}\n'
    )
    return TaskRecord(
        1, seq, attempt, f"input-{seq}", f"/data/input-{seq}.txt", TaskState.FAILED, 2,
        finished - 2.0, finished - 1.0, finished, None, "LookupError", message, traceback,
    )  # fmt: skip


def recorded_group(records: list[TaskRecord]) -> FailureGroup:
    first = records[0]
    group = FailureGroup(
        first.error_type, message_signature(first.message), first.finished, records[-1].finished
    )
    for n, record in enumerate(records):
        error = TaskError(record.error_type, record.message, record.traceback)
        group.failures.append(
            Failure(n, record.seq, None, error, record.finished, record.worker, group, record=record)
        )
        group.count += 1
    return group


def test_the_live_inspector_is_a_failure_browser():
    assert issubclass(ExceptionInspector, FailureBrowser)


def test_a_failure_browser_shows_recorded_failures_and_asks_for_their_retry(qtbot):
    browser = FailureBrowser(dated=True)
    qtbot.addWidget(browser)
    browser.resize(1000, 600)
    browser.show()
    day = 1_700_000_000.0
    group = recorded_group([recorded(3, "user 3 not found", day), recorded(5, "user 5 not found", day + 60)])
    browser.set_groups([group])
    assert browser.groups == [group] and browser.failure_count == 2
    assert "2 failures in 1 group" in browser.summary_label.text()
    # The group and its newest failure show at once, times with their date.
    newest = group.failures[-1]
    assert browser.failures_model.group is group and browser.current_failure is newest
    assert browser.groups_proxy.index(0, FailureGroupsModel.COL_LAST_SEEN).data().startswith("20")
    assert browser.failures_model.index(0, FailuresModel.COL_TASK).data() == "#5 input-5"
    assert browser.detail_labels["task"].text() == "#5 input-5"
    assert browser.detail_labels["arguments"].text() == "/data/input-5.txt"
    assert browser.detail_labels["attempt"].text() == "1"
    assert browser.traceback_view.toPlainText().endswith("LookupError: user 5 not found\n")

    older = group.failures[0]
    _click_row(qtbot, browser.failures_view, browser.failures_model.row_of(older))
    assert browser.current_failure is older
    assert browser.traceback_view.toPlainText() == older.record.traceback
    with qtbot.waitSignal(browser.retry_requested, timeout=1000) as asked:
        qtbot.mouseClick(browser.retry_button, Qt.MouseButton.LeftButton)
    assert asked.args == [[older]]
    with qtbot.waitSignal(browser.retry_requested, timeout=1000) as asked:
        qtbot.mouseClick(browser.retry_group_button, Qt.MouseButton.LeftButton)
    assert asked.args == [[older, newest]]

    browser.set_retry_enabled(False)
    assert not browser.retry_button.isEnabled() and not browser.retry_group_button.isEnabled()
    assert browser.copy_button.isEnabled()
    browser.set_groups([])
    assert browser.groups_model.rowCount() == 0 and browser.failures_model.rowCount() == 0
    assert browser.current_failure is None and browser.traceback_view.toPlainText() == ""
