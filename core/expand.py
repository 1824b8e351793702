"""Turn dropped paths into the files to process, with a reason for each one
that cannot be.

``expand_paths`` is a generator, so a caller (the window, off its GUI thread;
the command line) can stream files into a pool while a large folder is still
being walked, and count as it goes. Nothing here opens a file: special files
(a FIFO would block a reader) are recognised from ``lstat``/``stat`` alone.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Rejected", "expand_paths"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A path that will not be processed, and why, in words for a person."""

    path: str
    reason: str


def expand_paths(
    paths: Iterable[str | os.PathLike[str]],
    include: Iterable[str] = ("*",),
    exclude: Iterable[str] = (),
    follow_symlinks: bool = False,
) -> Iterator[str | Rejected]:
    """Yield each regular file under ``paths`` once (folders recursively), or
    a ``Rejected`` for a path that cannot be processed.

    ``include`` and ``exclude`` are glob patterns matched against file names
    (not folders); a file must match one ``include`` and no ``exclude``.
    Symlinks to files are followed; symlinks to folders only with
    ``follow_symlinks`` (and then a loop is reported, never walked twice).
    Duplicates -- the same file named twice, or reached twice -- are yielded
    once."""
    include, exclude = tuple(include), tuple(exclude)
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: set[tuple[int, int]] = set()

    def wanted(name: str) -> bool:
        return any(fnmatch.fnmatch(name, p) for p in include) and not any(
            fnmatch.fnmatch(name, p) for p in exclude
        )

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
