"""The ``command`` processor: run an external program on a file, without a
shell.

The template is split into arguments with ``shlex.split`` *before* the
placeholders are filled in, so a file name can never add, split or quote
arguments: ``x; rm -rf ~.txt`` reaches the program as one argument and no
shell ever sees it. Placeholders: ``{path} {name} {stem} {suffix} {parent}
{out_dir}``; ``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
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


def _tail(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")[-TAIL:]


def _stop(process: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    # The program runs in a session of its own: kill its whole process group,
    # so a grandchild holding the pipes open cannot keep us waiting.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return process.communicate()


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
    try:
        # Popen with a polling wait rather than subprocess.run: the same
        # arguments and no shell, but a cancelled task can stop the program.
        child = subprocess.Popen(
            command,
            shell=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise CommandFailed(command, None, "", "was not found (is it installed and on PATH?)") from None
    except PermissionError:
        raise CommandFailed(command, None, "", "cannot be run: permission denied") from None
    except OSError as exc:
        raise CommandFailed(command, None, "", f"cannot be started: {exc.strerror or exc}") from None
    deadline = time.monotonic() + timeout if timeout is not None else None
    with child:
        while True:
            try:
                stdout, stderr = child.communicate(timeout=_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel_requested():
                _stop(child)
                raise TaskCancelled("the command was stopped because the task was cancelled")
            if deadline is not None and time.monotonic() >= deadline:
                stdout, stderr = _stop(child)
                raise CommandFailed(
                    command,
                    None,
                    _tail(stderr),
                    f"ran longer than its time-out of {timeout:g} s and was stopped",
                )
    if child.returncode != 0:
        raise CommandFailed(command, child.returncode, _tail(stderr))
    return {
        "path": path,
        "command": command,
        "exit_code": 0,
        "stdout_tail": _tail(stdout),
        "stderr_tail": _tail(stderr),
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
