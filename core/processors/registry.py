"""Processors by name: the built-ins, and third-party ones from the
``poolscope.processors`` entry-point group.

A plugin's entry point must load a ``Processor``. A plugin that fails to load
is recorded in ``load_errors()`` and left out; it never stops the others.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass

from . import BUILT_INS
from .base import Processor, check_input

__all__ = ["ENTRY_POINT_GROUP", "PluginLoadError", "check_input", "get", "load_errors", "processors"]

ENTRY_POINT_GROUP = "poolscope.processors"


@dataclass(frozen=True)
class PluginLoadError:
    """Why one entry point gave no processor."""

    entry_point: str
    target: str
    message: str

    def __str__(self) -> str:
        return f"processor plugin {self.entry_point!r} ({self.target}) was not loaded: {self.message}"


_lock = threading.Lock()
_cache: dict[str, Processor] | None = None
_errors: list[PluginLoadError] = []


def processors(reload: bool = False) -> dict[str, Processor]:
    """Name → processor, the built-ins first. Plugins are looked up once;
    ``reload=True`` looks again (after installing one)."""
    global _cache
    with _lock:
        if _cache is None or reload:
            _cache, errors = _load()
            _errors[:] = errors
        return dict(_cache)


def load_errors() -> list[PluginLoadError]:
    """The plugins that failed to load at the last look-up."""
    processors()
    with _lock:
        return list(_errors)


def get(name: str) -> Processor:
    """The processor called ``name``; a ``KeyError`` lists the known names."""
    if name in BUILT_INS:  # a plugin cannot take a built-in's name
        return _built_in(name)
    known = processors()
    try:
        return known[name]
    except KeyError:
        raise KeyError(f"no processor named {name!r}; known processors: {', '.join(known)}") from None


def _built_in(name: str) -> Processor:
    processor: Processor = importlib.import_module(f".{BUILT_INS[name]}", __package__).PROCESSOR
    return processor


def _load() -> tuple[dict[str, Processor], list[PluginLoadError]]:
    from importlib.metadata import entry_points  # slow to import: only when listing

    found = {name: _built_in(name) for name in BUILT_INS}
    errors: list[PluginLoadError] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
        except Exception as exc:
            errors.append(PluginLoadError(point.name, point.value, f"{type(exc).__name__}: {exc}"))
            continue
        if not isinstance(loaded, Processor):
            message = f"it is a {type(loaded).__name__}, not a core.processors.Processor"
            errors.append(PluginLoadError(point.name, point.value, message))
        elif loaded.name in found:
            message = f"the name {loaded.name!r} is already taken by another processor"
            errors.append(PluginLoadError(point.name, point.value, message))
        else:
            found[loaded.name] = loaded
    return found, errors
