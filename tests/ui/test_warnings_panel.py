"""The warnings panel: highest priority first, red until an acknowledgement event comes back,
amber while acknowledged and active, ended ones in a collapsed history."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, QRect, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.ui.panels.warnings_panel import (
    ACKNOWLEDGE_TEXT,
    PENDING_TEXT,
    PENDING_US,
    WarningsPanel,
)
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import DAY, NIGHT
from tests.ui.factory import Built, EventWriter, S, build_incident

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
MONITOR = ev.Actor(ev.ActorKind.SYSTEM, "monitor")

ROSTER = "not_on_roster:r005:1"
ATTIRE = "attire_matches_suspect:r000:1"
INNER = "unidentified_in_inner_perimeter:r003:1"
INNER_2 = "unidentified_in_inner_perimeter:r004:1"
#: Cards are per responder: the responders of the warnings above.
C_ROSTER, C_ATTIRE, C_INNER, C_INNER_2 = "r005", "r000", "r003", "r004"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[ev.Payload], str]] = []

    def __call__(self, incident_id: str, payloads: Any, description: str) -> None:
        self.calls.append((incident_id, list(payloads), description))


class Scene:
    def __init__(
        self, built: Built, panel: WarningsPanel, selection: Selection, host: QWidget
    ) -> None:
        self.host = host  # keeps the panel alive
        self.built = built
        self.panel = panel
        self.selection = selection
        self.now = built.now_us
        self.requests = Recorder()
        panel.commands_requested.connect(self.requests)

    @property
    def state(self) -> Any:
        return self.built.console.incidents[self.built.incident_id]

    def add(self, *payloads: ev.Payload, after_s: float = 1, actor: ev.Actor = MONITOR) -> Changes:
        """Store-like events ``after_s`` seconds later, folded and refreshed."""
        self.now += int(after_s * S)
        writer = EventWriter(self.built.incident_id, self.built.console.last_seq + 1)
        for payload in payloads:
            writer.add(payload, self.now, actor)
        changes = self.built.console.apply(writer.events)
        self.panel.refresh(changes, self.now)
        return changes

    def tick(self, after_s: float) -> None:
        self.now += int(after_s * S)
        self.panel.refresh(Changes(), self.now)


@pytest.fixture
def scene(qtbot: QtBot) -> Scene:
    built = build_incident(12, acknowledge_alert=True)
    host = QWidget()
    qtbot.addWidget(host)
    host.resize(440, 900)
    selection = Selection()
    selection.focus(built.incident_id)
    panel = WarningsPanel(built.console, selection, NIGHT, host)
    panel.resize(host.size())
    panel.set_user("Lt. Hayes")
    host.show()
    s = Scene(built, panel, selection, host)
    panel.refresh(Changes(), s.now)
    # Raised lowest priority first: the panel must reorder them.
    s.add(ev.WarningRaised(ROSTER, "not_on_roster", "r005", "Officer 005 is not on any roster"))
    s.add(
        ev.WarningRaised(
            ATTIRE,
            "attire_matches_suspect",
            "r000",
            "Officer 000 (plainclothes): attire matches suspect",
            ("top_color", "top_type", "bottom_color"),
        )
    )
    s.add(
        ev.WarningRaised(
            INNER,
            "unidentified_in_inner_perimeter",
            "r003",
            "Officer 003 is inside the inner perimeter: not identified",
        )
    )
    return s


def color_of(card: Any) -> str:
    return QColor(card.background).name().upper()


def test_highest_priority_first_and_all_red_until_acknowledged(scene: Scene) -> None:
    panel = scene.panel
    # All three critical: the newest first.
    assert panel.order() == [C_INNER, C_ATTIRE, C_ROSTER]
    assert all(color_of(card) == NIGHT.alarm.upper() for card in panel.cards.values())
    assert panel.summary.text() == "3 people · 3 waiting"
    assert panel.dock_title() == "Warnings: 3 critical"
    assert panel.attention
    inner = panel.cards[C_INNER]
    assert inner.title.text() == "UNIDENTIFIED IN INNER PERIMETER"
    assert inner.who.text() == "U-003 · Officer 003"
    assert "plainclothes: grey hoodie" in inner.facts.text()
    assert inner.elapsed.text() == "started 00:00:00 ago"
    assert inner.button.isVisible() and inner.button.text() == ACKNOWLEDGE_TEXT
    scene.tick(72)
    assert inner.elapsed.text() == "started 00:01:12 ago"


def test_attire_match_names_the_fields_that_matched(scene: Scene) -> None:
    card = scene.panel.cards[C_ATTIRE]
    assert card.title.text() == (
        "ATTIRE MATCHES SUSPECT: top colour black, top type shirt (t-shirt), bottom colour blue"
    )
    assert card.facts.text() == (
        "Georgetown PD · OFF duty · plainclothes: black t-shirt, blue pants, no visible ID"
    )
    assert not card.detail.isVisible()  # the title already says what matched


def test_acknowledge_button_requests_with_the_user_and_changes_nothing_until_the_event(
    qtbot: QtBot, scene: Scene
) -> None:
    panel = scene.panel
    card = panel.cards[C_ATTIRE]
    QTest.mouseClick(card.button, Qt.MouseButton.LeftButton)
    assert scene.requests.calls == [
        (
            scene.built.incident_id,
            [ev.WarningAcknowledged(ATTIRE, "Lt. Hayes")],
            "acknowledge warning: attire matches suspect — U-000 · Officer 000",
        )
    ]
    # Still red, still unacknowledged: only the button says a request is on its way.
    assert scene.state.warnings[ATTIRE].acknowledged_at_us is None
    assert color_of(card) == NIGHT.alarm.upper()
    assert card.button.text() == PENDING_TEXT and not card.button.isEnabled()
    scene.tick(2)
    assert color_of(card) == NIGHT.alarm.upper()
    assert panel.order() == [C_INNER, C_ATTIRE, C_ROSTER]

    scene.add(ev.WarningAcknowledged(ATTIRE, "Lt. Hayes"), after_s=1, actor=IC)
    assert card.acknowledged
    assert color_of(card) == NIGHT.calm.upper()
    assert f"QLabel#title {{ color: {NIGHT.caution}" in card.styleSheet()  # amber, not red
    assert not card.button.isVisible()
    assert card.elapsed.text() == "ack by Lt. Hayes 00:00:00 ago · started 00:00:04 ago"
    scene.tick(72)
    assert card.elapsed.text() == "ack by Lt. Hayes 00:01:12 ago · started 00:01:16 ago"
    assert panel.summary.text() == "3 people · 2 waiting"
    assert panel.order() == [C_INNER, C_ROSTER, C_ATTIRE]  # acknowledged: below the waiting


def test_an_acknowledged_card_goes_below_the_waiting_ones_of_its_severity(
    scene: Scene,
) -> None:
    scene.add(
        ev.WarningRaised(INNER_2, "unidentified_in_inner_perimeter", "r004", "Officer 004 ..."),
    )
    assert scene.panel.order() == [C_INNER_2, C_INNER, C_ATTIRE, C_ROSTER]
    scene.add(ev.WarningAcknowledged(INNER_2, "Lt. Hayes"), actor=IC)
    assert scene.panel.order() == [C_INNER, C_ATTIRE, C_ROSTER, C_INNER_2]


def test_acknowledge_top_takes_the_highest_priority_waiting_one_and_skips_pending(
    scene: Scene,
) -> None:
    panel = scene.panel
    assert panel.acknowledge_top()
    assert panel.acknowledge_top()
    assert panel.acknowledge_top()
    assert not panel.acknowledge_top()  # all three asked for: nothing left to ask
    asked = [call[1][0] for call in scene.requests.calls]
    assert asked == [
        ev.WarningAcknowledged(INNER, "Lt. Hayes"),
        ev.WarningAcknowledged(ATTIRE, "Lt. Hayes"),
        ev.WarningAcknowledged(ROSTER, "Lt. Hayes"),
    ]


def test_a_request_that_never_comes_back_can_be_sent_again(scene: Scene) -> None:
    panel = scene.panel
    assert panel.acknowledge_top()
    scene.tick(PENDING_US / S - 1)
    assert panel.cards[C_INNER].button.text() == PENDING_TEXT
    scene.tick(1)
    assert panel.cards[C_INNER].button.text() == ACKNOWLEDGE_TEXT
    assert panel.cards[C_INNER].button.isEnabled()
    assert panel.acknowledge_top()
    assert [call[1][0] for call in scene.requests.calls] == [
        ev.WarningAcknowledged(INNER, "Lt. Hayes")
    ] * 2


def test_clicking_a_warning_selects_its_responder(scene: Scene) -> None:
    card = scene.panel.cards[C_ATTIRE]
    origins: list[str] = []
    scene.selection.changed.connect(origins.append)
    QTest.mouseClick(card, Qt.MouseButton.LeftButton)
    assert scene.selection.responder_ids == frozenset({"r000"})
    assert origins == ["warnings"]
    assert card.selected and not scene.panel.cards[C_INNER].selected
    scene.selection.select({"r003"}, "table")
    assert scene.panel.cards[C_INNER].selected and not card.selected


def test_an_ended_warning_leaves_the_list_for_a_collapsed_history(scene: Scene) -> None:
    panel = scene.panel
    scene.add(ev.WarningAcknowledged(ROSTER, "Sgt. Ortiz"), actor=IC)
    scene.add(ev.WarningEnded(ROSTER, "verified by phone"), after_s=30)
    assert panel.order() == [C_INNER, C_ATTIRE]
    assert C_ROSTER not in panel.cards
    assert panel.history_button.isVisible()
    assert panel.history_button.text() == "Ended warnings (1)"
    assert not panel.history.isVisible()
    panel.history_button.click()
    assert panel.history.isVisible()
    line = panel.history.text()
    assert "U-005 · Officer 005 · not on roster · lasted 33s · ack by Sgt. Ortiz" in line


def test_attention_follows_unacknowledged_critical_warnings(scene: Scene) -> None:
    panel = scene.panel
    seen: list[bool] = []
    panel.attention_changed.connect(seen.append)
    for warning_id in (INNER, ATTIRE):
        scene.add(ev.WarningAcknowledged(warning_id, "Lt. Hayes"), actor=IC)
    assert seen == [] and panel.attention
    scene.add(ev.WarningEnded(ROSTER))
    assert seen == [False] and not panel.attention
    # An advisory warning does not call for attention (the title bar does not flash for it).
    scene.add(
        ev.WarningRaised(
            "stale_or_no_radio_in_perimeter:r007:1", "stale_or_no_radio_in_perimeter", "r007", "."
        )
    )
    assert seen == [False] and not panel.attention
    scene.add(ev.WarningRaised("bypassing_staging:r006:1", "bypassing_staging", "r006", "..."))
    assert seen == [False, True]


def test_red_only_for_unacknowledged_in_the_day_theme_too(scene: Scene) -> None:
    scene.panel.set_theme(DAY)
    scene.add(ev.WarningAcknowledged(ROSTER, "Lt. Hayes"), actor=IC)
    colors = {wid: color_of(card) for wid, card in scene.panel.cards.items()}
    assert colors == {
        C_INNER: DAY.alarm.upper(),
        C_ATTIRE: DAY.alarm.upper(),
        C_ROSTER: DAY.calm.upper(),
    }


def test_warnings_of_another_incident_are_counted_not_shown(qtbot: QtBot, scene: Scene) -> None:
    other = build_incident(4, seed=2, school_index=1, console=scene.built.console,
                           first_seq=scene.built.console.last_seq + 1)  # fmt: skip
    writer = EventWriter(other.incident_id, scene.built.console.last_seq + 1)
    writer.add(ev.WarningRaised("w-other", "not_on_roster", "r001", "..."), other.now_us)
    changes = scene.built.console.apply(writer.events)
    scene.panel.refresh(changes, scene.now)
    assert "w-other" not in scene.panel.cards
    assert scene.panel.summary.text().endswith("1 critical unacknowledged in other incidents")
    assert scene.panel.acknowledge_top()  # only the focused incident's
    assert scene.requests.calls[-1][0] == scene.built.incident_id


def test_no_incident_in_focus_is_calm(qtbot: QtBot) -> None:
    built = build_incident(4)
    host = QWidget()
    qtbot.addWidget(host)
    panel = WarningsPanel(built.console, Selection(), NIGHT, host)
    panel.refresh(Changes(), built.now_us)
    assert panel.empty.text() == "No incident in focus."
    assert panel.cards == {} and not panel.acknowledge_top() and not panel.attention


STALE_3 = "stale_or_no_radio_in_perimeter:r003:1"
ATTIRE_3 = "attire_matches_suspect:r003:1"


def test_one_card_per_responder_with_every_reason_inside(scene: Scene) -> None:
    panel = scene.panel
    scene.add(ev.WarningRaised(STALE_3, "stale_or_no_radio_in_perimeter", "r003", "stale"))
    assert panel.order() == [C_INNER, C_ATTIRE, C_ROSTER]  # still one card for r003
    card = panel.cards[C_INNER]
    assert card.warning_ids == [INNER, STALE_3]  # the critical reason first
    assert card.title.text().splitlines() == [
        "UNIDENTIFIED IN INNER PERIMETER",
        "STALE POSITION OR NO RADIO IN PERIMETER",
    ]
    assert panel.summary.text() == "3 people · 4 waiting"
    # One button, one command for both.
    QTest.mouseClick(card.button, Qt.MouseButton.LeftButton)
    assert scene.requests.calls[-1][1] == [
        ev.WarningAcknowledged(INNER, "Lt. Hayes"),
        ev.WarningAcknowledged(STALE_3, "Lt. Hayes"),
    ]


def test_advisory_below_critical_and_not_red(scene: Scene) -> None:
    panel = scene.panel
    scene.add(ev.WarningRaised("stale_or_no_radio_in_perimeter:r008:1",
                               "stale_or_no_radio_in_perimeter", "r008", "no radio"))  # fmt: skip
    assert panel.order() == [C_INNER, C_ATTIRE, C_ROSTER, "r008"]  # newest, yet last
    assert color_of(panel.cards["r008"]) == NIGHT.calm.upper()
    assert panel.dock_title() == "Warnings: 3 critical · 1 advisory"
    # A new critical one goes on top of the older critical ones, not below them.
    scene.add(ev.WarningRaised("attire_matches_suspect:r009:1", "attire_matches_suspect",
                               "r009", "...", ("top_color", "top_type")))  # fmt: skip
    assert panel.order()[0] == "r009"


def test_a_new_reason_on_an_acknowledged_card_raises_it_again_and_says_what_is_new(
    scene: Scene,
) -> None:
    panel = scene.panel
    scene.add(ev.WarningAcknowledged(INNER, "Lt. Hayes"), actor=IC)
    card = panel.cards[C_INNER]
    assert card.acknowledged and color_of(card) == NIGHT.calm.upper()
    assert panel.order()[-1] == C_INNER
    scene.add(ev.WarningRaised(ATTIRE_3, "attire_matches_suspect", "r003", "matches",
                               ("top_color", "top_type")))  # fmt: skip
    assert not card.acknowledged and color_of(card) == NIGHT.alarm.upper()
    assert card.new.isVisible()
    assert card.new.text() == "NEW SINCE ACKNOWLEDGED: attire matches suspect"
    assert panel.order()[0] == C_INNER
    text, critical, waiting = panel.top_line()
    assert text.startswith("TOP WARNING: ATTIRE MATCHES SUSPECT") and critical and waiting


def test_a_short_dock_shows_the_top_card_whole_in_a_shorter_form(
    scene: Scene, qtbot: QtBot
) -> None:
    """Tall: full cards (the domain's sentence, how long). Short: compact, then minimal, so that
    the top card's reasons, who and ACKNOWLEDGE button stay whole; what the shorter form leaves
    out goes to the card's tooltip. Not while the pointer is over the panel."""
    from dispatch_console.ui.panels.warnings_panel import COMPACT, FULL, MINIMAL

    panel = scene.panel
    scene.add(
        ev.WarningRaised(
            "stale_or_no_radio_in_perimeter:r003:1",
            "stale_or_no_radio_in_perimeter",
            "r003",
            "Officer 003 is inside the outer perimeter: no radio",
        )
    )
    top = panel.cards[panel.order()[0]]
    assert panel.form == FULL and top.detail.isVisible() and top.elapsed.isVisible()

    def resize(height: int) -> None:
        panel.resize(440, height)
        qtbot.waitUntil(lambda: panel.scroll_area.height() < height)
        QApplication.processEvents()

    # The pointer over the panel: nothing changes under it until it leaves.
    panel.setAttribute(Qt.WidgetAttribute.WA_UnderMouse, True)
    resize(150)
    assert panel.form == FULL
    panel.setAttribute(Qt.WidgetAttribute.WA_UnderMouse, False)
    QApplication.sendEvent(panel, QEvent(QEvent.Type.Leave))
    assert panel.form == MINIMAL
    seen = []
    for height in (900, 260, 150):
        resize(height)
        seen.append(panel.form)
        viewport = panel.scroll_area.viewport()
        box = QRect(top.mapTo(viewport, QPoint(0, 0)), top.size())
        assert QRect(QPoint(0, 0), viewport.size()).contains(box), (height, box, panel.form)
        assert top.button.isVisible() and len(top.title.text().splitlines()) == 2
        assert top.title.height() >= top.title.needed_height(top.title.width())
    assert seen == [FULL, COMPACT, MINIMAL]
    assert not top.detail.isVisible() and not top.facts.isVisible()
    assert "no radio" in top.toolTip() and "started" in top.toolTip()
