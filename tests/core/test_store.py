"""The history store on real SQLite files: schema and migrations, recording
pools through their events, a killed writer, bad files, export and pruning."""

from __future__ import annotations

import csv
import ctypes
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import process_tasks
import pytest
from pool_test_tools import WAIT, Hold

from core import ProcessPool, TaskState, ThreadPool
from core.errors import StoreCorrupt, StoreError, StoreLocked, StoreTooNew, UnknownRun
from core.store import (
    EXPORT_COLUMNS,
    INTERRUPTED,
    MIGRATIONS,
    REJECTED,
    RESULT_SUMMARY_LENGTH,
    RunState,
    Store,
    open_store,
    schema_version,
)

ROOT = Path(__file__).resolve().parents[2]

#: The schema of version 1 as it was released, frozen here: a file written by
#: that version must open in every later one.
V1_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, ended REAL, state TEXT NOT NULL,
    title TEXT, pools TEXT, processor TEXT, options TEXT NOT NULL DEFAULT '{}',
    arguments TEXT NOT NULL DEFAULT '{}', inputs_complete INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, cancelled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL,
    label TEXT, input TEXT, state TEXT NOT NULL, worker INTEGER, submitted REAL, started REAL,
    finished REAL, result TEXT, error_type TEXT, message TEXT, traceback TEXT
);
CREATE INDEX tasks_by_run ON tasks (run_id, seq, attempt);
CREATE INDEX tasks_not_done ON tasks (run_id, state) WHERE state <> 'done';
INSERT INTO runs (started, ended, state, title, processor, options, total, done)
    VALUES (1700000000.0, 1700000001.5, 'finished', 'an old run', 'checksum', '{"algorithm": "md5"}', 1, 1);
INSERT INTO tasks (id, run_id, seq, attempt, label, input, state, worker, submitted, started,
    finished, result) VALUES (1, 1, 1, 1, 'a.txt', 'a.txt', 'done', 1, 1700000000.1, 1700000000.2,
    1700000000.3, '{"digest": "x"}');
PRAGMA user_version = 1;
"""


def noop(value: object = None) -> object:
    return value


def fail(message: str) -> None:
    raise ValueError(message)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    opened = Store(path)
    yield opened
    opened.close()


def sqlite_file(path: Path, script: str) -> Path:
    db = sqlite3.connect(path)
    db.executescript(script)
    db.close()
    return path


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def by_seq(store: Store, run_id: int) -> dict[int, list]:
    rows: dict[int, list] = {}
    for task in store.tasks(run_id):
        rows.setdefault(task.seq, []).append(task)
    return rows


# ------------------------------------------------------------- the schema


def test_a_new_file_gets_the_current_schema_in_wal_mode(store: Store, path: Path) -> None:
    assert user_version(path) == schema_version() == len(MIGRATIONS)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()
    assert {"runs", "tasks"} <= tables
    assert store.list_runs() == []
    assert store.integrity_check() == ["ok"]


def test_a_version_1_file_opens_in_the_current_version_with_its_runs(path: Path) -> None:
    sqlite_file(path, V1_SCHEMA)
    with Store(path) as store:
        assert user_version(path) == schema_version()
        (old,) = store.list_runs()
        assert (old.title, old.state, old.processor, old.options) == (
            "an old run", RunState.FINISHED, "checksum", {"algorithm": "md5"},
        )  # fmt: skip
        assert old.duration == pytest.approx(1.5)
        (task,) = store.tasks(old.id)
        assert (task.label, task.state, task.result) == ("a.txt", TaskState.DONE, '{"digest": "x"}')
        # New runs and tasks go in next to the old ones.
        run_id = store.begin_run(title="new")
        with ThreadPool(2) as pool:
            store.attach(pool, run_id)
            pool.schedule(noop, ("b.txt",), label="b.txt").result(timeout=WAIT)
        assert store.finish_run(run_id).done == 1
        assert [t.label for t in store.tasks(run_id)] == ["b.txt"]


def test_migrations_run_in_order_and_keep_the_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite_file(path, V1_SCHEMA)

    def add_notes(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE runs ADD COLUMN note TEXT")
        db.execute("UPDATE runs SET note = 'migrated'")

    monkeypatch.setattr("core.store.MIGRATIONS", [*MIGRATIONS, add_notes])
    with Store(path) as store:
        assert [run.title for run in store.list_runs()] == ["an old run"]
    assert user_version(path) == len(MIGRATIONS) + 1
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT note FROM runs").fetchall() == [("migrated",)]
    finally:
        db.close()


def test_a_failing_migration_leaves_the_file_as_it_was(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite_file(path, V1_SCHEMA)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE runs ADD COLUMN half TEXT")
        db.execute("this is not SQL")

    monkeypatch.setattr("core.store.MIGRATIONS", [*MIGRATIONS, broken])
    store, message = open_store(path)
    assert store is None
    assert message is not None and "history is off" in message and "schema version 2 failed" in message
    assert user_version(path) == 1
    db = sqlite3.connect(path)
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    finally:
        db.close()
    assert "half" not in columns


# ------------------------------------------------------------- recording


def test_a_burst_of_50000_tasks_is_recorded_whole(store: Store) -> None:
    run_id = store.begin_run(title="burst")
    with ThreadPool(4) as pool:
        recording = store.attach(pool, run_id)
        futures = [pool.submit(noop) for _ in range(50_000)]
        for future in futures:
            future.result(timeout=WAIT)
    run = store.finish_run(run_id)
    assert (run.total, run.done, run.failed) == (50_000, 50_000, 0)
    assert recording.dropped == 0 and store.dropped == 0
    tasks = store.tasks(run_id)
    assert [t.seq for t in tasks] == list(range(1, 50_001))
    assert {t.state for t in tasks} == {TaskState.DONE}
    assert all(t.worker is not None and t.submitted <= t.started <= t.finished for t in tasks)  # type: ignore[operator]
    assert store.integrity_check() == ["ok"]


def test_every_attempt_of_a_retried_input_is_its_own_row(store: Store) -> None:
    run_id = store.begin_run()
    with ThreadPool(2) as pool:
        store.attach(pool, run_id)
        good = pool.schedule(noop, ({"size": 3},), label="good")
        bad = pool.schedule(fail, ("no such thing",), label="bad", retries=2)
        assert good.result(timeout=WAIT) == {"size": 3}
        with pytest.raises(ValueError):
            bad.result(timeout=WAIT)
    run = store.finish_run(run_id)
    assert (run.total, run.done, run.failed) == (2, 1, 1)
    rows = by_seq(store, run_id)
    assert [t.result for t in rows[1]] == ['{"size": 3}']
    attempts = rows[2]
    assert [(t.attempt, t.state) for t in attempts] == [(n, TaskState.FAILED) for n in (1, 2, 3)]
    assert {(t.error_type, t.message) for t in attempts} == {("ValueError", "no such thing")}
    assert "raise ValueError(message)" in (attempts[0].traceback or "")
    assert attempts[0].error is not None and str(attempts[0].error) == "ValueError: no such thing"
    assert [(t.seq, t.attempt) for t in store.failures(run_id)] == [(2, 3)]
    assert len(store.tasks(run_id, "failed")) == 3


def test_cancelled_rejected_and_long_results_are_recorded(store: Store, hold: Hold) -> None:
    run_id = store.begin_run()
    with ThreadPool(1) as pool:
        recording = store.attach(pool, run_id)
        running = pool.schedule(hold, ("x" * 5000,), label="long")
        hold.wait_started()
        queued = [pool.schedule(noop, (f"q{i}",), label=f"q{i}") for i in range(3)]
        recording.reject("missing.txt", "does not exist", "missing.txt")
        pool.cancel_queued()
        hold.release()
        running.result(timeout=WAIT)
        assert all(f.cancelled() for f in queued)
        recording.inputs_complete()
    run = store.finish_run(run_id)
    assert run.inputs_complete
    assert (run.total, run.done, run.failed, run.cancelled) == (5, 1, 1, 3)
    rows = {t.label: t for t in store.tasks(run_id)}
    assert len(rows["long"].result or "") == RESULT_SUMMARY_LENGTH
    assert rows["long"].input == "x" * 5000
    assert {rows[f"q{i}"].state for i in range(3)} == {TaskState.CANCELLED}
    assert rows["q0"].error_type == "TaskCancelled"
    rejected = rows["missing.txt"]
    assert (rejected.seq, rejected.state, rejected.error_type, rejected.message) == (
        5, TaskState.FAILED, REJECTED, "does not exist",
    )  # fmt: skip


def test_select_records_only_the_tasks_it_accepts(store: Store) -> None:
    run_id = store.begin_run()
    with ThreadPool(2) as pool:
        store.attach(pool, run_id, select=lambda task: (task.label or "").startswith("keep"))
        for future in [pool.schedule(noop, label=name) for name in ("keep-1", "skip", "keep-2")]:
            future.result(timeout=WAIT)
    store.flush()
    assert [t.label for t in store.tasks(run_id)] == ["keep-1", "keep-2"]


def test_a_process_pool_is_recorded_with_its_failures(store: Store) -> None:
    run_id = store.begin_run()
    pool = ProcessPool(2)
    try:
        store.attach(pool, run_id)
        assert pool.schedule(process_tasks.add, (2, 3), label="add").result(timeout=WAIT) == 5
        with pytest.raises(ValueError):
            pool.schedule(process_tasks.boom, label="boom").result(timeout=WAIT)
    finally:
        pool.shutdown(wait=True)
    store.finish_run(run_id)
    rows = {t.label: t for t in store.tasks(run_id)}
    assert (rows["add"].state, rows["add"].result) == (TaskState.DONE, "5")
    assert rows["boom"].error_type == "ValueError" and "boom from the child" in (rows["boom"].traceback or "")
    assert store.run(run_id).pools == "process"


def test_close_writes_what_came_and_marks_a_run_still_going_interrupted(path: Path) -> None:
    store = Store(path, interval=60)  # no timely batch: close alone must write everything
    run_id = store.begin_run()
    pool = ThreadPool(2)
    store.attach(pool, run_id)
    for future in [pool.schedule(noop, label=f"t{i}") for i in range(1_000)]:
        future.result(timeout=WAIT)
    pool.shutdown(wait=True)
    store.close()
    with Store(path) as again:
        (run,) = again.unfinished_runs()
        assert (run.id, run.state, run.done, run.total) == (run_id, RunState.INTERRUPTED, 1_000, 1_000)


def test_a_disk_failure_stops_recording_and_the_pool_goes_on(store: Store, path: Path) -> None:
    run_id = store.begin_run()
    other = sqlite3.connect(path)
    other.execute("DROP TABLE tasks")  # what a failing disk looks like to the writer
    other.close()
    with ThreadPool(2) as pool:
        store.attach(pool, run_id)
        assert [pool.submit(noop, i).result(timeout=WAIT) for i in range(100)] == list(range(100))
        store.flush()
    assert store.problem is not None and "no such table" in store.problem
    assert store.dropped > 0
    with pytest.raises(StoreError, match="recording stopped"):
        store.begin_run()


# ------------------------------------------------------------- a killed writer

KILLED_WRITER = """
import sys, threading, time
from core import ThreadPool
from core.store import Store

store = Store(sys.argv[1])
run_id = store.begin_run(title="to be killed")
pool = ThreadPool(2)
store.attach(pool, run_id)
never = threading.Event()
for i in range(4):
    pool.schedule(time.sleep, (0,), label=f"done-{i}").result()
for i in range(2):
    pool.schedule(never.wait, label=f"running-{i}")
for i in range(3):
    pool.schedule(time.sleep, (0,), label=f"queued-{i}")
while sum(w.task_id is not None for w in pool.workers) < 2:
    time.sleep(0.01)
store.flush()
print(run_id, flush=True)
never.wait()
"""


def test_a_killed_writer_leaves_a_sound_file_and_a_resumable_run(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        run_id = int(child.stdout.readline())  # type: ignore[union-attr]
        # While it runs, another PoolScope may read the file, not write it.
        with pytest.raises(StoreLocked, match=f"process {child.pid}"):
            Store(path)
        with Store(path, read_only=True) as reader:
            states = {t.label: t.state for t in reader.tasks(run_id)}
        assert states["done-0"] is TaskState.DONE
        assert states["running-0"] is TaskState.RUNNING and states["queued-0"] is TaskState.QUEUED
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=WAIT)
        child.stdout.close()  # type: ignore[union-attr]

    with Store(path) as store:
        assert store.integrity_check() == ["ok"]
        (run,) = store.unfinished_runs()
        assert (run.id, run.state, run.total, run.done, run.cancelled) == (
            run_id, RunState.INTERRUPTED, 9, 4, 5,
        )  # fmt: skip
        again = store.resumable(run_id)
        assert [t.label for t in again] == ["running-0", "running-1", "queued-0", "queued-1", "queued-2"]
        assert {(t.state, t.error_type) for t in again} == {(TaskState.CANCELLED, INTERRUPTED)}

        store.resume_run(run_id)
        with ThreadPool(2) as pool:
            store.attach(pool, run_id)
            for task in again:
                pool.schedule(noop, (task.input,), label=task.label).result(timeout=WAIT)
        run = store.finish_run(run_id)
        assert (run.state, run.total, run.done) == (RunState.FINISHED, 9, 9)
        for seq, attempts in by_seq(store, run_id).items():
            assert [t.state for t in attempts].count(TaskState.DONE) == 1, seq
        assert [t.attempt for t in by_seq(store, run_id)[5]] == [1, 2]  # running-0 ran again
        assert store.unfinished_runs() == []


# ------------------------------------------------------------- bad files


def test_a_corrupt_file_is_moved_aside_and_a_fresh_one_started(path: Path) -> None:
    garbage = b"this is not an SQLite file at all\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreCorrupt, match="damaged"):
        Store(path)
    store, message = open_store(path)
    assert store is not None
    try:
        assert store.recovered_from is not None and store.recovered_from.read_bytes() == garbage
        assert message is not None and str(store.recovered_from) in message and "fresh" in message
        assert store.recovered_from.name.startswith("history.sqlite3.damaged-")
        run_id = store.begin_run(title="after")
        assert [r.id for r in store.list_runs()] == [run_id]
    finally:
        store.close()


def test_damaged_pages_found_after_a_crash_move_the_file_aside(path: Path) -> None:
    with Store(path) as store:
        run_id = store.begin_run()
        with ThreadPool(2) as pool:
            store.attach(pool, run_id)
            for future in [pool.schedule(noop, (f"{i:04} " * 40,), label=str(i)) for i in range(500)]:
                future.result(timeout=WAIT)
        store.finish_run(run_id)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE runs SET state = 'running'")  # as a crash leaves it
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(path, "r+b") as handle:
        handle.seek(page * 3)
        handle.write(b"\xa5" * page * 4)
    store, message = open_store(path)
    assert store is not None and message is not None and "damaged" in message
    try:
        assert store.list_runs() == [] and store.integrity_check() == ["ok"]
    finally:
        store.close()


def test_a_file_from_a_newer_poolscope_is_left_alone(path: Path) -> None:
    sqlite_file(path, V1_SCHEMA.replace("user_version = 1", f"user_version = {schema_version() + 1}"))
    before = path.read_bytes()
    store, message = open_store(path)
    assert store is None
    assert message is not None and "newer PoolScope" in message and "left untouched" in message
    with pytest.raises(StoreTooNew):
        Store(path, read_only=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if "damaged" in p.name) == []


def test_another_programs_database_is_left_alone(path: Path) -> None:
    sqlite_file(path, "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
    store, message = open_store(path)
    assert store is None and message is not None and "not a PoolScope history" in message
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT text FROM notes").fetchall() == [("mine",)]
    finally:
        db.close()


def test_a_folder_that_cannot_be_made_turns_history_off(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    store, message = open_store(tmp_path / "a-file" / "history.sqlite3")
    assert store is None
    assert message is not None and message.startswith("history is off: cannot write the history file")


OPEN_IN_READ_ONLY_FOLDER = """
import sys
from core.store import open_store
store, message = open_store(sys.argv[1])
print(store is None)
print(message)
"""


def _without_file_permission_override() -> None:
    """Before exec: drop the capabilities that let root write anywhere, so
    the folder's mode bits apply (PR_CAPBSET_DROP of DAC_OVERRIDE,
    DAC_READ_SEARCH and FOWNER)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_a_read_only_folder_turns_history_off_with_a_message(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        done = subprocess.run(
            [sys.executable, "-c", OPEN_IN_READ_ONLY_FOLDER, str(folder / "history.sqlite3")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=_without_file_permission_override if os.geteuid() == 0 else None,
        )
    except subprocess.SubprocessError as exc:  # pragma: no cover - no CAP_SETPCAP
        pytest.skip(f"cannot take away root's file permissions here: {exc}")
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    none, message = done.stdout.splitlines()
    assert none == "True"
    assert message.startswith("history is off: cannot write the history file")
    assert "Permission denied" in message and "--db" in message
    assert list(folder.iterdir()) == []


def test_a_file_in_use_by_another_poolscope_is_refused_with_its_pid(store: Store, path: Path) -> None:
    run_id = store.begin_run(title="mine")
    other, message = open_store(path)
    assert other is None
    assert message is not None and f"in use by another PoolScope (process {os.getpid()})" in message
    with Store(path, read_only=True) as reader:
        assert [r.title for r in reader.list_runs()] == ["mine"]
        with pytest.raises(StoreError, match="reading only"):
            reader.begin_run()
    store.finish_run(run_id)
    store.close()
    with Store(path) as after:
        assert after.run(run_id).state is RunState.FINISHED


# ------------------------------------------------------------- export, delete


@pytest.fixture
def mixed_run(store: Store) -> int:
    run_id = store.begin_run(
        title="mixed", processor="test", options={"level": 3}, arguments={"paths": ["in"]}
    )
    with ThreadPool(1) as pool:
        recording = store.attach(pool, run_id)
        pool.schedule(noop, ({"digest": "abc", "bytes": 3},), label="in/a.txt").result(timeout=WAIT)
        with pytest.raises(ValueError):
            pool.schedule(fail, ("bad\tinput\n",), label='in/b, "quoted".txt').result(timeout=WAIT)
        recording.reject("in/gone.txt", "does not exist", "in/gone.txt")
    store.finish_run(run_id)
    return run_id


def test_export_csv_has_one_row_per_attempt(store: Store, mixed_run: int, tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    assert store.export(mixed_run, "csv", out) == 3
    with open(out, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
        rows = list(reader)
    assert [row["label"] for row in rows] == ["in/a.txt", 'in/b, "quoted".txt', "in/gone.txt"]
    assert [row["state"] for row in rows] == ["done", "failed", "failed"]
    assert json.loads(rows[0]["result"]) == {"digest": "abc", "bytes": 3}
    assert rows[1]["error_type"] == "ValueError" and rows[1]["message"] == "bad\tinput\n"
    assert "Traceback" in rows[1]["traceback"]
    assert rows[2]["error_type"] == REJECTED and rows[2]["started"] == ""
    assert rows[0]["started"].endswith("+00:00") and float(rows[0]["seconds"]) >= 0


def test_export_json_holds_the_run_and_its_tasks(store: Store, mixed_run: int, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    store.export(mixed_run, "json", out)
    data = json.loads(out.read_text(encoding="utf-8"))
    run = data["run"]
    assert (run["id"], run["title"], run["state"], run["options"], run["arguments"]) == (
        mixed_run, "mixed", "finished", {"level": 3}, {"paths": ["in"]},
    )  # fmt: skip
    assert (run["inputs"], run["done"], run["failed"]) == (3, 1, 2)
    assert [set(task) for task in data["tasks"]] == [set(EXPORT_COLUMNS)] * 3
    assert data["tasks"][1]["message"] == "bad\tinput\n"
    empty = store.begin_run()
    store.finish_run(empty)
    store.export(empty, "json", out)
    assert json.loads(out.read_text(encoding="utf-8"))["tasks"] == []
    with pytest.raises(ValueError, match="csv or json"):
        store.export(mixed_run, "xml", out)


def test_delete_and_keep_runs_remove_runs_with_their_tasks(store: Store) -> None:
    ids = []
    for i in range(5):
        run_id = store.begin_run(title=f"run {i}")
        with ThreadPool(1) as pool:
            store.attach(pool, run_id)
            pool.schedule(noop, label=f"t{i}").result(timeout=WAIT)
        store.finish_run(run_id)
        ids.append(run_id)
    store.delete_run(ids[4])
    assert store.keep_runs(2) == [ids[1], ids[0]]
    assert [r.id for r in store.list_runs()] == [ids[3], ids[2]]
    for gone in (ids[0], ids[1], ids[4]):
        assert store.tasks(gone) == []
        with pytest.raises(UnknownRun):
            store.run(gone)
    with pytest.raises(UnknownRun):
        store.delete_run(ids[0])
    running = store.begin_run()
    with pytest.raises(StoreError, match="still running"):
        store.delete_run(running)
    assert store.keep_runs(0) == [ids[3], ids[2]]
    assert [r.id for r in store.list_runs()] == [running]


def test_a_closed_store_lets_threads_and_the_lock_go(path: Path) -> None:
    before = set(threading.enumerate())
    store = Store(path)
    store.close()
    store.close()  # twice is fine
    assert set(threading.enumerate()) <= before
    with pytest.raises(StoreError, match="closed"):
        store.list_runs()
    Store(path).close()  # the lock was released
