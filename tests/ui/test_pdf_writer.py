"""One PDF writer (:mod:`dispatch_console.ui.print.pdf`) for both printed outputs: the
after-action report and the ICS 211 are painted through the same :class:`PdfPages` (page
size, resolution, creator, "Page n of m" on every page) and their text is neutralised."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPageLayout, QPainter
from PySide6.QtPdf import QPdfDocument
from pytestqt.qtbot import QtBot

from dispatch_console.app.ics211 import build_ics211, print_time_format
from dispatch_console.replay.timeline import Timeline
from dispatch_console.ui.print import pdf
from dispatch_console.ui.print.ics211_pdf import write_ics211_pdf
from dispatch_console.ui.print.pdf import PdfPages, html_text
from dispatch_console.ui.print.report import write_report
from tests.ui.factory import build_incident, demo_roads, demo_schools


@pytest.fixture(autouse=True)
def _collect_afterwards() -> Iterator[None]:
    yield
    gc.collect()


class _Spy:
    """Every PDF painted through :class:`PdfPages`: its file, orientation and the page numbers
    it printed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.painted: dict[str, QPageLayout.Orientation] = {}
        self.numbers: dict[str, list[tuple[int, int]]] = {}
        paint, page_number = PdfPages.paint, PdfPages.page_number
        spy = self

        def paint_spy(
            self: PdfPages,
            pages: Sequence[object],
            paint_page: Callable[[QPainter, object, int, int], None],
        ) -> int:
            spy.painted[self.path.name] = self.writer.pageLayout().orientation()
            return paint(self, pages, paint_page)

        def page_number_spy(
            self: PdfPages,
            painter: QPainter,
            rect: QRectF,
            page: int,
            pages: int,
            *,
            points: float,
            bold: bool,
            color: str,
        ) -> None:
            spy.numbers.setdefault(self.path.name, []).append((page, pages))
            page_number(self, painter, rect, page, pages, points=points, bold=bold, color=color)

        monkeypatch.setattr(PdfPages, "paint", paint_spy)
        monkeypatch.setattr(PdfPages, "page_number", page_number_spy)


def _read(path: Path) -> QPdfDocument:
    doc = QPdfDocument()
    assert doc.load(str(path)) == QPdfDocument.Error.None_
    return doc


def test_the_report_and_the_ics_211_go_through_the_one_writer(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _Spy(monkeypatch)
    built = build_incident(40, minutes=6, acknowledge_alert=True)
    state = built.console.incidents[built.incident_id]
    ics = build_ics211(
        state,
        built.now_us,
        school=built.school,
        prepared_by="Sgt. R. Lee",
        position="Resources Unit Leader",
        time_format=print_time_format(state, built.now_us, ZoneInfo("America/New_York")),
    )
    ics_pages = write_ics211_pdf(ics, tmp_path / "ics211.pdf")
    report = write_report(
        Timeline(built.events),
        None,
        tmp_path / "report.pdf",
        schools=demo_schools(),
        roads=demo_roads(),
    )

    assert spy.painted == {
        "ics211.pdf": QPageLayout.Orientation.Landscape,
        "report.pdf": QPageLayout.Orientation.Portrait,
    }
    counts = {"ics211.pdf": ics_pages, "report.pdf": report.pages}
    for name, count in counts.items():
        assert count > 0
        # The writer's "Page n of m", once on every page, numbered in order.
        assert spy.numbers[name] == [(n, count) for n in range(1, count + 1)], name
        doc = _read(tmp_path / name)
        assert doc.pageCount() == count
        assert doc.metaData(QPdfDocument.MetaDataField.Creator) == pdf.CREATOR
        size = doc.pagePointSize(0)
        assert sorted((round(size.width()), round(size.height()))) == [612, 792]  # Letter
        for page in range(count):
            assert f"Page {page + 1} of {count}" in doc.getAllText(page).text()


def test_text_for_a_pdf_is_neutralised_and_escaped() -> None:
    # A right-to-left override would reverse the rest of a printed line; markup would be read.
    assert html_text("Lee\u202e <b>") == "Lee&lt;U+202E&gt; &lt;b&gt;"
    assert html_text("Officer 5") == "Officer 5"
