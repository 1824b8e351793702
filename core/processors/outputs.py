"""Where processors write, and how: never outside the chosen folder, never
over an existing file unless asked, never over an input, and never a
half-written file under the final name.

An output is first written to a hidden temporary file in the same folder and
renamed when complete. Without ``overwrite`` the rename is a hard link that
fails if the name was taken meanwhile (two tasks picking the same free name
at once), and the next numbered name is tried.

A writer that is killed (a process-pool worker past its time-out, or
cancelled) cannot remove its temporary file, so the parent must be able to:

- the temporary name is derivable: ``.<output name>.<tag>.<random>.part``,
  where ``tag`` is a digest of the input's absolute path, so whoever knows the
  output folder and the input finds every temporary file written for it
  (``remove_leftovers``), and a folder scan can tell them from inputs
  (``is_temporary_name``);
- the writer holds an exclusive ``flock`` on its temporary file from creation
  until it is renamed into place. The kernel drops the lock when the writer
  dies, however it dies, so ``remove_leftovers`` removes only files whose
  writer is gone: it never races a live writer (another job on the same input,
  a thread still finishing), and it needs no pid, which a killed process
  could not clean up after and another container could not check.

Having the processors stop themselves before their deadline was the other
way; it is not robust: a worker process does not know its deadline, a decoder
cannot be interrupted, and a cancel or a force-dismiss kills it anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .base import OutputError, display_path, raise_if_cancelled

__all__ = [
    "PendingOutput",
    "atomic_write",
    "is_temporary_name",
    "numbered_name",
    "output_folder",
    "output_path",
    "remove_leftovers",
]

_MAX_NUMBER = 10_000
_TEMP_SUFFIX = ".part"


def numbered_name(name: str, number: int) -> str:
    """``"photo.png"`` → ``"photo (2).png"``; number 1 is the name itself.
    The suffix goes before the last extension (``"a.tar (2).gz"``)."""
    if number <= 1:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:  # no extension, or a dot file like ".bashrc"
        return f"{name} ({number})"
    return f"{stem} ({number}).{suffix}"


def _check_name(out_dir: str, name: str) -> str:
    bad = (
        not name
        or name in (".", "..")
        or "\0" in name
        or os.sep in name
        or (os.altsep is not None and os.altsep in name)
    )
    if not bad:
        folder = os.path.normpath(os.path.abspath(out_dir))
        target = os.path.normpath(os.path.join(folder, name))
        bad = os.path.dirname(target) != folder
    if bad:
        raise OutputError(
            os.path.join(out_dir, name), f"the name {display_path(name)} is not a plain file name"
        )
    return os.path.join(out_dir, name)


def output_folder(path: str, out_dir: str | None) -> str:
    """Where the output of ``path`` goes: ``out_dir``, or next to the input."""
    return out_dir if out_dir is not None else os.path.dirname(os.path.abspath(path))


def _same_file(candidate: str, inputs: Iterable[str]) -> bool:
    real = os.path.realpath(candidate)
    for path in inputs:
        if os.path.realpath(path) == real:
            return True
        with contextlib.suppress(OSError):
            if os.path.samefile(path, candidate):
                return True
    return False


def output_path(
    out_dir: str,
    name: str,
    overwrite: bool = False,
    inputs: Iterable[str] = (),
) -> str:
    """A path for a new output named ``name`` inside ``out_dir``.

    ``name`` must be a plain file name (no folder part, not ``..``). An
    existing file is only returned when ``overwrite`` is true; otherwise the
    first free ``"name (2).ext"``, ``"name (3).ext"``… is. A path that is one
    of ``inputs`` (or the same file through a link) is never returned, even
    with ``overwrite``. ``out_dir`` is created when missing."""
    inputs = tuple(inputs)
    _check_name(out_dir, name)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise OutputError(out_dir, f"the output folder cannot be created: {exc.strerror or exc}") from None
    if not os.path.isdir(out_dir):
        raise OutputError(out_dir, "the output folder is not a folder")
    for number in range(1, _MAX_NUMBER):
        candidate = _check_name(out_dir, numbered_name(name, number))
        if _same_file(candidate, inputs):
            continue
        if overwrite and not os.path.isdir(candidate):
            return candidate
        if not os.path.lexists(candidate):
            return candidate
    raise OutputError(os.path.join(out_dir, name), f"no free name among {_MAX_NUMBER} numbered ones")


@dataclass
class PendingOutput:
    """An output being written: write to ``file``; after the ``with`` block
    ``path`` is where it ended up (a numbered name if the planned one was
    taken meanwhile)."""

    path: str
    temp_path: str
    file: BinaryIO


def _umask() -> int:
    # os.umask() can only be read by setting it, which races with other
    # threads; Linux shows it in /proc.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _tag(source: str) -> str:
    """The part of a temporary name that says which input it was written for."""
    return hashlib.blake2b(os.fsencode(os.path.abspath(source)), digest_size=6).hexdigest()


def is_temporary_name(name: str) -> bool:
    """True for a name ``atomic_write`` gives its temporary files: a folder
    scan leaves them out (they are outputs being written, not inputs)."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


def _try_lock(fd: int) -> bool:
    """Take the writer's lock; False when another open file holds it. A file
    system without locks counts as locked: nothing is removed on a guess."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def atomic_write(path: str, overwrite: bool = True, source: str | None = None) -> Iterator[PendingOutput]:
    """Write ``path`` all at once: the data goes to a hidden temporary file in
    the same folder, renamed to ``path`` when the block ends without error.
    On any exception (a failure, a cancellation, an interrupt) the temporary
    file is removed and nothing appears under ``path``; if the writer is
    killed instead, ``remove_leftovers(folder, source)`` removes it (see the
    module docstring). ``source`` is the input the output is made from.

    The task is asked once more, just before the rename, whether it was
    cancelled: a thread pool gives up on a task past its time-out but cannot
    stop its thread, which must not put its output in place afterwards.

    With ``overwrite`` false an existing ``path`` is never replaced: the
    output takes the next free numbered name instead."""
    folder, name = os.path.split(path)
    folder = folder or "."
    # At most 80 bytes of the name: with the tag and mkstemp's part it stays
    # well within a file system's 255.
    short = os.fsdecode(os.fsencode(name)[:80])
    prefix = f".{short}.{_tag(source)}." if source is not None else f".{short}."
    import tempfile  # here: a folder scan needs this module's names, not tempfile

    try:
        fd, temp_path = tempfile.mkstemp(prefix=prefix, suffix=_TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc)) from None
    _try_lock(fd)  # held until the file is in place: the writer lives while it is held
    pending = PendingOutput(path, temp_path, os.fdopen(fd, "w+b"))
    try:
        with pending.file:
            yield pending
            pending.file.flush()
            os.fchmod(pending.file.fileno(), 0o666 & ~_umask())
            os.fsync(pending.file.fileno())
            raise_if_cancelled()
            pending.path = _commit(temp_path, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise


def remove_leftovers(folder: str, source: str) -> list[str]:
    """Remove the temporary files that writers of outputs made from ``source``
    left in ``folder`` when they were killed; returns their paths. A file
    whose writer still holds its lock (it is alive) is left alone."""
    marker = f".{_tag(source)}."
    removed: list[str] = []
    try:
        with os.scandir(folder) as listing:
            names = [entry.name for entry in listing if marker in entry.name]

    except OSError:
        return removed
    for name in filter(is_temporary_name, names):
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            # Locked by us, and still the file under that name: its writer is gone.
            if _try_lock(fd) and os.path.samestat(os.fstat(fd), os.lstat(path)):
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _commit(temp_path: str, path: str, overwrite: bool) -> str:
    if overwrite:
        os.replace(temp_path, path)
        return path
    folder, name = os.path.split(path)
    for number in range(1, _MAX_NUMBER):
        candidate = os.path.join(folder, numbered_name(name, number))
        try:
            os.link(temp_path, candidate)
        except FileExistsError:
            continue
        except OSError:
            # A file system without hard links: reserve the name, then replace.
            try:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                continue
            os.replace(temp_path, candidate)
            return candidate
        os.unlink(temp_path)
        return candidate
    raise OutputError(path, f"no free name among {_MAX_NUMBER} numbered ones")
