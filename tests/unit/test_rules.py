"""Agency response rules: parsing, and the decision for each kind of responder."""

from __future__ import annotations

import datetime as dt

import pytest

from dispatch_console.domain.reference import RosterEntry
from dispatch_console.domain.rules import (
    DEFAULT_RULES,
    RulesError,
    decide,
    instruction,
    parse_rules,
)
from dispatch_console.importers.roster_csv import parse_roster

TODAY = dt.date(2026, 12, 7)
RULES = parse_rules(
    """
agency = "Millbrook PD"
version = 2
[alert]
leosa_retired = true
training_valid_days = 180
[gate]
enabled = true
auto_release_s = 90
"""
)
BY_AGENCY = {RULES.key: RULES}


def _entry(status: str = "active", trained: str | None = "2026-10-01", leosa: bool = False):  # type: ignore[no-untyped-def]
    return RosterEntry("MILLBROOK pd", "7", "A. Lee", status, (), trained, leosa)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "verified", "duty", "alerted", "gated", "kind"),
    [
        (_entry(), True, "on", True, False, "on_duty"),
        (_entry(), True, "off", True, True, "off_duty"),
        (_entry(), True, None, True, True, "off_duty"),  # unknown duty: the stricter case
        (_entry(trained="2026-01-01"), True, "on", False, False, "on_duty"),  # training lapsed
        (_entry(trained=None), True, "on", False, False, "on_duty"),
        (_entry(trained="2027-01-01"), True, "on", False, False, "on_duty"),  # a future date
        (_entry("retired", leosa=True), True, "off", True, True, "retired"),
        (_entry("retired", leosa=False), True, "off", False, False, "retired"),
        (_entry(), False, "on", False, False, "unverified"),  # claim did not match the roster
        (None, False, "on", False, False, "unverified"),  # installed the app, on no roster
    ],
)
def test_who_is_alerted(
    entry: RosterEntry | None,
    verified: bool,
    duty: str | None,
    alerted: bool,
    gated: bool,
    kind: str,
) -> None:
    decision = decide(BY_AGENCY, entry, verified, duty, TODAY)
    assert (decision.alerted, decision.gated, decision.kind) == (alerted, gated, kind)


def test_an_agency_without_rules_has_nobody_alerted() -> None:
    other = RosterEntry("Ashford PD", "1", "B. Kim", "active", (), "2026-10-01")
    decision = decide(BY_AGENCY, other, True, "on", TODAY)
    assert not decision.alerted and "no response rules" in decision.reason


def test_what_off_duty_and_on_duty_officers_are_told() -> None:
    off = instruction(decide(BY_AGENCY, _entry(), True, "off", TODAY), "Staging A")
    assert off == (
        "Go to Staging A. Do not go to the school. Have your credentials ready: you will be "
        "identified at staging. Put on your raid jacket or a vest marked POLICE before you "
        "leave the car."
    )
    on = instruction(decide(BY_AGENCY, _entry(), True, "on", TODAY), "Staging A")
    assert on == "Go to Staging A, NOT the school, and check in there."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("agency = 'X'", "version"),
        ("agency = 'X'\nversion = 0", "version must be 1"),
        ("agency = 'X'\nversion = 1\n[alert]\nsurprise = true", "surprise"),
        ("agency = 'X'\nversion = 1\n[gate]\nauto_release_s = -1", "auto_release_s"),
        ("agency = 'X'\nversion = 1\n[off_duty]\nattire = 'cape'", "attire"),
        ("not toml at all [", "not TOML"),
        ("agency = ''\nversion = 1", "agency is empty"),
        ("x" * 20_000, "larger than"),
    ],
)
def test_a_bad_rule_file_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(RulesError, match=problem):
        parse_rules(text)


def test_the_summary_states_the_rules() -> None:
    assert RULES.summary() == [
        "Millbrook PD, rules version 2",
        "Alerted: on duty, off duty, LEOSA-qualified retired; never unverified app users",
        "Only with active-shooter training in the last 180 days",
        "Off duty and retired: staging only, never the school, identification required at "
        "staging, attire: raid jacket or vest",
        "Dispatcher gate for off duty and retired: released automatically after 90 s",
    ]


def test_the_roster_carries_training_date_and_leosa_qualification() -> None:
    report = parse_roster(
        "agency,badge,name,status,training_date,leosa_qualified\n"
        "A PD,1,Ann Bo,active,2026-03-04,\n"
        "A PD,2,Cy Do,retired,2025-01-02,yes\n"
        "A PD,3,Ed Fo,active,04/03/2026,no\n"
        "A PD,4,Gu Ho,retired,,maybe\n"
    )
    assert [(e.training_date, e.leosa_qualified) for e in report.imported] == [
        ("2026-03-04", False),
        ("2025-01-02", True),
    ]
    assert [p.index for p in report.rejected] == [4, 5]


@pytest.mark.parametrize(
    ("entry", "verified", "duty", "alerted", "kind"),
    [
        (None, False, "on", False, "unverified"),  # installed the app, on no roster
        (_entry(trained=None), False, "on", False, "unverified"),  # claim does not match
        (_entry(trained=None), True, "on", True, "on_duty"),  # no training requirement
        (_entry(trained=None), True, None, True, "off_duty"),
        (_entry("retired", leosa=False), True, "off", False, "retired"),
        (_entry("retired", leosa=True), True, "off", True, "retired"),
    ],
)
def test_with_no_rules_loaded_the_default_rule_alerts_officers_on_a_roster_only(
    entry: RosterEntry | None, verified: bool, duty: str | None, alerted: bool, kind: str
) -> None:
    decision = decide({}, entry, verified, duty, TODAY)
    assert (decision.alerted, decision.kind) == (alerted, kind), decision.reason
    assert not decision.gated
    if alerted:
        assert decision.rules is DEFAULT_RULES


def test_off_duty_under_the_default_rule_go_to_staging_identified_and_marked() -> None:
    off = decide({}, _entry(trained=None), True, "off", TODAY)
    told = instruction(off, "Staging A (church lot)")
    assert told.startswith("Go to Staging A (church lot). Do not go to the school.")
    assert "credentials ready" in told and "raid jacket or a vest marked POLICE" in told
    on = decide({}, _entry(trained=None), True, "on", TODAY)
    assert instruction(on, "Staging A") == "Go to Staging A, NOT the school, and check in there."
    assert DEFAULT_RULES.summary()[0] == "DEFAULT RULE in force: no agency rules are loaded"
