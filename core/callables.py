"""Find a function from its ``package.module:function`` name, with clear errors.

Used by the window's enqueue dialog and by anything that takes a function
name from a person (a command line, a settings file).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["CallableNotFound", "parse_arguments", "resolve_callable"]

_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class CallableNotFound(ValueError):
    """The name does not lead to a callable; the message says why."""


def resolve_callable(spec: str) -> Callable[..., Any]:
    """``"package.module:function"`` (also ``module:Class.method``) to the callable."""
    spec = spec.strip()
    if not _NAME.match(spec):
        raise CallableNotFound(
            f"{spec!r} is not of the form package.module:function (for example json:dumps)"
        )
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CallableNotFound(f"no module named {exc.name!r} (while importing {module_name!r})") from exc
    except Exception as exc:
        raise CallableNotFound(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CallableNotFound(f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise CallableNotFound(f"{spec} is a {type(target).__name__}, not something that can be called")
    return target


def parse_arguments(text: str) -> tuple[tuple, dict[str, Any]]:
    """JSON arguments to ``(args, kwargs)``: a list is positional, an object is
    keywords, ``{"args": [...], "kwargs": {...}}`` is both, empty is none."""
    text = text.strip()
    if not text:
        return (), {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"the arguments are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if isinstance(value, list):
        return tuple(value), {}
    if isinstance(value, dict):
        if set(value) <= {"args", "kwargs"} and value:
            args, kwargs = value.get("args", []), value.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ValueError('"args" must be a JSON array and "kwargs" a JSON object')
            return tuple(args), dict(kwargs)
        return (), dict(value)
    return (value,), {}
