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

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
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

#: Built-in processor names and the modules that hold them (``PROCESSOR``),
#: imported when first asked for: ``poolscope run -p checksum`` need not
#: load Pillow, nor scan the installed packages for plugins.
BUILT_INS = {
    "checksum": "checksum",
    "thumbnail": "thumbnail",
    "compress": "compress",
    "text-stats": "text_stats",
    "command": "command",
    "python": "python_call",
}

# Names load on first use (PEP 562): a worker process that imports one
# module of this package does not pay for all of them.
_EXPORTS = {
    "CommandFailed": ".base",
    "InputError": ".base",
    "Option": ".base",
    "OutputError": ".base",
    "Processor": ".base",
    "ProcessorError": ".base",
    "cancel_requested": ".base",
    "check_input": ".base",
    "PendingOutput": ".outputs",
    "atomic_write": ".outputs",
    "output_path": ".outputs",
    "ENTRY_POINT_GROUP": ".registry",
    "PluginLoadError": ".registry",
    "get": ".registry",
    "load_errors": ".registry",
    "processors": ".registry",
}

__all__ = [
    "BUILT_INS",
    "CommandFailed",
    "ENTRY_POINT_GROUP",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
