"""The ``command`` processor: run an external program on a file, without a
shell.

The template is split into arguments with ``shlex.split`` *before* the
placeholders are filled in, so a file name can never add, split or quote
arguments: ``x; rm -rf ~.txt`` reaches the program as one argument and no
shell ever sees it. Placeholders: ``{path} {name} {stem} {suffix} {parent}
{out_dir}``; ``{{`` and ``}}`` stand for literal braces.

A command never outlives its task:

- it runs in a session (and process group) of its own, and a cancel or a
  time-out kills that whole group, grandchildren included;
- on Linux it also gets ``PR_SET_PDEATHSIG`` (SIGKILL), so when the worker
  process that started it dies -- a process pool kills a worker whose task
  ran past its time-out or was cancelled, and a worker dies with its pool --
  the kernel kills the command too. (That signal reaches the command itself,
  not programs it started: those go with the group kill above, which needs a
  living worker.)

Its output is read as it comes and only the last ``TAIL`` characters of
each stream are kept, so a command that writes gigabytes costs no memory.
"""

from __future__ import annotations

import functools
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import TaskCancelled
from .base import CommandFailed, Option, Processor, cancel_requested, check_input

__all__ = ["PLACEHOLDERS", "PROCESSOR", "build_command", "process"]

PLACEHOLDERS = ("path", "name", "stem", "suffix", "parent", "out_dir")
TAIL = 2_000
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)\}")
_POLL_SECONDS = 0.1


def build_command(template: str, path: str, out_dir: str | None = None) -> list[str]:
    """The argument list for ``path``: ``template`` split like a POSIX shell
    would, then each argument's placeholders filled in."""
    try:
        parts = shlex.split(template)
    except ValueError as exc:
        raise ValueError(f"the command template cannot be split into arguments: {exc}") from None
    if not parts:
        raise ValueError("the command template is empty")
    parent = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    stem, suffix = os.path.splitext(name)
    values = {
        "path": path,
        "name": name,
        "stem": stem,
        "suffix": suffix,
        "parent": parent,
        "out_dir": out_dir if out_dir is not None else parent,
    }

    def fill(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0]
        key = match.group(1)
        if key not in values:
            raise ValueError(
                f"the command template has an unknown placeholder {text}; "
                f"known are {', '.join('{' + p + '}' for p in PLACEHOLDERS)} ({{{{ and }}}} for braces)"
            )
        return values[key]

    return [_FIELD.sub(fill, part) for part in parts]


class _Tail:
    """The end of one output stream: at most ``4 * TAIL`` bytes are kept
    (a UTF-8 character takes up to four)."""

    __slots__ = ("data",)
    LIMIT = 4 * TAIL

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.LIMIT:
            del self.data[: -self.LIMIT]

    def text(self) -> str:
        return bytes(self.data[-self.LIMIT :]).decode("utf-8", errors="replace")[-TAIL:]


_PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at the top: a job that runs no command need not load it

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


def _die_with_parent(prctl: Callable[..., int], parent: int) -> None:
    """In the child, between fork and exec: be killed when the thread that
    started us ends (it waits for us, so only when its process dies). If the
    parent died before the call, nobody would send the signal: go now."""
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The program runs in a session of its own: kill its whole process group,
    # so a grandchild holding the pipes open cannot keep us waiting.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _follow(child: subprocess.Popen[bytes], command: list[str], timeout: float | None) -> tuple[_Tail, _Tail]:
    """Read the program's output until it ends (keeping the tails), stopping
    it when the task is cancelled or the time-out passes."""
    deadline = time.monotonic() + timeout if timeout is not None else None
    stdout, stderr = _Tail(), _Tail()
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ, stdout)  # type: ignore[arg-type]
        selector.register(child.stderr, selectors.EVENT_READ, stderr)  # type: ignore[arg-type]
        while True:
            if selector.get_map():
                for key, _ in selector.select(_POLL_SECONDS):
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        key.data.add(chunk)
                    else:
                        selector.unregister(key.fileobj)
            else:  # both streams ended; the program may not have
                try:
                    child.wait(_POLL_SECONDS)
                    return stdout, stderr
                except subprocess.TimeoutExpired:
                    pass
            if cancel_requested():
                _stop(child)
                raise TaskCancelled("the command was stopped because the task was cancelled")
            if deadline is not None and time.monotonic() >= deadline:
                _stop(child)
                raise CommandFailed(
                    command,
                    None,
                    stderr.text(),
                    f"ran longer than its time-out of {timeout:g} s and was stopped",
                )


def process(
    path: str,
    template: str = "",
    out_dir: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run the command; returns ``{"path", "command", "exit_code",
    "stdout_tail", "stderr_tail"}``. A non-zero exit, a time-out or a missing
    program raises ``CommandFailed``."""
    if not template:
        raise ValueError('the command processor needs the option "template", e.g. "cp {path} {out_dir}"')
    check_input(path, PROCESSOR)
    command = build_command(template, path, out_dir)
    prctl = _prctl()
    try:
        # Popen and a reading loop rather than subprocess.run: the same
        # arguments and no shell, but a cancelled task can stop the program.
        child = subprocess.Popen(
            command,
            shell=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            # It runs between fork and exec, in a copy of a process full of
            # threads: it does no more than a prctl and a getppid.
            preexec_fn=functools.partial(_die_with_parent, prctl, os.getpid()) if prctl else None,
        )
    except FileNotFoundError:
        raise CommandFailed(command, None, "", "was not found (is it installed and on PATH?)") from None
    except PermissionError:
        raise CommandFailed(command, None, "", "cannot be run: permission denied") from None
    except OSError as exc:
        raise CommandFailed(command, None, "", f"cannot be started: {exc.strerror or exc}") from None
    with child:
        try:
            stdout, stderr = _follow(child, command, timeout)
        except BaseException:
            if child.returncode is None:  # an interrupt too must not leave the program running
                _stop(child)
            raise
    if child.returncode != 0:
        raise CommandFailed(command, child.returncode, stderr.text())
    return {
        "path": path,
        "command": command,
        "exit_code": 0,
        "stdout_tail": stdout.text(),
        "stderr_tail": stderr.text(),
    }


PROCESSOR = Processor(
    name="command",
    function=process,
    description="Run an external command on each file (no shell; placeholders like {path}).",
    options=(
        Option(
            "template",
            "str",
            None,
            "The command, e.g. cp {path} {out_dir}/{stem}.bak; placeholders: "
            + " ".join("{" + p + "}" for p in PLACEHOLDERS),
            required=True,
        ),
        Option("out_dir", "folder", None, "The folder {out_dir} stands for (default: the input's folder)."),
        Option(
            "timeout",
            "float",
            None,
            "Stop the command after this many seconds (default: no limit).",
            minimum=0,
        ),
    ),
    pool="thread",  # it waits on a child process
    needs_content=False,
)
