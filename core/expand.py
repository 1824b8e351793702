"""Turn dropped paths into the files to process, with a reason for each one
that cannot be.

``expand_paths`` is a generator, so a caller (the window, off its GUI thread;
the command line) can stream files into a pool while a large folder is still
being walked, and count as it goes. Nothing here opens a file: special files
(a FIFO would block a reader) are recognised from ``lstat``/``stat`` alone.

A job's outputs must not come back as its inputs: the output folder is not
walked into when a walk meets it (it is recognised by device and inode, so
a link or another spelling of it is skipped too), and the temporary files
outputs are written to (``.<name>.….part``) are never taken from a folder.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .processors.outputs import is_temporary_name

__all__ = ["InputScope", "Rejected", "expand_paths"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A path that will not be processed, and why, in words for a person."""

    path: str
    reason: str


def _matcher(include: Iterable[str], exclude: Iterable[str]) -> Callable[[str], bool]:
    """Whether a file found in a folder is taken: its name matches one
    ``include`` pattern and no ``exclude`` one (as ``fnmatch`` matches), and
    it is not an output being written. The patterns are compiled once, into
    one expression each way, and a lone ``*`` costs no matching at all: a
    scan asks this of every file."""
    include, exclude = tuple(include), tuple(exclude)
    if not include:
        return lambda name: False

    def compiled(patterns: tuple[str, ...]) -> Callable[[str], object]:
        return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match

    included = None if "*" in include else compiled(include)
    excluded = compiled(exclude) if exclude else None

    def wanted(name: str) -> bool:
        if included is not None and not included(name):
            return False
        if excluded is not None and excluded(name):
            return False
        return not is_temporary_name(name)

    return wanted


def _identity(path: str | os.PathLike[str] | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def expand_paths(
    paths: Iterable[str | os.PathLike[str]],
    include: Iterable[str] = ("*",),
    exclude: Iterable[str] = (),
    follow_symlinks: bool = False,
    out_dir: str | os.PathLike[str] | None = None,
) -> Iterator[str | Rejected]:
    """Yield each regular file under ``paths`` once (folders recursively), or
    a ``Rejected`` for a path that cannot be processed.

    ``include`` and ``exclude`` are glob patterns matched against file names
    (not folders); a file must match one ``include`` and no ``exclude``.
    Symlinks to files are followed; symlinks to folders only with
    ``follow_symlinks`` (and then a loop is reported, never walked twice).
    Duplicates -- the same file named twice, or reached twice -- are yielded
    once. ``out_dir``, the folder outputs go to, is skipped when a walk
    reaches it (named itself, it is walked: it was listed before any output
    of this walk reached it)."""
    wanted = _matcher(include, exclude)
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: set[tuple[int, int]] = set()
    skipped_dir = _identity(out_dir)

    def visit(path: str, named: bool) -> Iterator[str | Rejected]:
        """``named``: the user gave this path itself, so a file is taken
        whatever the patterns say and a problem is always reported."""
        try:
            link = os.lstat(path)
        except FileNotFoundError:
            yield Rejected(path, "does not exist")
            return
        except PermissionError:
            yield Rejected(path, "permission denied (its folder cannot be searched)")
            return
        except OSError as exc:
            yield Rejected(path, _os_reason(exc))
            return
        info = link
        if stat.S_ISLNK(link.st_mode):
            try:
                info = os.stat(path)
            except FileNotFoundError:
                yield Rejected(path, "is a broken symbolic link (its target does not exist)")
                return
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    yield Rejected(path, "is a symbolic link loop")
                else:
                    yield Rejected(path, _os_reason(exc))
                return
        if stat.S_ISDIR(info.st_mode):
            if stat.S_ISLNK(link.st_mode) and not follow_symlinks and not named:
                return  # a link to a folder inside a folder: skipped unless asked
            key = (info.st_dev, info.st_ino)
            if key == skipped_dir and not named:
                return  # the output folder: its files are this job's outputs
            if key in seen_dirs:
                if stat.S_ISLNK(link.st_mode):
                    yield Rejected(path, "is a symbolic link loop (leads back to a folder already walked)")
                return
            seen_dirs.add(key)
            yield from walk(path, info.st_dev)
            return
        if not stat.S_ISREG(info.st_mode):
            yield Rejected(path, f"is {_kind(info.st_mode)}, not a regular file; it is never opened")
            return
        if not named and not wanted(os.path.basename(path)):
            return
        key = (info.st_dev, info.st_ino)
        if key in seen_files:
            return
        seen_files.add(key)
        yield path

    def walk(folder: str, device: int) -> Iterator[str | Rejected]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except PermissionError:
            yield Rejected(folder, "permission denied (the folder cannot be read)")
            return
        except OSError as exc:
            yield Rejected(folder, _os_reason(exc))
            return
        for entry in entries:
            # A plain file, as the folder listing says: its type and inode
            # come with the listing, so it costs no stat call (thousands of
            # them dominated the scan of a big folder). Anything else --
            # links, folders, special files, a type the listing does not
            # know -- gets the full look.
            try:
                plain = entry.is_file(follow_symlinks=False)
            except OSError:
                plain = False
            if not plain:
                yield from visit(entry.path, named=False)
                continue
            if not wanted(entry.name):
                continue
            key = (device, entry.inode())
            if key not in seen_files:
                seen_files.add(key)
                yield entry.path

    for path in paths:
        yield from visit(os.fspath(path), named=True)


class InputScope:
    """Which existing files a scan of ``paths`` takes (``includes``), without
    walking it: a job asks before an output replaces a file, so that an
    output never replaces another of its inputs, found yet or not.

    It answers as ``expand_paths`` with the same arguments would, or says
    yes where unsure (a folder is matched by its real path and by the path
    as named, whether or not symbolic links would be followed): refusing an
    overwrite is the safe mistake. The named paths are looked at once, here."""

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        include: Iterable[str] = ("*",),
        exclude: Iterable[str] = (),
        out_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._wanted = _matcher(include, exclude)
        self._files: set[tuple[int, int]] = set()
        self._folders: list[tuple[str, str]] = []  # (as named, real), absolute
        self._out_dir = _identity(out_dir)
        for path in paths:
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                named = os.path.abspath(path)
                self._folders.append((named, os.path.realpath(named)))
            else:
                self._files.add((info.st_dev, info.st_ino))

    def includes(self, path: str) -> bool:
        """True when a scan would take the existing file ``path``."""
        try:
            info = os.stat(path)
        except OSError:
            return False
        if (info.st_dev, info.st_ino) in self._files:
            return True
        if not stat.S_ISREG(info.st_mode) or not self._wanted(os.path.basename(path)):
            return False
        folder = os.path.dirname(os.path.abspath(path))
        real = os.path.realpath(folder)
        for named, named_real in self._folders:
            if folder == named or real == named_real:
                return True  # directly in a named folder, which is walked
            inside = folder.startswith(os.path.join(named, "")) or real.startswith(
                os.path.join(named_real, "")
            )
            if inside and _identity(folder) != self._out_dir:
                return True  # in a folder under it; the output folder is not walked
        return False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def _os_reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)
