"""What every processor is made of: its record, its errors, and the checks and
helpers that keep a batch of untrusted paths from hurting the worker.

Everything here runs inside worker processes too: no Qt, module-level
functions only, and records that pickle (a processor's function pickles by its
module and name).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from ..errors import TaskCancelled
from ..task import current_task, report_progress

__all__ = [
    "BLOCK_SIZE",
    "CommandFailed",
    "InputError",
    "Option",
    "OutputError",
    "Processor",
    "ProcessorError",
    "cancel_requested",
    "check_input",
    "display_path",
    "open_input",
    "raise_if_cancelled",
    "read_blocks",
]

#: inputs are streamed in blocks of this size, so memory stays flat for any file
BLOCK_SIZE = 1 << 20
#: inputs larger than this report their progress block by block
PROGRESS_THRESHOLD = 8 * BLOCK_SIZE

PoolKind = Literal["thread", "process"]


@dataclass(frozen=True)
class Option:
    """One option of a processor, described as plain data so a dialog can
    build a field for it and a settings file can store it.

    ``kind`` is one of ``"str"``, ``"int"``, ``"float"``, ``"bool"``,
    ``"choice"`` (one of ``choices``) and ``"folder"`` (a path to a folder).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False


@dataclass(frozen=True)
class Processor:
    """A named thing to do with one file: ``function(path, **options) -> dict``.

    ``pool`` says which pool suits it ("process" for CPU-bound work that holds
    the GIL, "thread" for work that waits on the disk or a child process);
    ``needs_content`` makes an empty file a bad input.
    """

    name: str
    function: Callable[..., dict[str, Any]]
    description: str
    options: tuple[Option, ...] = ()
    pool: PoolKind = "thread"
    needs_content: bool = True
    #: True when the function takes options beyond those listed (``python``)
    extra_options: bool = False
    #: For a processor that writes one output per input: ``planned_output(path,
    #: **options)``, where that output goes before any numbering. A job uses
    #: it to refuse, with "overwrite" on, an output that would replace another
    #: of its inputs, and to remove what a killed attempt left behind (see
    #: ``outputs.remove_leftovers``).
    planned_output: Callable[..., str] | None = None

    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}

    def resolve_options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults overlaid with ``given``, checked against the options'
        kinds, choices and ranges; a ``ValueError`` names what is wrong."""
        given = dict(given or {})
        known = {option.name: option for option in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown and not self.extra_options:
            raise ValueError(
                f"the {self.name} processor has no option {', '.join(map(repr, unknown))}; "
                f"its options are: {', '.join(known) or 'none'}"
            )
        resolved = self.defaults()
        resolved.update(given)
        for name, option in known.items():
            _check_option(self.name, option, resolved[name])
        return resolved


def _check_option(processor: str, option: Option, value: Any) -> None:
    where = f"option {option.name!r} of the {processor} processor"
    if value is None:
        if option.required:
            raise ValueError(f"{where} is required: {option.help}")
        return
    if option.kind == "choice" and value not in option.choices:
        raise ValueError(f"{where} must be one of {', '.join(option.choices)}, not {value!r}")
    if option.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where} must be a number, not {value!r}")
        if option.kind == "int" and not isinstance(value, int):
            raise ValueError(f"{where} must be a whole number, not {value!r}")
        if option.minimum is not None and value < option.minimum:
            raise ValueError(f"{where} must be at least {option.minimum:g}, not {value!r}")
        if option.maximum is not None and value > option.maximum:
            raise ValueError(f"{where} must be at most {option.maximum:g}, not {value!r}")
    if option.kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, not {value!r}")
    if option.kind in ("str", "folder") and not isinstance(value, str):
        raise ValueError(f"{where} must be text, not {value!r}")


# ---------------------------------------------------------------- errors


def display_path(path: str | os.PathLike[str]) -> str:
    """The path quoted for a message; names with control characters or bytes
    that are not valid UTF-8 are shown escaped, so a message stays one line."""
    text = os.fspath(path)
    if text.isprintable() and not any("\udc80" <= ch <= "\udcff" for ch in text):
        return f"'{text}'"
    return ascii(text)


class ProcessorError(Exception):
    """Base of the processors' errors. Each pickles by its ``args``, so it
    travels back from a worker process intact."""


class InputError(ProcessorError):
    """An input cannot be processed: missing, unreadable, not a regular file,
    empty, or not what the processor reads (say, not an image)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{display_path(self.path)} {self.reason}"


class OutputError(ProcessorError):
    """An output cannot be written where it was asked for."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot write {display_path(self.path)}: {self.reason}"


class CommandFailed(ProcessorError):
    """An external command ended badly: a non-zero exit code (``exit_code``),
    a time-out or a missing program (``exit_code`` None). ``stderr_tail``
    holds the end of what it wrote to its standard error."""

    def __init__(self, command: list[str], exit_code: int | None, stderr_tail: str, reason: str = "") -> None:
        super().__init__(command, exit_code, stderr_tail, reason)
        self.command = command
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        self.reason = reason

    def __str__(self) -> str:
        program = self.command[0] if self.command else "?"
        if self.reason:
            what = f"the command {program!r} {self.reason}"
        elif self.exit_code is not None and self.exit_code < 0:
            what = f"the command {program!r} was killed by signal {-self.exit_code}"
        else:
            what = f"the command {program!r} exited with code {self.exit_code}"
        tail = self.stderr_tail.strip()
        return f"{what}; its error output ends with:\n{tail}" if tail else what


# ---------------------------------------------------------------- inputs

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a special file"


def check_input(
    path: str, processor: Processor | None = None, *, needs_content: bool | None = None
) -> os.stat_result:
    """Raise ``InputError`` unless ``path`` is a readable regular file (and
    not empty when the processor needs content). Returns its ``os.stat``.

    Only ``stat`` calls: a FIFO, socket or device is recognised without ever
    being opened (opening a FIFO blocks until a writer comes)."""
    if needs_content is None:
        needs_content = processor.needs_content if processor is not None else False
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        raise InputError(path, "does not exist") from None
    except PermissionError:
        raise InputError(path, "cannot be reached: permission denied on a folder above it") from None
    except OSError as exc:
        raise InputError(path, f"cannot be examined: {exc.strerror or exc}") from None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        target = _readlink(path)
        raise InputError(path, f"is a broken symbolic link (its target {target} does not exist)") from None
    except OSError as exc:
        if stat.S_ISLNK(link.st_mode) and exc.errno == 40:  # ELOOP
            raise InputError(path, "is a symbolic link loop (it never reaches a file)") from None
        raise InputError(path, f"cannot be examined: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, f"is {_kind(info.st_mode)}, not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "cannot be read: permission denied")
    if needs_content and info.st_size == 0:
        raise InputError(path, "is empty (0 bytes): there is nothing to process")
    return info


def _readlink(path: str) -> str:
    try:
        return display_path(os.readlink(path))
    except OSError:
        return "(unreadable)"


def open_input(path: str) -> BinaryIO:
    """Open a checked input for reading, refusing anything that turned into a
    non-regular file since it was checked (the open does not block on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(path, "does not exist (it disappeared after it was checked)") from None
    except PermissionError:
        raise InputError(path, "cannot be read: permission denied") from None
    except OSError as exc:
        raise InputError(path, f"cannot be opened: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, f"is {_kind(info.st_mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# ---------------------------------------------------------------- inside a task


def cancel_requested() -> bool:
    """True when the running pool task was asked to stop; False outside a task."""
    try:
        return current_task().cancel_requested
    except RuntimeError:
        return False


def raise_if_cancelled() -> None:
    if cancel_requested():
        raise TaskCancelled("the processor stopped early because the task was cancelled")


def read_blocks(handle: BinaryIO, size: int, what: str = "read") -> Iterator[bytes]:
    """The file's blocks; between blocks, stop when cancelled and, for a large
    file, report progress (``size`` is the expected total)."""
    done = 0
    report = size > PROGRESS_THRESHOLD
    while True:
        raise_if_cancelled()
        block = handle.read(BLOCK_SIZE)
        if not block:
            return
        yield block
        done += len(block)
        if report:
            report_progress(min(done / size, 1.0), f"{what} {done >> 20} of {size >> 20} MiB")
