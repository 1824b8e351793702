"""The ``python`` processor: call a function named ``package.module:function``
with the path and the remaining options."""

from __future__ import annotations

from typing import Any

from ..callables import resolve_callable
from .base import Option, Processor, check_input

__all__ = ["PROCESSOR", "process"]


def process(path: str, function: str = "", **options: Any) -> dict[str, Any]:
    """``function(path, **options)``; a dict result is returned as it is,
    anything else as ``{"path", "function", "result"}``."""
    if not function:
        raise ValueError('the python processor needs the option "function" (package.module:function)')
    target = resolve_callable(function)
    check_input(path, PROCESSOR)
    result = target(path, **options)
    if isinstance(result, dict):
        return result
    return {"path": path, "function": function, "result": result}


PROCESSOR = Processor(
    name="python",
    function=process,
    description="Call a Python function as function(path, **options).",
    options=(
        Option(
            "function",
            "str",
            None,
            "The function to call, as package.module:function (it must be importable by workers).",
            required=True,
        ),
    ),
    pool="process",
    needs_content=False,
    extra_options=True,
)
