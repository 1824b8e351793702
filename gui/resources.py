"""Look up icons and stylesheets by name; the error lists the names we have."""

from __future__ import annotations

from functools import cache
from importlib import resources as _files

from PySide6.QtGui import QIcon

__all__ = ["icon", "icon_names", "stylesheet", "theme_names"]

_ROOT = _files.files("resources")


def icon_names() -> list[str]:
    return sorted(p.name.removesuffix(".svg") for p in (_ROOT / "icons").iterdir() if p.name.endswith(".svg"))


def theme_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".qss")
        for p in (_ROOT / "styles").iterdir()
        if p.name.endswith(".qss") and p.name != "base.qss"
    )


@cache
def icon(name: str) -> QIcon:
    path = _ROOT / "icons" / f"{name}.svg"
    if not path.is_file():
        raise KeyError(f"no icon named {name!r}; the icons are: {', '.join(icon_names())}")
    return QIcon(str(path))


def stylesheet(theme: str) -> str:
    """The base stylesheet followed by the theme's."""
    path = _ROOT / "styles" / f"{theme}.qss"
    if not path.is_file():
        raise KeyError(f"no theme named {theme!r}; the themes are: {', '.join(theme_names())}")
    return (_ROOT / "styles" / "base.qss").read_text() + "\n" + path.read_text()
