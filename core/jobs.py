"""A batch of files on a pool: the paths a person dropped, expanded, streamed
into the pool, and one row per input with its outcome.

The window's job panel runs a ``Job``; nothing here knows about Qt, so a
terminal front end can run one the same way. Data flow::

    Job.start() ─► feeder thread: expand_paths(spec.paths) ─ Rejected ─► inbox: ROW (rejected)
                                      │ a file
                                      ▼
                   pool.schedule(..., block, queue_timeout) ─► inbox: ROW (queued, future)
                   (a bounded queue makes the feeder wait for room, looking
                    at its stop flag between waits)
    worker thread: the future is done ─► inbox: FINISHED (row, future)
    owner thread (the GUI on a timer, a terminal loop):
        Job.poll() ─► rows and counts ─► the stop rule ─► halt: stop the feeder and
                                                          cancel the job's queued tasks

Only the owner thread touches ``rows`` and the counts. The feeder and the
workers only put messages into ``_inbox`` (a SimpleQueue), so no worker ever
waits on the owner, and the owner never waits on the pool: a full pool queue
blocks the feeder, never the window.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import queue
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from .callables import resolve_callable
from .errors import PoolClosed, QueueFull, TaskCancelled, UnknownTask
from .expand import InputScope, Rejected, expand_paths
from .pool import Pool
from .processors.base import OutputError, Processor
from .processors.outputs import remove_leftovers
from .task import Task, TaskFuture, TaskState

__all__ = [
    "GENERAL_OPTIONS",
    "InputRow",
    "InputState",
    "Job",
    "JobChanges",
    "JobProgress",
    "JobSpec",
    "Recorder",
    "Resume",
    "StopRule",
    "make_spec",
    "path_from_url",
    "paths_from_text",
    "printable",
    "split_patterns",
    "summarize",
    "writes_files",
]

#: Options a job sets from its own fields rather than per processor: the
#: output folder, "overwrite outputs", and a processor's own time-out.
GENERAL_OPTIONS = frozenset({"out_dir", "overwrite", "timeout"})
#: How long the feeder waits for room in a bounded queue before it looks at
#: its stop flag again.
ROOM_WAIT_SECONDS = 0.1
#: The feeder pauses this long after every ``FEEDER_BURST`` files: a scan
#: left to run flat out takes the GIL from the window (and from the workers)
#: for as long as it lasts; short pauses cost it little.
FEEDER_BURST = 64
FEEDER_PAUSE_SECONDS = 0.001
#: A job never starts more than one feeder at a time; each gets a number.
_feeder_numbers = itertools.count(1)


class InputState(StrEnum):
    """Where one input stands. ``QUEUED`` covers a task that is running."""

    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def finished(self) -> bool:
        return self is not InputState.QUEUED


# ------------------------------------------------------------------ the rule


@dataclass(frozen=True)
class StopRule:
    """When a batch should give up: after ``max_failures`` failed inputs, or
    once ``max_failed_percent`` of the finished ones failed (judged only once
    ``min_finished`` have finished: one early failure is not 100 %). Rejected
    inputs never count: a bad path is reported, it does not stop the batch.
    Neither limit set: the rule is off."""

    max_failures: int | None = None
    max_failed_percent: float | None = None
    min_finished: int = 10

    def __post_init__(self) -> None:
        if self.max_failures is not None and self.max_failures < 1:
            raise ValueError(f"the stop rule needs at least 1 failure, not {self.max_failures}")
        if self.max_failed_percent is not None and not 0 < self.max_failed_percent <= 100:
            raise ValueError(
                f"the stop rule's percentage must be above 0 and at most 100, not {self.max_failed_percent:g}"
            )
        if self.min_finished < 1:
            raise ValueError(f"min_finished must be at least 1, not {self.min_finished}")

    @property
    def active(self) -> bool:
        return self.max_failures is not None or self.max_failed_percent is not None

    def reason(self, failed: int, finished: int) -> str | None:
        """Why the batch must halt now, in words; None to go on."""
        if self.max_failures is not None and failed >= self.max_failures:
            return f"{failed:,} inputs failed (the stop rule halts after {self.max_failures:,})"
        percent = self.max_failed_percent
        if percent is not None and finished >= self.min_finished and failed * 100 >= percent * finished:
            return (
                f"{failed:,} of {finished:,} finished inputs failed "
                f"({100 * failed / finished:.0f} %; the stop rule halts at {percent:g} %)"
            )
        return None

    def describe(self) -> str:
        if self.max_failures is not None:
            return f"halt after {self.max_failures:,} failures"
        if self.max_failed_percent is not None:
            return f"halt when {self.max_failed_percent:g} % have failed"
        return "off"


# ------------------------------------------------------------------ the spec


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs, checked (build it with ``make_spec``).

    ``timeout`` is the pool's per-task time-out; it is None when the processor
    enforces the time-out itself (its ``timeout`` option, in ``options``)."""

    processor: Processor
    paths: tuple[str, ...]
    options: Mapping[str, Any]
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    timeout: float | None = None
    retries: int = 0
    stop_rule: StopRule = field(default_factory=StopRule)


@dataclass(frozen=True)
class Resume:
    """What a job that finishes a recorded run feeds instead of a fresh scan:
    ``again`` (inputs to run again, in their order), then -- with ``walk`` --
    the files under the spec's paths that are not in ``known`` (the run never
    reached them)."""

    again: tuple[str, ...] = ()
    known: frozenset[str] = frozenset()
    walk: bool = False


class Recorder(Protocol):
    """Where a job reports what never reaches its pool (``core.store.Recording``
    is one): rejected inputs, and the end of a scan that saw every input."""

    def reject(self, label: str, reason: str, input: str | None = None) -> None: ...

    def inputs_complete(self) -> None: ...


def writes_files(processor: Processor) -> bool:
    """True for a processor that writes output files: it takes ``overwrite``
    (see core/processors/outputs.py, which decides on clashes)."""
    return any(option.name == "overwrite" for option in processor.options)


def _takes(processor: Processor, name: str) -> bool:
    return any(option.name == name for option in processor.options)


def make_spec(
    processor: Processor,
    paths: Iterable[str | os.PathLike[str]],
    options: Mapping[str, Any] | None = None,
    *,
    out_dir: str | None = None,
    overwrite: bool = False,
    include: Iterable[str] = ("*",),
    exclude: Iterable[str] = (),
    follow_symlinks: bool = False,
    timeout: float | None = None,
    retries: int = 0,
    stop_rule: StopRule | None = None,
    out_dir_required: bool = True,
) -> JobSpec:
    """Check what a person asked for and return the job it describes.

    Raises ``ValueError`` with a message for that person: no inputs, an
    option of the wrong kind, a missing output folder for a processor that
    writes files (unless ``out_dir_required`` is false: it then writes next
    to each input), a command template that cannot be filled in, a Python
    function that cannot be found. The output folder is created last, once
    everything else is known to be right."""
    inputs = tuple(os.fspath(path) for path in paths)
    if not inputs:
        raise ValueError("there is nothing to process: add files or folders")
    given = dict(options or {})
    if timeout is not None and not timeout > 0:
        raise ValueError(f"the time-out must be a positive number of seconds, not {timeout!r}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, not {retries}")
    pool_timeout = timeout
    if timeout is not None and _takes(processor, "timeout"):
        # The processor stops its own work (a command's whole process group);
        # a pool would only give up waiting for it.
        given["timeout"] = timeout
        pool_timeout = None
    if out_dir:
        if not _takes(processor, "out_dir"):
            raise ValueError(f"the {processor.name} processor writes no files: it takes no output folder")
        given["out_dir"] = os.path.abspath(os.path.expanduser(out_dir))
    elif writes_files(processor) and out_dir_required:
        raise ValueError(f"choose an output folder: the {processor.name} processor writes files")
    if overwrite:
        if not writes_files(processor):
            raise ValueError(f"the {processor.name} processor writes no files: there is nothing to overwrite")
        given["overwrite"] = True
    resolved = processor.resolve_options(given)
    _preflight(processor, resolved)
    include = tuple(include) or ("*",)
    spec = JobSpec(
        processor=processor,
        paths=inputs,
        options=resolved,
        include=include,
        exclude=tuple(exclude),
        follow_symlinks=follow_symlinks,
        timeout=pool_timeout,
        retries=retries,
        stop_rule=stop_rule or StopRule(),
    )
    if resolved.get("out_dir"):
        _prepare_out_dir(resolved["out_dir"])
    return spec


def _preflight(processor: Processor, options: Mapping[str, Any]) -> None:
    """Catch, once, what would otherwise fail every single task the same way."""
    # Looked up, not imported: a processor's module is loaded once it is
    # chosen, and a job of another processor need not load subprocess.
    command = sys.modules.get(f"{__package__}.processors.command")
    python_call = sys.modules.get(f"{__package__}.processors.python_call")
    if command is not None and processor.function is command.process:
        try:
            command.build_command(options["template"], "example.txt", options.get("out_dir"))
        except ValueError as exc:
            raise ValueError(f"the command template does not work: {exc}") from None
    elif python_call is not None and processor.function is python_call.process:
        resolve_callable(options["function"])  # a CallableNotFound is a ValueError


def _prepare_out_dir(out_dir: str) -> None:
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"the output folder {out_dir} is a file, not a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"the output folder {out_dir} cannot be created: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f"the output folder {out_dir} cannot be written to: permission denied")


# ------------------------------------------------------------ text to paths


def split_patterns(text: str) -> tuple[str, ...]:
    """``"*.jpg; *.png"`` or ``"*.jpg *.png"`` → ``("*.jpg", "*.png")``."""
    return tuple(part for part in re.split(r"[;,\s]+", text) if part)


def path_from_url(url: str) -> str | None:
    """The local path of a ``file:`` URL (None for any other URL). Percent
    escapes are decoded to bytes, so a name that is not UTF-8 survives."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    path = os.fsdecode(urllib.parse.unquote_to_bytes(parts.path))
    return path or None


_OTHER_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def paths_from_text(text: str) -> list[str]:
    """Pasted text to paths: one a line, ``file:`` URLs (a ``text/uri-list``)
    or plain paths; blank lines, ``#`` comments of a URI list and other URLs
    (``https://…``) skipped.
    ``~`` is expanded; duplicates are left to the expansion."""
    paths = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("file:"):
            path = path_from_url(line)
            if path:
                paths.append(path)
        elif not _OTHER_URL.match(line):
            paths.append(os.path.expanduser(line))
    return paths


# ------------------------------------------------------------------- rows


@dataclass(eq=False, slots=True)
class InputRow:
    """One input and its outcome. ``index`` is its place in ``Job.rows``."""

    input: str
    state: InputState
    result: Any = None
    error: str | None = None
    seconds: float | None = None
    index: int = -1
    future: TaskFuture | None = field(default=None, repr=False)

    @property
    def output(self) -> str | None:
        """The file the processor wrote, when it says so (``"output"``)."""
        if isinstance(self.result, dict):
            output = self.result.get("output")
            return output if isinstance(output, str) else None
        return None

    @property
    def running(self) -> bool:
        return self.state is InputState.QUEUED and self.future is not None and self.future.running()

    def started_at(self) -> float | None:
        task = self.future.task if self.future is not None else None
        return task.started_at if task is not None else None

    def record(self) -> dict[str, Any]:
        """The row as ``poolscope run --results`` writes it."""
        return {
            "input": self.input,
            "state": str(self.state),
            "result": self.result,
            "error": self.error,
            "seconds": self.seconds,
        }


def printable(text: str) -> str:
    """A path or a message as one line any display can hold: bytes that are
    not UTF-8 (surrogate escapes) and control characters come out escaped."""
    if text.isprintable():
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in escaped)


def summarize(result: Any, width: int = 80) -> str:
    """One line for a results table: a dict's fields but the input and output
    (they have columns of their own), each value shortened to ``width``."""

    def short(value: Any) -> str:
        text = value if isinstance(value, str) else repr(value)
        text = " ".join(text.split())
        return text if len(text) <= width else text[: width - 1] + "…"

    if result is None:
        return ""
    if isinstance(result, dict):
        return ", ".join(
            f"{key}: {short(value)}" for key, value in result.items() if key not in ("path", "output")
        )
    return short(result)


# --------------------------------------------------------------- progress


@dataclass(frozen=True)
class JobProgress:
    """A job's figures at one moment (for a progress bar and its labels)."""

    inputs: int
    queued: int
    done: int
    failed: int
    cancelled: int
    rejected: int
    scanning: bool
    feeding: bool
    halted: str | None
    cancelled_by_user: bool
    ended_early: str | None
    finished: bool
    elapsed: float
    eta_seconds: float | None

    @property
    def settled(self) -> int:
        """Inputs with an outcome (rejected ones included)."""
        return self.inputs - self.queued


@dataclass(frozen=True)
class JobChanges:
    """What one ``poll`` changed: ``added`` rows at the end, and the rows
    before them between ``first_changed`` and ``last_changed`` (inclusive)."""

    added: int = 0
    first_changed: int | None = None
    last_changed: int | None = None

    def __bool__(self) -> bool:
        return bool(self.added) or self.first_changed is not None


_ROW, _FINISHED, _RESUBMITTED, _FEED_ENDED = range(4)


def _post_finished(inbox: queue.SimpleQueue[tuple[Any, ...]], row: InputRow, future: TaskFuture) -> None:
    """A future's done-callback (on a worker thread): tell the owner."""
    inbox.put((_FINISHED, row, future))


def _remove_leftovers(spec: JobSpec, path: str, future: TaskFuture) -> None:
    """A done-callback (on a pool thread), before the owner hears of the end:
    an attempt that did not end DONE, or a DONE one after such an attempt,
    may follow one that was killed while it wrote its output (a process
    pool kills a task past its time-out, or cancelled); remove what it left.
    A clean first success, the common case, costs nothing."""
    task = future.task
    if task is None or (task.attempt == 1 and task.started_at is None):
        return  # it never ran
    if task.attempt == 1 and not future.cancelled() and future.exception() is None:
        return
    planned = spec.processor.planned_output
    assert planned is not None
    try:
        remove_leftovers(os.path.dirname(planned(path, **spec.options)), path)
    except (OSError, ValueError):
        pass  # a name that makes no output: nothing was written for it


_HALTED_NOTE = "not run: the batch was halted"
_CANCELLED_NOTE = "not run: the job was cancelled"
#: A budgeted poll looks at the clock every this many messages.
_CHECK_EVERY = 128


class Job:
    """A batch of inputs on one pool. Call ``start`` once, then ``poll`` from
    the thread that owns the job (it alone changes ``rows``) until
    ``finished``; ``close`` stops the feeder thread for good."""

    def __init__(
        self,
        pool: Pool,
        spec: JobSpec,
        clock: Callable[[], float] = time.monotonic,
        *,
        resume: Resume | None = None,
    ) -> None:
        self.pool = pool
        self.spec = spec
        self.resume = resume
        #: told of inputs that never reach the pool; set it before ``start``
        self.recorder: Recorder | None = None
        # One callable per job, so that whoever watches the pool's events (the
        # history) can tell this job's tasks from any other's: see ``owns``.
        self._function = functools.partial(spec.processor.function)
        self.rows: list[InputRow] = []
        self._clock = clock
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._counts = dict.fromkeys(InputState, 0)
        self._pending: dict[int, InputRow] = {}
        self._feeder: threading.Thread | None = None
        self._stop = threading.Event()
        self._feeding = False
        self._scanning = False
        self._started = False
        self._halted: str | None = None
        self._cancelled = False
        self._ended_early: str | None = None
        # The stop rule and the ETA look at the current round only: the first
        # pass, or one "retry failed".
        self._round_started = 0.0
        self._round_failed = 0
        self._round_finished = 0
        self._started_at = 0.0
        self._ended_at: float | None = None

    def owns(self, task: Task) -> bool:
        """True for a task this job put on its pool (any attempt of it)."""
        return task.fn is self._function

    # ------------------------------------------------------------ feeding

    def start(self) -> None:
        """Start scanning the paths and queueing the files (on a thread)."""
        if self._started:
            raise RuntimeError("a job starts once; use retry_failed() to run inputs again")
        self._started = True
        self._started_at = self._round_started = self._clock()
        self._scanning = True
        self._start_feeder(self._scan)

    def _start_feeder(self, target: Callable[[threading.Event], None]) -> None:
        if self._feeder is not None:
            self._feeder.join()  # it said FEED_ENDED: it is returning
        self._stop = stop = threading.Event()
        self._feeding = True
        self._ended_at = None
        self._feeder = threading.Thread(
            target=target, args=(stop,), name=f"poolscope-job-feeder-{next(_feeder_numbers)}", daemon=True
        )
        self._feeder.start()

    def _scan(self, stop: threading.Event) -> None:
        """Feeder thread: expand the paths and queue each file as it is found."""
        put, why, recorder = self._inbox.put, None, self.recorder
        try:
            scope = self._overwrite_scope()
            for count, item in enumerate(self._inputs(), 1):
                if stop.is_set():
                    break
                if count % FEEDER_BURST == 0 and FEEDER_PAUSE_SECONDS:
                    time.sleep(FEEDER_PAUSE_SECONDS)
                if isinstance(item, Rejected):
                    put((_ROW, InputRow(item.path, InputState.REJECTED, error=item.reason)))
                    if recorder is not None:
                        recorder.reject(item.path, item.reason, item.path)
                    continue
                row = InputRow(item, InputState.QUEUED)
                error = self._refusal(item, scope) if scope is not None else None
                if error is None:
                    try:
                        future = self._with_room(stop, functools.partial(self._schedule, item))
                    except PoolClosed:
                        raise
                    except Exception as exc:  # a task the pool refused (say, options that do not pickle)
                        error = f"could not be queued: {type(exc).__name__}: {exc}"
                if error is not None:
                    row.state = InputState.FAILED
                    row.error = error
                    put((_ROW, row))
                    if recorder is not None:
                        recorder.reject(item, row.error, item)
                    continue
                if future is None:
                    break
                row.future = future
                put((_ROW, row))
                self._report_when_done(row, future)
            else:
                if recorder is not None and (self.resume is None or self.resume.walk):
                    recorder.inputs_complete()
        except PoolClosed:
            why = "the pool was shut down; the remaining inputs were not queued"
        except Exception as exc:
            why = f"the scan stopped: {type(exc).__name__}: {exc}"
        finally:
            put((_FEED_ENDED, why))

    def _overwrite_scope(self) -> InputScope | None:
        """What this job's scan takes, when its outputs may replace files."""
        spec = self.spec
        if not spec.options.get("overwrite") or spec.processor.planned_output is None:
            return None
        return InputScope(spec.paths, spec.include, spec.exclude, spec.options.get("out_dir"))

    def _refusal(self, path: str, scope: InputScope) -> str | None:
        """Why ``path`` must not run: with "overwrite" on, its output would
        replace another input of this batch (inputs ``a.txt`` and
        ``a.txt.gz`` compressed into their own folder). None: it may run."""
        planned = self.spec.processor.planned_output
        assert planned is not None
        try:
            target = planned(path, **self.spec.options)
            if os.path.samefile(target, path) or not scope.includes(target):
                return None
        except (OSError, ValueError):
            return None  # no such output yet (or none at all): nothing to replace
        return str(
            OutputError(
                target,
                'it is another input of this batch, which "overwrite" would replace; '
                "choose an output folder outside the inputs",
            )
        )

    def _inputs(self) -> Iterable[str | Rejected]:
        """The files to queue (and the paths rejected): a scan of the spec's
        paths, or what a resume asks for. The output folder is not walked."""
        spec, resume = self.spec, self.resume
        out_dir = spec.options.get("out_dir")
        if resume is None:
            yield from expand_paths(spec.paths, spec.include, spec.exclude, spec.follow_symlinks, out_dir)
            return
        # Named one by one, each is checked again: it may have gone since.
        yield from expand_paths(resume.again, follow_symlinks=spec.follow_symlinks, out_dir=out_dir)
        if not resume.walk:
            return
        skip = resume.known.union(resume.again)
        for item in expand_paths(spec.paths, spec.include, spec.exclude, spec.follow_symlinks, out_dir):
            if (item.path if isinstance(item, Rejected) else item) not in skip:
                yield item

    def _schedule(self, path: str, wait: float) -> TaskFuture:
        spec = self.spec
        return self.pool.schedule(
            self._function,
            (path,),
            dict(spec.options),
            label=path,
            timeout=spec.timeout,
            retries=spec.retries,
            block=True,
            queue_timeout=wait,
        )

    def _report_when_done(self, row: InputRow, future: TaskFuture) -> None:
        # Called after the message that announced the row or its new attempt,
        # so a FINISHED message can never overtake it.
        if self.spec.processor.planned_output is not None:
            future.add_done_callback(functools.partial(_remove_leftovers, self.spec, row.input))
        future.add_done_callback(functools.partial(_post_finished, self._inbox, row))

    def _resubmit(self, rows: list[InputRow], stop: threading.Event) -> None:
        """Feeder thread: run the given finished inputs again, as new attempts."""
        put, why = self._inbox.put, None
        try:
            for row in rows:
                task = row.future.task if row.future is not None else None
                if task is None:
                    continue
                future = self._with_room(stop, functools.partial(self._retry, task))
                if future is None:
                    break
                put((_RESUBMITTED, row, future))
                self._report_when_done(row, future)
        except PoolClosed:
            why = "the pool was shut down; the remaining inputs were not queued again"
        except Exception as exc:
            why = f"the retry stopped: {type(exc).__name__}: {exc}"
        finally:
            put((_FEED_ENDED, why))

    def _retry(self, task: Task, wait: float) -> TaskFuture:
        return self.pool.retry(task, block=True, queue_timeout=wait)

    @staticmethod
    def _with_room(stop: threading.Event, submit: Callable[[float], TaskFuture]) -> TaskFuture | None:
        """Back-pressure: wait for room in a bounded queue, in short waits so a
        stop (cancel, halt, the window closing) is seen; None once stopped."""
        while not stop.is_set():
            try:
                return submit(ROOM_WAIT_SECONDS)
            except QueueFull:
                continue
        return None

    # --------------------------------------------------------------- polling

    def poll(
        self, timeout: float | None = None, limit: int = 50_000, budget: float | None = None
    ) -> JobChanges:
        """Apply what the feeder and the workers reported, then the stop
        rule. Call it from the owner thread only.

        ``timeout``: wait that long for the first message. ``limit`` and
        ``budget`` (seconds) bound one call, so a window's tick stays short
        however much arrived; the rest waits for the next call."""
        inbox = self._inbox
        first_new = len(self.rows)
        low: int | None = None
        high = -1
        deadline = None if budget is None else time.perf_counter() + budget
        handled = 0
        try:
            message = inbox.get(timeout=timeout) if timeout else inbox.get_nowait()
        except queue.Empty:
            message = None
        while message is not None:
            row = self._handle(message)
            if row is not None and row.index < first_new:
                low = row.index if low is None else min(low, row.index)
                high = max(high, row.index)
            handled += 1
            if handled >= limit:
                break
            if deadline is not None and handled % _CHECK_EVERY == 0 and time.perf_counter() >= deadline:
                break
            try:
                message = inbox.get_nowait()
            except queue.Empty:
                break
        self._apply_stop_rule()
        if self._ended_at is None and self.finished:
            self._ended_at = self._clock()
        return JobChanges(len(self.rows) - first_new, low, high if low is not None else None)

    def _handle(self, message: tuple[Any, ...]) -> InputRow | None:
        kind = message[0]
        if kind == _ROW:
            row = message[1]
            row.index = len(self.rows)
            self.rows.append(row)
            self._counts[row.state] += 1
            if row.state is InputState.QUEUED:
                self._pending[row.index] = row
                self._cancel_if_stopped(row)  # queued by the feeder as it was being stopped
            elif row.state is InputState.FAILED:
                self._count_outcome(row.state)
            return row
        if kind == _FINISHED:
            row, future = message[1], message[2]
            if future is not row.future:
                return None  # an earlier attempt's late news
            self._finish(row, future)
            return row
        if kind == _RESUBMITTED:
            row, future = message[1], message[2]
            row.future = future
            row.result = row.error = row.seconds = None
            self._set_state(row, InputState.QUEUED)
            self._cancel_if_stopped(row)
            return row
        # _FEED_ENDED
        self._feeding = self._scanning = False
        if message[1] and not self._halted and not self._cancelled:
            self._ended_early = message[1]
        return None

    def _finish(self, row: InputRow, future: TaskFuture) -> None:
        task = future.task
        if future.cancelled():
            state = InputState.CANCELLED
            row.result, row.error = None, self._cancel_note(task)
        else:
            error = future.exception()
            if error is None:
                state, row.result, row.error = InputState.DONE, future.result(), None
            else:
                state = InputState.CANCELLED if isinstance(error, TaskCancelled) else InputState.FAILED
                row.result, row.error = None, str(error)
        if task is not None and task.started_at and task.finished_at:
            row.seconds = round(task.finished_at - task.started_at, 6)
        self._set_state(row, state)
        self._count_outcome(state)

    def _cancel_note(self, task: Any) -> str:
        if self._halted:
            return _HALTED_NOTE
        if self._cancelled:
            return _CANCELLED_NOTE
        error = getattr(task, "error", None)
        return f"not run: {error.message}" if error is not None else "not run: cancelled"

    def _set_state(self, row: InputRow, state: InputState) -> None:
        self._counts[row.state] -= 1
        self._counts[state] += 1
        row.state = state
        if state is InputState.QUEUED:
            self._pending[row.index] = row
        else:
            self._pending.pop(row.index, None)

    def _count_outcome(self, state: InputState) -> None:
        if state is InputState.FAILED:
            self._round_failed += 1
            self._round_finished += 1
        elif state is InputState.DONE:
            self._round_finished += 1

    def _apply_stop_rule(self) -> None:
        rule = self.spec.stop_rule
        if self._halted or self._cancelled or not rule.active:
            return
        reason = rule.reason(self._round_failed, self._round_finished)
        if reason is not None:
            self.halt(reason)

    # ----------------------------------------------------------- commands

    def halt(self, reason: str) -> int:
        """Stop queueing and cancel the job's tasks that have not started
        (running ones finish); returns how many were cancelled."""
        self._halted = reason
        self._stop.set()
        return sum(self._cancel_queued(row) for row in list(self._pending.values()))

    def _cancel_queued(self, row: InputRow) -> bool:
        task = row.future.task if row.future is not None else None
        if task is None or task.state is not TaskState.QUEUED:
            return False
        try:
            return self.pool.cancel(task.id)
        except UnknownTask:
            return False

    def _cancel_if_stopped(self, row: InputRow) -> None:
        if self._cancelled and row.future is not None:
            row.future.cancel()
        elif self._halted:
            self._cancel_queued(row)

    def cancel(self) -> None:
        """Stop the scan and cancel every unfinished task of the job (a
        running one is asked to stop)."""
        self._cancelled = True
        self._stop.set()
        for row in list(self._pending.values()):
            if row.future is not None:
                row.future.cancel()

    def retry_failed(self) -> int:
        """Run the failed inputs again, and those a halt or a cancel left
        unrun, as new attempts (on a feeder thread: a bounded queue may make
        it wait). Returns how many; 0 while the job is still queueing."""
        if self._feeding:
            return 0
        again = [
            row
            for row in self.rows
            if row.state in (InputState.FAILED, InputState.CANCELLED) and row.future is not None
        ]
        if not again:
            return 0
        self._halted = None
        self._cancelled = False
        self._ended_early = None
        self._round_started = self._clock()
        self._round_failed = self._round_finished = 0
        self._start_feeder(lambda stop: self._resubmit(again, stop))
        return len(again)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the feeder and wait for its thread (before the pool shuts down,
        or along with it: a closed pool wakes a feeder waiting for room)."""
        self._stop.set()
        feeder = self._feeder
        if feeder is not None and feeder is not threading.current_thread():
            feeder.join(timeout)

    # --------------------------------------------------------------- state

    @property
    def finished(self) -> bool:
        """Started, nothing left to queue, every input has an outcome."""
        return self._started and not self._feeding and not self._pending

    @property
    def feeding(self) -> bool:
        return self._feeding

    @property
    def halted(self) -> str | None:
        return self._halted

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def count(self, state: InputState) -> int:
        return self._counts[state]

    def progress(self) -> JobProgress:
        counts = self._counts
        now = self._clock() if self._ended_at is None else self._ended_at
        pending = len(self._pending)
        elapsed = now - self._round_started
        eta = None
        if pending and self._round_finished and elapsed > 0.5:
            eta = pending * elapsed / self._round_finished
            eta = eta if math.isfinite(eta) else None
        return JobProgress(
            inputs=len(self.rows),
            queued=pending,
            done=counts[InputState.DONE],
            failed=counts[InputState.FAILED],
            cancelled=counts[InputState.CANCELLED],
            rejected=counts[InputState.REJECTED],
            scanning=self._scanning,
            feeding=self._feeding,
            halted=self._halted,
            cancelled_by_user=self._cancelled,
            ended_early=self._ended_early,
            finished=self.finished,
            elapsed=now - self._started_at if self._started else 0.0,
            eta_seconds=eta,
        )

    def pending_rows(self) -> list[InputRow]:
        return list(self._pending.values())

    def records(self) -> list[dict[str, Any]]:
        """One record per input, as ``poolscope run --results`` writes them."""
        return [row.record() for row in self.rows]
