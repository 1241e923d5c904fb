"""ImportReport and ImportFileError: the summary line and one readable line per problem."""

from __future__ import annotations

import pytest

from dispatch_console.importers import ImportFileError, ImportReport, Problem


def test_summary_counts_every_category() -> None:
    report: ImportReport[str] = ImportReport(
        imported=["a"] * 12,
        rejected=[Problem(1, "x"), Problem(2, "y")],
        skipped=[Problem(3, "geometry is null")],
        warnings=[Problem(None, "w1"), Problem(4, "w2"), Problem(5, "w3")],
    )
    assert report.summary() == "12 imported, 2 rejected, 1 skipped, 3 warnings"


def test_summary_singular_warning_and_attached_pre_plan_features() -> None:
    report: ImportReport[str] = ImportReport(
        imported=["a"], warnings=[Problem(None, "w")], attached=1
    )
    assert report.summary() == (
        "1 imported (1 pre-plan feature attached), 0 rejected, 0 skipped, 1 warning"
    )
    report.attached = 5
    assert report.summary().startswith("1 imported (5 pre-plan features attached),")


def test_lines_one_per_problem_file_wide_first_then_in_file_order() -> None:
    report: ImportReport[str] = ImportReport(
        rejected=[
            Problem(7, "polygon self-intersects at (-84.555, 38.205)", "Lincoln HS"),
            Problem(2, "missing name"),
        ],
        skipped=[Problem(4, "geometry is null", "Garth")],
        warnings=[Problem(7, "later warning", "Lincoln HS"), Problem(None, "transformed")],
        source="schools.geojson",
    )
    assert report.lines() == [
        "schools.geojson: warning: transformed",
        "feature 2: rejected: missing name",
        "feature 4 (Garth): skipped: geometry is null",
        "feature 7 (Lincoln HS): rejected: polygon self-intersects at (-84.555, 38.205)",
        "feature 7 (Lincoln HS): warning: later warning",
    ]


def test_lines_use_the_report_unit_for_csv() -> None:
    report: ImportReport[str] = ImportReport(
        rejected=[Problem(3, "missing badge", "Dana Cruz")], unit="line"
    )
    assert report.lines() == ["line 3 (Dana Cruz): rejected: missing badge"]


def test_import_file_error_is_one_line_with_its_source() -> None:
    error = ImportFileError("empty FeatureCollection: no features to import", "a.geojson")
    assert error.reason == "empty FeatureCollection: no features to import"
    assert str(error) == "a.geojson: empty FeatureCollection: no features to import"
    assert str(ImportFileError("bad")) == "bad"
    assert isinstance(error, ValueError)  # the CLI reports ValueErrors as "error: ..."


@pytest.mark.parametrize(
    ("first_bytes", "what"),
    [(b"PK\x03\x04rest", "ZIP archive"), (b"\x00\x00\x27\x0a\x00", "shapefile"),
     (b"SQLite format 3\x00", "SQLite database"), (b"%PDF-1.7", "PDF")],
)  # fmt: skip
def test_a_binary_file_is_named_not_called_bad_utf8(first_bytes: bytes, what: str) -> None:
    from dispatch_console.importers import parse_roster, parse_schools

    for parse in (parse_schools, parse_roster):
        with pytest.raises(ImportFileError, match=what):
            parse(first_bytes + bytes(range(256)), source="upload")
