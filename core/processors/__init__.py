"""What PoolScope can do with a file: checksum, thumbnail, compress,
text-stats, command and python, plus plugins from the
``poolscope.processors`` entry-point group.

A processor is a module-level function ``process(path, **options) -> dict``
described by a ``Processor`` record, so it runs in a thread or a worker
process alike:

>>> from core.processors import get
>>> get("checksum").function  # doctest: +ELLIPSIS
<function process at ...>
"""

from __future__ import annotations

from .base import (
    CommandFailed,
    InputError,
    Option,
    OutputError,
    Processor,
    ProcessorError,
    cancel_requested,
    check_input,
)
from .outputs import PendingOutput, atomic_write, output_path
from .registry import ENTRY_POINT_GROUP, PluginLoadError, get, load_errors, processors

__all__ = [
    "ENTRY_POINT_GROUP",
    "CommandFailed",
    "InputError",
    "Option",
    "OutputError",
    "PendingOutput",
    "PluginLoadError",
    "Processor",
    "ProcessorError",
    "atomic_write",
    "cancel_requested",
    "check_input",
    "get",
    "load_errors",
    "output_path",
    "processors",
]
