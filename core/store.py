"""The history store: every run and every task attempt, in one SQLite file.

Data flow::

    pool.events ──append──► Recording deque (bounded: the pool's threads only
         │                   append to it, they never wait on the disk)
         │
         ▼  every ``interval`` (0.1 s), or at once on flush() / close()
    writer thread ── one transaction per batch ──► history.sqlite3 (WAL)
                                                        ▲
    list_runs / run / tasks / export ── own connection ─┘  (readers never block the writer)

How a batch is written, and why:

- Events say *which* tasks changed; the task's own record (the ``Task`` that
  came with TASK_SUBMITTED) says *how* it stands now. A task that was
  submitted, started and ended within one batch -- nearly all of them in a
  storm -- becomes one INSERT of its final row; a task seen before becomes
  one UPDATE, however many events it had. When few tasks are live, the
  writer looks at each of them instead of reading the events of every task.
- The writer's work while it holds the GIL is what slows a pool down, so per
  task it is a few attribute reads and the binding of a few values, and rows
  go to SQLite hundreds per statement: SQLite's own work runs without the GIL.
- A task's row id is ``offset + task.id``: task ids are unique in a process
  and ``offset`` is the largest row id when the store opened, so no map from
  tasks to rows is kept for finished tasks and memory stays flat.
- A task's ``finished_at`` is the last field a pool sets when the task ends;
  a task whose state says it ended but whose ``finished_at`` is still unset
  is looked at again in the next batch.
- Inputs are numbered (``seq``) in the order they reach the store; every
  attempt at an input is its own row (``attempt`` 1, 2, ...), as in the
  engine, where a retry never rewrites the attempt before it.
- Commits come at most ``interval`` apart, in WAL mode with
  ``synchronous=NORMAL``: a SIGKILL loses at most the last interval of
  events and never damages the file; the next start marks the run
  INTERRUPTED and its unfinished tasks CANCELLED (error type
  ``RunInterrupted``), ready to be resumed.

One writer per file: a ``Store`` holds an exclusive lock (``flock``) on
``<file>.lock`` for its whole life (released by the kernel if the process
dies, so a killed PoolScope never leaves a stale lock), so two PoolScopes
never write one history. Another PoolScope may still
read it (``Store(path, read_only=True)``), as ``poolscope history`` does while
a run is going.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import dataclasses
import datetime as _datetime
import functools
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .errors import (
    StoreCorrupt,
    StoreError,
    StoreForeign,
    StoreLocked,
    StoreReadOnly,
    StoreTooNew,
    TaskError,
    UnknownRun,
)
from .events import Event, EventKind
from .task import Task, TaskState, _next_task_id

if TYPE_CHECKING:
    from .pool import Pool

__all__ = [
    "MIGRATIONS",
    "Recording",
    "RunRecord",
    "RunState",
    "Store",
    "TaskRecord",
    "default_path",
    "open_store",
    "schema_version",
]

log = logging.getLogger(__name__)

#: a result is kept as text of at most this many characters
RESULT_SUMMARY_LENGTH = 1_000
#: the error type given to tasks that were queued or running when their run stopped
INTERRUPTED = "RunInterrupted"
#: the error type of an input that never reached a pool (expand_paths rejected it)
REJECTED = "InputRejected"


class RunState(StrEnum):
    RUNNING = "running"
    #: every input was submitted and the run ended on its own
    FINISHED = "finished"
    #: stopped on purpose (a halt rule): what was not run is CANCELLED
    HALTED = "halted"
    #: the app stopped (closed, interrupted, killed) while it ran: resumable
    INTERRUPTED = "interrupted"


def default_path() -> Path:
    """Where the history lives unless told otherwise: the user's data folder."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("poolscope")) / "history.sqlite3"


# ----------------------------------------------------------------- the schema


def _create_v1(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started REAL NOT NULL,
            ended REAL,
            state TEXT NOT NULL,
            title TEXT,
            pools TEXT,
            processor TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            arguments TEXT NOT NULL DEFAULT '{}',
            inputs_complete INTEGER NOT NULL DEFAULT 0,
            total INTEGER NOT NULL DEFAULT 0,
            done INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            cancelled INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        """CREATE TABLE tasks (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            label TEXT,
            input TEXT,
            state TEXT NOT NULL,
            worker INTEGER,
            submitted REAL,
            started REAL,
            finished REAL,
            result TEXT,
            error_type TEXT,
            message TEXT,
            traceback TEXT
        )"""
    )
    db.execute("CREATE INDEX tasks_by_run ON tasks (run_id, seq, attempt)")
    # Most rows end DONE and never enter this one; failures and unfinished
    # tasks (what a resume or a failures view asks for) are found through it.
    db.execute("CREATE INDEX tasks_not_done ON tasks (run_id, state) WHERE state <> 'done'")


#: ``MIGRATIONS[i]`` brings a file from schema version ``i`` to ``i + 1``
#: (version 0 is an empty file). A new version appends a step; a step never
#: changes once released.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1]


def schema_version() -> int:
    """The schema version this PoolScope writes."""
    return len(MIGRATIONS)


# ------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One recorded run. ``arguments`` holds what is needed to run it again
    (for ``poolscope run``: paths, patterns, time-out, retries, the folder it
    ran in); ``total`` counts inputs, and ``done``, ``failed`` and
    ``cancelled`` count them by the state of their newest attempt."""

    id: int
    state: RunState
    started: float
    ended: float | None
    title: str | None
    pools: str | None
    processor: str | None
    options: dict[str, Any]
    arguments: dict[str, Any]
    inputs_complete: bool
    total: int
    done: int
    failed: int
    cancelled: int

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (to now while it runs; None if unknown)."""
        if self.ended is not None:
            return self.ended - self.started
        if self.state is RunState.RUNNING:
            return time.time() - self.started
        return None

    @property
    def unfinished(self) -> int:
        """Inputs neither DONE nor FAILED: what a resume runs again."""
        return self.total - self.done - self.failed


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One attempt at one input of a run, as recorded. ``seq`` numbers the
    input within its run; ``result`` is a short text (JSON when the result
    was JSON-like)."""

    run_id: int
    seq: int
    attempt: int
    label: str | None
    input: str | None
    state: TaskState
    worker: int | None
    submitted: float | None
    started: float | None
    finished: float | None
    result: str | None
    error_type: str | None
    message: str | None
    traceback: str | None

    @property
    def seconds(self) -> float | None:
        """How long the attempt ran (None if it never started or finished)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def error(self) -> TaskError | None:
        """The failure as the engine's record, for views that show live ones."""
        if self.error_type is None:
            return None
        return TaskError(self.error_type, self.message or "", self.traceback or "")


_RUN_COLUMNS = (
    "id, state, started, ended, title, pools, processor, options, arguments, inputs_complete, "
    "total, done, failed, cancelled"
)
_TASK_COLUMNS = (
    "run_id, seq, attempt, label, input, state, worker, submitted, started, finished, "
    "result, error_type, message, traceback"
)
#: the newest attempt of each input: no later attempt of the same seq exists
_NEWEST = (
    "NOT EXISTS (SELECT 1 FROM tasks AS later WHERE later.run_id = tasks.run_id "
    "AND later.seq = tasks.seq AND later.attempt > tasks.attempt)"
)
# The statements of the writer: (head, one row's values, tail). Most attempts
# take one of the lean ones, since binding a value holds the GIL, which the
# pools need: a first attempt whose input is its label (or both are None) and
# that is already DONE with nothing to say, or still QUEUED; and later the end
# of one recorded while queued. ``{run}`` is the run id (an int, from the
# file); ``@k`` is the row's k-th value, bound once however often it is used.
_INSERT_FIRST_DONE = (
    "INSERT OR IGNORE INTO tasks (id, run_id, seq, attempt, label, input, state, worker, submitted, started, "
    "finished) VALUES ",
    "(@0, {run}, @1, 1, @2, @2, 'done', @3, @4, @5, @6)",
    "",
)
_INSERT_FIRST_QUEUED = (
    "INSERT OR IGNORE INTO tasks (id, run_id, seq, attempt, label, input, state, submitted) VALUES ",
    "(@0, {run}, @1, 1, @2, @2, 'queued', @3)",
    "",
)
_INSERT_FULL = (
    "INSERT OR IGNORE INTO tasks (id, run_id, seq, attempt, label, input, state, worker, submitted, started, "
    "finished, result, error_type, message, traceback) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "",
)
_INSERT_DONE = (
    "INSERT OR IGNORE INTO tasks (id, run_id, seq, attempt, label, input, state, worker, submitted, started, "
    "finished) VALUES ",
    "(?, {run}, ?, ?, ?, ?, 'done', ?, ?, ?, ?)",
    "",
)
_INSERT_QUEUED = (
    "INSERT OR IGNORE INTO tasks (id, run_id, seq, attempt, label, input, state, submitted) VALUES ",
    "(?, {run}, ?, ?, ?, ?, 'queued', ?)",
    "",
)
_UPDATE_FULL = (
    "UPDATE tasks SET state = v.column1, worker = v.column2, started = v.column3, finished = v.column4, "
    "result = v.column5, error_type = v.column6, message = v.column7, traceback = v.column8 FROM (VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ") AS v WHERE tasks.id = v.column9",
)
_UPDATE_DONE = (
    "UPDATE tasks SET state = 'done', worker = v.column1, started = v.column2, finished = v.column3 "
    "FROM (VALUES ",
    "(?, ?, ?, ?)",
    ") AS v WHERE tasks.id = v.column4",
)
#: UPDATE ... FROM came with SQLite 3.33; older ones update a row at a time
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_UPDATE_FULL_ONE = (
    "UPDATE tasks SET state = ?, worker = ?, started = ?, finished = ?, result = ?, error_type = ?, "
    "message = ?, traceback = ? WHERE id = ?"
)
_UPDATE_DONE_ONE = "UPDATE tasks SET state = 'done', worker = ?, started = ?, finished = ? WHERE id = ?"
#: how many values one statement may bind (SQLite's limit, before and since 3.32)
_MAX_VALUES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def _write_rows(
    db: sqlite3.Connection, statement: tuple[str, str, str], rows: list[tuple], run: int = 0
) -> None:
    """Run ``head + values, values, ... + tail`` over ``rows``, hundreds of
    rows per statement. ``executemany`` would step SQLite once per row and
    give up and take back the GIL each time; under a pool's load every
    take-back waits its turn. Chunks have a few fixed sizes (the largest,
    then powers of two), so a few prepared statements serve every batch."""
    if not rows:
        return
    head, values, tail = statement
    values = values.format(run=int(run))
    width = len(rows[0])
    per = min(512, _MAX_VALUES // width)
    per = 1 << (per.bit_length() - 1)
    flatten = chain.from_iterable
    i, n = 0, len(rows)
    while i < n:
        left = n - i
        size = per if left >= per else 1 << (left.bit_length() - 1)
        db.execute(_statement(head, values, tail, size, width), list(flatten(rows[i : i + size])))
        i += size


_VALUE = re.compile(r"@(\d+)")


@functools.lru_cache(maxsize=256)
def _statement(head: str, values: str, tail: str, rows: int, width: int) -> str:
    if "@" not in values:
        return head + ", ".join([values] * rows) + tail

    def number(found: re.Match[str], base: int) -> str:
        return f"?{base + int(found.group(1)) + 1}"

    numbered = [_VALUE.sub(functools.partial(number, base=row * width), values) for row in range(rows)]
    return head + ", ".join(numbered) + tail


def _run_record(row: tuple) -> RunRecord:
    return RunRecord(
        id=row[0],
        state=RunState(row[1]),
        started=row[2],
        ended=row[3],
        title=row[4],
        pools=row[5],
        processor=row[6],
        options=json.loads(row[7] or "{}"),
        arguments=json.loads(row[8] or "{}"),
        inputs_complete=bool(row[9]),
        total=row[10],
        done=row[11],
        failed=row[12],
        cancelled=row[13],
    )


def _task_record(row: tuple) -> TaskRecord:
    return TaskRecord(row[0], row[1], row[2], row[3], row[4], TaskState(row[5]), *row[6:])


# ------------------------------------------------------------ the hot path

SUBMITTED = EventKind.TASK_SUBMITTED
QUEUED, RUNNING, DONE, FAILED = TaskState.QUEUED, TaskState.RUNNING, TaskState.DONE, TaskState.FAILED
#: A note a Recording adds to its own deque is a TASK_SUBMITTED whose payload
#: is not a Task: the writer's one check on the kind finds both.
_NOTE = SUBMITTED


@dataclass(frozen=True, slots=True)
class _Rejected:
    label: str
    input: str | None
    reason: str


class _InputsComplete:
    __slots__ = ()


_INPUTS_COMPLETE = _InputsComplete()


def summarize(value: Any) -> str | None:
    """A result as short text: JSON when it can be, else its repr, cut to
    ``RESULT_SUMMARY_LENGTH`` characters."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False, allow_nan=True)
        except (TypeError, ValueError, RecursionError):
            try:
                text = repr(value)
            except Exception as exc:  # a broken __repr__ must not stop the writer
                text = f"<{type(value).__name__}: repr failed: {exc}>"
    if len(text) > RESULT_SUMMARY_LENGTH:
        text = text[: RESULT_SUMMARY_LENGTH - 1] + "…"
    return text


def _input_of(args: tuple) -> str | None:
    """The path a task works on: its first argument, when that is a path."""
    if args:
        first = args[0]
        if first.__class__ is str:
            return first
        if isinstance(first, os.PathLike):
            path = os.fspath(first)
            return path if isinstance(path, str) else None
    return None


def _outcome(task: Task, state: TaskState) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(state, result, error type, message, traceback) of an ended attempt."""
    if state is DONE:
        return "done", summarize(task.result), None, None, None
    error = task.error
    text = "failed" if state is FAILED else "cancelled"
    if error is None:
        return text, None, None, None, None
    return text, None, error.type_name, error.message, error.traceback


class _RunLog:
    """What the writer knows about one run: the next input number, and the
    inputs a resume may send again (label -> (seq, newest attempt))."""

    __slots__ = ("next_seq", "pending", "run_id")

    def __init__(self, run_id: int, next_seq: int = 1, pending: dict[str, tuple[int, int]] | None = None):
        self.run_id = run_id
        self.next_seq = next_seq
        self.pending: dict[str, tuple[int, int]] = pending or {}


class _Batch:
    """The rows of one transaction, by the statement that writes them."""

    __slots__ = ("done", "ended", "first_done", "first_queued", "full", "notes", "queued", "updates")

    def __init__(self) -> None:
        # run id -> new attempts DONE with nothing to say / still QUEUED; the
        # "first" ones are first attempts whose input is their label
        self.first_done: dict[int, list[tuple]] = {}
        self.done: dict[int, list[tuple]] = {}
        self.first_queued: dict[int, list[tuple]] = {}
        self.queued: dict[int, list[tuple]] = {}
        self.full: list[tuple] = []  # other new attempts, all columns
        self.ended: list[tuple] = []  # attempts recorded before, now DONE with nothing to say
        self.updates: list[tuple] = []  # other changes of attempts recorded before
        self.notes: list[tuple[_RunLog, Any]] = []

    def write(self, db: sqlite3.Connection) -> None:
        for run_id, rows in self.first_done.items():
            _write_rows(db, _INSERT_FIRST_DONE, rows, run_id)
        for run_id, rows in self.done.items():
            _write_rows(db, _INSERT_DONE, rows, run_id)
        for run_id, rows in self.first_queued.items():
            _write_rows(db, _INSERT_FIRST_QUEUED, rows, run_id)
        for run_id, rows in self.queued.items():
            _write_rows(db, _INSERT_QUEUED, rows, run_id)
        _write_rows(db, _INSERT_FULL, self.full)
        if _UPDATE_FROM:
            _write_rows(db, _UPDATE_DONE, self.ended)
            _write_rows(db, _UPDATE_FULL, self.updates)
        else:
            db.executemany(_UPDATE_DONE_ONE, self.ended)
            db.executemany(_UPDATE_FULL_ONE, self.updates)
        for run, note in self.notes:
            if note is _INPUTS_COMPLETE:
                db.execute("UPDATE runs SET inputs_complete = 1 WHERE id = ?", (run.run_id,))


class Recording:
    """A pool attached to a run: its events go to the store until ``detach``.

    The pool's threads only append to a bounded deque (its ``append`` is the
    subscriber: no Python frame per event). ``reject`` and
    ``inputs_complete`` go into the same deque, so the store numbers inputs
    in the order the caller handled them."""

    def __init__(
        self,
        store: Store,
        pool: Pool,
        run: _RunLog,
        select: Callable[[Task], bool] | None,
        buffer_size: int,
    ) -> None:
        self.store = store
        self.pool = pool
        self.run_id = run.run_id
        self._run = run
        self._select = select
        self._events: deque[Event] = deque(maxlen=buffer_size)
        self._append = self._events.append
        bus = pool.events
        self._unsubscribe = bus.subscribe(self._append)
        # Subscribed first, numbered second (as EventBus.buffer does): every
        # event from this seq on reaches the deque; gaps in seq are drops.
        self._first_seq = bus._peek_seq()
        self._last_seq = self._first_seq - 1
        self._received = 0
        self._seen_dropped = 0
        self.detached = False

    def reject(self, label: str, reason: str, input: str | None = None) -> None:
        """Record an input that never reached a pool (say, a missing file), as
        a FAILED attempt with error type ``InputRejected``."""
        self._append(Event._make((0, _NOTE, time.time(), None, None, _Rejected(label, input, reason))))

    def inputs_complete(self) -> None:
        """Say that every input of the run has been submitted (or rejected), so
        a resume need not look for inputs that never reached the store."""
        self._append(Event._make((0, _NOTE, time.time(), None, None, _INPUTS_COMPLETE)))

    def detach(self) -> None:
        """Stop recording this pool; what it already emitted is still written."""
        if not self.detached:
            self.detached = True
            self._unsubscribe()
            self.store._wake.set()

    @property
    def dropped(self) -> int:
        """Events lost because the writer fell more than a buffer behind."""
        return max(0, self._last_seq - self._first_seq + 1 - self._received)

    def _drain(self, n: int) -> list[Event]:
        """The ``n`` oldest events (the writer is the only consumer)."""
        popleft = self._events.popleft
        batch = [popleft() for _ in range(n)]
        if batch:
            # Seqs rise along the deque but for a few events that concurrent
            # emitters appended out of order: the newest seq is among the
            # last few (notes carry seq 0 and count as received, so a drop
            # count may come out low by their number, never high).
            self._received += n
            top = max(event[0] for event in batch[-64:])
            if top > self._last_seq:
                self._last_seq = top
        return batch

    def _drain_submitted(self, n: int) -> list[Event]:
        """Take the ``n`` oldest events but keep only TASK_SUBMITTED ones (and
        notes): one pass, no list of the rest."""
        if not n:
            return []
        popleft = self._events.popleft
        fresh = [event for _ in range(n) if (event := popleft())[1] is SUBMITTED]
        self._received += n
        # The last event's seq stands for the newest: a few out of order can
        # only make a drop show one batch late, never make one up.
        if event[0] > self._last_seq:
            self._last_seq = event[0]
        return fresh


# ------------------------------------------------------------------ the store


class Store:
    """One history file. See the module docstring for how it is written.

    ``Store(path)`` opens (creating or upgrading) the file and starts its
    writer thread; it raises a ``StoreError`` subclass when it cannot. With
    ``recover``, a damaged file is moved aside (renamed, never deleted) and a
    fresh one started; ``recovered_from`` then names where the old one went.
    ``read_only`` opens it for reading only, without taking the lock (for
    looking at a history another PoolScope is writing).

    Reads see what the writer has committed: call ``flush()`` first to be
    sure they include everything a pool has emitted so far.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        recover: bool = False,
        interval: float = 0.1,
        buffer_size: int = 1_000_000,
    ) -> None:
        self.path = Path(path if path is not None else default_path()).expanduser()
        self.read_only = read_only
        self.interval = interval
        self.buffer_size = buffer_size
        #: where a damaged file was moved to by ``recover`` (None if it was not)
        self.recovered_from: Path | None = None
        #: why recording stopped, if the disk failed it while the app ran
        self.problem: str | None = None
        self._closed = False
        self._lock_fd: int | None = None
        self._db: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._state = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._recordings: list[Recording] = []
        self._runs: dict[int, _RunLog] = {}
        self._own_runs: set[int] = set()  # begun or resumed here, not finished yet
        self._live: dict[int, list] = {}  # task id -> [task, recording, RUNNING written]
        self._recheck: list[int] = []
        self._flush_asked = 0
        self._flush_done = 0
        self._discarded = 0
        self._offset = 0
        self._writer: threading.Thread | None = None
        if read_only:
            self._reader = self._open_reader()
            return
        self._lock_fd = _take_lock(self.path)
        try:
            try:
                self._db = self._open_writer()
            except StoreCorrupt as exc:
                if not recover:
                    raise
                self.recovered_from = _move_aside(self.path, "damaged")
                log.warning("%s; moved to %s", exc, self.recovered_from)
                self._db = self._open_writer()
            self._reader = self._open_reader()
        except BaseException:
            if self._db is not None:
                self._db.close()
            os.close(self._lock_fd)
            raise
        self._writer = threading.Thread(target=self._write_loop, name="poolscope-store-writer", daemon=True)
        self._writer.start()
        _open_stores.add(self)

    # ------------------------------------------------------------- opening

    def _connect(self, uri: str) -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0)

    def _uri(self, mode: str) -> str:
        return f"{self.path.absolute().as_uri()}?mode={mode}"

    def _open_writer(self) -> sqlite3.Connection:
        path = self.path
        try:
            db = self._connect(self._uri("rwc"))
        except sqlite3.Error as exc:
            raise _store_error(path, exc) from None
        try:
            version = _check_file(db, path)
            if version > schema_version():
                raise StoreTooNew(path, version, schema_version())
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                log.warning("the history file %s is in %s mode, not WAL", path, mode)
            db.execute("PRAGMA synchronous = NORMAL")
            _migrate(db, path, version)
            self._mark_interrupted(db, after_crash=True)
            self._offset = db.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()[0]
        except sqlite3.Error as exc:
            db.close()
            raise _store_error(path, exc) from None
        except BaseException:
            db.close()
            raise
        return db

    def _open_reader(self) -> sqlite3.Connection:
        path = self.path
        if self.read_only and not path.exists():
            raise StoreError(path, f"there is no history file {path} yet")
        try:
            db = self._connect(self._uri("ro"))
            version = _check_file(db, path)
        except sqlite3.Error as exc:
            raise _store_error(path, exc) from None
        if version > schema_version():
            db.close()
            raise StoreTooNew(path, version, schema_version())
        if version < schema_version():
            db.close()
            raise StoreError(
                path,
                f"the history file {path} has schema version {version}; open it once for writing "
                "(any poolscope run, or the app) to upgrade it",
            )
        return db

    def _mark_interrupted(
        self, db: sqlite3.Connection, after_crash: bool, runs: set[int] | None = None
    ) -> None:
        """Runs left RUNNING become INTERRUPTED: after a crash (found when the
        file opens: nobody else can be writing it, we hold the lock), or those
        of this store still running when it closes."""
        if runs is None:
            runs = {row[0] for row in db.execute("SELECT id FROM runs WHERE state = 'running'")}
        if not runs:
            return
        if after_crash:
            # The last writer died: check the pages before trusting them.
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise StoreCorrupt(self.path, "; ".join(problems[:3]))
        message = (
            "the run stopped before this task finished (the app was closed or killed); "
            "resume the run to run it again"
        )
        db.execute("BEGIN IMMEDIATE")
        try:
            for run_id in sorted(runs):
                db.execute(
                    "UPDATE tasks SET state = 'cancelled', error_type = ?, message = ? "
                    "WHERE run_id = ? AND state <> 'done' AND state IN ('queued', 'running')",
                    (INTERRUPTED, message, run_id),
                )
                db.execute(
                    "UPDATE runs SET state = 'interrupted', ended = (SELECT max(coalesce(finished, started, "
                    "submitted)) FROM tasks WHERE run_id = ?1) WHERE id = ?1 AND state = 'running'",
                    (run_id,),
                )
                _store_counts(db, run_id)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ---------------------------------------------------------------- runs

    def begin_run(
        self,
        *,
        title: str | None = None,
        processor: str | None = None,
        pools: str | None = None,
        options: dict[str, Any] | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> int:
        """Record a new run (RUNNING) and return its id. ``options`` and
        ``arguments`` must be JSON-able: they are what a resume needs."""
        db = self._writable()
        with self._write_lock:
            cursor = db.execute(
                "INSERT INTO runs (started, state, title, pools, processor, options, arguments) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)",
                (time.time(), title, pools, processor, _json(options), _json(arguments)),
            )
            run_id = cursor.lastrowid
            assert run_id is not None
            self._runs[run_id] = _RunLog(run_id)
            self._own_runs.add(run_id)
        return run_id

    def resume_run(self, run_id: int) -> RunRecord:
        """Mark a recorded run RUNNING again, to record the inputs it runs
        again into it (see ``resumable``)."""
        db = self._writable()
        self.flush()
        with self._write_lock:
            if run_id in self._own_runs:
                raise StoreError(self.path, f"run {run_id} is running already")
            found = db.execute(
                "UPDATE runs SET state = 'running', ended = NULL WHERE id = ?", (run_id,)
            ).rowcount
            if not found:
                raise UnknownRun(self.path, run_id)
            self._runs[run_id] = self._load_run_log(db, run_id)
            self._own_runs.add(run_id)
        return self.run(run_id)

    def attach(
        self,
        pool: Pool,
        run_id: int,
        *,
        select: Callable[[Task], bool] | None = None,
    ) -> Recording:
        """Record every task ``pool`` submits from now on into run ``run_id``
        (only those ``select(task)`` accepts, if given). A task whose label
        names an input of the run that is not DONE becomes that input's next
        attempt (this is how a resume lands in the same rows); any other task
        is a new input."""
        db = self._writable()
        kind = type(pool).__name__.removesuffix("Pool").lower() or "pool"
        with self._write_lock:
            row = db.execute("SELECT pools FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UnknownRun(self.path, run_id)
            kinds = [k for k in (row[0] or "").split(",") if k]
            if kind not in kinds:
                db.execute("UPDATE runs SET pools = ? WHERE id = ?", (",".join([*kinds, kind]), run_id))
            run = self._runs.get(run_id)
            if run is None:
                run = self._runs[run_id] = self._load_run_log(db, run_id)
            recording = Recording(self, pool, run, select, self.buffer_size)
            with self._state:
                self._recordings.append(recording)
        return recording

    def finish_run(self, run_id: int, state: RunState = RunState.FINISHED) -> RunRecord:
        """End a run: everything recorded so far is written, its counts are
        stored, and its state set (FINISHED, HALTED or INTERRUPTED)."""
        db = self._writable()
        self.flush()
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute(
                    "UPDATE runs SET state = ?, ended = ? WHERE id = ?", (str(state), time.time(), run_id)
                ).rowcount
                if not found:
                    raise UnknownRun(self.path, run_id)
                _store_counts(db, run_id)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._own_runs.discard(run_id)
        return self.run(run_id)

    def _load_run_log(self, db: sqlite3.Connection, run_id: int) -> _RunLog:
        last = db.execute("SELECT coalesce(max(seq), 0) FROM tasks WHERE run_id = ?", (run_id,)).fetchone()[0]
        pending = {
            label: (seq, attempt)
            for label, seq, attempt in db.execute(
                f"SELECT label, seq, attempt FROM tasks WHERE run_id = ? AND state <> 'done' "
                f"AND label IS NOT NULL AND {_NEWEST}",
                (run_id,),
            )
        }
        return _RunLog(run_id, last + 1, pending)

    # --------------------------------------------------------------- reads

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        self._check_open()
        with self._read_lock:
            try:
                return self._reader.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc) from None

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        """Recorded runs, newest first; counts of running ones are current."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC"
        rows = self._query(sql + " LIMIT ?", (limit,)) if limit else self._query(sql)
        return [self._current(row) for row in rows]

    def run(self, run_id: int) -> RunRecord:
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise UnknownRun(self.path, run_id)
        return self._current(rows[0])

    def _current(self, row: tuple) -> RunRecord:
        record = _run_record(row)
        if record.state is not RunState.RUNNING:
            return record
        counts = self._counts(record.id)
        return dataclasses.replace(
            record,
            total=counts["total"],
            done=counts["done"],
            failed=counts["failed"],
            cancelled=counts["cancelled"],
        )

    def _counts(self, run_id: int) -> dict[str, int]:
        with self._read_lock:
            return _count(self._reader, run_id)

    def tasks(
        self, run_id: int, state: TaskState | str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[TaskRecord]:
        """Every attempt of a run in input order (only those in ``state``, if
        given); ``limit`` and ``offset`` page through a large run."""
        sql = f"SELECT {_TASK_COLUMNS} FROM tasks WHERE run_id = ?"
        params: tuple = (run_id,)
        if state is not None:
            text = str(TaskState(state))
            sql += " AND state = ?" if text == "done" else " AND state <> 'done' AND state = ?"
            params += (text,)
        sql += " ORDER BY seq, attempt LIMIT ? OFFSET ?"
        params += (limit if limit is not None else -1, offset)
        return [_task_record(row) for row in self._query(sql, params)]

    def failures(self, run_id: int) -> list[TaskRecord]:
        """The inputs whose newest attempt FAILED: what a user would retry.
        (Every failed attempt, retried or not: ``tasks(run_id, "failed")``.)"""
        return self._newest(run_id, ("failed",))

    def resumable(self, run_id: int, include_failed: bool = False) -> list[TaskRecord]:
        """The newest attempt of each input a resume runs again: QUEUED,
        RUNNING or CANCELLED (and FAILED with ``include_failed``), by seq."""
        states = ("queued", "running", "cancelled", *(("failed",) if include_failed else ()))
        return self._newest(run_id, states)

    def _newest(self, run_id: int, states: tuple[str, ...]) -> list[TaskRecord]:
        marks = ", ".join("?" * len(states))
        sql = (
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE run_id = ? AND state <> 'done' AND state IN ({marks}) "
            f"AND {_NEWEST} ORDER BY seq"
        )
        return [_task_record(row) for row in self._query(sql, (run_id, *states))]

    def labels(self, run_id: int) -> set[str]:
        """The labels of every input recorded in a run (a resume skips these
        when it walks the run's folders again)."""
        rows = self._query(
            "SELECT DISTINCT label FROM tasks WHERE run_id = ? AND label IS NOT NULL", (run_id,)
        )
        return {row[0] for row in rows}

    def unfinished_runs(self) -> list[RunRecord]:
        """Runs that stopped before they ended (the app was closed or killed),
        newest first: what the app offers to resume."""
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE state = 'interrupted' ORDER BY id DESC")
        return [_run_record(row) for row in rows]

    def integrity_check(self) -> list[str]:
        """SQLite's own check of the whole file: ``["ok"]`` when it is sound."""
        return [row[0] for row in self._query("PRAGMA integrity_check")]

    # ------------------------------------------------------------- export

    def export(self, run_id: int, fmt: str, file: str | os.PathLike[str] | IO[str]) -> int:
        """Write a run's attempts to ``file`` (a path or a text stream) as
        ``"csv"`` (one row per attempt) or ``"json"`` (``{"run": ..., "tasks":
        [...]}``); times are ISO 8601 in UTC. Streams, so a large run costs
        no memory. Returns the number of attempts written."""
        if fmt not in ("csv", "json"):
            raise ValueError(f"export format must be csv or json, not {fmt!r}")
        record = self.run(run_id)
        if isinstance(file, str | os.PathLike):
            with open(file, "w", encoding="utf-8", newline="") as handle:
                return self.export(run_id, fmt, handle)
        rows = self._iter_tasks(run_id)
        if fmt == "csv":
            writer = csv.writer(file)
            writer.writerow(EXPORT_COLUMNS)
            count = 0
            for task in rows:
                writer.writerow([_export_value(v) for v in _export_row(task)])
                count += 1
            return count
        file.write('{"run": ')
        file.write(json.dumps(_export_run(record), ensure_ascii=False))
        file.write(',\n "tasks": [')
        count = 0
        for task in rows:
            file.write(",\n  " if count else "\n  ")
            file.write(
                json.dumps(dict(zip(EXPORT_COLUMNS, _export_row(task), strict=True)), ensure_ascii=False)
            )
            count += 1
        file.write("\n ]}\n" if count else "]}\n")
        return count

    def _iter_tasks(self, run_id: int, page: int = 5_000) -> Iterator[TaskRecord]:
        """Every attempt of a run, a page at a time (keyed on seq and attempt,
        so a long export never holds the read lock for long)."""
        last = (0, 0)
        while True:
            rows = self._query(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE run_id = ? "
                "AND (seq > ? OR (seq = ? AND attempt > ?)) ORDER BY seq, attempt LIMIT ?",
                (run_id, last[0], last[0], last[1], page),
            )
            for row in rows:
                yield _task_record(row)
            if len(rows) < page:
                return
            last = (rows[-1][1], rows[-1][2])

    # ------------------------------------------------------------- delete

    def delete_run(self, run_id: int) -> None:
        """Delete a run and all its attempts (not one that is running here)."""
        db = self._writable()
        with self._write_lock:
            if run_id in self._own_runs:
                raise StoreError(self.path, f"run {run_id} is still running; it can be deleted once it ends")
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM tasks WHERE run_id = ?", (run_id,))
                found = db.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount
                if not found:
                    raise UnknownRun(self.path, run_id)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._runs.pop(run_id, None)

    def keep_runs(self, n: int) -> list[int]:
        """Delete all but the newest ``n`` runs (never one running here);
        returns the ids deleted."""
        if n < 0:
            raise ValueError(f"the number of runs to keep must be at least 0, got {n}")
        self._writable()
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?", (n,)
            ).fetchall()
        deleted = []
        for (run_id,) in rows:
            if run_id in self._own_runs:
                continue
            with contextlib.suppress(UnknownRun):
                self.delete_run(run_id)
                deleted.append(run_id)
        return deleted

    # -------------------------------------------------------- the writer

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything the attached pools emitted before this call
        is committed; False if ``timeout`` passed first."""
        if self._writer is None or not self._writer.is_alive():
            return True
        with self._state:
            self._flush_asked += 1
            ticket = self._flush_asked
        self._wake.set()
        with self._state:
            return self._state.wait_for(
                lambda: self._flush_done >= ticket or not self._writer_alive(), timeout
            )

    def _writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    def _write_loop(self) -> None:
        """Wake every ``interval`` (or when asked), write what came, repeat."""
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._state:
                ticket = self._flush_asked
                closing = self._closed
                recordings = list(self._recordings)
            try:
                self._write_all(recordings)
            except Exception as exc:
                self._fail(exc)
            with self._state:
                self._flush_done = ticket
                self._state.notify_all()
            if closing:
                return

    def _write_all(self, recordings: list[Recording]) -> None:
        """Write the events waiting now, a transaction per slice. Only what
        was there when it began: in a storm a flush still returns."""
        left = {id(rec): len(rec._events) for rec in recordings}
        while True:
            batches = []
            for rec in recordings:
                n = min(left[id(rec)], 200_000)
                left[id(rec)] -= n
                batches.append((rec, n))
            if self.problem is not None:
                for rec, n in batches:
                    rec._drain(n)
                    self._discarded += n
            elif self._recheck or any(n or rec.dropped != rec._seen_dropped for rec, n in batches):
                # (when nothing came, no empty transaction every interval)
                try:
                    self._write_batch(batches)
                except Exception:
                    self._discarded += sum(n for _, n in batches)
                    raise
            if not any(left.values()):
                break
        for rec in recordings:
            if rec.detached and not rec._events:
                self._forget(rec)

    def _write_batch(self, batches: list[tuple[Recording, int]], last_look: list[int] | None = None) -> None:
        """One transaction: new tasks are inserted, changed ones updated.
        ``last_look``: tasks to write as they stand and then forget."""
        recheck, self._recheck = self._recheck, []
        touched: dict[int, None] = dict.fromkeys(recheck)
        if last_look:
            touched.update(dict.fromkeys(last_look))
        batch = _Batch()
        db = self._db
        assert db is not None
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                for rec, n in batches:
                    if n or rec.dropped != rec._seen_dropped:
                        self._take(rec, n, touched, batch)
                self._changes(touched, batch)
                batch.write(db)
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        for task_id in last_look or ():
            self._live.pop(task_id, None)

    def _take(self, rec: Recording, n: int, touched: dict[int, None], batch: _Batch) -> None:
        """Turn ``n`` events of a recording into rows: new tasks into INSERTs
        (one per task, as it stands now), tasks recorded before into
        ``touched``. When few tasks are live, looking at each of them is
        cheaper than finding them among the events."""
        live = self._live
        if len(live) * 4 <= n:
            fresh = rec._drain_submitted(n)  # and notes
            if live:
                touched.update(dict.fromkeys(live))
        else:
            events = rec._drain(n)
            ids = live.keys() & {event[3] for event in events}
            if ids:
                touched.update(dict.fromkeys(ids))
            fresh = [event for event in events if event[1] is SUBMITTED]  # and notes
        if rec.dropped != rec._seen_dropped:
            # Some events were lost: look at every task of this recording again.
            rec._seen_dropped = rec.dropped
            touched.update(dict.fromkeys(t for t, entry in live.items() if entry[1] is rec))
        if not fresh:
            return
        run = rec._run
        run_id = run.run_id
        pending = run.pending
        select = rec._select
        offset = self._offset
        first_done = batch.first_done.setdefault(run_id, [])
        done = batch.done.setdefault(run_id, [])
        first_queued = batch.first_queued.setdefault(run_id, [])
        queued = batch.queued.setdefault(run_id, [])
        full = batch.full
        parents: dict[int, tuple[int, int]] | None = None  # built at the first retry
        next_seq = run.next_seq
        # Plain attribute reads, each once: on 3.11 a slot read is cheaper
        # than anything that could batch them (attrgetter builds a tuple).
        for event in fresh:
            task = event[5]
            if task.__class__ is not Task:
                run.next_seq = next_seq
                self._note(run, event, batch)
                next_seq = run.next_seq
                continue
            if select is not None and not select(task):
                continue
            task_id = task.id
            label = task.label
            retry_of = task.retry_of
            # A first attempt (retry_of None) is attempt 1; only a retry has more.
            if retry_of is None:
                if pending and label in pending:
                    seq, before = pending.pop(label)
                    attempt = before + task.attempt
                else:
                    seq = next_seq
                    next_seq += 1
                    attempt = 1
            else:
                if parents is None:
                    parents = self._batch_keys(batch, run_id)
                parent = parents.get(offset + retry_of) or self._parent(retry_of)
                if parent is not None:
                    seq, attempt = parent[0], parent[1] + 1
                else:  # it follows an attempt that was not recorded: a new input
                    seq = next_seq
                    next_seq += 1
                    attempt = task.attempt
            row_id = offset + task_id
            args = task.args
            inp = (args[0] if args[0].__class__ is str else _input_of(args)) if args else None
            if parents is not None:
                parents[row_id] = (seq, attempt)
            finished = task.finished_at
            state = task.state
            if finished is not None:
                if state is DONE and task.result is None:
                    if inp is label and attempt == 1:
                        first_done.append(
                            (row_id, seq, label, task.worker_id, task.submitted_at, task.started_at, finished)
                        )
                    else:
                        done.append(
                            (row_id, seq, attempt, label, inp, task.worker_id, task.submitted_at,
                             task.started_at, finished)
                        )  # fmt: skip
                else:
                    text, result, error_type, message, traceback = _outcome(task, state)
                    full.append(
                        (row_id, run_id, seq, attempt, label, inp, text, task.worker_id, task.submitted_at,
                         task.started_at, finished, result, error_type, message, traceback)
                    )  # fmt: skip
                continue
            live[task_id] = [task, rec, state is not QUEUED]  # the task, its recording, RUNNING written
            if state is QUEUED:
                if inp is label and attempt == 1:
                    first_queued.append((row_id, seq, label, task.submitted_at))
                else:
                    queued.append((row_id, seq, attempt, label, inp, task.submitted_at))
                continue
            full.append(
                (row_id, run_id, seq, attempt, label, inp, "running", task.worker_id, task.submitted_at,
                 task.started_at, None, None, None, None, None)
            )  # fmt: skip
            if state is not RUNNING:
                self._recheck.append(task_id)  # ending right now: its finished_at comes next
        run.next_seq = next_seq

    @staticmethod
    def _batch_keys(batch: _Batch, run_id: int) -> dict[int, tuple[int, int]]:
        """row id -> (seq, attempt) of the new attempts of a run in this batch."""
        keys = {row[0]: (row[1], row[2]) for row in batch.done.get(run_id, ())}
        keys.update((row[0], (row[1], row[2])) for row in batch.queued.get(run_id, ()))
        keys.update((row[0], (row[1], 1)) for row in batch.first_done.get(run_id, ()))
        keys.update((row[0], (row[1], 1)) for row in batch.first_queued.get(run_id, ()))
        keys.update((row[0], (row[2], row[3])) for row in batch.full if row[1] == run_id)
        return keys

    def _parent(self, task_id: int) -> tuple[int, int] | None:
        """(seq, attempt) of a recorded attempt a retry follows, from the file."""
        assert self._db is not None
        row = self._db.execute(
            "SELECT seq, attempt FROM tasks WHERE id = ?", (self._offset + task_id,)
        ).fetchone()
        return (row[0], row[1]) if row is not None else None

    def _note(self, run: _RunLog, event: tuple, batch: _Batch) -> None:
        note = event[5]
        if not isinstance(note, _Rejected):
            batch.notes.append((run, note))
            return
        found = run.pending.pop(note.label, None)
        if found is not None:
            seq, attempt = found[0], found[1] + 1
        else:
            seq, attempt = run.next_seq, 1
            run.next_seq += 1
        at = event[2]
        batch.full.append(
            (self._offset + _next_task_id(), run.run_id, seq, attempt, note.label, note.input, "failed", None,
             at, None, at, None, REJECTED, note.reason, "")
        )  # fmt: skip

    def _changes(self, touched: dict[int, None], batch: _Batch) -> None:
        """UPDATE rows for tasks recorded before that have changed."""
        live = self._live
        offset = self._offset
        ended, updates = batch.ended, batch.updates
        for task_id in touched:
            entry = live.get(task_id)
            if entry is None:
                continue
            task = entry[0]
            finished = task.finished_at
            state = task.state
            if finished is not None:
                del live[task_id]
                if state is DONE and task.result is None:
                    ended.append((task.worker_id, task.started_at, finished, offset + task_id))
                    continue
                text, result, error_type, message, traceback = _outcome(task, state)
                updates.append(
                    (text, task.worker_id, task.started_at, finished, result, error_type, message, traceback,
                     offset + task_id)
                )  # fmt: skip
                continue
            if state is QUEUED:
                continue
            updates.append(
                ("running", task.worker_id, task.started_at, None, None, None, None, None, offset + task_id)
            )
            if state is not RUNNING:
                self._recheck.append(task_id)

    def _forget(self, rec: Recording) -> None:
        """A detached recording is drained: write its live tasks one last time."""
        with self._state:
            if rec in self._recordings:
                self._recordings.remove(rec)
        mine = [task_id for task_id, entry in self._live.items() if entry[1] is rec]
        if mine and self.problem is None:
            self._write_batch([], last_look=mine)
        for task_id in mine:
            self._live.pop(task_id, None)

    def _fail(self, exc: Exception) -> None:
        """The disk failed the writer: stop recording, keep the app going."""
        error = _store_error(self.path, exc) if isinstance(exc, sqlite3.Error) else exc
        self.problem = f"history recording stopped: {error}"
        log.error("%s", self.problem, exc_info=exc)
        with self._state:
            recordings = list(self._recordings)
        for rec in recordings:
            rec.detach()
        self._live.clear()

    @property
    def dropped(self) -> int:
        """Events not written: lost to a full buffer, or after a disk failure."""
        with self._state:
            recordings = list(self._recordings)
        return self._discarded + sum(rec.dropped for rec in recordings)

    # ------------------------------------------------------------- closing

    def close(self) -> None:
        """Stop recording, write everything that came, mark runs still
        running here INTERRUPTED, and let the file go."""
        if self._closed:
            return
        with self._state:
            recordings = list(self._recordings)
        for rec in recordings:
            rec.detach()
        with self._state:
            self._closed = True
        self._wake.set()
        if self._writer is not None:
            self._writer.join()
        try:
            if self._db is not None and self._own_runs and self.problem is None:
                with self._write_lock:
                    self._mark_interrupted(self._db, after_crash=False, runs=set(self._own_runs))
        except sqlite3.Error as exc:
            log.error("marking the runs still running as interrupted failed: %s", exc)
        finally:
            self._own_runs.clear()
            if self._db is not None:
                self._db.close()
            self._reader.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the lock
                self._lock_fd = None
            _open_stores.discard(self)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(self.path, f"the history store {self.path} is closed")

    def _writable(self) -> sqlite3.Connection:
        self._check_open()
        if self._db is None:
            raise StoreError(self.path, f"the history file {self.path} is open for reading only")
        if self.problem is not None:
            raise StoreError(self.path, self.problem)
        return self._db

    def __repr__(self) -> str:
        how = "read-only" if self.read_only else "closed" if self._closed else "open"
        return f"<Store {str(self.path)!r} {how}>"


def open_store(path: str | os.PathLike[str] | None = None) -> tuple[Store | None, str | None]:
    """Open the history for an app or a command that must start anyway.

    Returns ``(store, None)`` when all is well; ``(store, message)`` when a
    damaged file was moved aside and a fresh one started; ``(None, message)``
    when history must be off (the file is locked by another PoolScope, cannot
    be written, is from a newer PoolScope or is not a PoolScope history --
    such files are left untouched)."""
    try:
        store = Store(path, recover=True)
    except StoreError as exc:
        return None, f"history is off: {exc}"
    if store.recovered_from is not None:
        return store, (
            f"the history file {store.path} was damaged; it was kept as {store.recovered_from} "
            "and a fresh one was started"
        )
    return store, None


# ------------------------------------------------------------------ helpers

EXPORT_COLUMNS = (
    "run",
    "seq",
    "attempt",
    "label",
    "input",
    "state",
    "worker",
    "submitted",
    "started",
    "finished",
    "seconds",
    "result",
    "error_type",
    "message",
    "traceback",
)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return _datetime.datetime.fromtimestamp(seconds, _datetime.UTC).isoformat(timespec="microseconds")


def _export_row(task: TaskRecord) -> tuple:
    seconds = task.seconds
    return (
        task.run_id,
        task.seq,
        task.attempt,
        task.label,
        task.input,
        str(task.state),
        task.worker,
        _iso(task.submitted),
        _iso(task.started),
        _iso(task.finished),
        round(seconds, 6) if seconds is not None else None,
        task.result,
        task.error_type,
        task.message,
        task.traceback,
    )


def _export_value(value: Any) -> Any:
    return "" if value is None else value


def _export_run(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "state": str(run.state),
        "title": run.title,
        "started": _iso(run.started),
        "ended": _iso(run.ended),
        "seconds": round(run.duration, 6) if run.duration is not None else None,
        "pools": run.pools,
        "processor": run.processor,
        "options": run.options,
        "arguments": run.arguments,
        "inputs": run.total,
        "done": run.done,
        "failed": run.failed,
        "cancelled": run.cancelled,
    }


def _json(value: dict[str, Any] | None) -> str:
    return json.dumps(value or {}, default=str, ensure_ascii=False)


def _count(db: sqlite3.Connection, run_id: int) -> dict[str, int]:
    """Inputs of a run by the state of their newest attempt (SQLite takes the
    bare ``state`` from the row that holds ``max(attempt)``)."""
    counts = dict(
        db.execute(
            "SELECT state, count(*) FROM "
            "(SELECT state, max(attempt) FROM tasks WHERE run_id = ? GROUP BY seq) GROUP BY state",
            (run_id,),
        ).fetchall()
    )
    return {
        "total": sum(counts.values()),
        "done": counts.get("done", 0),
        "failed": counts.get("failed", 0),
        "cancelled": counts.get("cancelled", 0),
    }


def _store_counts(db: sqlite3.Connection, run_id: int) -> None:
    counts = _count(db, run_id)
    db.execute(
        "UPDATE runs SET total = ?, done = ?, failed = ?, cancelled = ? WHERE id = ?",
        (counts["total"], counts["done"], counts["failed"], counts["cancelled"], run_id),
    )


def _check_file(db: sqlite3.Connection, path: Path) -> int:
    """The file's schema version, after making sure it is a PoolScope history."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables.discard("sqlite_sequence")
    if version == 0 and tables:
        raise StoreForeign(path)
    if 1 <= version <= schema_version() and not {"runs", "tasks"} <= tables:
        raise StoreCorrupt(path, "its tables are missing")
    return int(version)


def _migrate(db: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring the file up to this PoolScope's schema, a step per transaction."""
    while version < schema_version():
        step = MIGRATIONS[version]
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StoreError(
                path, f"upgrading the history file {path} to schema version {version + 1} failed: {exc}"
            ) from None
        version += 1


_CORRUPT_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_READ_ONLY_CODES = {"SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"}


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """A typed StoreError for an sqlite3 error (by its primary result code)."""
    name = (getattr(exc, "sqlite_errorname", "") or "").split("_")
    code = "_".join(name[:2])
    if code in _CORRUPT_CODES:
        return StoreCorrupt(path, str(exc))
    if code in _READ_ONLY_CODES:
        return StoreReadOnly(path, str(exc))
    if code == "SQLITE_BUSY":
        return StoreLocked(path, None)
    return StoreError(path, f"the history file {path} cannot be used: {exc}")


def _lock_exclusively(fd: int) -> None:
    """Lock ``fd`` for this process until it is closed (or the process dies);
    BlockingIOError when another holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _take_lock(path: Path) -> int:
    """An exclusive lock on ``<file>.lock`` (created next to the file, holding
    the owner's pid for the message another PoolScope shows). The lock file
    is never deleted: deleting it would let two processes lock two files."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path.with_name(path.name + ".lock"), flags, 0o644)
    except OSError as exc:
        raise StoreReadOnly(path, exc.strerror or str(exc)) from None
    try:
        _lock_exclusively(fd)
    except BlockingIOError:
        try:
            with open(path.with_name(path.name + ".lock"), encoding="ascii", errors="replace") as owner:
                text = owner.read(32).strip()
        except OSError:
            text = ""
        finally:
            os.close(fd)
        raise StoreLocked(path, int(text) if text.isdigit() else None) from None
    except OSError as exc:
        os.close(fd)
        raise StoreReadOnly(path, f"it cannot be locked: {exc.strerror or exc}") from None
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # only the message of another PoolScope loses the pid
    return fd


def _move_aside(path: Path, why: str) -> Path:
    """Rename a file (with its -wal and -shm companions) out of the way, to
    ``<name>.<why>-<date>-<time>[-n]``; never deletes anything."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
        n += 1
    try:
        for suffix in ("", "-wal", "-shm"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                os.replace(source, target.with_name(target.name + suffix))
    except OSError as exc:
        raise StoreReadOnly(path, f"the damaged file cannot be moved aside: {exc.strerror or exc}") from None
    return target


# Stores not closed by their owner are closed at interpreter exit, so the
# last batch is written and runs still going are marked interrupted. The pools
# they record are shut down first (queued tasks still run, as the pools' own
# exit handler would do; it runs later and finds them shut down), so that
# their last tasks are written too.
_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for store in list(_open_stores):
        try:
            with store._state:
                pools = {id(rec.pool): rec.pool for rec in store._recordings}
            for pool in pools.values():
                pool.shutdown(wait=True)
            store.close()
        except Exception:  # pragma: no cover - best effort at exit
            log.exception("closing %r at exit failed", store)
