"""parse_roster: agency rosters from CSV, one case per kind of bad row or bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_console.domain.reference import RosterEntry
from dispatch_console.importers import ImportFileError, Problem, load_roster, parse_roster

HEADER = "agency,badge,name,status,device_ids\n"


def test_good_roster() -> None:
    text = (
        HEADER
        + "Georgetown PD,0142,Dana Cruz,sworn,ios-7F3A;android-55b1\n"
        + 'Georgetown PD,0157,"Lee, Sam",Active,\n'
        + "Scott County SO,S-22,Pat Moreno,LEOSA,ios-9C20 | ios-9C21\n"
        + "Scott County SO,S-23,Kim Ortiz,RETIRED,ios-1  ios-2\tios-3\n"
    )
    report = parse_roster(text, source="gpd.csv")
    assert report.summary() == "4 imported, 0 rejected, 0 skipped, 0 warnings"
    assert report.imported == [
        RosterEntry("Georgetown PD", "0142", "Dana Cruz", "active", ("ios-7F3A", "android-55b1")),
        RosterEntry("Georgetown PD", "0157", "Lee, Sam", "active", ()),
        RosterEntry("Scott County SO", "S-22", "Pat Moreno", "retired", ("ios-9C20", "ios-9C21")),
        RosterEntry("Scott County SO", "S-23", "Kim Ortiz", "retired", ("ios-1", "ios-2", "ios-3")),
    ]
    assert report.source == "gpd.csv" and report.unit == "line"


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("Agency,Badge,Name,Status,Device IDs", "GPD,7,Dana Cruz,active,dev-1"),
        ("AGENCY,BADGE,NAME,STATUS,DEVICE_IDS", "GPD,7,Dana Cruz,active,dev-1"),
        (" agency , badge , name , status , device-ids ", "GPD,7,Dana Cruz,active,dev-1"),
        ("agency,Badge Number,name,status,devices", "GPD,7,Dana Cruz,active,dev-1"),
        ("agency,badge_no,name,status,Device_Id", "GPD,7,Dana Cruz,active,dev-1"),
        ("status,name,device id,badge,agency", "active,Dana Cruz,dev-1,7,GPD"),  # any order
    ],
)
def test_header_names_are_tolerant(header: str, row: str) -> None:
    report = parse_roster(f"{header}\n{row}\n")
    assert report.imported == [RosterEntry("GPD", "7", "Dana Cruz", "active", ("dev-1",))]
    assert report.lines() == []


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    rows = [
        ["agency", "badge", "name", "status", "device_ids"],
        ["GPD", "1", "Cruz, Dana", "active", "a|b"],
        ["GPD", "2", "Lee Sam", "retired", "c"],
    ]
    text = "\r\n".join(delimiter.join(r) for r in rows)
    if delimiter == ",":
        text = text.replace("Cruz, Dana", '"Cruz, Dana"')
    report = parse_roster(text)
    assert [(e.name, e.device_ids) for e in report.imported] == [
        ("Cruz, Dana", ("a", "b")),
        ("Lee Sam", ("c",)),
    ]
    assert report.rejected == []


def test_bom_and_bytes_and_device_ids_column_optional() -> None:
    text = "\ufeffAgency;Badge;Name;Status\nGPD;1;Dana Cruz;Sworn\n"
    for data in (text, text.encode("utf-8"), text.removeprefix("\ufeff").encode("utf-8-sig")):
        report = parse_roster(data)
        assert report.imported == [RosterEntry("GPD", "1", "Dana Cruz", "active", ())]


def test_cells_trimmed_blank_lines_and_empty_rows_ignored() -> None:
    text = HEADER + "\n  GPD ,  0142 ,  Dana Cruz  , active ,  d1 ;  d2  \n,,,,\n\n   \n"
    report = parse_roster(text)
    assert report.imported == [RosterEntry("GPD", "0142", "Dana Cruz", "active", ("d1", "d2"))]
    assert report.lines() == []


def test_bad_rows_are_reported_with_line_numbers_and_good_rows_import() -> None:
    text = (
        HEADER  # line 1
        + "GPD,1,Dana Cruz,active,d1\n"  # 2 ok
        + ",2,No Agency,active,\n"  # 3 missing agency
        + "GPD,,,active,\n"  # 4 missing badge and name
        + "GPD,3,Kim Ortiz,on leave,\n"  # 5 unknown status
        + "GPD,4,Pat Moreno,,\n"  # 6 missing status
        + "\n"  # 7 blank
        + "gpd , 1 ,Dana Cruz Again,active,\n"  # 8 duplicate agency+badge (case/space-insensitive)
        + "GPD,5,Lee Sam,retired,x1;D1\n"  # 9 device D1 claimed by line 2 (case-insensitive)
        + "GPD,6,Jo Park,active,x1\n"  # 10 x1 is free: line 9 was rejected
        + "GPD,7,Ann Bell,active,d9,extra\n"  # 11 one cell too many
        + '"GPD","8","Multi\nLine Name","active",""\n'  # 12-13 quoted line break: fine
        + "GPD,9,Ray Diaz,Sworn,d9 d9\n"  # 14 ok, device listed twice kept once
    )
    report = parse_roster(text)
    assert [(e.badge, e.name) for e in report.imported] == [
        ("1", "Dana Cruz"),
        ("6", "Jo Park"),
        ("8", "Multi\nLine Name"),
        ("9", "Ray Diaz"),
    ]
    assert report.imported[-1].device_ids == ("d9",)
    assert report.rejected == [
        Problem(3, "missing agency", "No Agency"),
        Problem(4, "missing badge, name", None),
        Problem(
            5, "unknown status 'on leave' (expected active, sworn, retired or LEOSA)", "Kim Ortiz"
        ),
        Problem(6, "missing status (expected active, sworn, retired or LEOSA)", "Pat Moreno"),
        Problem(8, "duplicate: agency 'gpd' badge '1' is already on line 2", "Dana Cruz Again"),
        Problem(9, "device id 'D1' already belongs to Dana Cruz (line 2)", "Lee Sam"),
        Problem(
            11,
            "6 cells but the header has 5 columns (a value with an unquoted ',' in it?)",
            "Ann Bell",
        ),
    ]
    assert report.summary() == "4 imported, 7 rejected, 0 skipped, 0 warnings"
    assert report.lines()[0] == "line 3 (No Agency): rejected: missing agency"


def test_trailing_empty_cells_and_short_rows() -> None:
    text = HEADER + "GPD,1,Dana Cruz,active,d1,,,\nGPD,2,Lee Sam,active\nGPD,3,Kim\n"
    report = parse_roster(text)
    assert [e.badge for e in report.imported] == ["1", "2"]
    assert report.rejected == [
        Problem(4, "missing status (expected active, sworn, retired or LEOSA)", "Kim")
    ]


def test_unknown_columns_are_ignored_with_one_warning() -> None:
    text = "agency,badge,rank,name,status,Shift\nGPD,1,Sgt,Dana Cruz,active,B\n"
    report = parse_roster(text)
    assert report.imported == [RosterEntry("GPD", "1", "Dana Cruz", "active", ())]
    assert report.warnings == [Problem(1, "columns ignored: 'rank', 'Shift'")]


def test_header_after_blank_lines_keeps_physical_line_numbers() -> None:
    report = parse_roster("\n\n" + HEADER + "GPD,1,Dana Cruz,bogus,\n")
    assert report.rejected == [
        Problem(4, "unknown status 'bogus' (expected active, sworn, retired or LEOSA)", "Dana Cruz")
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("", "no header line: the file is empty"),
        ("\n \n,,,\n", "no header line: the file is empty"),
        (
            "agency,badge,name\nGPD,1,Dana\n",
            "missing required column status (the header on line 1 has: 'agency', 'badge', 'name')",
        ),
        (
            "officer,number\nDana,1\n",
            "missing required columns agency, badge, name, status "
            "(the header on line 1 has: 'officer', 'number')",
        ),
        (
            "agency,badge,name,status,device_ids,devices\n",
            "the header (line 1) has two device_ids columns: 'device_ids' and 'devices'",
        ),
        (
            b"agency,badge,name,status\nGPD,1,Pe\xf1a,active\n",
            "not UTF-8 text (byte 0xf1 at offset",
        ),
        ("agency,badge,name,status".encode("utf-16"), "the file is UTF-16 text; save it as UTF-8"),
    ],
)
def test_whole_file_errors(data: str | bytes, reason: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_roster(data, source="r.csv")
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith("r.csv: ")


def test_header_only_imports_nothing() -> None:
    assert parse_roster(HEADER).summary() == "0 imported, 0 rejected, 0 skipped, 0 warnings"


def test_unreadable_row_is_rejected_and_reading_continues() -> None:
    import csv

    huge = "x" * (csv.field_size_limit() + 1)
    report = parse_roster(HEADER + f"GPD,1,{huge},active,\nGPD,2,Lee Sam,active,\n")
    assert [e.name for e in report.imported] == ["Lee Sam"]
    assert len(report.rejected) == 1
    assert report.rejected[0].index == 2
    assert report.rejected[0].reason.startswith("unreadable row: field larger than field limit")


def test_load_roster(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "GPD,1,Dana Cruz,active,\n").encode())
    report = load_roster(path)
    assert report.source == str(path)
    assert [e.name for e in report.imported] == ["Dana Cruz"]
    with pytest.raises(ImportFileError, match="cannot read the file"):
        load_roster(tmp_path / "missing.csv")
