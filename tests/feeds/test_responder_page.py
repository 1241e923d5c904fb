"""The responder web page in a real Chromium on a phone viewport, against a real gateway and
PostgreSQL store: invite -> enrol -> profile -> alert pushed -> respond with attire -> positions
stored and seen by a console -> go-to-staging directive shown and acknowledged -> identified
and assigned (team, radio channel large on the phone, acknowledged, seen by the console) ->
stand-down stops sharing; sharing also stops at release and when the incident closes, and the
page says why; the network cut and restored; a revoked key refused; no other host asked.

One Chromium serves every test of the module (each test's gateway is its own origin, so its own
storage and key)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator

import pytest

from dispatch_console.app import commands
from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.service import IncidentService
from tests.feeds.browser import Phone, open_phone, require_chromium
from tests.feeds.gateway_fixture import RunningGateway
from tests.feeds.test_contract import example

pytestmark = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")  # registered by the store_url fixture
HOME = (38.2355, -84.5611)


@pytest.fixture(scope="module")
def browser() -> Iterator[Phone]:
    require_chromium()
    opened = open_phone(None)
    yield opened
    opened.quit()


@pytest.fixture
def phone(browser: Phone, gateway: RunningGateway) -> Iterator[Phone]:
    browser.use(gateway.url)
    browser.locate(*HOME)
    yield browser
    browser.driver.get("about:blank")  # the page's stream closed before its gateway stops


def _invite(gateway: RunningGateway, device_id: str) -> str:
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        code = main(
            ["devices", "invite", device_id, "--db", gateway.store_url, "--url", gateway.url]
        )
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"one-time enrolment link for {device_id}")
    assert len(lines) > 10  # the QR code follows the link
    return lines[1]


def _enrol_with_profile(gateway: RunningGateway, phone: Phone) -> str:
    """Open a fresh invite, fill the profile; the key id the gateway gave the page."""
    phone.driver.get(_invite(gateway, "dev-ruiz"))
    phone.wait(lambda: phone.visible("screen-profile"), what="the profile form")
    assert "invite" not in phone.driver.current_url  # the used link is not kept in view
    key_id = str(phone.js("return JSON.parse(localStorage.getItem('rsp.device')).key_id"))
    fill = {"p-name": "Det. M. Ruiz", "p-agency": "Georgetown PD", "p-badge": "4411"}
    for element_id, value in fill.items():
        phone.driver.find_element("id", element_id).send_keys(value)
    phone.driver.find_element("id", "p-top-color").send_keys("black")
    phone.click("btn-profile")
    phone.wait(lambda: phone.visible("screen-home"), what="the home screen")
    return key_id


def _state(gateway: RunningGateway, incident_id: str):  # type: ignore[no-untyped-def]
    return IncidentService(gateway.store).state(incident_id)


def test_invite_to_stand_down_in_a_real_browser(gateway: RunningGateway, phone: Phone) -> None:
    key_id = _enrol_with_profile(gateway, phone)
    keys = {k.key_id: k for k in gateway.store.api_keys()}
    assert keys[key_id].scope == "dev-ruiz" and keys[key_id].label == "web page"
    phone.wait(lambda: phone.text("link") == "live", what="the stream")

    status, opened = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202, opened
    incident_id = opened["incident_id"]
    phone.wait(lambda: phone.visible("alert"), what="the alert", timeout_s=5)
    assert phone.text("a-type") == "ACTIVE SHOOTER"
    assert phone.text("a-school") == "Lincoln High School"
    assert phone.text("a-location") == "Gym, building C"
    assert phone.text("a-staging").startswith("Staging A")
    assert phone.text("a-instruction").startswith("Go to Staging A")
    profile = _state(gateway, incident_id).responders["dev-ruiz"]
    assert profile.roster_verdict is not None  # the profile was checked against the rosters

    phone.click("btn-responding")
    phone.wait(lambda: phone.visible("attire-confirm"), what="the attire question")
    phone.js("document.getElementById('a-visible-id').value = 'raid_jacket'")
    phone.click("btn-attire-ok")
    phone.wait(lambda: "SHARING" in phone.text("sharing"), what="sharing")

    def responding() -> bool:
        r = _state(gateway, incident_id).responders["dev-ruiz"]
        return r.position is not None and r.status.value == "en_route"

    phone.wait(responding, what="en route with a position stored")
    ruiz = _state(gateway, incident_id).responders["dev-ruiz"]
    assert ruiz.attire is not None and ruiz.attire.visible_id == "raid_jacket"
    assert abs(ruiz.position.lat - HOME[0]) < 1e-6  # type: ignore[union-attr]
    phone.locate(38.2300, -84.5450)  # moving: the console sees the next report
    phone.wait(
        lambda: (
            abs(_state(gateway, incident_id).responders["dev-ruiz"].position.lat - 38.23) < 1e-6
        ),
        what="the moved position",
        timeout_s=12,
    )

    # The network cut: reports queue in the page, show as undelivered, and are stored once.
    phone.offline(True)
    phone.wait(lambda: "NOT YET DELIVERED" in phone.text("outbox"), timeout_s=12)
    queued = phone.js("return JSON.parse(localStorage.getItem('rsp.outbox')).map(m => m.id)")
    assert queued
    phone.offline(False)
    phone.wait(lambda: phone.text("outbox") == "all delivered", timeout_s=15, what="resent")
    for message_id in queued:
        assert gateway.store.incident_of_key(f"{key_id}/{message_id}") == incident_id

    # A console directs the responder to staging B: shown with its map, acknowledged.
    directive = ev.DirectiveQueued(
        "dir-b", "dev-ruiz", "dev-ruiz", "go_to_staging", "Go to Staging B, not the school.",
        "staging-b",
    )  # fmt: skip
    IncidentService(gateway.store).execute(
        incident_id, [directive], actor=IC, source=ev.Source.CONSOLE
    )
    card = "#directives .directive[data-kind=go_to_staging]"
    phone.wait(lambda: phone.driver.find_element("css selector", card).is_displayed(), timeout_s=5)
    distance = re.compile(r"^Staging B.*: [0-9.]+ k?m (north|south|east|west)[a-z-]*$")
    try:
        phone.wait(lambda: distance.match(phone.text("map-info")), timeout_s=5)
    except AssertionError:
        raise AssertionError(f"the map says {phone.text('map-info')!r}") from None
    phone.tap(phone.driver.find_element("css selector", f"{card} .ack-btn"))
    phone.wait(
        lambda: _state(gateway, incident_id).directives["dir-b"].acknowledged_at_us is not None,
        what="the directive acknowledged",
    )

    # Checked in at staging B: identified with a team, a radio channel and a marking to wear,
    # then assigned; each shown large on the phone and acknowledged, and the console sees it.
    service = IncidentService(gateway.store)
    arrived = ev.ResponderArrived("dev-ruiz", "staging", "staging-b")
    service.execute(incident_id, [arrived], actor=IC, source=ev.Source.CONSOLE)
    identify = commands.identify(
        "dev-ruiz", "credentials_in_person", "Sgt. Lee", None, "TAC 2", "raid_jacket",
        team="Team 2", state=_state(gateway, incident_id),
    )  # fmt: skip
    service.execute(incident_id, identify, actor=IC, source=ev.Source.CONSOLE)
    identified = "#directives .directive[data-kind=identified]"
    phone.wait(lambda: phone.driver.find_element("css selector", identified), timeout_s=5)
    assert _tiles(phone, identified) == ("Team 2", "TAC 2")
    wear = phone.driver.find_element("css selector", f"{identified} .wear").text
    assert wear == "Wear your raid jacket."
    phone.tap(phone.driver.find_element("css selector", f"{identified} .ack-btn"))
    told = _state(gateway, incident_id).last_directive("dev-ruiz", "identified")
    assert told is not None
    phone.wait(
        lambda: _state(gateway, incident_id).directives[told.directive_id].acknowledged_at_us,
        what="the identified directive acknowledged",
    )
    assign = commands.assign(
        "dev-ruiz", "contact_team", "Team 2", location="East wing, building B",
        radio_channel="TAC 3", report_to="Sgt. Lee", state=_state(gateway, incident_id),
    )  # fmt: skip
    service.execute(incident_id, assign, actor=IC, source=ev.Source.CONSOLE)
    card = "#directives .directive[data-kind=assignment]"
    phone.wait(lambda: phone.driver.find_element("css selector", f"{card} .ack-btn"), timeout_s=5)
    assert phone.driver.find_element("css selector", f"{card} .task").text == "Contact team"
    assert _tiles(phone, card) == ("Team 2", "TAC 3")
    lines = [e.text for e in phone.driver.find_elements("css selector", f"{card} .line")]
    assert lines == ["WHERE\nEast wing, building B", "REPORT TO\nSgt. Lee"]
    legible = phone.js(
        "const s = [...document.querySelectorAll(arguments[0] + ' .tile span')];"
        "return s.map(e => [parseFloat(getComputedStyle(e).fontSize),"
        " e.scrollWidth <= e.clientWidth, e.getBoundingClientRect().right <= innerWidth]);",
        card,
    )
    assert legible == [[34, True, True], [34, True, True]]  # large, whole, on the screen
    phone.tap(phone.driver.find_element("css selector", f"{card} .ack-btn"))
    sent = _state(gateway, incident_id).last_directive("dev-ruiz", "assignment")
    assert sent is not None and sent.details is not None and sent.details.team == "Team 2"
    phone.wait(
        lambda: _state(gateway, incident_id).directives[sent.directive_id].acknowledged_at_us,
        what="the assignment acknowledged",
    )
    # Acknowledged, it stays on the phone (team and channel) without its button.
    phone.wait(lambda: "Acknowledged" in phone.driver.find_element("css selector", card).text)
    assert _tiles(phone, card) == ("Team 2", "TAC 3")
    assert not phone.driver.find_elements("css selector", f"{card} .ack-btn")

    # The stand-down stops the sharing, and the page says so.
    stand_down = ev.DirectiveQueued(
        "dir-sd", "dev-ruiz", "dev-ruiz", "stand_down", "Threat neutralized. Stand down."
    )
    IncidentService(gateway.store).execute(
        incident_id, [stand_down], actor=IC, source=ev.Source.CONSOLE
    )
    phone.wait(lambda: "STOPPED: STAND DOWN" in phone.text("sharing"), timeout_s=5)
    assert phone.js("return shareTimer === null && watchId === null")
    assert phone.text("stop-note") == "Your location is no longer shared: STAND DOWN."
    assert phone.requested_hosts() == {"127.0.0.1"}  # nothing from any other host


def _tiles(phone: Phone, card: str) -> tuple[str, str]:
    """The team and radio channel a card shows large."""
    team = phone.driver.find_element("css selector", f"{card} .tile.team span").text
    radio = phone.driver.find_element("css selector", f"{card} .tile.radio span").text
    return team, radio


def _alerted(gateway: RunningGateway, phone: Phone, activation_id: str) -> str:
    """A new activation of the school, its alert on the phone: its incident id."""
    activation = {**example("activation"), "id": activation_id}
    status, opened = gateway.post("/v1/activations", activation, "school")
    assert status == 202 and opened["notified"] == 3, opened  # ruiz, chen, walker
    phone.wait(lambda: phone.visible("alert"), what="the alert", timeout_s=5)
    return str(opened["incident_id"])


def _respond(gateway: RunningGateway, phone: Phone, incident_id: str) -> None:
    """The alert answered Responding: sharing, and a position stored."""
    phone.click("btn-responding")
    phone.wait(lambda: phone.visible("attire-confirm"), what="the attire question")
    phone.click("btn-attire-ok")
    phone.wait(lambda: phone.text("sharing") == "SHARING LOCATION", what="sharing")
    phone.wait(
        lambda: _state(gateway, incident_id).responders["dev-ruiz"].position is not None,
        what="a position stored",
    )
    assert not phone.visible("stop-note")


def test_sharing_stops_at_release_and_when_the_incident_closes(
    gateway: RunningGateway, phone: Phone
) -> None:
    _enrol_with_profile(gateway, phone)
    phone.wait(lambda: phone.text("link") == "live", what="the stream")
    service = IncidentService(gateway.store)

    # Released by the incident commander: sharing stops, and the page says why.
    first = _alerted(gateway, phone, "act-release")
    _respond(gateway, phone, first)
    released = ev.ResponderReleased("dev-ruiz", "not needed")
    service.execute(first, [released], actor=IC, source=ev.Source.CONSOLE)
    phone.wait(lambda: "STOPPED: you were released" in phone.text("sharing"), timeout_s=5)
    stopped_at, seq = time.monotonic(), phone.js("return seq")
    assert phone.visible("stop-note")
    assert phone.text("stop-note") == "Your location is no longer shared: you were released."
    assert phone.js("return shareTimer === null && watchId === null")
    assert phone.js("return JSON.parse(localStorage.getItem('rsp.sharingFor'))") is None

    # That incident closes; the next alert comes. Meanwhile (longer than the 5 s between two
    # reports while sharing) the page queued nothing: no position after the release.
    closed = ev.IncidentStatusChanged("all_clear", "Threat neutralized.")
    service.execute(first, [closed], actor=IC, source=ev.Source.CONSOLE)
    phone.wait(  # the gateway has the close (the page's briefing says so)
        lambda: (
            phone.js(
                "return briefing.incidents.find(i => i.incident_id === arguments[0]).status", first
            )
            == "all_clear"
        ),
        what="the close pushed to the page",
    )
    second = _alerted(gateway, phone, "act-close")
    assert second != first
    time.sleep(max(0.0, stopped_at + 5.5 - time.monotonic()))
    assert phone.js("return seq") == seq
    assert "STOPPED: you were released" in phone.text("sharing")

    # Answered, sharing starts again for the new incident; it closes: sharing stops, and the
    # page says why.
    _respond(gateway, phone, second)
    service.execute(second, [closed], actor=IC, source=ev.Source.CONSOLE)
    phone.wait(lambda: "STOPPED: the incident is all clear" in phone.text("sharing"), timeout_s=5)
    assert phone.text("stop-note") == (
        "Your location is no longer shared: the incident is all clear."
    )
    assert phone.js("return shareTimer === null && watchId === null")
    assert phone.requested_hosts() == {"127.0.0.1"}


def test_a_revoked_key_and_a_used_link_are_refused(gateway: RunningGateway, phone: Phone) -> None:
    link = _invite(gateway, "dev-ruiz")
    key_id = _enrol_with_profile(gateway, phone)
    phone.wait(lambda: phone.text("outbox") == "all delivered", what="the profile sent")
    gateway.store.revoke_key(key_id)
    deadline = time.monotonic() + 20  # a revocation takes effect within 5 s (the key cache)
    while "refused" not in phone.text("link"):
        assert time.monotonic() < deadline, (phone.text("link"), phone.text("outbox"))
        phone.js("queue('position', {lat: 38.23, lon: -84.545})")
        time.sleep(0.5)  # the poll of this wait: each turn sends one more report
    assert "NOT YET DELIVERED" in phone.text("outbox")
    assert any(key_id in r.sender for r in gateway.store.rejections(50))
    # The first invite was made before the second: the page used the second; the first is
    # still unused, so it enrols once, and the same link a second time is refused.
    other = open_phone(gateway.url)
    try:
        other.driver.get(link)
        other.wait(lambda: other.visible("screen-profile"), what="enrolled with the first link")
        other.driver.get(link)
        other.wait(lambda: "used, expired or unknown" in other.text("enrol-status"))
    finally:
        other.quit()
