"""The one PDF writer: what the after-action report and the ICS 211 check-in list share.

A :class:`PdfPages` is a US Letter PDF at :data:`DPI` with its margins, title and creator; it
measures in the writer's device pixels (``pt`` converts points), makes fonts from a list of
families, lays out and draws HTML (:class:`QTextDocument`), neutralises the text it is given
(control, bidi and invisible characters made visible), paints the red EXERCISE banner and
"Page n of m", and runs the painter over the pages (text stays vector). What goes on a page
and where the pages break is the caller's. Needs a ``QGuiApplication`` for its fonts but no
window: ``QT_QPA_PLATFORM=offscreen`` is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontMetricsF,
    QPageLayout,
    QPageSize,
    QPainter,
    QPalette,
    QPdfWriter,
    QTextDocument,
)

from dispatch_console import __version__
from dispatch_console.domain.text import neutralise

#: Resolution of the PDF's coordinate system (text stays vector whatever it is).
DPI = 300
PAGE_SIZE = QPageSize.PageSizeId.Letter
CREATOR = f"dispatch-console {__version__}"
MONO_FAMILIES = ("DejaVu Sans Mono", "Liberation Mono")

Page = TypeVar("Page")


def html_text(value: str) -> str:
    """``value`` for a document's HTML: neutralised, then escaped."""
    return escape(neutralise(value))


class PdfPages:
    """One PDF being written at ``path``: Letter in ``orientation``, ``margin_pt`` on every
    side; documents and fonts default to ``families`` at ``body_pt``."""

    def __init__(
        self,
        path: Path,
        *,
        title: str,
        orientation: QPageLayout.Orientation,
        margin_pt: float,
        families: Sequence[str],
        body_pt: float,
    ) -> None:
        self.path = path
        self.families = list(families)
        self.body_pt = body_pt
        self.writer = QPdfWriter(str(path))
        self.writer.setResolution(DPI)
        self.writer.setTitle(neutralise(title))
        self.writer.setCreator(CREATOR)
        margins = QMarginsF(margin_pt, margin_pt, margin_pt, margin_pt)
        layout = QPageLayout(QPageSize(PAGE_SIZE), orientation, margins, QPageLayout.Unit.Point)
        self.writer.setPageLayout(layout)
        self.scale = self.writer.resolution() / 72.0
        #: The printable area inside the margins, in device pixels.
        self.width = float(self.writer.width())
        self.height = float(self.writer.height())

    def pt(self, points: float) -> float:
        return points * self.scale

    def font(self, points: float | None = None, *, bold: bool = False, mono: bool = False) -> QFont:
        """Point sizes go through the painter's device resolution: nothing to scale."""
        font = QFont()
        font.setFamilies(list(MONO_FAMILIES) if mono else self.families)
        font.setPointSizeF(self.body_pt if points is None else points)
        font.setBold(bold)
        return font

    def metrics(self, font: QFont) -> QFontMetricsF:
        return QFontMetricsF(font, self.writer)

    def document(
        self, html: str, width: float | None = None, *, base_pt: float | None = None
    ) -> QTextDocument:
        """``html`` laid out for this PDF ``width`` wide (the whole printable width if
        ``None``), in the body font (``base_pt`` points if given)."""
        doc = QTextDocument()
        layout = doc.documentLayout()
        assert isinstance(layout, QAbstractTextDocumentLayout)
        layout.setPaintDevice(self.writer)
        doc.setDefaultFont(self.font(base_pt))
        doc.setDocumentMargin(0)
        doc.setHtml(html)
        doc.setTextWidth(self.width if width is None else width)
        return doc

    def draw(self, painter: QPainter, doc: QTextDocument, origin: QPointF) -> None:
        """Paint ``doc`` with its top left at ``origin``, black text by default."""
        painter.save()
        painter.translate(origin)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, QColor("black"))
        layout = doc.documentLayout()
        assert layout is not None
        layout.draw(painter, context)
        painter.restore()

    def banner(
        self, painter: QPainter, rect: QRectF, text: str, *, fill: str, points: float
    ) -> None:
        """The EXERCISE banner: bold white ``text`` centred on ``fill``."""
        painter.save()
        painter.fillRect(rect, QColor(fill))
        painter.setPen(QColor("white"))
        painter.setFont(self.font(points, bold=True))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, neutralise(text))
        painter.restore()

    def page_number(
        self,
        painter: QPainter,
        rect: QRectF,
        page: int,
        pages: int,
        *,
        points: float,
        bold: bool,
        color: str,
    ) -> None:
        """ "Page n of m" at the right of ``rect``, centred vertically."""
        painter.save()
        painter.setPen(QColor(color))
        painter.setFont(self.font(points, bold=bold))
        flags = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
        painter.drawText(rect, flags, f"Page {page} of {pages}")
        painter.restore()

    def paint(
        self, pages: Sequence[Page], paint_page: Callable[[QPainter, Page, int, int], None]
    ) -> int:
        """Paint every page in turn (``paint_page(painter, page, number, count)``, numbers from
        1) and finish the file; return the number of pages."""
        painter = QPainter()
        if not painter.begin(self.writer):
            raise OSError(f"cannot write {self.path}")
        try:
            for number, page in enumerate(pages, 1):
                if number > 1:
                    self.writer.newPage()
                paint_page(painter, page, number, len(pages))
        finally:
            painter.end()
        return len(pages)


__all__ = ["CREATOR", "DPI", "PdfPages", "html_text"]
