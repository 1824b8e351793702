"""What the process-pool benchmark and the fault matrix share."""

from __future__ import annotations

import multiprocessing.forkserver
import multiprocessing.resource_tracker
import subprocess
from pathlib import Path

__all__ = ["multiprocessing_helpers", "revision"]


def revision() -> str:
    """The project's commit and whether core/ differs from it, so that a
    result can be matched to the code it ran."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        )
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "core"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return f"{head.stdout.strip() or 'unknown'}" + (", core/ modified" if changed.stdout.strip() else "")


def multiprocessing_helpers() -> set[int]:
    """multiprocessing's forkserver and resource tracker of this process:
    they live as long as it does and are no pool's workers."""
    pids = {
        multiprocessing.forkserver._forkserver._forkserver_pid,
        multiprocessing.resource_tracker._resource_tracker._pid,
    }
    return {pid for pid in pids if pid is not None}
