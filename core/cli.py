"""``poolscope run``, ``poolscope processors`` and ``poolscope history``: the
engine from a terminal.

No Qt here: ``poolscope run`` works on a machine without a display. Exit
status: 0 when every input succeeded, 1 when some failed (or were rejected),
2 for bad usage.

History: ``poolscope run`` records its run in the store (``core.store``) and
prints ``run <ID> started`` first thing, so a script can note the id. If the
run dies -- even by SIGKILL -- ``poolscope run --resume ID`` runs the inputs
that did not end DONE or FAILED again, with the same processor, options and
pool, in the folder the run started in, into the same run. Failures stay
failed unless ``--retry-failed``: they did run, and running a command twice
is not always harmless. Inputs the first run never reached are found by
walking its paths again, unless the run had submitted them all.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .errors import StoreError, StoreLocked, TaskError, UnknownRun
from .events import Event, EventKind
from .expand import Rejected, expand_paths
from .pool import Pool
from .process_pool import ProcessPool
from .processors import registry
from .processors.base import Option, Processor
from .result_files import check_results_path, write_results
from .store import Recording, RunRecord, RunState, Store, default_path, open_store
from .task import Task
from .thread_pool import ThreadPool

__all__ = ["main"]

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolscope", description="Process files on a pool, from a terminal."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a processor over files and folders",
        description=(
            "Run a processor over files and folders (folders recursively), in parallel. The run is "
            "recorded in the history (see: poolscope history); its id is printed first, as "
            "'run ID started', and --resume ID finishes a run that was interrupted or killed."
        ),
    )
    run.add_argument(
        "--processor", "-p", help="what to do (see: poolscope processors); needed unless --resume"
    )
    run.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a processor option (repeatable)",
    )
    run.add_argument("--pool", choices=["thread", "process"], help="default: the processor's own choice")
    run.add_argument("--workers", type=_at_least(1), help="default: 4 threads, or one process per CPU")
    run.add_argument("--out", metavar="DIR", help="output folder, for processors that write files")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="per-task time-out")
    run.add_argument("--retries", type=_at_least(0), help="re-run a failed task up to N times")
    run.add_argument("--halt-after", type=_at_least(1), metavar="N", help="stop after N failures")
    run.add_argument("--include", action="append", default=[], metavar="GLOB", help="only files matching")
    run.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files matching")
    run.add_argument("--follow-symlinks", action="store_true", help="walk into symlinked folders")
    run.add_argument("--results", metavar="FILE", help="write one row per input to FILE.csv or FILE.json")
    run.add_argument(
        "--joblog",
        metavar="FILE",
        help="log one tab-separated line per attempt, as GNU parallel's --joblog: Seq, Worker, "
        "Starttime (epoch), JobRuntime (s), State, Exitval (exit code, or the exception type), Input",
    )
    run.add_argument("--db", metavar="PATH", help=f"the history file (default: {_shown(default_path())})")
    run.add_argument("--no-history", action="store_true", help="do not record this run")
    run.add_argument(
        "--resume",
        type=int,
        metavar="RUN_ID",
        help="run again the inputs of run RUN_ID that did not end (same processor, options, pool and "
        "paths; give no paths)",
    )
    run.add_argument(
        "--retry-failed", action="store_true", help="with --resume: run the failed inputs again too"
    )
    run.add_argument("paths", nargs="*", metavar="PATH")
    commands.add_parser("processors", help="list the processors and their options")
    _add_history_parser(commands)
    return parser


def _add_history_parser(commands: Any) -> None:
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"the history file (default: {_shown(default_path())})",
    )
    history = commands.add_parser(
        "history",
        parents=[db],
        help="list, export or delete recorded runs",
        description="List recorded runs (newest first), export one, or delete some.",
    )
    history.add_argument("--last", type=_at_least(0), default=20, metavar="N", help="list N runs (0: all)")
    actions = history.add_subparsers(dest="action")
    export = actions.add_parser("export", parents=[db], help="write a run's tasks as CSV or JSON")
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--out", metavar="FILE", help="default: standard output")
    delete = actions.add_parser("delete", parents=[db], help="delete runs and their tasks")
    delete.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + os.sep) else text


def _at_least(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "processors":
        return list_processors(out)
    if args.command == "history":
        return history(args, out)
    return run(args, out)


def list_processors(out: TextIO) -> int:
    for name, processor in sorted(registry.processors().items()):
        print(f"{name}  ({processor.pool} pool)  {processor.description}", file=out)
        for option in processor.options:
            extra = f" one of {', '.join(option.choices)};" if option.choices else ""
            print(f"    --option {option.name}=…  {option.help}{extra} default {option.default!r}", file=out)
    for error in registry.load_errors():
        print(f"(plugin not loaded: {error})", file=out)
    return 0


# ------------------------------------------------------------------ run


@dataclass
class Job:
    """What a run needs to run again: kept in the history as the run's arguments."""

    processor: str
    options: dict[str, Any]
    pool: str
    workers: int | None
    timeout: float | None
    retries: int
    halt_after: int | None
    include: list[str]
    exclude: list[str]
    follow_symlinks: bool
    paths: list[str]
    cwd: str

    @classmethod
    def from_record(cls, record: RunRecord) -> Job:
        names = {field.name for field in dataclasses.fields(cls)}
        if not names <= set(record.arguments):
            raise ValueError(
                f"run {record.id} was not started by poolscope run; resume it from the window instead"
            )
        return cls(**{name: record.arguments[name] for name in names})


class _Usage(Exception):
    """Bad usage: the message goes to standard error and the exit status is 2."""


def run(args: argparse.Namespace, out: TextIO) -> int:
    try:
        return _run(args, out)
    except _Usage as exc:
        print(f"poolscope run: {exc}", file=sys.stderr)
        return USAGE_ERROR


def _run(args: argparse.Namespace, out: TextIO) -> int:
    _check_usage(args)
    # Files named on this command line are relative to here, even when a
    # resume moves to the folder its run started in.
    results = os.path.abspath(args.results) if args.results else None
    joblog_path = os.path.abspath(args.joblog) if args.joblog else None
    new = _new_job(args) if args.resume is None else None  # bad usage leaves no history file behind
    store: Store | None = None
    if not args.no_history:
        store, note = open_store(args.db)
        if note:
            print(f"poolscope run: {note}", file=sys.stderr)
    try:
        if new is None:
            if store is None:
                print(f"poolscope run: cannot resume run {args.resume}: history is off", file=sys.stderr)
                return 1
            return _resume(args, store, out, results, joblog_path)
        return _start(*new, store, out, results, joblog_path)
    finally:
        if store is not None:
            store.close()


def _check_usage(args: argparse.Namespace) -> None:
    if args.results:
        try:
            check_results_path(args.results)
        except ValueError as exc:
            raise _Usage(f"--results: {exc}") from None
    if args.resume is None:
        if args.retry_failed:
            raise _Usage("--retry-failed goes with --resume RUN_ID")
        if not args.processor:
            raise _Usage("the following arguments are required: --processor/-p")
        if not args.paths:
            raise _Usage("the following arguments are required: PATH")
        return
    given = [
        flag
        for flag, value in (
            ("--processor", args.processor),
            ("--option", args.option),
            ("--pool", args.pool),
            ("--out", args.out),
            ("--include", args.include),
            ("--exclude", args.exclude),
            ("--follow-symlinks", args.follow_symlinks),
            ("PATH", args.paths),
            ("--no-history", args.no_history),
        )
        if value
    ]
    if given:
        raise _Usage(
            f"--resume runs a run again as it was recorded: leave out {', '.join(given)} "
            "(--workers, --timeout, --retries, --halt-after, --joblog and --results may be given)"
        )


def _new_job(args: argparse.Namespace) -> tuple[Job, Processor, dict[str, Any]]:
    try:
        processor = registry.get(args.processor)
        options = processor.resolve_options(_parse_options(processor, args.option, args.out))
    except (KeyError, ValueError) as exc:
        raise _Usage(exc.args[0] if exc.args else exc) from None
    job = Job(
        processor=processor.name,
        options=options,
        pool=args.pool or processor.pool,
        workers=args.workers,
        timeout=args.timeout,
        retries=args.retries or 0,
        halt_after=args.halt_after,
        include=args.include,
        exclude=args.exclude,
        follow_symlinks=args.follow_symlinks,
        paths=args.paths,
        cwd=os.getcwd(),
    )
    return job, processor, options


def _start(
    job: Job,
    processor: Processor,
    options: dict[str, Any],
    store: Store | None,
    out: TextIO,
    results: str | None,
    joblog_path: str | None,
) -> int:
    run_id = None
    if store is not None:
        try:
            run_id = store.begin_run(
                title=f"{job.processor} over {', '.join(job.paths)}",
                processor=job.processor,
                options=options,
                arguments=dataclasses.asdict(job),
            )
        except (StoreError, ValueError) as exc:  # ValueError: options that JSON cannot hold
            print(f"poolscope run: history is off for this run: {exc}", file=sys.stderr)
        else:
            print(f"run {run_id} started", file=out, flush=True)
    inputs = _walk(job, known=set(), next_seq=1)
    rows, state = _execute(job, processor, options, inputs, store, run_id, joblog_path, append_log=False)
    done = sum(row["state"] == "done" for row in rows)
    failed = len(rows) - done
    if rows or state is not RunState.INTERRUPTED:
        print(f"{done} done, {failed} failed, of {len(rows)} inputs", file=out)
    for row in rows:
        if row["state"] != "done":
            print(f"  {row['state']}: {row['input']}: {row['error']}", file=out)
    _finish(store, run_id, state, out)
    if results:
        write_results(results, rows)
    return 0 if rows and not failed else 1


def _resume(
    args: argparse.Namespace, store: Store, out: TextIO, results: str | None, joblog_path: str | None
) -> int:
    try:
        record = store.run(args.resume)
        job = Job.from_record(record)
        processor = registry.get(job.processor)
        options = processor.resolve_options(job.options)
    except UnknownRun as exc:
        raise _Usage(str(exc)) from None
    except (KeyError, ValueError) as exc:
        raise _Usage(exc.args[0] if exc.args else exc) from None
    try:
        os.chdir(job.cwd)
    except OSError as exc:
        raise _Usage(f"run {record.id} ran in {job.cwd}, which cannot be entered: {exc.strerror}") from None
    job.workers = args.workers or job.workers
    job.timeout = args.timeout if args.timeout is not None else job.timeout
    job.retries = args.retries if args.retries is not None else job.retries
    job.halt_after = args.halt_after or job.halt_after
    try:
        record = store.resume_run(record.id)
    except StoreError as exc:
        print(f"poolscope run: cannot resume run {record.id}: {exc}", file=sys.stderr)
        return 1
    again = store.resumable(record.id, include_failed=args.retry_failed)
    walk = not record.inputs_complete
    inputs: Iterable[tuple[int, str | Rejected, str]] = [
        (t.seq, t.input or t.label or "", t.label or "") for t in again
    ]
    if walk:
        inputs = itertools.chain(inputs, _walk(job, known=store.labels(record.id), next_seq=record.total + 1))
    print(
        f"run {record.id} started (resuming: {len(again)} of {record.total} inputs to run again"
        + (", and the paths are walked again for inputs the run had not reached" if walk else "")
        + ")",
        file=out,
        flush=True,
    )
    rows, state = _execute(job, processor, options, inputs, store, record.id, joblog_path, append_log=True)
    done = sum(row["state"] == "done" for row in rows)
    if rows or state is not RunState.INTERRUPTED:
        print(f"{done} done, {len(rows) - done} failed, of {len(rows)} inputs run again", file=out)
    for row in rows:
        if row["state"] != "done":
            print(f"  {row['state']}: {row['input']}: {row['error']}", file=out)
    final = _finish(store, record.id, state, out)
    if results:
        write_results(results, rows)
    return 0 if final is not None and final.total and final.done == final.total else 1


def _walk(job: Job, known: set[str], next_seq: int) -> Iterator[tuple[int, str | Rejected, str]]:
    """(seq, input, label) for each input under the job's paths that is not
    in ``known``, numbered from ``next_seq`` (the store numbers them the same
    way, in the order they reach it)."""
    for item in expand_paths(job.paths, job.include or ("*",), job.exclude, job.follow_symlinks):
        label = item.path if isinstance(item, Rejected) else item
        if label in known:
            continue
        yield next_seq, item, label
        next_seq += 1


def _finish(store: Store | None, run_id: int | None, state: RunState, out: TextIO) -> RunRecord | None:
    if store is None or run_id is None:
        return None
    try:
        record = store.finish_run(run_id, state)
    except StoreError as exc:
        print(f"poolscope run: the history of run {run_id} may be incomplete: {exc}", file=sys.stderr)
        return None
    print(
        f"run {record.id} {record.state}: {record.done} done, {record.failed} failed, "
        f"of {record.total} inputs",
        file=out,
    )
    if store.dropped:
        print(f"poolscope run: {store.dropped} events were not recorded", file=sys.stderr)
    return record


def _execute(
    job: Job,
    processor: Processor,
    options: dict[str, Any],
    inputs: Iterable[tuple[int, str | Rejected, str]],
    store: Store | None,
    run_id: int | None,
    joblog_path: str | None,
    append_log: bool,
) -> tuple[list[dict[str, Any]], RunState]:
    """Run the inputs on a fresh pool, recorded and logged; (rows, how it ended)."""
    pool: Pool = (
        ProcessPool(workers=job.workers) if job.pool == "process" else ThreadPool(workers=job.workers or 4)
    )
    recording = None
    joblog = None
    rows: list[dict[str, Any]] = []
    state = RunState.FINISHED
    progress = _Progress(sys.stderr)
    try:
        if store is not None and run_id is not None:
            try:
                recording = store.attach(pool, run_id)
            except StoreError as exc:
                print(f"poolscope run: history is off for this run: {exc}", file=sys.stderr)
        if joblog_path:
            joblog = JobLog(joblog_path, append=append_log)
            joblog.watch(pool)
        rows, halted = _process(pool, processor, options, job, inputs, progress, recording, joblog)
        if halted:
            state = RunState.HALTED
        elif recording is not None:
            recording.inputs_complete()
    except KeyboardInterrupt:
        pool.terminate()
        state = RunState.INTERRUPTED
        print("\npoolscope run: interrupted", file=sys.stderr)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if joblog is not None:
            joblog.close()
    progress.finish()
    return rows, state


def _parse_options(processor: Processor, pairs: list[str], out_dir: str | None) -> dict[str, Any]:
    known = {option.name: option for option in processor.options}
    options: dict[str, Any] = {}
    if out_dir is not None and "out_dir" in known:
        os.makedirs(out_dir, exist_ok=True)
        options["out_dir"] = out_dir
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--option {pair!r} is not of the form KEY=VALUE")
        option = known.get(key)
        options[key] = _convert(option, text) if option is not None else text
    return options


def _convert(option: Option, text: str) -> Any:
    if option.kind == "int":
        return int(text)
    if option.kind == "float":
        return float(text)
    if option.kind == "bool":
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ValueError(f"option {option.name!r} is true or false, not {text!r}")
        return text.lower() in ("true", "yes", "1")
    return text


def _process(
    pool: Pool,
    processor: Processor,
    options: dict[str, Any],
    job: Job,
    inputs: Iterable[tuple[int, str | Rejected, str]],
    progress: _Progress,
    recording: Recording | None,
    joblog: JobLog | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Stream the inputs into the pool while results come back; one row per
    input, and whether a halt rule stopped the batch."""
    rows: list[dict[str, Any]] = []
    pending: dict[Future[Any], dict[str, Any]] = {}
    finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()  # fed by done-callbacks
    failures = 0
    halted = False

    def collect(future: Future[Any]) -> None:
        nonlocal failures, halted
        row = pending.pop(future)
        if future.cancelled():
            row.update(state="cancelled", error="not run: the batch was halted")
        elif future.exception() is not None:
            row.update(state="failed", error=str(future.exception()))
            failures += 1
        else:
            row.update(state="done", result=future.result())
        task = getattr(future, "task", None)
        if task is not None and task.started_at and task.finished_at:
            row["seconds"] = round(task.finished_at - task.started_at, 6)
        progress.update(len(rows) - len(pending), len(rows), failures)

    def halt_if_asked() -> None:
        nonlocal halted
        if job.halt_after and failures >= job.halt_after and not halted:
            halted = True
            pool.cancel_queued()

    for seq, item, label in inputs:
        if isinstance(item, Rejected):
            rows.append({"input": item.path, "state": "rejected", "result": None, "error": item.reason})
            failures += 1
            if recording is not None:
                recording.reject(label, item.reason, item.path)
        else:
            row = {"input": item, "state": "queued", "result": None, "error": None, "seconds": None}
            rows.append(row)
            if joblog is not None:
                joblog.seqs[label] = seq
            future = pool.schedule(
                processor.function, (item,), options, label=label, timeout=job.timeout, retries=job.retries
            )
            pending[future] = row
            future.add_done_callback(finished.put)
        while not finished.empty():
            collect(finished.get())
        halt_if_asked()
        if halted:
            break
    while pending:
        collect(finished.get())
        halt_if_asked()
    return rows, halted


class JobLog:
    """A job log in the manner of GNU parallel's ``--joblog``: a header, then
    one tab-separated line per attempt that ran, written as it ends::

        Seq  Worker  Starttime  JobRuntime  State  Exitval  Input

    Seq numbers the input within its run (the history's seq; every attempt
    at an input has the same one), Starttime is seconds since the epoch,
    JobRuntime seconds, State done, failed or cancelled, Exitval 0 when done,
    the exit code when an external command failed, else the exception's type
    name. Tabs, newlines and backslashes in an input are written as \\t,
    \\n and \\\\, so a line stays one line. Lines are written as they come
    (line-buffered), so a killed run keeps the lines of what ended.
    """

    HEADER = "Seq\tWorker\tStarttime\tJobRuntime\tState\tExitval\tInput\n"

    def __init__(self, path: str, append: bool = False) -> None:
        self._file = open(path, "a" if append else "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        if self._file.tell() == 0:
            self._file.write(self.HEADER)
        self._lock = threading.Lock()
        self._tasks: dict[int, Task] = {}
        #: label -> seq, filled by whoever submits
        self.seqs: dict[str, int] = {}
        self._unsubscribe: list[Any] = []

    def watch(self, pool: Pool) -> None:
        self._unsubscribe.append(pool.events.subscribe(self._on_event))

    def _on_event(self, event: Event) -> None:
        # Runs in the pool's threads: a dict operation, and a line at the end.
        kind = event.kind
        if kind is EventKind.TASK_SUBMITTED:
            self._tasks[event.task_id] = event.payload  # type: ignore[index]
        elif kind is EventKind.TASK_DONE or kind is EventKind.TASK_FAILED or kind is EventKind.TASK_CANCELLED:
            task = self._tasks.pop(event.task_id, None)  # type: ignore[arg-type]
            if task is None or task.started_at is None:
                return  # cancelled before it ran: not an attempt
            error = None if kind is EventKind.TASK_DONE else event.payload
            line = "\t".join(
                (
                    str(self.seqs.get(task.label or "", "")),
                    str(event.worker_id if event.worker_id is not None else ""),
                    f"{task.started_at:.3f}",
                    f"{event.time - task.started_at:.3f}",
                    kind.value.removeprefix("task_"),
                    exit_value(error),
                    _one_line(task.label or ""),
                )
            )
            with self._lock:
                self._file.write(line + "\n")

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        with self._lock:
            self._file.close()


_EXIT_CODE = re.compile(r"^the command .* exited with code (-?\d+)")
_KILLED = re.compile(r"^the command .* was killed by signal (\d+)")


def exit_value(error: TaskError | None) -> str:
    """The joblog's Exitval: 0 for success; the exit code of a failed command
    (negative: the signal that killed it, as subprocess reports it); else the
    exception's type name."""
    if error is None:
        return "0"
    if error.type_name.endswith("CommandFailed"):
        first = error.message.partition("\n")[0]
        found = _EXIT_CODE.match(first)
        if found:
            return found.group(1)
        found = _KILLED.match(first)
        if found:
            return f"-{found.group(1)}"
    return error.type_name.rpartition(".")[2]


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# -------------------------------------------------------------- history


def history(args: argparse.Namespace, out: TextIO) -> int:
    """``poolscope history [export RUN_ID | delete RUN_ID...]``."""
    path = Path(getattr(args, "db", None) or default_path()).expanduser()
    action = args.action or "list"
    if action == "delete":
        try:
            store = Store(path)
        except StoreError as exc:
            print(f"poolscope history: {exc}", file=sys.stderr)
            return 1
    else:
        if not path.exists():
            if action == "list":
                print(f"no runs recorded yet (the history file {path} does not exist)", file=out)
                return 0
            print(f"poolscope history: there is no history file {path}", file=sys.stderr)
            return 1
        try:
            store = _open_to_read(path)
        except StoreError as exc:
            print(f"poolscope history: {exc}", file=sys.stderr)
            return 1
    try:
        if action == "list":
            return _list_runs(store, args.last, out)
        if action == "export":
            return _export(store, args, out)
        for run_id in args.run_ids:
            store.delete_run(run_id)
            print(f"run {run_id} deleted", file=out)
        return 0
    except UnknownRun as exc:
        print(f"poolscope history: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except StoreError as exc:
        print(f"poolscope history: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _open_to_read(path: Path) -> Store:
    """The store for listing and export: written as usual (so a crashed run is
    marked interrupted first), or only read while another PoolScope writes it."""
    try:
        return Store(path)
    except StoreLocked:
        return Store(path, read_only=True)


def _list_runs(store: Store, last: int, out: TextIO) -> int:
    runs = store.list_runs(limit=last or None)
    if not runs:
        print(f"no runs recorded yet in {store.path}", file=out)
        return 0
    header = f"{'RUN':>5}  {'STARTED':19}  {'STATE':11}  {'PROCESSOR':12}  {'DONE':>7}  {'FAILED':>7}  "
    print(header + f"{'INPUTS':>7}  DURATION", file=out)
    for record in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started))
        print(
            f"{record.id:>5}  {started:19}  {record.state:11}  {record.processor or '-':12}  "
            f"{record.done:>7}  {record.failed:>7}  {record.total:>7}  {_duration(record.duration)}",
            file=out,
        )
    shown = len(runs)
    if last and shown == last and len(store.list_runs(limit=last + 1)) > last:
        print(f"(the {shown} newest runs; --last 0 lists all)", file=out)
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _export(store: Store, args: argparse.Namespace, out: TextIO) -> int:
    if args.out:
        count = store.export(args.run_id, args.format, args.out)
        print(f"{count} attempts of run {args.run_id} written to {args.out}", file=sys.stderr)
        return 0
    try:
        store.export(args.run_id, args.format, out)
        out.flush()
    except BrokenPipeError:
        # The reader went away (| head): say nothing more, as cat would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, out.fileno())
        return 1
    return 0


class _Progress:
    """One line on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, finished: int, total: int, failed: int) -> None:
        now = time.monotonic()
        if not self.live or now - self.last < 0.1:
            return
        self.last = now
        rate = finished / max(now - self.started, 1e-9)
        width = 30
        filled = int(width * finished / total) if total else 0
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{total}  {failed} failed  {rate:,.1f}/s "
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
