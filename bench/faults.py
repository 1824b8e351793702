"""A fault matrix for ProcessPool: what one bad task does to its pool and to the tasks around it.

    python bench/faults.py [--workers 2]

For each fault a fresh pool (forkserver) gets 20 tasks: 19 normal ones
(``square(i)``) and the faulty one as the 6th, so that it usually runs with
normal tasks prefetched behind it on the same worker. One line per fault:

- outcome: what the faulty task's future gave (error type and message);
- others: how many of the 19 normal tasks returned the right value;
- reusable: whether a fresh task on the same pool succeeds afterwards;
- orphans: processes under this one left after ``shutdown()``, counted with
  psutil, not counting multiprocessing's forkserver and resource tracker
  (they serve every pool and end with this process). Zombies are dead and
  not counted.

The parent-death rows run the pool in a subprocess, SIGKILL that process
while a task hangs in a worker (sleeping, or in C code that holds the GIL, so
that no Python thread of the worker runs) and check that its workers, and the
dead parent's forkserver and resource tracker, are gone within 5 s; there
"others" are the normal tasks done before the kill, "orphans" what is left,
and "reusable" means a new parent starts a pool and runs a task.

Every row must read: a clear error, 19/19 others done, reusable, 0 orphans;
the exit status is 1 otherwise. Every wait has a time limit, so a hang shows
as a failed row instead of hanging the script.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_tasks as tasks
import psutil
from _bench_common import multiprocessing_helpers as helper_pids
from _bench_common import revision

from core import (
    Event,
    EventKind,
    ProcessPool,
    TaskCancelled,
    TaskError,
    TaskTimeout,
    WorkerLost,
    current_task,
)

START_METHOD = "forkserver"
NORMAL = 19
FAULT_AT = 5
#: Longest wait for any one outcome; past it the row says HANG.
WAIT = 30.0
#: How long the workers of a killed parent may take to go.
PARENT_GRACE = 5.0
PARENT_DEATH = "parent SIGKILLed (subprocess)"
PARENT_DEATH_GIL = "parent SIGKILLed, the task holds the GIL"
#: How long the doomed parent waits for its normal tasks before it reports.
PARENT_OTHERS_WAIT = 5.0


@dataclass
class Row:
    fault: str
    outcome: str
    clear: bool
    others: int
    reusable: bool | None
    orphans: int
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.clear and self.others == NORMAL and bool(self.reusable) and self.orphans == 0


def short(text: str, width: int = 84) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def describe(exc: BaseException) -> str:
    """``Type: message``; a TaskError subclass names itself in its message already."""
    if isinstance(exc, TaskError) and type(exc).__name__ == exc.type_name:
        return short(str(exc))
    return short(f"{type(exc).__name__}: {exc}")


# ------------------------------------------------------------------ processes


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def zombie_descendants() -> list[int]:
    helpers = helper_pids()
    zombies = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.pid not in helpers and p.status() == psutil.STATUS_ZOMBIE:
                zombies.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return zombies


def descendants() -> list[psutil.Process]:
    """Live processes under this one, without the forkserver and resource tracker."""
    helpers = helper_pids()
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in helpers and alive(p)]


# --------------------------------------------------------- tasks of this matrix
# They travel as __main__.<name>: the forkserver (the only start method used
# here) imports this script as the main module, so every worker has them.


def hang_first_attempt(marker: str) -> tuple[str, int]:
    """Hang on the first attempt (no ``marker`` file yet), so that its
    time-out ends it; on the next one return the attempt number it sees."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        time.sleep(60)
    return "second attempt ran", current_task().attempt


def hold_the_gil(pidfile: str) -> int:
    """Write the process id to ``pidfile``, then stay for minutes in C code
    that never lets go of the GIL: no other thread of the worker runs."""
    tasks.hang(0.0, pidfile)
    return sum(itertools.repeat(1, 10**11))


class TwoPartError(Exception):
    """Pickles, but cannot be rebuilt: unpickling calls ``TwoPartError(message)``
    with one argument where two are required (a classic of exception classes),
    here as a task's argument."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")


# ------------------------------------------------------------------ one fault


@dataclass(frozen=True)
class Fault:
    name: str
    #: submits the faulty task (given the row's temporary folder); may raise (refused at submit)
    submit: Callable[[ProcessPool, str], Future]
    #: True when the outcome (an exception, or the value) is the expected, clear one
    expect: Callable[[BaseException | None, Any], bool]
    #: runs once the tasks are in (kill the worker, cancel the task); returns notes
    during: Callable[[ProcessPool, Future, str], list[str]] | None = None
    #: options of the row's pool
    pool_options: dict[str, Any] = field(default_factory=dict)
    #: the future must end cancelled (the pool stopped the task); ``expect``
    #: then sees the task record's error
    cancelled: bool = False
    #: a retried task: what its first attempt must fail with
    first_attempt: type[TaskError] | None = None


def pidfile(tmp: str) -> str:
    return os.path.join(tmp, "running")


def hung_task(pool: ProcessPool, tmp: str) -> Future:
    return pool.submit(tasks.hang, 60, pidfile(tmp))


def wait_running(future: Future, tmp: str, limit: float = 10.0) -> tuple[int, list[str]]:
    """Wait until the hung task really runs (it wrote its pid); returns that
    pid and a note when the pool does not show it as running."""
    path = pidfile(tmp)
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if future.done() or time.monotonic() > deadline:
            raise RuntimeError("the faulty task never started")
        time.sleep(0.005)
    with open(path) as f:
        pid = int(f.read())
    deadline = time.monotonic() + 1.0
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.1)  # well inside the task
    if future.running():
        return pid, []
    task = future.task
    return pid, [f"the task ran in process {pid}, but the pool still called it {task.state} after 1 s"]


def kill_its_worker(pool: ProcessPool, future: Future, tmp: str) -> list[str]:
    pid, notes = wait_running(future, tmp)
    os.kill(pid, signal.SIGKILL)
    return notes


def cancel_it(pool: ProcessPool, future: Future, tmp: str) -> list[str]:
    _, notes = wait_running(future, tmp)
    returned = pool.cancel(future.task_id)
    if returned is not False:
        notes.append(f"cancel() of the running task returned {returned!r} (documented: False)")
    return notes


def force_dismiss_its_worker(pool: ProcessPool, future: Future, tmp: str) -> list[str]:
    _, notes = wait_running(future, tmp)
    pool.dismiss_worker(future.task.worker_id, force=True)
    return notes


def error_is(kind: type[BaseException], *words: str) -> Callable[[BaseException | None, Any], bool]:
    def check(exc: BaseException | None, value: Any) -> bool:
        return isinstance(exc, kind) and all(word in str(exc) for word in words)

    return check


def record_is(type_name: str, *words: str) -> Callable[[BaseException | None, Any], bool]:
    """A TaskError record (the parent never re-raises SystemExit or KeyboardInterrupt)."""

    def check(exc: BaseException | None, value: Any) -> bool:
        return (
            isinstance(exc, TaskError)
            and exc.type_name == type_name
            and all(word in exc.message for word in words)
        )

    return check


FAULTS = [
    Fault(
        "task raises ValueError",
        lambda pool, tmp: pool.submit(tasks.raise_value_error),
        lambda exc, value: (
            type(exc) is ValueError
            and str(exc) == "boom from the task"
            and isinstance(exc.__cause__, TaskError)
            and "raise_value_error" in exc.__cause__.traceback
        ),
    ),
    Fault(
        "worker SIGKILLed mid-task",
        hung_task,
        error_is(WorkerLost, "killed by signal 9"),
        kill_its_worker,
    ),
    Fault(
        "os._exit(7) mid-task", lambda pool, tmp: pool.submit(tasks.exit_hard), error_is(WorkerLost, "code 7")
    ),
    Fault(
        "segfault mid-task", lambda pool, tmp: pool.submit(tasks.segfault), error_is(WorkerLost, "signal 11")
    ),
    Fault(
        "sys.exit(3) in a task",
        lambda pool, tmp: pool.submit(tasks.call_sys_exit),
        record_is("SystemExit", "3"),
    ),
    Fault(
        "KeyboardInterrupt in a task",
        lambda pool, tmp: pool.submit(tasks.raise_keyboard_interrupt),
        record_is("KeyboardInterrupt", "interrupted"),
    ),
    Fault(
        "unpicklable result",
        lambda pool, tmp: pool.submit(tasks.unpicklable_result),
        record_is("UnpicklableResult", "_thread.lock", "cannot be pickled"),
    ),
    Fault(
        "unpicklable argument",
        lambda pool, tmp: pool.submit(tasks.square, threading.Lock()),
        error_is(TypeError, "arguments of square cannot be sent", "lock"),
    ),
    Fault(
        "argument fails to unpickle in the child",
        lambda pool, tmp: pool.submit(tasks.square, TwoPartError(1, "x")),
        record_is("TypeError", "could not be unpickled in the worker process", "detail"),
    ),
    Fault(
        "timeout=0.5 on a hung task",
        lambda pool, tmp: pool.schedule(tasks.hang, (60,), timeout=0.5),
        error_is(TaskTimeout, "0.5 s"),
    ),
    Fault(
        "pool task_timeout=0.5, a hung task",
        hung_task,
        error_is(TaskTimeout, "0.5 s"),
        pool_options={"task_timeout": 0.5},
    ),
    Fault(
        "cancel of a running task",
        hung_task,
        error_is(TaskCancelled, "cancelled while it ran"),
        cancel_it,
        cancelled=True,
    ),
    Fault(
        "force dismiss of a busy worker",
        hung_task,
        error_is(TaskCancelled, "cancelled while it ran"),
        force_dismiss_its_worker,
        cancelled=True,
    ),
    Fault(
        "retries=1, 1st attempt kills its worker",
        lambda pool, tmp: pool.schedule(
            tasks.kill_self_first_time, (os.path.join(tmp, "marker"),), retries=1
        ),
        lambda exc, value: exc is None and isinstance(value, tuple) and value[0] == "second attempt ran",
        first_attempt=WorkerLost,
    ),
    Fault(
        "retries=1, 1st attempt times out",
        lambda pool, tmp: pool.schedule(
            hang_first_attempt, (os.path.join(tmp, "marker"),), timeout=0.5, retries=1
        ),
        lambda exc, value: exc is None and isinstance(value, tuple) and value[0] == "second attempt ran",
        first_attempt=TaskTimeout,
    ),
]


def wait_shutdown(pool: ProcessPool, limit: float = WAIT) -> bool:
    """shutdown(wait=True), but give up after ``limit`` seconds."""
    thread = threading.Thread(target=pool.shutdown, daemon=True)
    thread.start()
    thread.join(limit)
    return not thread.is_alive()


def attempts(
    events: list[Event], last_id: int | None, first_error: type[TaskError], notes: list[str]
) -> tuple[str, bool]:
    """What the first attempt of a retried task failed with, and whether each
    attempt shows as its own events: the first FAILED with ``first_error``,
    the second submitted as its retry, started and DONE.

    The attempts are found from the newest one (``last_id``, what the future's
    ``task_id`` names once the task is over) back along ``retry_of``: an id
    read from the future earlier may name either attempt, depending on
    whether the first one has failed by then."""
    retry_of = {e.task_id: e.payload.retry_of for e in events if e.kind is EventKind.TASK_SUBMITTED}
    chain = [last_id]
    while retry_of.get(chain[0]) is not None and len(chain) < 10:
        chain.insert(0, retry_of[chain[0]])
    first_id = chain[0]
    failed = [e.payload for e in events if e.kind is EventKind.TASK_FAILED and e.task_id == first_id]
    first = failed[0] if failed else None
    second = [
        e.kind
        for e in events
        if len(chain) > 1 and e.task_id == chain[1] and e.kind.value.startswith("task_")
    ]
    shown = (
        len(chain) == 2
        and isinstance(first, first_error)
        and second == [EventKind.TASK_SUBMITTED, EventKind.TASK_STARTED, EventKind.TASK_DONE]
    )
    if not shown:
        notes.append(
            f"events of the attempts (ids {chain}): 1st failed with {first!r}; "
            f"2nd {[k.value for k in second]}"
        )
    return (describe(first) if first is not None else "did not fail"), shown


def run_fault(fault: Fault, workers: int) -> tuple[Row, bool]:
    """One row; and whether the pool shut down in time."""
    pool = ProcessPool(workers, start_method=START_METHOD, **fault.pool_options)
    events = pool.events.buffer()
    normal: list[tuple[int, Future]] = []
    exc: BaseException | None = None
    value: Any = None
    outcome = ""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="poolscope-faults-") as tmp:
        faulty: Future | None = None
        for i in range(NORMAL + 1):
            if i == FAULT_AT:
                try:
                    faulty = fault.submit(pool, tmp)
                except Exception as refused:
                    exc = refused
            else:
                normal.append((i, pool.submit(tasks.square, i)))
        if faulty is not None:
            try:
                if fault.during is not None:
                    notes += fault.during(pool, faulty, tmp)
                value = faulty.result(WAIT)
            except TimeoutError:
                outcome = f"HANG: no outcome in {WAIT:g} s"
            except BaseException as raised:
                exc = raised
        deadline = time.monotonic() + WAIT
        others = 0
        for i, future in normal:
            try:
                if future.result(max(0.0, deadline - time.monotonic())) == i * i:
                    others += 1
            except TimeoutError:
                notes.append(f"normal task {i + 1} (id {future.task_id}): no result in {WAIT:g} s")
            except BaseException as failed:
                notes.append(f"normal task {i + 1} (id {future.task_id}) failed: {describe(failed)}")
        try:
            reusable = pool.submit(tasks.square, 7).result(WAIT) == 49
        except BaseException as failed:
            reusable = False
            notes.append(f"a fresh task after the fault: {describe(failed)}")
        stopped = wait_shutdown(pool)
        if not stopped:
            notes.append(f"shutdown() did not return in {WAIT:g} s")
        orphans = descendants()
        if orphans:
            notes.append("left after shutdown: " + ", ".join(f"{p.pid} {p.status()}" for p in orphans))
        zombies = zombie_descendants()
        if zombies:
            notes.append(f"dead but not yet reaped after shutdown (not counted): {zombies}")
    cancelled = faulty is not None and faulty.cancelled()
    if cancelled:
        exc = faulty.task.error  # the future says only "cancelled"; the record says why
    if not outcome.startswith("HANG"):
        if faulty is None:
            outcome = short(f"refused at submit: {describe(exc)}")
        elif cancelled:
            outcome = short(f"cancelled: {describe(exc)}")
        else:
            outcome = describe(exc) if exc is not None else short(f"returned {value!r}")
    clear = not outcome.startswith("HANG") and fault.expect(exc, value) and cancelled == fault.cancelled
    if fault.first_attempt is not None:
        last_id = faulty.task_id if faulty is not None else None  # the newest attempt, now
        first, shown = attempts(events.drain(), last_id, fault.first_attempt, notes)
        clear = clear and shown
        outcome = short(f"attempt 1 {first}; attempt 2 {outcome}")
        if clear and value[1] != 2:  # current_task().attempt in the second attempt
            notes.append(f"the 2nd attempt saw current_task().attempt == {value[1]}, not 2")
    return Row(fault.name, outcome, clear, others, reusable, len(orphans), notes), stopped


# --------------------------------------------------------------- parent death


def as_parent(workers: int, tmp: str | None, gil: bool = False) -> None:
    """The doomed parent: print what the harness needs, then wait to be killed.
    With ``gil`` the hung task holds the GIL. Without ``tmp``, just a new
    parent that must be able to use a pool."""
    pool = ProcessPool(workers, start_method=START_METHOD)
    if tmp is None:
        print(json.dumps({"ok": pool.submit(tasks.square, 7).result(WAIT) == 49}), flush=True)
        pool.shutdown()
        return
    normal = []
    for i in range(NORMAL + 1):
        if i == FAULT_AT:
            hung = pool.submit(hold_the_gil, pidfile(tmp)) if gil else hung_task(pool, tmp)
        else:
            normal.append((i, pool.submit(tasks.square, i)))
    submitted = time.monotonic()
    _, notes = wait_running(hung, tmp)
    deadline = submitted + PARENT_OTHERS_WAIT
    done = 0
    for i, future in normal:
        try:
            done += future.result(max(0.0, deadline - time.monotonic())) == i * i
        except TimeoutError:
            pass
    if done < NORMAL:
        stats = pool.stats()
        notes.append(
            f"{NORMAL - done} normal tasks not done {PARENT_OTHERS_WAIT:g} s after submit while one task "
            f"hung (pool: {stats.queued} queued, {stats.idle_workers} of {stats.workers} workers idle)"
        )
        behind = [
            f.task_id
            for _, f in normal
            if not f.done() and f.task.state.value == "queued" and f.task.worker_id == hung.task.worker_id
        ]
        if behind:
            notes.append(
                f"{len(behind)} of them were sent ahead to the hung task's worker, which has not "
                "handed them back"
            )
    report = {
        "done": done,
        "workers": [w.pid for w in pool.workers if w.pid],
        "below": [p.pid for p in psutil.Process().children(recursive=True) if p.pid not in helper_pids()],
        "helpers": sorted(helper_pids()),
        "notes": notes,
    }
    print(json.dumps(report), flush=True)
    time.sleep(600)


def read_line(proc: subprocess.Popen, limit: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(limit):
            return ""
    return proc.stdout.readline()


def child_command(workers: int, tmp: str | None, gil: bool = False) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--as-parent", "--workers", str(workers)]
    return command + (["--tmp", tmp] if tmp else []) + (["--gil"] if gil else [])


def run_parent_death(workers: int, gil: bool = False) -> Row:
    name = PARENT_DEATH_GIL if gil else PARENT_DEATH
    tmp = tempfile.mkdtemp(prefix="poolscope-faults-")
    proc = subprocess.Popen(child_command(workers, tmp, gil), stdout=subprocess.PIPE, text=True)
    try:
        line = read_line(proc, WAIT)
        if not line:
            return Row(name, f"HANG: the parent reported nothing in {WAIT:g} s", False, 0, None, 0, [])
        report = json.loads(line)
        watched = []
        for pid in set(report["workers"]) | set(report["below"]):
            try:
                watched.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        helpers = []
        for pid in report["helpers"]:
            try:
                helpers.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        if not all(alive(p) for p in watched):
            report["notes"].append("some worker processes were gone before the parent was killed")
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(WAIT)
        while any(alive(p) for p in watched) and time.monotonic() - killed < PARENT_GRACE:
            time.sleep(0.01)
        gone_after = time.monotonic() - killed
        left = [p for p in watched if alive(p)]
        # The chain ends with the dead parent's forkserver and resource tracker.
        while any(alive(p) for p in helpers) and time.monotonic() - killed < PARENT_GRACE:
            time.sleep(0.01)
        helpers_left = [p for p in helpers if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if left:
        outcome = f"{len(left)} of {len(watched)} worker processes still alive {PARENT_GRACE:g} s after"
    else:
        outcome = f"all {len(watched)} worker processes gone {gone_after:.2f} s after the parent's SIGKILL"
    notes = report["notes"]
    if helpers_left:
        notes.append(
            f"the dead parent's forkserver/resource tracker still up {PARENT_GRACE:g} s after: "
            f"{[p.pid for p in helpers_left]}"
        )
    fresh = subprocess.run(child_command(workers, None), capture_output=True, text=True, timeout=WAIT)
    reusable = fresh.returncode == 0 and json.loads(fresh.stdout or "{}").get("ok") is True
    for p in left + helpers_left:  # do not leave them behind ourselves
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    orphans = len(left) + len(helpers_left)
    return Row(name, outcome, bool(watched) and not left, report["done"], reusable, orphans, notes)


# -------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", help="run only the faults whose name contains this")
    parser.add_argument("--as-parent", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--gil", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_parent:
        as_parent(args.workers, args.tmp, args.gil)
        return

    print(
        f"ProcessPool({args.workers}, start_method={START_METHOD!r}); each fault among {NORMAL} normal "
        f"tasks, as task {FAULT_AT + 1} of {NORMAL + 1}; Python {sys.version.split()[0]}; "
        f"project at {revision()}\n"
    )
    print(f"{'fault':40} {'outcome':84} {'others':>7} {'reusable':>8} {'orphans':>7}  verdict")
    rows = []
    all_stopped = True
    for fault in [*FAULTS, PARENT_DEATH, PARENT_DEATH_GIL]:
        name = fault if isinstance(fault, str) else fault.name
        if args.only and args.only not in name:
            continue
        started = time.monotonic()
        if isinstance(fault, str):
            row = run_parent_death(args.workers, gil=fault == PARENT_DEATH_GIL)
        else:
            row, stopped = run_fault(fault, args.workers)
            all_stopped = all_stopped and stopped
        rows.append(row)
        reusable = "?" if row.reusable is None else "yes" if row.reusable else "NO"
        verdict = "ok" if row.ok else "FAIL" + ("" if row.clear else " (unclear outcome)")
        print(
            f"{row.fault:40} {row.outcome:84} {row.others:>4}/{NORMAL} {reusable:>8} {row.orphans:>7}  "
            f"{verdict} ({time.monotonic() - started:.1f} s)",
            flush=True,
        )
    if any(row.notes for row in rows):
        print("\nnotes")
        for row in rows:
            for note in row.notes:
                print(f"  {row.fault}: {note}")
    failed = [row.fault for row in rows if not row.ok]
    print(
        f"\n{len(rows) - len(failed)} of {len(rows)} rows ok"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    status = 1 if failed else 0
    if not all_stopped:
        # A pool that would not shut down would hang the interpreter's exit
        # (pools are shut down at exit): end its processes, then leave at once.
        for proc in descendants():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        sys.stdout.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    main()
