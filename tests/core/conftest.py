"""Core tests import their shared tools (``pool_test_tools``) and the task
functions worker processes run (``process_tasks``) from this folder."""

from __future__ import annotations

import sys
from pathlib import Path

# On sys.path before any test module or pool exists: the forkserver, started
# by the first ProcessPool, hands this path on to every worker process.
sys.path.insert(0, str(Path(__file__).resolve().parent))
