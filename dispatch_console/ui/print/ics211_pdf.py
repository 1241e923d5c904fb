"""The ICS 211 incident check-in list as a PDF: landscape Letter, like the paper form.

The first page carries the form's header blocks (1 to 4, the incident contact, what the list
counts); the others the blocks that identify it (1, 2, 4, the time zone). Every page has the
title, "Page n of m", block 17 (prepared by) at the foot, and an EXERCISE banner when the
incident is an exercise. Rows are never cut across pages: a section's table continued on the
next page repeats its title and column headers there. Text is 7.5 pt at the smallest (DejaVu
Sans Condensed where installed), black on white, to print and photocopy.

Tables are :class:`QTextDocument` HTML, measured and laid out page by page here, painted with
the repeated parts through the one PDF writer (:mod:`.pdf`: page, fonts, documents, banner,
"Page n of m"). Needs a ``QGuiApplication`` for its fonts (made for the call if there is none)
but no window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html import unescape
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPageLayout, QPainter, QTextTable

from dispatch_console.app.ics211 import (
    CATEGORY,
    CHECK_IN_KINDS,
    FORM_TITLE,
    KIND,
    Ics211,
    Ics211Row,
)
from dispatch_console.ui.print.pdf import PdfPages, html_text

MARGIN_PT = 18.0  # a quarter inch: inside most printers' printable area
BODY_PT = 7.5  # the smallest text on the page
LABEL_PT = 7.5
VALUE_PT = 9.0
TITLE_PT = 13.0
GAP_PT = 5.0
#: Narrow faces first: 18 columns on a landscape Letter page.
FONT_FAMILIES = ["DejaVu Sans Condensed", "Liberation Sans Narrow", "Arial Narrow", "DejaVu Sans"]
ALARM = "#b00020"
EXERCISE = "EXERCISE \u2014 EXERCISE \u2014 EXERCISE \u2014 NOT A REAL INCIDENT \u2014 EXERCISE"
HEADER_FILL = "#e4e4e4"
UNCHECKED_FILL = "#fdecec"

#: The table's columns: header text, cell HTML from a row, and its share of the width left
#: when every column has room for its longest word (0: columns of one short constant).
Column = tuple[str, Callable[[Ics211Row], str], float]


_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")


def _text(value: str) -> str:
    """HTML for a cell: neutralised and escaped, and breakable after a hyphen between lower-case
    letters (Qt breaks "self-dispatched" anywhere in a narrow column, not after its hyphen,
    without the hint); callsigns and ids such as "GPD-S5" stay whole."""
    return _HYPHEN.sub("-\u200b", html_text(value)) if value else ""


def _resource(row: Ics211Row) -> str:
    detail = " \u00b7 ".join(p for p in (row.agency, row.type) if p)
    return f"<b>{_text(row.name)}</b><br>{_text(detail)}"


def _qualifications(row: Ics211Row) -> str:
    if row.not_on_roster:
        return f'<b><span style="color:{ALARM}">{_text(row.qualifications)}</span></b>'
    return _text(row.qualifications)


def _attire(row: Ics211Row) -> str:
    text = row.attire.removeprefix("plainclothes: ")
    return f"<b>Plainclothes:</b> {_text(text)}" if row.plainclothes else _text(text)


def _arrived(row: Ics211Row) -> str:
    text, _, inside = row.arrived.partition("; ")
    cell = _text(text)
    if inside:
        style = f' style="color:{ALARM}"' if row.inside_inner else ""
        cell += f"<br><b><span{style}>{_text(inside)}</span></b>"
    if row.status in ("on scene", "at staging"):  # the place says it already
        return cell
    return f"{cell}<br><i>{_text(row.status)}</i>"


def _check_in(row: Ics211Row) -> str:
    if row.section == "not_checked_in":  # lower case: the narrow column keeps whole words
        return f'<b><span style="color:{ALARM}">{_text(row.check_in.lower())}</span></b>'
    return _text(row.check_in)


def _verified(row: Ics211Row) -> str:
    if row.section == "not_checked_in":
        return f'<b><span style="color:{ALARM}">{_text(row.verified)}</span></b>'
    return _text(row.verified)


def _travel(row: Ics211Row) -> str:
    text, assumed, _ = row.travel.partition(" (assumed)")
    return _text(text) + ("<br><i>(assumed)</i>" if assumed else "")


def _radio(row: Ics211Row) -> str:
    text = _text(row.radio)
    return text.replace("NO RADIO", f'<b><span style="color:{ALARM}">NO RADIO</span></b>')


def _plain(name: str) -> Callable[[Ics211Row], str]:
    def cell(row: Ics211Row) -> str:
        return _text(str(getattr(row, name)))

    return cell


COLUMNS: tuple[Column, ...] = (
    ("<b>5.</b> Resource name or identifier", _resource, 200),
    ("<b>6.</b> Order request #", _plain("order_request"), 10),
    ("<b>7.</b> Date/time check-in", _check_in, 25),
    ("<b>8.</b> Leader's name", _plain("leader"), 5),
    ("<b>9.</b> Total no. pers.", _plain("personnel"), 0),
    ("<b>10.</b> Incident contact info.", _plain("contact"), 10),
    ("<b>11.</b> Home unit or agency", _plain("home_unit"), 10),
    ("<b>12.</b> Departure point, date and time", _plain("departure"), 30),
    ("<b>13.</b> Method of travel", _travel, 25),
    ("<b>14.</b> Incident assignment", _plain("assignment"), 20),
    ("<b>15.</b> Other qualif. (roster)", _qualifications, 30),
    ("<b>16.</b> Data to Resources Unit", _plain("data_to_resources_unit"), 5),
    ("<b>Plainclothes descriptor</b>", _attire, 40),
    ("<b>Armed</b>", _plain("armed"), 0),
    ("<b>Radio issued</b>", _radio, 30),
    ("<b>Identity verified by / how</b>", _verified, 30),
    ("<b>Marking issued</b>", _plain("marking"), 10),
    ("<b>Arrived</b> (time, place), status", _arrived, 80),
)
_TOKENS = re.compile(r"(<[^>]+>)|([^<]+)")
_BREAK = re.compile(r"[\s\u200b]+")


def column_widths(rows: Sequence[Ics211Row], pdf: PdfPages, available: float) -> list[float]:
    """Each column's width, in the writer's units: at least its longest word (header or cell,
    bold where the cell is bold), so that no word is cut in two when the page allows it; what
    is left is shared in proportion to :data:`COLUMNS`' weights."""
    regular, bold = pdf.metrics(pdf.font()), pdf.metrics(pdf.font(bold=True))
    pad = regular.height() * 0.65  # cell padding and rules, with a little to spare
    needs = []
    for title, cell, _ in COLUMNS:
        longest = 0.0
        for html in (title, *(cell(row) for row in rows)):
            for word, is_bold in _words(html):
                longest = max(longest, (bold if is_bold else regular).horizontalAdvance(word))
        needs.append(longest + pad)
    spare = available - sum(needs)
    weights = [weight for _, _, weight in COLUMNS]
    if spare <= 0:  # too narrow whatever we do: scale the needs down evenly
        return [n * available / sum(needs) for n in needs]
    return [n + spare * w / sum(weights) for n, w in zip(needs, weights, strict=True)]


def _words(html: str) -> Iterator[tuple[str, bool]]:
    """The unbreakable words of a cell's HTML, each with whether it is bold."""
    depth = 0
    for tag, text in _TOKENS.findall(html):
        if tag:
            depth += 1 if tag == "<b>" else -1 if tag == "</b>" else 0
            continue
        for word in _BREAK.split(unescape(text)):
            if word:
                yield word, depth > 0


@dataclass(frozen=True)
class _Section:
    title: str  # the table's title row (HTML)
    rows: tuple[Ics211Row, ...]
    fill: str | None
    empty: str  # said instead of a table when there are no rows


@dataclass
class _Piece:
    """Part of a page's body: a table fragment (rows ``start:stop`` of a section) or notes."""

    section: _Section | None
    start: int = 0
    stop: int = 0


def write_ics211_pdf(report: Ics211, path: Path | str) -> int:
    """Write ``report`` as a PDF at ``path``; return the number of pages.

    Needs a ``QGuiApplication`` for its fonts: one is made for the call if there is none (the
    command line; set ``QT_QPA_PLATFORM=offscreen`` where there is no display)."""
    app = QGuiApplication.instance() or QGuiApplication([])
    h = report.header
    pdf = PdfPages(
        Path(path),
        title=f"ICS 211 {h.incident_number} {h.incident_name}",
        orientation=QPageLayout.Orientation.Landscape,
        margin_pt=MARGIN_PT,
        families=FONT_FAMILIES,
        body_pt=BODY_PT,
    )
    width, height = pdf.width, pdf.height
    banner_h = pdf.pt(16) if h.exercise else 0.0
    title_h = pdf.pt(TITLE_PT + 4)
    # The whole header on the first page; the blocks that identify the list on the others.
    headers = (
        pdf.document(_header_html(report), width),
        pdf.document(_continuation_header_html(report), width),
    )
    footer = pdf.document(_footer_html(report), width)
    tops = [banner_h + title_h + d.size().height() + pdf.pt(GAP_PT) for d in headers]
    bodies = (
        height - tops[0] - footer.size().height() - pdf.pt(GAP_PT),
        height - tops[1] - footer.size().height() - pdf.pt(GAP_PT),
    )
    widths = column_widths(report.rows, pdf, width)
    sections = _sections(report)
    pages = _paginate(pdf, sections, report, widths, width, bodies)

    def paint_page(painter: QPainter, pieces: list[_Piece], number: int, count: int) -> None:
        y = 0.0
        if h.exercise:
            pdf.banner(painter, QRectF(0, 0, width, banner_h), EXERCISE, fill=ALARM, points=10)
            y = banner_h
        _title(painter, pdf, QRectF(0, y, width, title_h), number, count)
        y += title_h
        pdf.draw(painter, headers[number > 1], QPointF(0, y))
        y = tops[number > 1]
        for piece in pieces:
            doc = pdf.document(_piece_html(piece, report, widths), width)
            pdf.draw(painter, doc, QPointF(0, y))
            y += doc.size().height() + pdf.pt(GAP_PT)
        pdf.draw(painter, footer, QPointF(0, height - footer.size().height()))

    count = pdf.paint(pages, paint_page)
    del app  # kept alive until the file is written
    return count


def _sections(report: Ics211) -> tuple[_Section, _Section]:
    h = report.header
    checked = (
        f'<span style="font-size:{VALUE_PT}pt">CHECKED IN</span>'
        f'<span style="font-weight:normal"> (identified by someone on scene): </span>'
        f'<span style="font-size:{VALUE_PT}pt">{h.checked_in}</span>'
    )
    unchecked = (
        f'<span style="font-size:{VALUE_PT}pt; color:{ALARM}">ARRIVED BUT NOT CHECKED IN'
        f'<span style="font-weight:normal"> (not identified; cannot be assigned): </span>'
        f"{h.not_checked_in}</span>"
    )
    return (
        _Section(checked, report.checked_in, None, "nobody has been checked in"),
        _Section(
            unchecked,
            report.not_checked_in,
            UNCHECKED_FILL,
            "none: everyone who arrived is checked in",
        ),
    )


def _paginate(
    pdf: PdfPages,
    sections: Sequence[_Section],
    report: Ics211,
    widths: Sequence[float],
    width: float,
    bodies: tuple[float, float],
) -> list[list[_Piece]]:
    """Whole rows on each page (Qt would split a tall row across two): measure every row
    once in a section's full table, then fill pages greedily; a table continued on the next
    page repeats its title and column headers there. ``bodies``: the height for the body on
    the first page and on the others."""
    gap = pdf.pt(GAP_PT)
    slack = pdf.pt(1)  # rounding between the measuring table and a page's fragment
    pages: list[list[_Piece]] = [[]]
    y = 0.0

    def limit() -> float:
        return bodies[len(pages) > 1] - slack

    def room(needed: float) -> None:
        nonlocal y
        if pages[-1] and y + needed > limit():
            pages.append([])
            y = 0.0

    for section in sections:
        if not section.rows:
            needed = pdf.document(_piece_html(_Piece(section), report, widths), width).size()
            room(needed.height())
            pages[-1].append(_Piece(section))
            y += needed.height() + gap
            continue
        head, heights = _measure(pdf, section, widths, width)
        index = 0
        while index < len(section.rows):
            room(head + heights[index])
            piece = _Piece(section, index, index)
            y += head
            while index < len(section.rows) and (
                piece.stop == piece.start or y + heights[index] <= limit()
            ):
                y += heights[index]
                index += 1
                piece.stop = index
            pages[-1].append(piece)
            if index < len(section.rows):
                pages.append([])
                y = 0.0
        y += gap
    notes = pdf.document(_piece_html(_Piece(None), report, widths), width).size().height()
    room(notes)
    pages[-1].append(_Piece(None))
    return pages


def _measure(
    pdf: PdfPages, section: _Section, widths: Sequence[float], width: float
) -> tuple[float, list[float]]:
    """The height of a section table's header rows, and of each of its rows."""
    doc = pdf.document(_table(section, 0, len(section.rows), widths), width)
    layout = doc.documentLayout()
    table = next(f for f in doc.rootFrame().childFrames() if isinstance(f, QTextTable))
    frame = layout.frameBoundingRect(table)
    tops = [
        layout.blockBoundingRect(
            table.cellAt(HEADER_ROWS + i, 0).firstCursorPosition().block()
        ).top()
        for i in range(len(section.rows))
    ]
    ends = [*tops[1:], frame.bottom()]
    return tops[0] - frame.top(), [end - start for start, end in zip(tops, ends, strict=True)]


def _title(painter: QPainter, pdf: PdfPages, rect: QRectF, page: int, pages: int) -> None:
    painter.save()
    painter.setPen(QColor("black"))
    painter.setFont(pdf.font(TITLE_PT, bold=True))
    flags = Qt.AlignmentFlag.AlignVCenter
    painter.drawText(rect, flags | Qt.AlignmentFlag.AlignLeft, FORM_TITLE)
    painter.restore()
    pdf.page_number(painter, rect, page, pages, points=9, bold=True, color="black")


def _label(text: str) -> str:
    return f'<span style="font-size:{LABEL_PT}pt">{html_text(text)}</span>'


def _value(text: str, *, color: str | None = None) -> str:
    style = f"font-size:{VALUE_PT}pt; font-weight:bold"
    if color:
        style += f"; color:{color}"
    return f'<span style="{style}">{html_text(text) if text else "&nbsp;"}</span>'


def _header_html(report: Ics211) -> str:
    h = report.header
    boxes = "&nbsp;&nbsp;".join(
        f"{'&#9746;' if kind in h.check_in_kinds else '&#9744;'}&nbsp;{html_text(kind)}"
        for kind in CHECK_IN_KINDS
    )
    unchecked_color = ALARM if h.not_checked_in else None
    cells = (
        f'<td width="22%">{_label("1. Incident Name:")}<br>{_value(h.incident_name)}</td>'
        f'<td width="17%">{_label("2. Incident Number:")}<br>{_value(h.incident_number)}</td>'
        f'<td width="29%">{_label("3. Check-In Location (complete all that apply):")}<br>'
        f'<span style="font-size:{LABEL_PT}pt">{boxes}</span><br>'
        f"{_value(h.check_in_location)}</td>"
        f'<td width="13%">{_label("4. Start Date/Time:")}<br>{_value(h.start)}</td>'
        f'<td width="19%">{_label("Accountability at " + h.as_of + ":")}<br>'
        f"{_value(f'{h.checked_in} checked in')}<br>"
        f"{_value(f'{h.not_checked_in} arrived, NOT checked in', color=unchecked_color)}</td>"
    )
    second = (
        f"<td>{_label('Incident contact:')} "
        f'<span style="font-size:{BODY_PT}pt">{html_text(h.incident_contact)}</span></td>'
        f'<td colspan="2">{_label("5. Every line:")} '
        f'<span style="font-size:{BODY_PT}pt">Category {CATEGORY} \u00b7 Kind: '
        f"{html_text(KIND.lower())} \u00b7 single resources (no ST/TF) \u00b7 under each name: "
        "agency \u00b7 type (duty status)</span></td>"
        f'<td colspan="2">{_label("All times:")} '
        f'<span style="font-size:{BODY_PT}pt">{html_text(h.time_zone)} \u00b7 incident '
        f"{html_text(h.status)}</span></td>"
    )
    return (
        '<table width="100%" border="1" cellspacing="0" cellpadding="5" '
        'style="border-collapse:collapse; border-color:#000">'
        f"<tr>{cells}</tr><tr>{second}</tr></table>"
    )


def _continuation_header_html(report: Ics211) -> str:
    """Pages after the first: the blocks that identify the list, in one row."""
    h = report.header
    small = f'<span style="font-size:{BODY_PT}pt">'
    return (
        '<table width="100%" border="1" cellspacing="0" cellpadding="5" '
        'style="border-collapse:collapse; border-color:#000"><tr>'
        f'<td width="34%">{_label("1. Incident Name:")}<br>{_value(h.incident_name)}</td>'
        f'<td width="22%">{_label("2. Incident Number:")}<br>{_value(h.incident_number)}</td>'
        f'<td width="16%">{_label("4. Start Date/Time:")}<br>{_value(h.start)}</td>'
        f'<td width="28%">{_label("All times:")}<br>{small}{html_text(h.time_zone)}</span></td>'
        "</tr></table>"
    )


def _footer_html(report: Ics211) -> str:
    h = report.header
    blank = "_" * 14
    exercise = (
        f'<td width="9%" align="center" bgcolor="{ALARM}">'
        f'<span style="color:white; font-weight:bold; font-size:{VALUE_PT}pt">EXERCISE</span></td>'
        if h.exercise
        else ""
    )
    return (
        '<table width="100%" border="1" cellspacing="0" cellpadding="5" '
        'style="border-collapse:collapse; border-color:#000"><tr>'
        f'<td width="7%">{_value("ICS 211")}</td>'
        f'<td width="24%">{_label("17. Prepared by: Name:")} '
        f"{_value(h.prepared_name or blank)}</td>"
        f'<td width="22%">{_label("Position/Title:")} {_value(h.prepared_position or blank)}</td>'
        f'<td width="16%">{_label("Signature:")} {_value(blank)}</td>'
        f'<td width="22%">{_label("Date/Time:")} {_value(h.prepared_at)}</td>'
        f"{exercise}</tr></table>"
    )


HEADER_ROWS = 2  # a section table's title row and its column headers


def _table(section: _Section, start: int, stop: int, widths: Sequence[float]) -> str:
    """Rows ``start:stop`` of a section, under its title and the column headers."""
    total = sum(widths)
    title = section.title + (
        '<span style="font-weight:normal"> (continued)</span>' if start else ""
    )
    heading = f'<tr><th colspan="{len(COLUMNS)}" align="left" bgcolor="#ffffff">{title}</th></tr>'
    head = "".join(
        f'<th width="{100 * width / total:.3f}%" align="left" '
        f'bgcolor="{HEADER_FILL}" style="font-weight:normal">{label}</th>'
        for (label, _, _), width in zip(COLUMNS, widths, strict=True)
    )
    body = []
    for index in range(start, stop):
        row = section.rows[index]
        background = section.fill or ("#f4f4f4" if index % 2 else "#ffffff")
        cells = "".join(f'<td valign="top">{cell(row)}</td>' for _, cell, _ in COLUMNS)
        body.append(f'<tr bgcolor="{background}">{cells}</tr>')
    return (
        '<table width="100%" border="1" cellspacing="0" cellpadding="3" '
        'style="border-collapse:collapse; border-color:#000">'
        f"<thead>{heading}<tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _piece_html(piece: _Piece, report: Ics211, widths: Sequence[float]) -> str:
    section = piece.section
    if section is None:  # one paragraph: a short list keeps them on its last page
        notes = " \u00b7 ".join(html_text(note) for note in report.notes)
        return f'<p style="font-size:{BODY_PT}pt; margin:0"><b>Notes:</b> {notes}</p>'
    if not section.rows:
        empty = html_text(section.empty)
        return f'<p style="font-size:{VALUE_PT}pt">{section.title} <i>{empty}</i></p>'
    return _table(section, piece.start, piece.stop, widths)
