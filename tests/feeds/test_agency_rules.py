"""Agency response rules through a real gateway: for each rule set, who is and is not alerted
and what they are told; the dispatcher gate released automatically and by a dispatcher."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import RosterEntry
from dispatch_console.domain.rules import DEFAULT_AGENCY, parse_rules
from dispatch_console.service import IncidentService
from dispatch_console.store import Store, StoreError
from tests.feeds.gateway_fixture import RunningGateway, start_gateway
from tests.feeds.test_contract import example

#: The rules decide the same over either store: the gateway tests run on PostgreSQL (the
#: deployed store) only; loading versions runs on both.
ON_POSTGRES = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
AGENCY = "Georgetown PD"
TODAY = dt.datetime.now(dt.UTC).date()
TRAINED = (TODAY - dt.timedelta(days=100)).isoformat()
LAPSED = (TODAY - dt.timedelta(days=800)).isoformat()
NEAR = (-84.5500, 38.2300)

#: device -> (roster entry or None, claimed duty): every one lies within the school's radius.
PEOPLE: dict[str, tuple[RosterEntry | None, str]] = {
    "p-on": (RosterEntry(AGENCY, "101", "Ana Ortiz", "active", (), TRAINED), "on"),
    "p-off": (RosterEntry(AGENCY, "102", "Ben Park", "active", (), TRAINED), "off"),
    "p-untrained": (RosterEntry(AGENCY, "103", "Cal Reyes", "active", (), LAPSED), "off"),
    "p-leosa": (RosterEntry(AGENCY, "104", "Dee Voss", "retired", (), TRAINED, True), "off"),
    "p-retired": (RosterEntry(AGENCY, "105", "Eli Moss", "retired", (), TRAINED, False), "off"),
    "p-app-only": (None, "off"),  # installed the app, on no roster
}

OPEN = f"""
agency = "{AGENCY}"
version = 1
[alert]
on_duty = true
off_duty = true
leosa_retired = true
training_required = true
[off_duty]
staging_only = true
identification_required = true
attire = "raid_jacket_or_vest"
attire_reminder = "Put on your raid jacket before you leave the car."
"""
ON_DUTY_ONLY = f"""
agency = "{AGENCY}"
version = 1
[alert]
on_duty = true
off_duty = false
leosa_retired = false
training_required = false
"""
GATED = f"""
agency = "{AGENCY}"
version = 1
[alert]
off_duty = true
leosa_retired = false
[off_duty]
attire = "vest"
[gate]
enabled = true
auto_release_s = {{wait}}
"""


def _wait(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def start(store_url: str, tmp_path: Path) -> Iterator[Callable[[str], RunningGateway]]:
    """A gateway started once the people and the rules are in the store (as deployed: the
    roster, devices and rules are there before the alert comes)."""
    started: list[RunningGateway] = []

    def run(rules_text: str) -> RunningGateway:
        store = Store(store_url)
        try:
            _people(store, rules_text)
        finally:
            store.close()
        started.append(start_gateway(store_url, tmp_path))
        return started[-1]

    yield run
    for gateway in started:
        gateway.stop()


def _people(store: Store, rules_text: str) -> None:
    store.replace_roster([entry for entry, _ in PEOPLE.values() if entry is not None])
    now = int(time.time() * 1_000_000)
    for device_id, (entry, duty) in PEOPLE.items():
        store.add_device(device_id, home=NEAR, label=device_id)
        claim = entry or RosterEntry(AGENCY, "999", "Zed Fan", "active")
        profile = {"name": claim.name, "agency": claim.agency, "badge": claim.badge, "duty": duty}
        store.record_device_profile(device_id, profile, now)
    if rules_text:  # "": no agency rules loaded, the default rule decides
        store.load_agency_rules(parse_rules(rules_text), rules_text)


def _activate(gateway: RunningGateway) -> str:
    status, answer = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202, answer
    return str(answer["incident_id"])


def _alerts(gateway: RunningGateway, incident_id: str) -> dict[str, str]:
    """Device -> the text of its alert directive, for the people of this test."""
    state = IncidentService(gateway.store).state(incident_id)
    return {
        d.device_id: d.text
        for d in state.directives.values()
        if d.kind == "alert" and d.device_id in PEOPLE
    }


@ON_POSTGRES
def test_open_rules_alert_trained_on_and_off_duty_and_leosa_never_the_unverified(
    start: Callable[[str], RunningGateway],
) -> None:
    gateway = start(OPEN)
    incident_id = _activate(gateway)
    alerts = _alerts(gateway, incident_id)
    assert set(alerts) == {"p-on", "p-off", "p-leosa"}
    for off_duty in ("p-off", "p-leosa"):
        text = alerts[off_duty]
        assert "Go to Staging A" in text and "Do not go to the school." in text
        assert "you will be identified at staging" in text
        assert text.endswith("Put on your raid jacket before you leave the car.")
    assert "NOT the school, and check in there." in alerts["p-on"]
    assert "raid jacket" not in alerts["p-on"]
    state = IncidentService(gateway.store).state(incident_id)
    assert state.rules_in_force[AGENCY][0] == 1  # the rules are part of the incident's record
    assert not state.gates


@ON_POSTGRES
def test_with_no_rules_loaded_the_default_rule_alerts_officers_on_a_roster_only(
    start: Callable[[str], RunningGateway], caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody loaded rules: never an app-only user, nor a retired officer the roster does not
    mark LEOSA-qualified; off duty and retired to staging, identified, marked."""
    gateway = start("")
    incident_id = _activate(gateway)
    alerts = _alerts(gateway, incident_id)
    assert set(alerts) == {"p-on", "p-off", "p-untrained", "p-leosa"}  # no training rule
    for off_duty in ("p-off", "p-untrained", "p-leosa"):
        text = alerts[off_duty]
        assert "Go to Staging A" in text and "Do not go to the school." in text, text
        assert "you will be identified at staging" in text, text
        assert text.endswith(
            "Put on your raid jacket or a vest marked POLICE before you leave the car."
        )
    assert "NOT the school, and check in there." in alerts["p-on"]
    state = IncidentService(gateway.store).state(incident_id)
    assert "p-app-only" not in state.responders and "p-retired" not in state.responders
    assert state.rules_in_force[DEFAULT_AGENCY][0] == 1  # recorded with the incident
    assert caplog.text.count("the DEFAULT RULE is in force") == 1  # the gateway says so, once
    # A school's own system naming the app-only user does not get it alerted either.
    listed = {**example("activation"), "id": "act-listed", "notified_device_ids": ["p-app-only"]}
    status, answer = gateway.post("/v1/activations", listed, "school")
    assert status == 202 and answer["notified"] == 0, answer
    assert "p-app-only" not in IncidentService(gateway.store).state(incident_id).responders
    # Nor does the school's report of whom it alerted afterwards (POST …/notified).
    more = {"id": "notify-9", "device_ids": ["p-app-only", "p-retired"]}
    status, answer = gateway.post(f"/v1/incidents/{incident_id}/notified", more, "school")
    assert status == 202 and answer["notified"] == 0, answer
    assert not {"p-app-only", "p-retired"} & set(_alerts(gateway, incident_id))


@ON_POSTGRES
def test_devices_a_school_lists_are_alerted_only_as_the_rules_allow(
    start: Callable[[str], RunningGateway],
) -> None:
    """A school's own panic system may name whom it alerted: the agency's rules still decide
    whom the console alerts (the app-only user and the lapsed officer it names are not)."""
    gateway = start(OPEN)
    listed = ["p-on", "p-untrained", "p-app-only", "not-a-device"]
    activation = {**example("activation"), "notified_device_ids": listed}
    status, answer = gateway.post("/v1/activations", activation, "school")
    assert status == 202, answer
    incident_id = str(answer["incident_id"])
    assert set(_alerts(gateway, incident_id)) == {"p-on"}
    state = IncidentService(gateway.store).state(incident_id)
    assert "not-a-device" not in state.responders and "p-app-only" not in state.responders
    assert state.rules_in_force[AGENCY][0] == 1


@ON_POSTGRES
def test_on_duty_only_rules_alert_nobody_off_duty(start: Callable[[str], RunningGateway]) -> None:
    gateway = start(ON_DUTY_ONLY)
    incident_id = _activate(gateway)
    alerts = _alerts(gateway, incident_id)
    assert set(alerts) == {"p-on"}  # training not required: but still no app-only user
    assert "check in there" in alerts["p-on"]


@ON_POSTGRES
def test_gated_rules_hold_off_duty_until_the_automatic_release(
    start: Callable[[str], RunningGateway],
) -> None:
    gateway = start(GATED.format(wait=2))
    incident_id = _activate(gateway)
    assert set(_alerts(gateway, incident_id)) == {"p-on"}
    gate = IncidentService(gateway.store).state(incident_id).gates[AGENCY]
    assert gate.device_ids == ["p-off"] and gate.open and gate.release_at_us is not None
    _wait(lambda: "p-off" in _alerts(gateway, incident_id))
    state = IncidentService(gateway.store).state(incident_id)
    assert state.gates[AGENCY].automatic and not state.gates[AGENCY].open
    assert state.gates[AGENCY].released_at_us >= gate.release_at_us  # type: ignore[operator]
    assert _alerts(gateway, incident_id)["p-off"].endswith(
        "Put on a vest marked POLICE before you leave the car."
    )
    assert set(_alerts(gateway, incident_id)) == {"p-on", "p-off"}


@ON_POSTGRES
def test_a_gate_without_automatic_release_waits_for_a_dispatcher(
    start: Callable[[str], RunningGateway],
) -> None:
    gateway = start(GATED.format(wait=0))
    gateway.store.set_user("D. Reyes", "dispatcher")
    incident_id = _activate(gateway)
    time.sleep(1.5)  # three gateway ticks: nothing releases it by itself
    state = IncidentService(gateway.store).state(incident_id)
    assert state.gates[AGENCY].open and state.gates[AGENCY].release_at_us is None
    assert "p-off" not in _alerts(gateway, incident_id)
    console = IncidentService(gateway.store)
    console.execute(
        incident_id,
        [ev.AlertGateReleased(AGENCY)],
        actor=ev.Actor(ev.ActorKind.CONSOLE_USER, "D. Reyes"),
        source=ev.Source.CONSOLE,
    )
    _wait(lambda: "p-off" in _alerts(gateway, incident_id))
    gate = IncidentService(gateway.store).state(incident_id).gates[AGENCY]
    assert gate.released_by == "D. Reyes" and not gate.automatic


def test_a_changed_rule_set_needs_a_new_version(gateway: RunningGateway) -> None:
    store = gateway.store
    assert store.load_agency_rules(parse_rules(OPEN), OPEN)
    assert not store.load_agency_rules(parse_rules(OPEN), OPEN)  # the same again: nothing new
    with pytest.raises(StoreError, match="version"):
        store.load_agency_rules(parse_rules(ON_DUTY_ONLY), ON_DUTY_ONLY)
    newer = ON_DUTY_ONLY.replace("version = 1", "version = 2")
    assert store.load_agency_rules(parse_rules(newer), newer)
    assert store.agency_rules()["georgetown pd"].version == 2
