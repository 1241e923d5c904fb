from __future__ import annotations

from dispatch_console.domain.reference import RosterEntry
from dispatch_console.domain.roster import Roster

ROSTER = Roster(
    [
        RosterEntry("Georgetown PD", "4411", "Det. Maria Ruiz", "active", ("dev-ruiz",)),
        RosterEntry("Georgetown PD", "1102", "Lee Price", "retired", ("dev-price",)),
        RosterEntry("Kentucky State Police", "0412", "Tpr. Joel Grant", "active"),
    ]
)


def test_a_matching_active_officer_is_sworn_active() -> None:
    match = ROSTER.match(agency="Georgetown PD", badge="4411", name="Det. M. Ruiz")
    assert match.verdict == "sworn_active" and match.entry is not None
    assert match.entry.name == "Det. Maria Ruiz"


def test_agency_and_badge_are_compared_loosely() -> None:
    match = ROSTER.match(agency="georgetown  pd", badge="#412", name="Joel Grant")
    assert match.verdict == "not_on_roster"  # different agency
    match = ROSTER.match(agency="Kentucky State Police", badge="412", name="J. Grant")
    assert match.verdict == "sworn_active"  # leading zero dropped


def test_a_retired_officer_is_retired_leosa() -> None:
    assert ROSTER.match(agency="Georgetown PD", badge="1102", name="L. Price").verdict == "retired"


def test_an_unknown_badge_is_unverified_with_a_reason() -> None:
    match = ROSTER.match(agency="Kentucky State Police", badge="77", name="T. Grant")
    assert match.verdict == "not_on_roster" and match.entry is None
    assert match.reason == "Kentucky State Police #77 is on no roster"


def test_someone_elses_badge_is_not_verified() -> None:
    match = ROSTER.match(agency="Georgetown PD", badge="4411", name="John Smith")
    assert match.verdict == "not_on_roster"
    assert "belongs to Det. Maria Ruiz, not 'John Smith'" in match.reason


def test_a_registered_device_verifies_a_claim_without_badge_but_not_a_contrary_claim() -> None:
    assert ROSTER.match(agency=None, badge=None, name="Ruiz", device_id="dev-ruiz").verdict == (
        "sworn_active"
    )
    contrary = ROSTER.match(agency="Georgetown PD", badge="9999", name="Ruiz", device_id="dev-ruiz")
    assert contrary.verdict == "not_on_roster" and "registered to" in contrary.reason


def test_a_badge_without_a_name_or_with_another_persons_name_is_not_verified() -> None:
    no_name = ROSTER.match(agency="Georgetown PD", badge="4411", name=None)
    assert no_name.verdict == "not_on_roster" and "no name was claimed" in no_name.reason
    for impostor in ("Maria Lopez", "David Smith", "Ruiz Maria"):
        assert ROSTER.match(agency="Georgetown PD", badge="4411", name=impostor).verdict == (
            "not_on_roster"
        ), impostor
    assert ROSTER.match(agency="Georgetown PD", badge="4411", name="J. Ruiz").verdict == (
        "not_on_roster"
    )  # a different first initial
    assert ROSTER.match(agency="Georgetown PD", badge="4411", name="Ruiz").verdict == "sworn_active"


def test_a_badge_claimed_from_a_device_registered_to_someone_else_is_not_verified() -> None:
    match = ROSTER.match(
        agency="Georgetown PD", badge="4411", name="M. Ruiz", device_id="dev-price"
    )
    assert match.verdict == "not_on_roster" and "registered to Georgetown PD #1102" in match.reason
