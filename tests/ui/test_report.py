"""The after-action report: HTML with the metrics and the pictures inline, a PDF whose pages
render (first page not blank), EXERCISE on every page of an exercise's report and nowhere in a
live incident's, a condensed timeline, and the command line writing both."""

from __future__ import annotations

import base64
import contextlib
import io
import re
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QImage
from PySide6.QtPdf import QPdfDocument
from pytestqt.qtbot import QtBot

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.replay.metrics import compute
from dispatch_console.replay.timeline import Timeline
from dispatch_console.store import Store
from dispatch_console.ui.print.report import (
    INDIVIDUAL_ROWS,
    build_report,
    condensed_rows,
    key_moments,
    metric_rows,
    write_report,
)
from tests.ui.factory import Built, build_incident, demo_roads, demo_schools

KEY_MOMENTS = ("activation", "first_arrival", "peak_exposure", "all_clear")


@pytest.fixture(scope="module")
def example_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("example") / "example.sqlite3"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["example", "--db", str(path)]) == 0
    return str(path)


@pytest.fixture(scope="module")
def example_id(example_db: str) -> str:
    with Store(example_db) as store:
        return store.incidents()[0].incident_id


@pytest.fixture(scope="module")
def live() -> Built:
    return build_incident(40, minutes=6, acknowledge_alert=True)


def pdf_pages(path: Path) -> QPdfDocument:
    doc = QPdfDocument()
    doc.load(str(path))
    assert doc.status() == QPdfDocument.Status.Ready
    return doc


def ink_share(image: QImage) -> float:
    """Share of pixels that are not (nearly) white, on a grid of samples."""
    inked = total = 0
    for y in range(0, image.height(), 4):
        for x in range(0, image.width(), 4):
            total += 1
            if QColor(image.pixel(x, y)).lightness() < 235:
                inked += 1
    return inked / total


def test_html_report_has_the_metrics_and_every_picture_inline(
    qtbot: QtBot, example_db: str, example_id: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    with Store(example_db) as store:
        report = write_report(store, example_id, path, roads=demo_roads())
    html = path.read_text(encoding="utf-8")
    assert 'id="exercise-banner"' in html
    assert html.index("EXERCISE") < html.index("<h1>")
    for label, value in metric_rows(report):
        assert f"<th>{label}</th><td>{value}</td>".replace("&", "&amp;") in html.replace(
            "&#x27;", "'"
        )
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == len(KEY_MOMENTS) + 3  # the snapshots and the three charts
    for data in images:
        image = QImage.fromData(base64.b64decode(data))
        assert not image.isNull() and image.width() >= 600
    assert set(report.snapshots) == set(KEY_MOMENTS)
    assert 'id="timeline"' in html and "Alert acknowledged" in html


def test_metrics_name_responders_as_the_console_does(example_db: str, example_id: str) -> None:
    with Store(example_db) as store:
        timeline = Timeline.load(store, example_id)
    report = build_report(timeline, pictures=False)
    rows = dict(metric_rows(report))
    never = report.metrics.never_identified
    assert never
    for rid in never:
        assert report.names[rid] in rows["Arrived, never identified"]
    assert rows["Peak unidentified inside the inner perimeter"].startswith(
        str(report.metrics.peak_unidentified_inner)
    )


def test_pdf_pages_render_and_say_exercise_on_every_page(
    qtbot: QtBot, example_db: str, example_id: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.pdf"
    with Store(example_db) as store:
        report = write_report(store, example_id, path, roads=demo_roads())
    assert path.read_bytes().startswith(b"%PDF")
    doc = pdf_pages(path)
    assert doc.pageCount() == report.pages >= 4
    for page in range(doc.pageCount()):
        text = doc.getAllText(page).text()
        assert "EXERCISE" in text, f"page {page + 1}"
        assert f"Page {page + 1} of {report.pages}" in text
    size = doc.pagePointSize(0)
    first = doc.render(0, QSize(int(size.width()), int(size.height())))
    assert ink_share(first) > 0.05
    everything = " ".join(doc.getAllText(p).text() for p in range(doc.pageCount()))
    for words in ("After-action metrics", "Key moments", "Charts", "Condensed timeline"):
        assert words in everything
    # A page of map snapshots: pictures, not blank paper.
    maps = next(p for p in range(doc.pageCount()) if "Key moments" in doc.getAllText(p).text())
    assert ink_share(doc.render(maps, QSize(int(size.width()), int(size.height())))) > 0.2


def test_a_live_incident_report_never_says_exercise(
    qtbot: QtBot, live: Built, tmp_path: Path
) -> None:
    timeline = Timeline(live.events)
    pdf = tmp_path / "live.pdf"
    report = write_report(timeline, None, pdf, schools=demo_schools(), roads=demo_roads())
    doc = pdf_pages(pdf)
    assert not report.exercise
    assert all("EXERCISE" not in doc.getAllText(p).text() for p in range(doc.pageCount()))
    html = tmp_path / "live.html"
    write_report(timeline, None, html, schools=demo_schools(), roads=demo_roads())
    assert "exercise-banner" not in html.read_text(encoding="utf-8")


def test_key_moments_are_the_metrics_instants(live: Built) -> None:
    timeline = Timeline(live.events)
    metrics = compute(timeline.events)
    moments = {m.key: m for m in key_moments(timeline, metrics, timeline.final_state)}
    assert list(moments) == list(KEY_MOMENTS)
    assert moments["activation"].at_us == max(metrics.activated_at_us, timeline.start_us)
    assert metrics.to_first_arrival_us is not None
    assert moments["first_arrival"].at_us == metrics.activated_at_us + metrics.to_first_arrival_us
    assert moments["peak_exposure"].at_us == metrics.peak_unidentified_inner_at_us
    assert moments["all_clear"].at_us == timeline.end_us  # never closed: the end of the record
    assert moments["all_clear"].title == "End of the record"


def test_all_clear_is_shown_as_the_console_had_it_just_before(live: Built) -> None:
    from tests.ui.factory import DISPATCHER, EventWriter

    writer = EventWriter(live.incident_id, first_seq=len(live.events) + 1)
    writer.add(ev.IncidentStatusChanged("all_clear", "suspect in custody"), live.now_us, DISPATCHER)
    timeline = Timeline([*live.events, *writer.events])
    metrics = compute(timeline.events)
    moment = key_moments(timeline, metrics, timeline.final_state)[-1]
    assert moment.title == "All clear"
    assert moment.at_us == live.now_us - 1
    assert timeline.state_at(moment.at_us).status == "active"


def test_condensed_timeline_keeps_key_events_and_counts_crowds(live: Built) -> None:
    timeline = Timeline(live.events)
    rows = condensed_rows(timeline, timeline.final_state)
    arrivals = sum(1 for e in timeline.events if e.type == ev.ResponderArrived.TYPE)
    assert arrivals > INDIVIDUAL_ROWS
    single = [r for r in rows if r.what == "Arrived"]
    counted = [r for r in rows if r.what.startswith("Arrived ×")]
    assert len(single) == INDIVIDUAL_ROWS
    assert len(single) + sum(int(r.what.split("×")[1]) for r in counted) == arrivals
    assert not any(r.what == "Position" for r in rows)
    assert [r.at_us for r in rows] == sorted(r.at_us for r in rows)
    alert = next(r for r in rows if r.what == "ALERT")
    assert alert.strong and "ACTIVE SHOOTER" in alert.detail


def test_report_command_writes_pdf_and_html(
    qtbot: QtBot, example_db: str, example_id: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", example_id, "-o", str(tmp_path / "r.pdf"), "--db", example_db]) == 0
        assert main(["report", example_id, "-o", str(tmp_path / "r.html"), "--db", example_db]) == 0
    text = out.getvalue()
    assert "EXERCISE" in text and "pages" in text and "HTML" in text
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["report", example_id, "-o", str(tmp_path / "r.txt"), "--db", example_db]) == 1
        assert main(["report", "nope", "-o", str(tmp_path / "r.pdf"), "--db", example_db]) == 1
    assert "must end in .pdf or .html" in err.getvalue()
    assert "no incident 'nope'" in err.getvalue()
