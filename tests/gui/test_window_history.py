"""The history in the window: jobs recorded as runs, the offer to resume a
run the last session left unfinished, resume and retry from the History
dock, and a history that cannot be opened. Real pools, real SQLite files."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import process_tasks
import pytest
from job_test_tools import make_inputs, python_spec

from core import TaskState, ThreadPool
from core.jobs import Job, make_spec
from core.processors import get
from core.recorded_jobs import JobRun
from core.store import RunState, Store
from gui.main_window import CANCEL, MainWindow
from gui.settings import Settings

WAIT = 30_000


@pytest.fixture(autouse=True)
def fresh_inputs():
    process_tasks.GATE.clear()
    process_tasks.CALLS.clear()
    yield
    process_tasks.GATE.set()


def open_window(qtbot, history) -> MainWindow:
    window = MainWindow(Settings(thread_workers=2, process_workers=1), history=history)
    window.ask_on_close = lambda: CANCEL
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window._history_opened, timeout=WAIT)
    return window


def wait_recorded(qtbot, window: MainWindow, run_id: int, state: RunState = RunState.FINISHED):
    store = window.store
    assert store is not None
    qtbot.waitUntil(lambda: store.run(run_id).state is state, timeout=WAIT)
    return store.run(run_id)


def interrupted_run(path: Path, inputs_folder: Path, count: int) -> int:
    """A run cut off as a killed window leaves it: some inputs done, one
    running, the rest never queued (the feeder waited for room)."""
    store = Store(path)
    pool = ThreadPool(workers=1, queue_size=1)
    job = Job(pool, python_spec("held_input", [str(inputs_folder)]))
    run = JobRun.begin(store, job, "thread", 1)
    job.start()
    deadline = time.monotonic() + WAIT / 1000
    while job.progress().inputs < 2:
        assert time.monotonic() < deadline
        job.poll(timeout=0.05)
    job.close()
    process_tasks.GATE.set()
    pool.shutdown(wait=True, cancel_futures=True)
    store.close()  # marks the run it was recording interrupted
    return run.run_id


def test_a_job_in_the_window_is_a_run_in_the_history(qtbot, tmp_path):
    db = tmp_path / "history.sqlite3"
    inputs = make_inputs(tmp_path / "in", 5)
    window = open_window(qtbot, str(db))
    panel = window.start_job(make_spec(get("checksum"), [str(tmp_path / "in")]), 0)
    run_id = window._job_runs[panel].run_id
    record = wait_recorded(qtbot, window, run_id)
    assert (record.done, record.total, record.pools) == (5, 5, "thread")
    assert window.store.labels(run_id) == set(inputs)
    qtbot.waitUntil(lambda: window.history_panel.runs_model.row_of(run_id) is not None, timeout=WAIT)
    assert window.history_panel.offered_run is None  # nothing was left unfinished


def test_the_next_start_offers_the_unfinished_run_and_resumes_it(qtbot, tmp_path):
    db = tmp_path / "history.sqlite3"
    inputs = make_inputs(tmp_path / "in", 8)
    run_id = interrupted_run(db, tmp_path / "in", 8)
    done_before = dict(process_tasks.CALLS)
    assert 0 < len(done_before) < 8

    window = open_window(qtbot, str(db))
    history = window.history_panel
    assert history.offered_run == run_id and window.history_dock.isVisible()
    assert f"Run {run_id}" in history.offer_label.text() and "did not finish" in history.offer_label.text()
    assert history.current_run is not None and history.current_run.id == run_id

    history.offer_resume_button.click()
    assert history.offered_run is None
    (panel,) = window.job_panels
    assert panel.title.startswith(f"run {run_id} ·")
    record = wait_recorded(qtbot, window, run_id)
    assert (record.done, record.total, record.inputs_complete) == (8, 8, True)
    done = Counter(r.label for r in window.store.tasks(run_id, TaskState.DONE))
    assert done == Counter(inputs)  # each input DONE exactly once
    assert dict.fromkeys(inputs, 1) == process_tasks.CALLS  # and processed once
    assert window.store.integrity_check() == ["ok"]


def a_run_whose_three_inputs_failed(qtbot, tmp_path):
    """A window that ran three inputs which all failed (each fails once),
    its history panel showing that run: (window, history, run id, inputs)."""
    db = tmp_path / "history.sqlite3"
    inputs = make_inputs(tmp_path / "in", 3)
    window = open_window(qtbot, str(db))
    panel = window.start_job(python_spec("input_failing_once", inputs), 0)
    run_id = window._job_runs[panel].run_id
    assert wait_recorded(qtbot, window, run_id).failed == 3
    history = window.history_panel
    history.refresh()
    assert history.select_run(run_id)
    return window, history, run_id, inputs


def test_retry_failures_from_the_history_runs_them_again_into_the_same_run(qtbot, tmp_path):
    window, history, run_id, inputs = a_run_whose_three_inputs_failed(qtbot, tmp_path)
    qtbot.waitUntil(lambda: history.retry_action.isEnabled(), timeout=WAIT)
    history.retry_action.trigger()
    assert len(window.job_panels) == 2
    qtbot.waitUntil(lambda: window.store.run(run_id).done == 3, timeout=WAIT)
    record = wait_recorded(qtbot, window, run_id)
    assert (record.done, record.failed, record.total) == (3, 0, 3)
    attempts = Counter(r.label for r in window.store.tasks(run_id))
    assert attempts == dict.fromkeys(inputs, 2)


def test_retry_of_one_failure_in_the_history_inspector_runs_only_that_input_again(qtbot, tmp_path):
    window, history, run_id, inputs = a_run_whose_three_inputs_failed(qtbot, tmp_path)
    inspector = history.inspector  # the live inspector's failure browser
    qtbot.waitUntil(lambda: inspector.retry_button.isEnabled(), timeout=WAIT)
    chosen = inspector.current_failure.record
    assert chosen.label in inputs
    inspector.retry_button.click()
    assert len(window.job_panels) == 2
    qtbot.waitUntil(lambda: window.store.run(run_id).done == 1, timeout=WAIT)
    record = wait_recorded(qtbot, window, run_id)
    assert (record.done, record.failed, record.total) == (1, 2, 3)
    attempts = Counter(r.label for r in window.store.tasks(run_id))
    assert attempts == {label: 2 if label == chosen.label else 1 for label in inputs}


def test_a_history_in_use_elsewhere_leaves_the_window_working_without_it(qtbot, tmp_path):
    db = tmp_path / "history.sqlite3"
    make_inputs(tmp_path / "in", 2)
    with Store(db):  # another PoolScope writes it
        window = open_window(qtbot, str(db))
        assert window.store is None
        assert "in use by another PoolScope" in window.history_panel.off_label.text()
        assert "history is off" in window.statusBar().currentMessage()
        panel = window.start_job(make_spec(get("checksum"), [str(tmp_path / "in")]), 0)
        qtbot.waitUntil(lambda: panel.job.finished, timeout=WAIT)
        assert panel.job.progress().done == 2 and not window._job_runs


def test_no_history_records_nothing(qtbot, tmp_path):
    window = open_window(qtbot, False)
    assert window.store is None
    assert "History is off" in window.history_panel.off_label.text()
    make_inputs(tmp_path / "in", 2)
    panel = window.start_job(make_spec(get("checksum"), [str(tmp_path / "in")]), 0)
    qtbot.waitUntil(lambda: panel.job.finished, timeout=WAIT)
    window.close()
    assert not list(tmp_path.rglob("*.sqlite3"))  # not even the default file was made


def test_a_run_cut_off_by_cancel_and_quit_is_offered_next_time(qtbot, tmp_path):
    db = tmp_path / "history.sqlite3"
    make_inputs(tmp_path / "in", 4)
    window = open_window(qtbot, str(db))
    panel = window.start_job(python_spec("held_input", [str(tmp_path / "in")]), 0)
    run_id = window._job_runs[panel].run_id
    qtbot.waitUntil(lambda: any(row.running for row in panel.job.rows), timeout=WAIT)
    window.ask_on_close = lambda: CANCEL
    process_tasks.GATE.set()  # what runs may end; the rest is cancelled
    window.close()
    with Store(db) as store:
        assert store.run(run_id).state is RunState.INTERRUPTED
    again = open_window(qtbot, str(db))
    assert again.history_panel.offered_run == run_id
