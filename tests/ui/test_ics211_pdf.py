"""The ICS 211 check-in list as a PDF: a real file, read back with Qt's own PDF reader."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage
from PySide6.QtPdf import QPdfDocument
from pytestqt.qtbot import QtBot

from dispatch_console.app.ics211 import build_ics211, print_time_format
from dispatch_console.ui.print import ics211_pdf
from dispatch_console.ui.print.ics211_pdf import write_ics211_pdf
from tests.ui.factory import Built, build_incident

ROOT = Path(__file__).resolve().parents[2]
EASTERN = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _collect_afterwards() -> Iterator[None]:
    """Factory states are large graphs: collected here, not in the middle of a later test."""
    yield
    gc.collect()


def _write(built: Built, path: Path, *, exercise: bool = False) -> int:
    state = built.console.incidents[built.incident_id]
    state.exercise = exercise
    report = build_ics211(
        state,
        built.now_us,
        school=built.school,
        prepared_by="Sgt. R. Lee",
        position="Resources Unit Leader",
        time_format=print_time_format(state, built.now_us, EASTERN),
    )
    return write_ics211_pdf(report, path)


def _read(path: Path) -> QPdfDocument:
    doc = QPdfDocument()
    assert doc.load(str(path)) == QPdfDocument.Error.None_
    return doc


def _texts(doc: QPdfDocument) -> list[str]:
    return [doc.getAllText(page).text() for page in range(doc.pageCount())]


def _ink(image: QImage) -> float:
    """The share of sampled pixels that are not white."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    samples = inked = 0
    for y in range(0, image.height(), 4):
        for x in range(0, image.width(), 4):
            samples += 1
            inked += image.pixelColor(x, y).lightness() < 200
    return inked / samples


def test_a_landscape_letter_pdf_with_the_form_and_the_responders(
    qtbot: QtBot, tmp_path: Path
) -> None:
    built = build_incident(40)
    path = tmp_path / "ics211.pdf"
    pages = _write(built, path)
    assert path.read_bytes().startswith(b"%PDF")
    assert pages > 0
    doc = _read(path)
    assert doc.pageCount() == pages
    size = doc.pagePointSize(0)
    assert (round(size.width()), round(size.height())) == (792, 612)  # Letter, landscape

    image = doc.render(0, QSize(1584, 1224))
    assert not image.isNull()
    assert 0.02 < _ink(image) < 0.6  # text and rules on white: neither blank nor a black page

    texts = _texts(doc)
    first = texts[0]
    assert "INCIDENT CHECK-IN LIST (ICS 211)" in first
    assert "Lincoln High School" in first and built.incident_id in first
    assert "Officer 005" in first
    everything = "\n".join(texts)
    assert "ARRIVED BUT NOT CHECKED IN" in everything
    assert "EXERCISE" not in everything
    for number, text in enumerate(texts, 1):
        assert f"Page {number} of {pages}" in text
        assert "17. Prepared by" in text and "Sgt. R. Lee" in text


def test_every_page_repeats_the_headers_and_every_row_appears_once(
    qtbot: QtBot, tmp_path: Path
) -> None:
    built = build_incident(160, seed=3)
    state = built.console.incidents[built.incident_id]
    path = tmp_path / "long.pdf"
    pages = _write(built, path, exercise=True)
    assert pages >= 3
    texts = _texts(_read(path))
    assert len(texts) == pages
    for text in texts:
        assert "EXERCISE" in text  # the banner, on every page
        assert "1. Incident Name" in text and "2. Incident Number" in text
        assert "4. Start Date/Time" in text and "All times" in text
        assert re.search(r"5\.\s+Resource name", text)  # the table's header row
    listed = [r for r in state.responders.values() if r.identified or r.arrived_at_us is not None]
    everything = "\n".join(texts)
    for responder in listed:
        # Whole rows only: a row cut in two across pages would lose or repeat lines.
        assert everything.count(f"#{responder.badge}") == 1, responder.responder_id
    continued = [t for t in texts if "(continued)" in t]
    assert continued  # a section spanning pages says so on the next one


def test_text_is_never_smaller_than_seven_and_a_half_points() -> None:
    assert (
        min(ics211_pdf.BODY_PT, ics211_pdf.LABEL_PT, ics211_pdf.VALUE_PT, ics211_pdf.TITLE_PT)
        >= 7.5
    )


def test_the_cli_writes_csv_and_pdf_of_the_example_incident(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "DISPATCH_CONSOLE_DB": "",
        "TZ": "America/New_York",
        "QT_QPA_PLATFORM": "offscreen",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dispatch_console.cli", *args, "--db", db],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=180,
        )

    db = str(tmp_path / "example.sqlite3")
    assert run("example").returncode == 0
    incident = run("incidents").stdout.splitlines()[1].split()[0]
    csv_path, pdf_path = tmp_path / "211.csv", tmp_path / "211.PDF"
    common = ("--at", "+420", "--prepared-by", "Sgt. R. Lee")
    made_csv = run("ics211", incident, "-o", str(csv_path), *common)
    assert made_csv.returncode == 0, made_csv.stderr
    assert "2 checked in, 3 arrived but not checked in" in made_csv.stdout
    text = csv_path.read_text(encoding="utf-8-sig")
    assert text.startswith("*** EXERCISE ***")
    assert "Ofc. K. Chen #3207 (GPD-212)" in text and "R-114 on TAC-2" in text
    assert "Det. M. Ruiz #4411 (GPD-D11)" in text and "INSIDE INNER PERIMETER" in text
    assert "2026-11-24 04:14:05 -05:00" in text  # block 4: opened 09:14:05Z, local time
    assert "IC: Lt. J. Hayes" in text
    assert " km NW of school, 2026-11-24 04:15:15 -05:00" in text  # Brooks's first position

    made_pdf = run("ics211", incident, "-o", str(pdf_path), *common, "--location", "ICP")
    assert made_pdf.returncode == 0, made_pdf.stderr
    assert pdf_path.read_bytes().startswith(b"%PDF")
    doc = QPdfDocument()
    assert doc.load(str(pdf_path)) == QPdfDocument.Error.None_
    everything = "\n".join(_texts(doc))
    assert "ICS 211" in everything and "Ruiz" in everything and "EXERCISE" in everything
    assert "INSIDE" in everything and "PERIMETER" in everything
