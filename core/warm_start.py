"""Worker processes that are ready when the first file is: ``poolscope run``
on a process pool starts the forkserver before it imports the rest of the
engine, parses the paths or opens the history.

The forkserver is a fresh interpreter that imports, once, what every worker
would otherwise import for itself; each worker is then a plain fork of it.
Started first thing, it does that on the other CPU while the command line
imports, instead of after::

    main process   import ─ parse ─ open history ─ pool ─ files ...
    forkserver       └─ start ─ preload ─────────────────┴─ fork, fork ...

Only a speed-up: whatever goes wrong here (an unknown processor, a command
line that does not parse) is left for ``core.cli`` to report, and a
forkserver started in vain leaves when this process does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Sequence

__all__ = ["default_start_method", "preload_for_workers", "start_forkserver", "start_workers_early"]


def default_start_method() -> str:
    """How a ProcessPool starts its workers unless told: the forkserver on
    Linux, spawn elsewhere (fork is refused: see ProcessPool)."""
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


def preload_for_workers(processor_module: str) -> bool:
    """Have the forkserver preload the main module (which multiprocessing
    runs again in each child), the worker's loop and the processor's module.
    Names that fail to import are skipped by the forkserver, and each worker
    imports them as before. Once the forkserver runs, this changes nothing.
    False where there is no forkserver."""
    if default_start_method() != "forkserver":
        return False
    modules = ["__main__"]  # what the forkserver preloads when told nothing
    main = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
    if main and not main.endswith("__main__"):  # multiprocessing.spawn skips those too
        modules.append(main)
    modules += [f"{__package__}.process_worker", processor_module]
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(dict.fromkeys(modules)))
    return True


def start_workers_early(argv: Sequence[str]) -> bool:
    """For ``poolscope run ARGS``: start the forkserver now, preloaded for
    the processor ARGS name, when that processor runs on a process pool
    there. True when it was started; False, never an exception, when not.

    A built-in processor on ``--pool process`` is preloaded by its module's
    name, which the forkserver imports on its side; without ``--pool``, the
    processor is looked up for the pool it prefers."""
    try:
        return _start_workers_early(argv)
    except Exception:  # only a speed-up: core.cli reports what is wrong
        return False


def _start_workers_early(argv: Sequence[str]) -> bool:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("--processor", "-p")
    parser.add_argument("--pool")
    parser.add_argument("--resume")
    try:
        args, _ = parser.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit):
        return False
    name = args.processor
    if not name or args.resume is not None or args.pool not in (None, "process"):
        return False  # a resume's pool is in its record
    from .processors import BUILT_INS

    if args.pool == "process" and name in BUILT_INS:
        module = f"{__package__}.processors.{BUILT_INS[name]}"
    else:
        from .processors import registry

        processor = registry.get(name)  # an unknown name raises: False, above
        if (args.pool or processor.pool) != "process":
            return False
        module = processor.function.__module__
    return start_forkserver(module)


def start_forkserver(processor_module: str) -> bool:
    """Start the forkserver, preloaded for ``processor_module``, unless it
    runs; False where there is none. Its workers ignore Ctrl+C: a terminal
    sends it to every process of the command, and a task would fail of it
    (and stay failed on ``--resume``) before ``poolscope run`` could stop
    the pool and leave the task to run again. The forkserver hands its
    children the SIGINT handling it started with; so it starts with SIGINT
    ignored, for the moment that takes, here."""
    if not preload_for_workers(processor_module):
        return False
    import signal
    import threading
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return True
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
    return True
