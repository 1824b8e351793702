"""Look up icons and stylesheets by name; the error lists the names we have."""

from __future__ import annotations

from functools import cache
from importlib import resources as _files

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["apply_theme", "icon", "icon_names", "stylesheet", "theme_names"]

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


# Colours of the dark theme: a palette (so every widget, table and menu
# follows) plus the stylesheet for shapes and accents.
_DARK = {
    QPalette.ColorRole.Window: "#161b26",
    QPalette.ColorRole.WindowText: "#d8dde8",
    QPalette.ColorRole.Base: "#1b2130",
    QPalette.ColorRole.AlternateBase: "#212838",
    QPalette.ColorRole.ToolTipBase: "#2a3245",
    QPalette.ColorRole.ToolTipText: "#e6e9f0",
    QPalette.ColorRole.PlaceholderText: "#7d8799",
    QPalette.ColorRole.Text: "#d8dde8",
    QPalette.ColorRole.Button: "#1f2636",
    QPalette.ColorRole.ButtonText: "#d8dde8",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Light: "#2c3548",
    QPalette.ColorRole.Midlight: "#262e40",
    QPalette.ColorRole.Mid: "#2c3548",
    QPalette.ColorRole.Dark: "#10141c",
    QPalette.ColorRole.Shadow: "#0a0d12",
    QPalette.ColorRole.Highlight: "#3d6fb8",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#7fb0ff",
}


def apply_theme(app: QApplication, theme: str) -> None:
    """Fusion style, the theme's palette and its stylesheet, for the whole app."""
    app.setStyle("Fusion")
    palette = app.style().standardPalette()
    if theme == "dark":
        for role, colour in _DARK.items():
            palette.setColor(role, QColor(colour))
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7385"))
    app.setPalette(palette)
    app.setStyleSheet(stylesheet(theme))
