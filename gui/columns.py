"""Column widths from what the cells hold, measured in the view's own font.

Tables that change many times a second cannot size their columns to their
contents (``ResizeToContents`` measures every row it can on each change), and
widths counted in characters overshoot: a "0" is much wider than the average
letter. A sample of the widest text a column usually holds, and its header's
title, say how wide it has to be.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyle, QTableView

__all__ = ["fit_columns"]

#: Pixels around a cell's text (the style's margins, and a little air).
CELL_PADDING = 14
#: Pixels around a header's title.
HEADER_PADDING = 14


def fit_columns(
    view: QTableView,
    samples: Mapping[int, str],
    *,
    extra: Mapping[int, int] | None = None,
    sort_column: int | None = None,
) -> None:
    """Size each column in ``samples`` to fit its sample text and its header.

    ``extra``: pixels more for a column (an icon beside its text);
    ``sort_column``: the column sorted at the start gets room for the sort
    arrow too, so its title is not cut when the arrow shows."""
    header = view.horizontalHeader()
    model = view.model()
    cells = view.fontMetrics()
    titles = header.fontMetrics()
    arrow = view.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize, None, header)
    for column, sample in samples.items():
        title = model.headerData(column, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
        title_width = titles.horizontalAdvance(str(title or "")) + HEADER_PADDING
        if column == sort_column:
            title_width += arrow
        width = cells.horizontalAdvance(sample) + CELL_PADDING + (extra or {}).get(column, 0)
        header.resizeSection(column, max(width, title_width))
