"""Broadcasts: asked once naming what and to how many, delivery and acknowledgement counts, and
who is still coming after a stand-down."""

from __future__ import annotations

import math
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app import commands
from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.state import IncidentState
from dispatch_console.ui.panels.broadcasts_panel import (
    BroadcastsPanel,
    ask,
    confirmation_box,
    still_en_route,
)
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import EventWriter, S, build_incident

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
STAND_DOWN = "Threat neutralized. Do not respond. Stand down."


class Confirm:
    """A stand-in for the question: records what it was asked, answers ``answer``."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, parent: QWidget, title: str, text: str, accept: str) -> bool:
        self.asked.append((title, text, accept))
        return self.answer


class Scene:
    def __init__(self, qtbot: QtBot, answer: bool) -> None:
        self.built = build_incident(24, acknowledge_alert=True)
        self.host = QWidget()
        qtbot.addWidget(self.host)
        self.host.resize(440, 600)
        self.selection = Selection()
        self.selection.focus(self.built.incident_id)
        self.confirm = Confirm(answer)
        self.panel = BroadcastsPanel(
            self.built.console, self.selection, NIGHT, self.host, confirm=self.confirm
        )
        self.panel.resize(self.host.size())
        self.host.show()
        self.now = self.built.now_us
        self.requests: list[tuple[str, list[ev.Payload], str]] = []
        self.panel.commands_requested.connect(self._record)
        self.panel.refresh(Changes(), self.now)

    def _record(self, incident_id: str, payloads: Any, description: str) -> None:
        self.requests.append((incident_id, list(payloads), description))

    @property
    def state(self) -> IncidentState:
        return self.built.console.incidents[self.built.incident_id]

    def store(self, payloads: list[ev.Payload], after_s: float = 1, actor: ev.Actor = IC) -> None:
        self.now += int(after_s * S)
        writer = EventWriter(self.built.incident_id, self.built.console.last_seq + 1)
        for payload in payloads:
            writer.add(payload, self.now, actor)
        self.panel.refresh(self.built.console.apply(writer.events), self.now)


@pytest.fixture
def refusing(qtbot: QtBot) -> Scene:
    return Scene(qtbot, answer=False)


@pytest.fixture
def agreeing(qtbot: QtBot) -> Scene:
    return Scene(qtbot, answer=True)


def recipients(state: IncidentState, *, checked_in_too: bool = True) -> int:
    """A stand-down reaches everyone but who declined or was released; a go-to-staging
    broadcast leaves out, besides, those checked in (identified, staged, assigned)."""
    skipped = {ResponderStatus.DECLINED, ResponderStatus.RELEASED}
    if not checked_in_too:
        skipped |= {ResponderStatus.IDENTIFIED, ResponderStatus.STAGED, ResponderStatus.ASSIGNED}
    return sum(1 for r in state.responders.values() if r.status not in skipped)


def test_stand_down_asks_once_naming_the_count_and_cancel_sends_nothing(
    qtbot: QtBot, refusing: Scene
) -> None:
    n = recipients(refusing.state)
    assert n == 22  # the 24 notified, but the 2 who declined
    assert refusing.panel.recipients.text() == f"A broadcast now reaches {n} responders."
    QTest.mouseClick(refusing.panel.stand_down_button, Qt.MouseButton.LeftButton)
    assert len(refusing.confirm.asked) == 1
    title, text, accept = refusing.confirm.asked[0]
    assert title == f"STAND DOWN {n} responders?"
    assert f"({n} responders)" in text and f"“{STAND_DOWN}”" in text
    assert accept == f"STAND DOWN {n} responders"
    assert refusing.requests == []


def test_stand_down_confirmed_goes_to_every_recipient(qtbot: QtBot, agreeing: Scene) -> None:
    n = recipients(agreeing.state)
    QTest.mouseClick(agreeing.panel.stand_down_button, Qt.MouseButton.LeftButton)
    assert len(agreeing.requests) == 1
    incident_id, payloads, description = agreeing.requests[0]
    assert incident_id == agreeing.built.incident_id
    assert description == f"stand-down broadcast to {n} responders"
    sent, *queued = payloads
    assert isinstance(sent, ev.BroadcastSent) and sent.kind == "stand_down"
    assert sent.text == STAND_DOWN
    assert len(queued) == n
    # Nothing is shown as sent until the events come back.
    assert agreeing.panel.order() == []
    agreeing.store(payloads)
    assert agreeing.panel.order() == [sent.broadcast_id]


def test_go_to_staging_lists_the_areas_and_names_the_area_and_count(
    agreeing: Scene,
) -> None:
    menu = agreeing.panel.go_menu
    names = [a.text() for a in menu.actions()]
    assert names == [a.name for a in agreeing.state.staging_areas.values()]
    n = recipients(agreeing.state, checked_in_too=False)
    menu.actions()[1].trigger()  # the second area: Staging B
    title, text, accept = agreeing.confirm.asked[0]
    assert title == f"Broadcast to {n} responders: go to Staging B (bus depot)?"
    assert "“Go to Staging B (bus depot). Do not go to the school.”" in text
    assert accept == f"Send to {n} responders"
    (_incident, payloads, description) = agreeing.requests[0]
    sent = payloads[0]
    assert isinstance(sent, ev.BroadcastSent)
    area_b = list(agreeing.state.staging_areas)[1]
    assert sent.kind == "go_to_staging" and sent.staging_area_id == area_b
    assert description == f"broadcast go to Staging B (bus depot) to {n} responders"


def test_cancelled_go_to_staging_sends_nothing(refusing: Scene) -> None:
    refusing.panel.go_menu.actions()[0].trigger()
    assert len(refusing.confirm.asked) == 1 and refusing.requests == []


def test_each_broadcast_shows_delivered_and_acknowledged_of_its_total(agreeing: Scene) -> None:
    state = agreeing.state
    agreeing.store(commands.broadcast_go_to_staging(state, next(iter(state.staging_areas))))
    agreeing.store(commands.stand_down(state), after_s=60)
    older, newer = sorted(state.broadcasts.values(), key=lambda b: b.sent_at_us)
    n = len(newer.directive_ids)
    assert agreeing.panel.order() == [newer.broadcast_id, older.broadcast_id]  # newest first
    card = agreeing.panel.cards[newer.broadcast_id]
    assert card.counts.text() == f"delivered 0/{n} · acknowledged 0/{n}"
    delivered = [ev.DirectiveDelivered(d, "http") for d in newer.directive_ids[:5]]
    acknowledged = [ev.DirectiveAcknowledged(d) for d in newer.directive_ids[:2]]
    agreeing.store([*delivered, *acknowledged], actor=ev.Actor(ev.ActorKind.SYSTEM, "gateway"))
    assert card.counts.text() == f"delivered 5/{n} · acknowledged 2/{n}"
    m = len(older.directive_ids)  # go to staging: not to those checked in already
    assert m == recipients(state, checked_in_too=False) < n
    assert agreeing.panel.cards[older.broadcast_id].counts.text() == (
        f"delivered 0/{m} · acknowledged 0/{m}"
    )
    assert "STAND DOWN · by Lt. Hayes" in card.title.text()


def toward_school(
    state: IncidentState, responder_id: str, at_us: int, steps: int, speed: float, sign: float = 1
) -> list[ev.Payload]:
    """Positions of a responder moving ``sign`` = +1 towards (or -1 away from) the school,
    one every 5 s from ``at_us``."""
    r = state.responders[responder_id]
    assert r.position is not None
    frame = local_frame(state.lon, state.lat)
    x, y = frame.to_local(r.position.lon, r.position.lat)
    d = math.hypot(x, y)
    out: list[ev.Payload] = []
    for k in range(steps):
        scale = (d - sign * speed * 5 * (k + 1)) / d
        lon, lat = frame.to_wgs84(x * scale, y * scale)
        t = at_us + k * 5 * S
        out.append(ev.ResponderPosition(responder_id, lat, lon, t, t + 30 * S, 8.0, speed))
    return out


def test_after_a_stand_down_those_still_closing_in_are_listed(agreeing: Scene) -> None:
    state = agreeing.state
    en_route = [r for r, x in state.responders.items() if x.status is ResponderStatus.EN_ROUTE]
    coming, stopped, leaving, silent = en_route[:4]
    agreeing.store(commands.stand_down(state), after_s=1)
    broadcast = next(iter(state.broadcasts.values()))
    t = agreeing.now + S
    device = ev.Actor(ev.ActorKind.DEVICE, "devices")
    writer = EventWriter(agreeing.built.incident_id, agreeing.built.console.last_seq + 1)
    for payload in (
        *toward_school(state, coming, t, 3, 14.0),
        *toward_school(state, stopped, t, 1, 0.0),
        *toward_school(state, leaving, t, 3, 14.0, sign=-1),
    ):
        assert isinstance(payload, ev.ResponderPosition)
        writer.add(payload, payload.at_us, device)
    agreeing.now = t + 15 * S
    agreeing.panel.refresh(agreeing.built.console.apply(writer.events), agreeing.now)

    still = still_en_route(state, broadcast, agreeing.now)
    assert [r.responder_id for r in still.coming] == [coming]
    assert silent in {r.responder_id for r in still.unknown}
    assert stopped not in {r.responder_id for r in still.unknown + still.coming}
    text = agreeing.panel.cards[broadcast.broadcast_id].en_route.text()
    name = state.responders[coming].display_name
    assert text.startswith(f"still en route after stand-down: 1 — {name}\n")
    assert f"(+{len(still.unknown)} en route with no fresh position since)" in text


def test_no_incident_in_focus_disables_both_acts(qtbot: QtBot, refusing: Scene) -> None:
    refusing.selection.focus(None)
    assert not refusing.panel.stand_down_button.isEnabled()
    assert not refusing.panel.go_button.isEnabled()
    assert not refusing.panel.request_stand_down()
    assert refusing.confirm.asked == [] and refusing.requests == []


def test_the_real_question_defaults_to_cancel(qtbot: QtBot) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    box = confirmation_box(host, "STAND DOWN 3 responders?", "text", "STAND DOWN 3 responders")
    qtbot.addWidget(box)
    cancel = box.button(QMessageBox.StandardButton.Cancel)
    assert box.defaultButton() is cancel and box.escapeButton() is cancel
    assert [b.text() for b in box.buttons() if b is not cancel] == ["STAND DOWN 3 responders"]

    def press_escape() -> None:
        modal = QApplication.activeModalWidget()
        assert isinstance(modal, QMessageBox)
        modal.reject()

    QTimer.singleShot(0, press_escape)
    assert ask(host, "STAND DOWN 3 responders?", "text", "STAND DOWN 3 responders") is False
