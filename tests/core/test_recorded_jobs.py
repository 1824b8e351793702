"""Jobs recorded in the history (core/recorded_jobs.py): a real Job on a real
pool, a real SQLite file, and resumes that must run each input to DONE once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import process_tasks
import pytest
from job_test_tools import JOB_WAIT, make_inputs, python_spec, run_to_end

from core import TaskState, ThreadPool
from core.jobs import Job, StopRule, make_spec
from core.processors import get
from core.recorded_jobs import JobRun, job_arguments, plan_resume, spec_of
from core.store import INTERRUPTED, REJECTED, RunState, Store

WAIT = JOB_WAIT


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "history.sqlite3")
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def fresh_inputs() -> Iterator[None]:
    process_tasks.GATE.clear()
    process_tasks.CALLS.clear()
    yield
    process_tasks.GATE.set()  # nothing stays held past a test


def newest_states(store: Store, run_id: int) -> dict[str, TaskState]:
    newest: dict[str, TaskState] = {}
    for record in store.tasks(run_id):  # in seq, attempt order: the last one stands
        newest[record.label or ""] = record.state
    return newest


def done_attempts(store: Store, run_id: int) -> Counter[str]:
    return Counter(record.label for record in store.tasks(run_id, TaskState.DONE))


def test_a_job_is_one_run_with_its_rejected_inputs(pool: ThreadPool, store: Store, tmp_path: Path):
    inputs = make_inputs(tmp_path / "in", 3)
    missing = str(tmp_path / "missing.txt")
    job = Job(pool, make_spec(get("checksum"), [*inputs, missing]))
    run = JobRun.begin(store, job, "thread", None)
    job.start()
    run_to_end(job)
    record = run.end(job)
    assert (record.state, record.total, record.done, record.failed) == (RunState.FINISHED, 4, 3, 1)
    assert record.inputs_complete
    assert record.processor == "checksum" and record.pools == "thread"
    (rejected,) = store.failures(record.id)
    assert (rejected.label, rejected.error_type, rejected.message) == (missing, REJECTED, "does not exist")
    assert record.arguments == job_arguments(job.spec, "thread", None)


def test_jobs_sharing_a_pool_record_only_their_own_tasks(pool: ThreadPool, store: Store, tmp_path: Path):
    first, second = make_inputs(tmp_path / "a", 4), make_inputs(tmp_path / "b", 5)
    jobs = [Job(pool, make_spec(get("checksum"), [str(tmp_path / name)])) for name in ("a", "b")]
    runs = [JobRun.begin(store, job, "thread", None) for job in jobs]
    pool.submit(sum, [1, 2]).result(timeout=WAIT)  # a task of nobody's job
    for job in jobs:
        job.start()
    for job, run in zip(jobs, runs, strict=True):
        run_to_end(job)
        run.end(job)
    assert store.labels(runs[0].run_id) == set(first)
    assert store.labels(runs[1].run_id) == set(second)
    assert [store.run(run.run_id).done for run in runs] == [4, 5]


def test_a_cancelled_job_resumes_into_the_same_run(store: Store, tmp_path: Path):
    inputs = make_inputs(tmp_path / "in", 6)
    with ThreadPool(workers=1) as pool:
        job = Job(pool, python_spec("held_input", [str(tmp_path / "in")]))
        run = JobRun.begin(store, job, "thread", 1)
        job.start()
        deadline = time.monotonic() + WAIT
        while job.progress().inputs < 6 or not any(row.running for row in job.rows):
            assert time.monotonic() < deadline, "the inputs were not queued, or none started"
            job.poll(timeout=0.05)
        job.cancel()
        process_tasks.GATE.set()  # the running one ends on its own
        run_to_end(job)
        record = run.end(job)
        assert record.state is RunState.HALTED
        assert 1 <= record.done < 6 and record.done + record.cancelled == 6

        plan = plan_resume(store, record.id)
        assert not plan.resume.walk  # every input had reached the run
        assert len(plan.resume.again) == record.cancelled
        again = Job(pool, plan.spec, resume=plan.resume)
        resumed = JobRun.resume(store, plan, again)
        again.start()
        run_to_end(again)
        final = resumed.end(again)

    assert (final.id, final.state, final.done, final.total) == (record.id, RunState.FINISHED, 6, 6)
    assert set(newest_states(store, final.id).values()) == {TaskState.DONE}
    assert done_attempts(store, final.id) == Counter(inputs)  # DONE once each
    assert dict.fromkeys(inputs, 1) == process_tasks.CALLS  # and processed once each


def test_a_run_cut_off_mid_scan_is_walked_again_for_what_it_never_reached(tmp_path: Path):
    """The window closed while the job was still queueing (a bounded queue held
    the feeder back): the next start finds the run interrupted, runs again
    what did not end and queues what the run never saw."""
    path = tmp_path / "history.sqlite3"
    inputs = make_inputs(tmp_path / "in", 12)
    store = Store(path)
    pool = ThreadPool(workers=1, queue_size=2)
    job = Job(pool, python_spec("held_input", [str(tmp_path / "in")]))
    JobRun.begin(store, job, "thread", 1)
    job.start()
    deadline = time.monotonic() + WAIT
    while job.progress().inputs < 3:
        assert time.monotonic() < deadline
        job.poll(timeout=0.05)
    # What the window does on "cancel and quit": the feeder stops, the pool
    # ends, the store marks the run it was recording as interrupted.
    job.close()
    process_tasks.GATE.set()
    pool.shutdown(wait=True, cancel_futures=True)
    store.close()

    store = Store(path)
    try:
        (record,) = store.unfinished_runs()
        assert record.state is RunState.INTERRUPTED and not record.inputs_complete
        assert 0 < record.total < 12
        plan = plan_resume(store, record.id)
        assert plan.resume.walk
        with ThreadPool(workers=2) as pool:
            again = Job(pool, plan.spec, resume=plan.resume)
            resumed = JobRun.resume(store, plan, again)
            again.start()
            run_to_end(again)
            final = resumed.end(again)
        assert (final.state, final.done, final.total, final.inputs_complete) == (
            RunState.FINISHED,
            12,
            12,
            True,
        )
        assert done_attempts(store, final.id) == Counter(inputs)
        assert dict.fromkeys(inputs, 1) == process_tasks.CALLS
        cut_off = [r for r in store.tasks(final.id) if r.error_type == INTERRUPTED]
        assert all(r.attempt == 1 for r in cut_off)  # the resume made attempt 2 of each
        assert store.integrity_check() == ["ok"]
    finally:
        store.close()


def test_retry_failed_records_the_next_attempts_in_the_same_run(pool: ThreadPool, store: Store, tmp_path):
    inputs = make_inputs(tmp_path / "in", 3)
    job = Job(pool, python_spec("input_failing_once", inputs))
    run = JobRun.begin(store, job, "thread", None)
    job.start()
    run_to_end(job)
    assert run.end(job).failed == 3
    run.reopen(job)  # before the retried tasks reach the pool
    assert job.retry_failed() == 3
    run_to_end(job)
    record = run.end(job)
    assert (record.state, record.done, record.failed, record.total) == (RunState.FINISHED, 3, 0, 3)
    attempts = Counter(r.label for r in store.tasks(record.id))
    assert attempts == dict.fromkeys(inputs, 2)


def test_a_halt_rule_ends_the_run_halted(pool: ThreadPool, store: Store, tmp_path: Path):
    inputs = make_inputs(tmp_path / "in", 20)
    job = Job(pool, python_spec("input_failing_once", inputs, stop_rule=StopRule(max_failures=2)))
    run = JobRun.begin(store, job, "thread", None)
    job.start()
    run_to_end(job)
    record = run.end(job)
    assert record.state is RunState.HALTED and record.failed >= 2
    assert spec_of(record)[0].stop_rule == StopRule(max_failures=2)


def test_a_run_of_the_command_line_is_rebuilt_with_its_time_out(store: Store, tmp_path: Path):
    arguments = {  # as poolscope run records them
        "processor": "command",
        "options": {"template": "cat {path}"},
        "pool": "thread",
        "workers": 2,
        "timeout": 7.5,
        "retries": 1,
        "halt_after": 3,
        "include": ["*.txt"],
        "exclude": [],
        "follow_symlinks": False,
        "paths": [str(tmp_path)],
        "cwd": str(tmp_path),
    }
    run_id = store.begin_run(processor="command", arguments=arguments)
    store.finish_run(run_id, RunState.INTERRUPTED)
    spec, pool = spec_of(store.run(run_id))
    assert pool == "thread" and spec.processor.name == "command"
    assert spec.options["timeout"] == 7.5 and spec.timeout is None  # the command stops itself
    assert (spec.retries, spec.include, spec.stop_rule.max_failures) == (1, ("*.txt",), 3)


def test_a_run_with_relative_paths_is_rebuilt_from_its_own_folder(store: Store, tmp_path, monkeypatch):
    make_inputs(tmp_path / "in", 2)
    run_id = store.begin_run(
        arguments={"processor": "checksum", "options": {}, "paths": ["in"], "cwd": str(tmp_path)}
    )
    store.finish_run(run_id, RunState.INTERRUPTED)
    with pytest.raises(ValueError, match=rf"poolscope run --resume {run_id}"):
        plan_resume(store, run_id)  # from elsewhere, "in" would name other files
    monkeypatch.chdir(tmp_path)
    plan = plan_resume(store, run_id)
    assert plan.spec.paths == ("in",) and plan.resume.walk


def test_runs_that_cannot_be_rebuilt_say_why(store: Store):
    relative = store.begin_run(
        arguments={"processor": "checksum", "options": {}, "paths": ["in"], "cwd": "/x"}
    )
    unknown = store.begin_run(arguments={"processor": "no-such", "options": {}, "paths": ["/in"]})
    bare = store.begin_run()
    for run_id in (relative, unknown, bare):
        store.finish_run(run_id, RunState.INTERRUPTED)
    with pytest.raises(ValueError, match=rf"poolscope run --resume {relative}"):
        plan_resume(store, relative)
    with pytest.raises(ValueError, match="no-such"):
        plan_resume(store, unknown)
    with pytest.raises(ValueError, match="did not record what it ran"):
        plan_resume(store, bare)
