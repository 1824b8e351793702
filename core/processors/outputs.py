"""Where processors write, and how: never outside the chosen folder, never
over an existing file unless asked, never over an input, and never a
half-written file under the final name.

An output is first written to a hidden temporary file in the same folder and
renamed when complete. Without ``overwrite`` the rename is a hard link that
fails if the name was taken meanwhile (two tasks picking the same free name
at once), and the next numbered name is tried.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .base import OutputError, display_path

__all__ = ["PendingOutput", "atomic_write", "numbered_name", "output_path"]

_MAX_NUMBER = 10_000


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


@contextlib.contextmanager
def atomic_write(path: str, overwrite: bool = True) -> Iterator[PendingOutput]:
    """Write ``path`` all at once: the data goes to a hidden temporary file in
    the same folder, renamed to ``path`` when the block ends without error.
    On any exception (a failure, a cancellation, an interrupt) the temporary
    file is removed and nothing appears under ``path``.

    With ``overwrite`` false an existing ``path`` is never replaced: the
    output takes the next free numbered name instead."""
    folder, name = os.path.split(path)
    folder = folder or "."
    try:
        fd, temp_path = tempfile.mkstemp(prefix=f".{name[:100]}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc)) from None
    pending = PendingOutput(path, temp_path, os.fdopen(fd, "w+b"))
    try:
        with pending.file:
            yield pending
            pending.file.flush()
            os.fchmod(pending.file.fileno(), 0o666 & ~_umask())
            os.fsync(pending.file.fileno())
        pending.path = _commit(temp_path, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise


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
