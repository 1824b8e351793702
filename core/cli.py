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
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import StoreError, StoreLocked, TaskError, UnknownRun
from .events import Event, EventKind
from .jobs import Job, JobSpec, Recorder, StopRule, make_spec, printable
from .processors import registry
from .processors.base import Option, Processor
from .recorded_jobs import JobRun, ResumePlan, plan_resume, spec_of
from .result_files import check_results_path, write_results
from .store import RunRecord, RunState, Store, default_path

if TYPE_CHECKING:
    from .pool import Pool
    from .task import Task

__all__ = ["main"]

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poolscope",
        description="Process files on a pool, from a terminal.",
        formatter_class=_HelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        formatter_class=_HelpFormatter,
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
    run.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="per-task time-out")
    run.add_argument("--retries", type=_at_least(0), help="re-run a failed task up to N times")
    run.add_argument(
        "--halt-after",
        type=_at_least(1),
        metavar="N",
        help="stop queueing after N failed inputs (rejected paths do not count), as the window's stop rule",
    )
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
    run.add_argument("--db", metavar="PATH", help=f"the history file (default: {DEFAULT_DB})")
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
        help=f"the history file (default: {DEFAULT_DB})",
    )
    history = commands.add_parser(
        "history",
        parents=[db],
        formatter_class=_HelpFormatter,
        help="list, export or delete recorded runs",
        description="List recorded runs (newest first), export one, or delete some.",
    )
    history.add_argument("--last", type=_at_least(0), default=20, metavar="N", help="list N runs (0: all)")
    actions = history.add_subparsers(dest="action")
    export = actions.add_parser(
        "export", parents=[db], formatter_class=_HelpFormatter, help="write a run's tasks as CSV or JSON"
    )
    export.add_argument("run_id", type=int, metavar="RUN_ID")
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--out", metavar="FILE", help="default: standard output")
    delete = actions.add_parser(
        "delete", parents=[db], formatter_class=_HelpFormatter, help="delete runs and their tasks"
    )
    delete.add_argument("run_ids", type=int, nargs="+", metavar="RUN_ID")


#: Stands for the default history file in a help text, until the help is shown.
DEFAULT_DB = "<the history file in the user's data folder>"


class _HelpFormatter(argparse.HelpFormatter):
    """Names the default history file only when a help text is shown:
    finding it loads platformdirs, which a run (say, with --db) never needs."""

    def _expand_help(self, action: argparse.Action) -> str:
        text = super()._expand_help(action)
        return text.replace(DEFAULT_DB, _shown(default_path())) if DEFAULT_DB in text else text


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + os.sep) else text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


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
#
# One engine for the terminal and the window: a core.jobs.Job built by
# make_spec, recorded by core.recorded_jobs. What is left here is the
# terminal's share: parsing, a loop that polls the job, a progress line, the
# summary, the results file and the job log.

#: How long one poll of the job waits for news before the progress line is redrawn.
POLL_SECONDS = 0.1
#: Between polls the loop rests this long, so that it takes the news of
#: many files at a time: woken for each one, it would take the GIL from the
#: workers as often as a file ends.
PACE_SECONDS = 0.005


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
    joblog = os.path.abspath(args.joblog) if args.joblog else None
    if args.resume is not None:
        return _resume(args, out, results, joblog)
    return _start(args, out, results, joblog)


def _check_usage(args: argparse.Namespace) -> None:
    if args.results:
        try:
            check_results_path(args.results, writable=True)
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


def _new_spec(args: argparse.Namespace) -> tuple[JobSpec, str]:
    """The job the command line asks for, checked as the window checks it,
    and the kind of pool it runs on; bad usage raises ``_Usage``."""
    try:
        processor = registry.get(args.processor)
        options = _parse_options(processor, args.option)
        out_dir = args.out or options.pop("out_dir", None)
        overwrite = options.pop("overwrite", False)
        spec = make_spec(
            processor,
            args.paths,
            options,
            out_dir=out_dir,
            overwrite=bool(overwrite),
            include=args.include,
            exclude=args.exclude,
            follow_symlinks=args.follow_symlinks,
            timeout=args.timeout,
            retries=args.retries or 0,
            stop_rule=StopRule(max_failures=args.halt_after),
            out_dir_required=False,  # a file processor writes next to each input
        )
    except (KeyError, ValueError) as exc:
        raise _Usage(exc.args[0] if exc.args else exc) from None
    return spec, args.pool or processor.pool


def _parse_options(processor: Processor, pairs: list[str]) -> dict[str, Any]:
    known = {option.name: option for option in processor.options}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--option {pair!r} is not of the form KEY=VALUE")
        option = known.get(key)
        options[key] = _convert(processor, option, text) if option is not None else text
    return options


def _convert(processor: Processor, option: Option, text: str) -> Any:
    where = f"option {option.name!r} of the {processor.name} processor"
    try:
        if option.kind == "int":
            return int(text)
        if option.kind == "float":
            return float(text)
    except ValueError:
        kind = "a whole number" if option.kind == "int" else "a number"
        raise ValueError(f"{where} must be {kind}, not {text!r}") from None
    if option.kind == "bool":
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ValueError(f"{where} is true or false, not {text!r}")
        return text.lower() in ("true", "yes", "1")
    return text


def _make_pool(kind: str, workers: int | None, processor: Processor) -> Pool:
    # Imported here: a run needs one kind of pool, not both.
    if kind == "process":
        from .process_pool import ProcessPool
        from .warm_start import start_forkserver

        start_forkserver(processor.function.__module__)  # unless it was started early
        return ProcessPool(workers=workers)
    from .thread_pool import ThreadPool

    return ThreadPool(workers=workers or 4)


def _start(args: argparse.Namespace, out: TextIO, results: str | None, joblog: str | None) -> int:
    spec, pool_kind = _new_spec(args)  # bad usage leaves no history file behind
    # The workers start now, and get ready while the history opens.
    pool = _make_pool(pool_kind, args.workers, spec.processor)
    try:
        store = None
        if not args.no_history:
            from .store import open_store

            store, note = open_store(args.db)
            if note:
                print(f"poolscope run: {note}", file=sys.stderr)
        try:
            job = Job(pool, spec)
            recorded = None
            if store is not None:
                try:
                    recorded = JobRun.begin(store, job, pool_kind, args.workers)
                except (StoreError, ValueError) as exc:  # ValueError: options that JSON cannot hold
                    print(f"poolscope run: history is off for this run: {exc}", file=sys.stderr)
                else:
                    print(f"run {recorded.run_id} started", file=out, flush=True)
            interrupted = _follow(job, joblog, seqs={}, append=False)
            return _report(job, recorded, interrupted, out, results, again=False)
        finally:
            if store is not None:
                store.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _resume(args: argparse.Namespace, out: TextIO, results: str | None, joblog: str | None) -> int:
    from .store import open_store

    store, note = open_store(args.db)
    if note:
        print(f"poolscope run: {note}", file=sys.stderr)
    if store is None:
        print(f"poolscope run: cannot resume run {args.resume}: history is off", file=sys.stderr)
        return 1
    try:
        plan = _plan(args, store)
        workers = args.workers or plan.record.arguments.get("workers")
        pool = _make_pool(plan.pool, workers, plan.spec.processor)
        try:
            job = Job(pool, plan.spec, resume=plan.resume)
            try:
                recorded = JobRun.resume(store, plan, job)
            except StoreError as exc:
                print(f"poolscope run: cannot resume run {plan.record.id}: {exc}", file=sys.stderr)
                return 1
            record, resume = plan.record, plan.resume
            print(
                f"run {record.id} started (resuming: {len(resume.again)} of {record.total} inputs to run "
                "again"
                + (
                    ", and the paths are walked again for inputs the run had not reached"
                    if resume.walk
                    else ""
                )
                + ")",
                file=out,
                flush=True,
            )
            seqs = {task.label: task.seq for task in store.tasks(record.id) if task.label is not None}
            interrupted = _follow(job, joblog, seqs=seqs, append=True)
            return _report(job, recorded, interrupted, out, results, again=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        store.close()


def _plan(args: argparse.Namespace, store: Store) -> ResumePlan:
    """The recorded run rebuilt, from the folder it ran in (its paths may be
    relative to it), with what this command line changes."""
    try:
        record = store.run(args.resume)
    except UnknownRun as exc:
        raise _Usage(str(exc)) from None
    cwd = record.arguments.get("cwd")
    if cwd:
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise _Usage(f"run {record.id} ran in {cwd}, which cannot be entered: {exc.strerror}") from None
    changes = {
        key: value
        for key, value in (
            ("timeout", args.timeout),
            ("retries", args.retries),
            ("halt_after", args.halt_after),
        )
        if value is not None
    }
    try:
        plan = plan_resume(store, record.id, include_failed=args.retry_failed)
        if changes:
            changed = dataclasses.replace(plan.record, arguments={**plan.record.arguments, **changes})
            plan = dataclasses.replace(plan, spec=spec_of(changed)[0])
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    return plan


def _follow(job: Job, joblog_path: str | None, seqs: dict[str, int], append: bool) -> bool:
    """Run the job to its end with a progress line (and the job log); True
    when Ctrl+C cut it short. The pool is shut down on the way out, so every
    event has been emitted before the run is ended."""
    joblog = JobLog(joblog_path, append=append, seqs=seqs) if joblog_path else None
    if joblog is not None:
        joblog.watch(job)
    progress = _Progress(sys.stderr)
    interrupted = False
    try:
        job.start()
        with _CtrlC() as ctrl_c:
            while not ctrl_c.pressed:
                job.poll(timeout=POLL_SECONDS)
                progress.update(job)
                if job.finished:
                    break
                time.sleep(PACE_SECONDS)
        if ctrl_c.pressed and not job.finished:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        interrupted = True
        job.pool.terminate()
        print("\npoolscope run: interrupted", file=sys.stderr)
    finally:
        job.close()
        job.pool.shutdown(wait=True, cancel_futures=True)
        if joblog is not None:
            joblog.close()
    progress.finish()
    if interrupted:
        while job.poll():  # what ended while the pool stopped
            pass
    return interrupted


class _CtrlC:
    """Ctrl+C as a flag that the loop reads, while it runs. Raised as
    KeyboardInterrupt, it would surface in whatever the main thread runs at
    that moment -- a done callback or an event subscriber, which log every
    exception and carry on -- and the run would go on as if nothing was
    pressed. A second Ctrl+C raises at once, as usual. Where SIGINT is
    ignored (a background job) it stays ignored."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def __enter__(self) -> _CtrlC:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._press)
        return self

    def _press(self, signum: int, frame: Any) -> None:
        self.pressed = True
        signal.signal(signal.SIGINT, self._previous)  # a second press is not to wait

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _report(
    job: Job, recorded: JobRun | None, interrupted: bool, out: TextIO, results: str | None, again: bool
) -> int:
    """Write the results file, then the summary (every name printable, one
    line each), then end the recorded run; the exit status."""
    rows = job.records()
    failed_to_write = False
    if results:
        try:
            write_results(results, rows)
        except OSError as exc:
            failed_to_write = True
            print(f"poolscope run: the results were not written to {results}: {exc}", file=sys.stderr)
    done = sum(row["state"] == "done" for row in rows)
    failed = len(rows) - done
    if rows or not interrupted:
        print(
            f"{done} done, {failed} failed, of {len(rows)} inputs" + (" run again" if again else ""), file=out
        )
    if job.halted:
        print(f"halted: {printable(job.halted)}", file=out)
    for row in rows:
        if row["state"] != "done":
            print(f"  {row['state']}: {printable(row['input'])}: {printable(row['error'] or '')}", file=out)
    final = _end(job, recorded, interrupted, out)
    if failed_to_write:
        return 1
    if again:
        return 0 if final is not None and final.total and final.done == final.total else 1
    return 0 if rows and not failed else 1


def _end(job: Job, recorded: JobRun | None, interrupted: bool, out: TextIO) -> RunRecord | None:
    if recorded is None:
        return None
    try:
        record = recorded.end(job, RunState.INTERRUPTED if interrupted else None)
    except StoreError as exc:
        print(
            f"poolscope run: the history of run {recorded.run_id} may be incomplete: {exc}", file=sys.stderr
        )
        return None
    print(
        f"run {record.id} {record.state}: {record.done} done, {record.failed} failed, "
        f"of {record.total} inputs",
        file=out,
    )
    if recorded.store.dropped:
        print(f"poolscope run: {recorded.store.dropped} events were not recorded", file=sys.stderr)
    return record


class JobLog:
    """A job log in the manner of GNU parallel's ``--joblog``: a header, then
    one tab-separated line per attempt that ran, written as it ends::

        Seq  Worker  Starttime  JobRuntime  State  Exitval  Input

    Seq numbers the input within its run as the history does (every attempt
    at an input has the same one; inputs are numbered in the order they reach
    the pool or are rejected, so a resume continues after the run's last),
    Starttime is seconds since the epoch, JobRuntime seconds, State done,
    failed or cancelled, Exitval 0 when done, the exit code when an external
    command failed, else the exception's type name. Tabs, newlines and
    backslashes in an input are written as \\t, \\n and \\\\, so a line stays
    one line. Lines are written as they come (line-buffered), so a killed run
    keeps the lines of what ended.
    """

    HEADER = "Seq\tWorker\tStarttime\tJobRuntime\tState\tExitval\tInput\n"

    def __init__(self, path: str, append: bool = False, seqs: dict[str, int] | None = None) -> None:
        self._file = open(path, "a" if append else "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        if self._file.tell() == 0:
            self._file.write(self.HEADER)
        self._lock = threading.Lock()
        self._tasks: dict[int, Task] = {}
        self._seqs = dict(seqs or {})
        self._next_seq = max(self._seqs.values(), default=0) + 1
        self._select: Any = None
        self._unsubscribe: list[Any] = []

    def seq(self, label: str) -> int:
        """The input's number: its own if it has one, else the next."""
        with self._lock:
            seq = self._seqs.get(label)
            if seq is None:
                seq = self._seqs[label] = self._next_seq
                self._next_seq += 1
            return seq

    def watch(self, job: Job) -> None:
        """Log the job's attempts. Call it after the job's run is attached
        and before it starts: the log numbers rejected inputs as they pass
        the job's recorder, and queued ones as the pool announces them."""
        self._select = job.owns
        self._unsubscribe.append(job.pool.events.subscribe(self._on_event))
        job.recorder = _Numbering(self, job.recorder)

    def _on_event(self, event: Event) -> None:
        # Runs in the pool's threads: a dict operation, and a line at the end.
        kind = event.kind
        if kind is EventKind.TASK_SUBMITTED:
            task: Task = event.payload  # type: ignore[assignment]
            if self._select(task):
                self._tasks[task.id] = task
                self.seq(task.label or "")
        elif kind is EventKind.TASK_DONE or kind is EventKind.TASK_FAILED or kind is EventKind.TASK_CANCELLED:
            found = self._tasks.pop(event.task_id, None)  # type: ignore[arg-type]
            if found is None or found.started_at is None:
                return  # cancelled before it ran: not an attempt
            error = None if kind is EventKind.TASK_DONE else event.payload
            line = "\t".join(
                (
                    str(self.seq(found.label or "")),
                    str(event.worker_id if event.worker_id is not None else ""),
                    f"{found.started_at:.3f}",
                    f"{event.time - found.started_at:.3f}",
                    kind.value.removeprefix("task_"),
                    exit_value(error),
                    _one_line(found.label or ""),
                )
            )
            with self._lock:
                self._file.write(line + "\n")

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        with self._lock:
            self._file.close()


class _Numbering:
    """A job's recorder that numbers each rejected input in the job log
    before passing it on to the history (if any), in the same order."""

    def __init__(self, log: JobLog, inner: Recorder | None) -> None:
        self._log = log
        self._inner = inner

    def reject(self, label: str, reason: str, input: str | None = None) -> None:
        self._log.seq(label)
        if self._inner is not None:
            self._inner.reject(label, reason, input)

    def inputs_complete(self) -> None:
        if self._inner is not None:
            self._inner.inputs_complete()


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

    def update(self, job: Job) -> None:
        now = time.monotonic()
        if not self.live or now - self.last < 0.1:
            return
        self.last = now
        progress = job.progress()
        finished, total = progress.settled, progress.inputs
        rate = finished / max(now - self.started, 1e-9)
        width = 30
        filled = int(width * finished / total) if total else 0
        found = "found so far" if progress.scanning else ""
        left = f"  {_duration(progress.eta_seconds)} left" if progress.eta_seconds is not None else ""
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} {found} "
            f"{progress.failed + progress.rejected} failed  {rate:,.1f}/s{left} "
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
