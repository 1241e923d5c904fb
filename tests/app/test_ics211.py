"""The ICS 211 check-in list (Qt-free): its rows, its sections, its times and its CSV."""

from __future__ import annotations

import csv
import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch_console.app.ics211 import (
    COLUMNS,
    FORM_TITLE,
    Ics211,
    Ics211Row,
    TimeFormat,
    build_ics211,
    first_positions,
    print_time_format,
    write_csv,
)
from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import parse_iso
from tests.ui.factory import DISPATCHER, Built, EventWriter, S, build_incident

ROOT = Path(__file__).resolve().parents[2]
EASTERN = ZoneInfo("America/New_York")
KIND = "Law enforcement officer"


def _state(built: Built) -> IncidentState:
    return built.console.incidents[built.incident_id]


def _add(built: Built, *payloads: ev.Payload, actor: ev.Actor = DISPATCHER) -> None:
    """More events after the factory's, folded into the same console."""
    writer = EventWriter(built.incident_id, built.events[-1].seq + 1)
    for k, payload in enumerate(payloads):
        writer.add(payload, built.now_us - 5 * S + k, actor)
    built.console.apply(writer.events)
    built.events.extend(writer.events)


def _row(report: Ics211, responder_id: str) -> Ics211Row:
    return next(r for r in report.rows if r.responder_id == responder_id)


@pytest.fixture
def built() -> Iterator[Built]:
    yield build_incident(40)
    # A console state is a large graph: collected now, not in the middle of a later test
    # (test_pyside_refcount counts None's references and would see them go).
    gc.collect()


def test_checked_in_rows_are_exactly_the_identified_responders(built: Built) -> None:
    state = _state(built)
    report = build_ics211(state, built.now_us)
    identified = {r.responder_id for r in state.responders.values() if r.identified}
    assert identified  # the factory identifies every responder at index 5 and 6 modulo 10
    assert {r.responder_id for r in report.checked_in} == identified
    assert all(r.section == "checked_in" for r in report.checked_in)
    assert report.header.checked_in == len(identified)


def test_arrivals_never_checked_in_are_listed_separately(built: Built) -> None:
    state = _state(built)
    report = build_ics211(state, built.now_us)
    arrived_unidentified = {
        r.responder_id
        for r in state.responders.values()
        if r.arrived_at_us is not None and not r.identified
    }
    assert "r000" in arrived_unidentified  # the black-shirt case: on scene, unidentified
    assert {r.responder_id for r in report.not_checked_in} == arrived_unidentified
    assert not arrived_unidentified & {r.responder_id for r in report.checked_in}
    # Those still en route, or who never answered, are on neither list.
    listed = {r.responder_id for r in report.rows}
    assert state.responders["r001"].arrived_at_us is None and "r001" not in listed
    assert "r009" not in listed  # notified only
    assert report.header.not_checked_in == len(arrived_unidentified)

    ruiz = _row(report, "r000")
    assert ruiz.section == "not_checked_in"
    assert ruiz.check_in == "NOT CHECKED IN"
    assert ruiz.verified == "NOT IDENTIFIED"
    assert ruiz.assignment == "none (not identified)"
    assert ruiz.attire == "plainclothes: black t-shirt, blue pants, no visible ID"
    assert ruiz.plainclothes
    assert ruiz.radio == "none issued; NO RADIO"  # off duty, no radio reported
    assert ruiz.travel == "POV (assumed)"
    # On scene at the school: the last position is inside the pre-plan's inner perimeter.
    assert ruiz.inside_inner and "INSIDE INNER PERIMETER" in ruiz.arrived


def test_form_blocks_of_a_checked_in_responder(built: Built) -> None:
    state = _state(built)
    _add(
        built,
        ev.IncidentCommanderAssigned("Lt. J. Hayes"),
        ev.ResponderEquipmentIssued("r006", "R-114", "TAC-2", "raid_jacket"),
        ev.DirectiveQueued(
            "dir-0005", "r005", "dev-005", "go_to_staging", "Go to Staging A", "staging-a"
        ),
    )
    report = build_ics211(
        state,
        built.now_us,
        school=built.school,
        prepared_by="Sgt. R. Lee",
        position="Resources Unit Leader",
        time_format=TimeFormat(EASTERN),
        departures=first_positions(built.events),
    )
    row = _row(report, "r006")  # off duty, Georgetown PD, retired, assigned to Team 2
    identified_at = state.responders["r006"].identification
    assert identified_at is not None
    assert (row.state, row.category, row.kind, row.st_tf) == ("", "LE", KIND, "")
    assert (row.agency, row.home_unit, row.type) == ("Georgetown PD", "Georgetown PD", "off duty")
    assert row.name == "Officer 006 #1006 (U-006)"
    assert row.order_request == "self-dispatched"
    assert row.check_in == TimeFormat(EASTERN)(identified_at.at_us)
    assert row.check_in.endswith(" -05:00")
    assert (row.leader, row.personnel) == ("", 1)
    assert row.contact == "callsign U-006; radio TAC-2"
    assert row.departure.endswith("; self-dispatched") and " km " in row.departure
    assert row.travel == "POV (assumed)"
    assert row.assignment == "perimeter post, Team 2"
    assert row.qualifications == "retired (LEOSA)"
    assert row.data_to_resources_unit.endswith(" RL")
    assert row.attire == "uniform" and not row.plainclothes
    assert row.armed == "not recorded"  # nothing records it: never invented
    assert row.radio == "R-114 on TAC-2"
    assert row.verified == "Sgt. Staging: credentials checked in person"
    assert row.marking == "raid jacket"
    assert row.status == "assigned"

    directed = _row(report, "r005")
    assert directed.order_request == "dir-0005"
    assert directed.qualifications == "NOT ON ROSTER" and directed.not_on_roster
    assert directed.travel == "agency vehicle (assumed)"
    assert directed.assignment == "awaiting assignment"

    h = report.header
    assert h.incident_name == "Lincoln High School \u2014 active shooter"
    assert h.incident_number == built.incident_id
    assert h.check_in_kinds == ("Staging Area",)
    assert "Staging A" in h.check_in_location
    assert h.start == TimeFormat(EASTERN)(state.opened_at_us)
    assert h.incident_contact == "IC: Lt. J. Hayes; School: 555-0100"
    assert (h.prepared_name, h.prepared_position) == ("Sgt. R. Lee", "Resources Unit Leader")
    assert h.time_zone == "local time (UTC-05:00)"


def test_the_assignment_told_gives_place_channel_and_whom_to_report_to(built: Built) -> None:
    state = _state(built)
    # r006 is assigned (perimeter post, Team 2) with TAC-2 issued at check-in; reassigned with
    # a place, a channel and a chief, the form says what the officer was last told.
    _add(
        built,
        ev.ResponderEquipmentIssued("r006", "R-114", "TAC-2", "raid_jacket"),
        ev.ResponderAssigned("r006", "contact_team", "Team 3", "East wing", "TAC-5", "Sgt. Lee"),
    )
    report = build_ics211(state, built.now_us, school=built.school)
    row = _row(report, "r006")
    assert row.assignment == "contact team, Team 3 at East wing; reports to Sgt. Lee"
    assert row.radio == "R-114 on TAC-5" and row.contact == "callsign U-006; radio TAC-5"


def test_times_are_local_with_their_utc_offset() -> None:
    winter, summer = parse_iso("2026-01-15T14:00:00Z"), parse_iso("2026-07-15T14:00:00Z")
    assert TimeFormat(EASTERN)(winter) == "2026-01-15 09:00:00 -05:00"
    assert TimeFormat(EASTERN)(summer) == "2026-07-15 10:00:00 -04:00"
    assert TimeFormat(ZoneInfo("UTC"))(winter) == "2026-01-15 14:00:00 +00:00"
    assert TimeFormat(ZoneInfo("Asia/Kolkata"))(winter) == "2026-01-15 19:30:00 +05:30"
    assert TimeFormat(EASTERN, seconds=False, offset=False, date=False)(winter) == "09:00"


def test_a_printed_page_states_one_offset_and_date_once(built: Built) -> None:
    state = _state(built)
    fmt = print_time_format(state, built.now_us, EASTERN)
    assert (fmt.offset, fmt.date, fmt.seconds) == (False, False, False)
    report = build_ics211(state, built.now_us, time_format=fmt)
    local_date = TimeFormat(EASTERN).local(built.now_us).date().isoformat()
    assert report.header.time_zone == f"{local_date}, local time (UTC-05:00)"
    assert len(_row(report, "r006").check_in) == len("06:12")
    # The header's own times keep their date; so does the preparation time (another day).
    assert report.header.start.startswith(local_date)
    later = build_ics211(
        state, built.now_us, time_format=fmt, prepared_at_us=built.now_us + 86_400 * S
    )
    assert later.header.prepared_at.count("-") == 2  # YYYY-MM-DD HH:MM
    # An incident that spans a change of offset shows each time's own offset.
    spanning = print_time_format(state, parse_iso("2027-07-01T12:00:00Z"), EASTERN)
    assert spanning.offset and spanning.date


def test_block_3_from_the_given_location(built: Built) -> None:
    state = _state(built)
    at = built.now_us
    icp = build_ics211(state, at, location="Incident command post, Elm St")
    assert icp.header.check_in_kinds == ("ICP",)
    assert icp.header.check_in_location == "Incident command post, Elm St"
    both = build_ics211(state, at, location="Staging B and the ICP")
    assert both.header.check_in_kinds == ("Staging Area", "ICP")
    other = build_ics211(state, at, location="Baseball field")  # not "base"
    assert other.header.check_in_kinds == ("Other",)


def test_csv_has_the_forms_columns_and_one_line_per_responder(built: Built, tmp_path: Path) -> None:
    state = _state(built)
    report = build_ics211(state, built.now_us, time_format=TimeFormat(EASTERN))
    path = write_csv(report, tmp_path / "ics211.csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    blocks = {line[0]: line[1] for line in lines if len(line) == 2}
    assert blocks["Form"] == FORM_TITLE
    assert blocks["1 Incident name"] == "Lincoln High School \u2014 active shooter"
    assert blocks["2 Incident number"] == built.incident_id
    assert blocks["3 Check-in location"].startswith("[ ] Base [X] Staging Area")
    assert blocks["4 Start date/time"].endswith("-05:00")
    assert "*** EXERCISE ***" not in blocks
    start = next(i for i, line in enumerate(lines) if line[:1] == ["Section"])
    header, rows = lines[start], lines[start + 1 :]
    assert header == [title for _, title in COLUMNS]
    for number in range(5, 17):
        assert any(title.startswith(f"{number} ") for title in header), number
    for extra in (
        "Plainclothes descriptor",
        "Armed",
        "Radio issued",
        "Identity verified by / how",
        "Marking issued",
    ):
        assert extra in header
    table = [dict(zip(header, row, strict=True)) for row in rows]
    assert len(table) == len(report.rows)
    by_id = {line["Responder id"]: line for line in table}
    assert by_id["r006"]["Section"] == "checked in"
    assert by_id["r006"]["14 Incident assignment"] == "perimeter post, Team 2"
    assert by_id["r006"]["9 Total number of personnel"] == "1"
    assert by_id["r000"]["Section"] == "ARRIVED, NOT CHECKED IN"
    assert by_id["r000"]["7 Date/time check-in"] == "NOT CHECKED IN"
    assert by_id["r000"]["Plainclothes descriptor"].startswith("plainclothes: black t-shirt")
    # Checked in first, then the arrivals nobody has checked in.
    sections = [line["Section"] for line in table]
    assert sections == sorted(sections, key=lambda s: s != "checked in")

    flat = write_csv(report, tmp_path / "flat.csv", header=False)
    with flat.open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle)) == header


def test_an_exercise_says_so_first(built: Built, tmp_path: Path) -> None:
    state = _state(built)
    state.exercise = True
    report = build_ics211(state, built.now_us)
    assert report.header.exercise
    path = write_csv(report, tmp_path / "exercise.csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first = next(csv.reader(handle))
    assert first[0] == "*** EXERCISE ***"


def test_an_incident_without_arrivals_has_empty_sections(built: Built) -> None:
    state = _state(built)
    for responder in state.responders.values():
        responder.arrived_at_us = None
        responder.identification = None
    report = build_ics211(state, built.now_us)
    assert report.checked_in == () and report.not_checked_in == ()
    assert report.header.check_in_kinds == ("Staging Area",)  # the pre-plan's areas


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "DISPATCH_CONSOLE_DB": "",
        "TZ": "America/New_York",
    }
    return subprocess.run(
        [sys.executable, "-m", "dispatch_console.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_the_cli_refuses_other_formats_and_unknown_incidents_in_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "x.sqlite3")
    for args, message in (
        (["ics211", "nope", "-o", str(tmp_path / "x.txt")], "must end in .csv or .pdf"),
        (["ics211", "nope", "-o", str(tmp_path / "x.csv")], "no incident 'nope'"),
    ):
        result = _run(*args, "--db", db, home=tmp_path)
        assert result.returncode == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
