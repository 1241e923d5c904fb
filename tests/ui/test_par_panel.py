"""PAR roll call: start it for everyone present, the unaccounted list with the most at risk
first, mark accounted (button, double click, Enter, several at once), end it."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app import commands
from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import PRESENT
from dispatch_console.domain.state import IncidentState
from dispatch_console.ui.panels.par_panel import ParPanel, unaccounted_order
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import GREY_HOODIE, EventWriter, S, build_incident

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
MONITOR = ev.Actor(ev.ActorKind.SYSTEM, "monitor")


class Confirm:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, parent: QWidget, title: str, text: str, accept: str) -> bool:
        self.asked.append((title, text, accept))
        return self.answer


class Scene:
    """24 responders; r000 (plainclothes, on scene) and r005 (identified, uniform) inside the
    inner perimeter; r016 assigned, in plainclothes."""

    def __init__(self, qtbot: QtBot) -> None:
        self.built = build_incident(24, acknowledge_alert=True)
        self.host = QWidget()
        qtbot.addWidget(self.host)
        self.host.resize(440, 700)
        self.selection = Selection()
        self.selection.focus(self.built.incident_id)
        self.confirm = Confirm(False)
        self.panel = ParPanel(
            self.built.console, self.selection, NIGHT, self.host, confirm=self.confirm
        )
        self.panel.resize(self.host.size())
        self.host.show()
        self.now = self.built.now_us
        self.requests: list[tuple[str, list[ev.Payload], str]] = []
        self.panel.commands_requested.connect(self._record)
        inner = next(p for p in self.state.perimeters.values() if p.kind == "inner")
        self.store(
            [ev.PerimeterEntered(rid, inner.perimeter_id, "inner") for rid in ("r000", "r005")],
            actor=MONITOR,
        )
        # r016 (assigned, so checked in) changed into plainclothes.
        self.store(
            [ev.ResponderProfileReported("r016", attire=GREY_HOODIE)],
            actor=ev.Actor(ev.ActorKind.DEVICE, "dev-016"),
        )

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

    def started(self) -> str:
        payloads = commands.start_par(self.state, "par-1")
        self.store(payloads)
        return "par-1"

    def click_row_button(self, responder_id: str) -> None:
        """A real click on the row's "Accounted" button."""
        table = self.panel.table
        row = self.panel.unaccounted_shown().index(responder_id)
        rect = table.visualRect(table.model().index(row, 1))
        assert rect.width() > 60
        QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


@pytest.fixture
def scene(qtbot: QtBot) -> Scene:
    return Scene(qtbot)


def test_start_par_calls_everyone_present(qtbot: QtBot, scene: Scene) -> None:
    present = [rid for rid, r in scene.state.responders.items() if r.status in PRESENT]
    assert scene.panel.start_button.text() == f"Start PAR ({len(present)} present)"
    QTest.mouseClick(scene.panel.start_button, Qt.MouseButton.LeftButton)
    [(incident_id, payloads, description)] = scene.requests
    assert incident_id == scene.built.incident_id
    assert len(payloads) == 1 and isinstance(payloads[0], ev.ParStarted)
    assert payloads[0].responder_ids == tuple(present)
    assert description == f"start PAR of {len(present)} present"
    # Not running until the event comes back.
    assert not scene.panel.table.isVisible() and scene.state.par is None
    scene.store(payloads)
    assert scene.panel.table.isVisible() and not scene.panel.start_button.isVisible()
    assert scene.panel.tally.text() == f"accounted 0/{len(present)}"


def test_unaccounted_list_puts_the_most_at_risk_first(scene: Scene) -> None:
    scene.started()
    shown = scene.panel.unaccounted_shown()
    assert shown == unaccounted_order(scene.state, scene.state.par)  # type: ignore[arg-type]
    # inner perimeter (r000 also plainclothes and not checked in, before r005), then
    # plainclothes (r003 also not checked in, before r016), then arrived not checked in, by
    # callsign, then the rest by callsign.
    assert shown == [
        "r000", "r005", "r003", "r016", "r004", "r013", "r014", "r023", "r006", "r015"
    ]  # fmt: skip
    first = scene.panel.table.item(0, 0)
    assert first is not None
    assert first.text() == (
        "U-000 · Officer 000 — on scene\nINNER PERIMETER · PLAINCLOTHES · NOT CHECKED IN"
    )
    assert first.foreground().color() == QColor(NIGHT.caution)
    last = scene.panel.table.item(len(shown) - 1, 0)
    assert last is not None and "\n" not in last.text()


def test_row_button_marks_one_and_the_row_leaves_only_when_the_event_comes_back(
    qtbot: QtBot, scene: Scene
) -> None:
    par_id = scene.started()
    scene.click_row_button("r003")
    assert scene.requests[-1] == (
        scene.built.incident_id,
        [ev.ParAccounted(par_id, "r003")],
        "PAR: U-003 accounted for",
    )
    assert "r003" in scene.panel.unaccounted_shown()
    assert scene.panel.selected_ids() == []  # the button is not a row selection
    total = len(scene.state.par.responder_ids)  # type: ignore[union-attr]
    scene.store(scene.requests[-1][1])
    assert "r003" not in scene.panel.unaccounted_shown()
    assert scene.panel.tally.text() == f"accounted 1/{total}"


def test_double_click_and_enter_mark_accounted(qtbot: QtBot, scene: Scene) -> None:
    par_id = scene.started()
    table = scene.panel.table
    row = scene.panel.unaccounted_shown().index("r004")
    rect = table.visualRect(table.model().index(row, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert scene.requests[-1][1] == [ev.ParAccounted(par_id, "r004")]
    table.setFocus()
    QTest.keyClick(table, Qt.Key.Key_Return)
    assert len(scene.requests) == 2 and scene.requests[-1][1] == [ev.ParAccounted(par_id, "r004")]


def test_several_selected_are_marked_at_once(qtbot: QtBot, scene: Scene) -> None:
    par_id = scene.started()
    panel = scene.panel
    assert not panel.mark_button.isEnabled()
    model = panel.table.selectionModel()
    for rid in ("r013", "r000"):
        row = panel.unaccounted_shown().index(rid)
        model.select(
            panel.table.model().index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    assert panel.mark_button.text() == "Mark selected accounted (2)"
    QTest.mouseClick(panel.mark_button, Qt.MouseButton.LeftButton)
    assert scene.requests[-1] == (
        scene.built.incident_id,
        [ev.ParAccounted(par_id, "r000"), ev.ParAccounted(par_id, "r013")],
        "PAR: 2 accounted for",
    )
    # A rebuild after one of them comes back keeps the other selected.
    scene.store([ev.ParAccounted(par_id, "r000")])
    assert panel.selected_ids() == ["r013"]


def test_elapsed_time_counts_from_the_start(scene: Scene) -> None:
    scene.started()
    assert scene.panel.elapsed.text() == "00:00:00"
    scene.now += 95 * S
    scene.panel.refresh(Changes(), scene.now)
    assert scene.panel.elapsed.text() == "00:01:35"


def test_ending_with_someone_unaccounted_asks_first_and_cancel_sends_nothing(
    qtbot: QtBot, scene: Scene
) -> None:
    par_id = scene.started()
    missing = len(scene.state.par.responder_ids)  # type: ignore[union-attr]
    QTest.mouseClick(scene.panel.end_button, Qt.MouseButton.LeftButton)
    assert scene.confirm.asked[0][0] == f"End PAR with {missing} unaccounted?"
    assert scene.requests == []
    scene.confirm.answer = True
    QTest.mouseClick(scene.panel.end_button, Qt.MouseButton.LeftButton)
    assert scene.requests == [(scene.built.incident_id, [ev.ParEnded(par_id)], "end PAR")]
    scene.store([ev.ParEnded(par_id)])
    assert scene.panel.start_button.isVisible() and not scene.panel.table.isVisible()
    assert scene.panel.status.text().startswith("Last PAR ended")
    assert scene.panel.status.text().endswith(
        f"0 of {missing} accounted for; NOT accounted: U-000, U-005, U-003, U-016, U-004, U-013, …"
    )


def test_ending_with_everyone_accounted_does_not_ask(qtbot: QtBot, scene: Scene) -> None:
    par_id = scene.started()
    roll = scene.state.par.responder_ids  # type: ignore[union-attr]
    scene.store(commands.mark_all_accounted(par_id, roll))
    assert scene.panel.status.text() == f"All {len(roll)} accounted for. End the PAR to close it."
    QTest.mouseClick(scene.panel.end_button, Qt.MouseButton.LeftButton)
    assert scene.confirm.asked == []
    assert scene.requests[-1][1] == [ev.ParEnded(par_id)]


def test_no_incident_in_focus(qtbot: QtBot, scene: Scene) -> None:
    scene.selection.focus(None)
    assert scene.panel.status.text() == "No incident in focus."
    assert not scene.panel.start_button.isEnabled()
    assert not scene.panel.start_par()


def test_a_responder_entering_the_inner_perimeter_moves_up(scene: Scene) -> None:
    scene.started()
    assert scene.panel.unaccounted_shown()[:3] == ["r000", "r005", "r003"]
    inner = next(p for p in scene.state.perimeters.values() if p.kind == "inner")
    scene.store([ev.PerimeterEntered("r013", inner.perimeter_id, "inner")], actor=MONITOR)
    # r013 is not checked in either: above r005, who is.
    assert scene.panel.unaccounted_shown()[:4] == ["r000", "r013", "r005", "r003"]
    item = scene.panel.table.item(1, 0)
    assert item is not None and item.text().endswith("INNER PERIMETER · NOT CHECKED IN")


def test_a_responder_released_during_the_par_leaves_the_unaccounted_list(scene: Scene) -> None:
    scene.started()
    assert "r005" in scene.panel.unaccounted_shown()
    scene.store([ev.ResponderReleased("r005", "sent home")])
    assert "r005" not in scene.panel.unaccounted_shown()
    assert "r000" in scene.panel.unaccounted_shown()


def test_a_mark_never_moves_the_row_under_the_pointer(qtbot: QtBot, scene: Scene) -> None:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    par_id = scene.started()
    panel = scene.panel
    viewport = panel.table.viewport()
    before = panel.unaccounted_shown()
    QApplication.sendEvent(viewport, QEvent(QEvent.Type.Enter))
    first = before[0]
    scene.click_row_button(first)
    scene.store(scene.requests[-1][1])
    # Still in its place, ticked; the row under the pointer is still that person.
    assert panel.unaccounted_shown() == before
    assert panel.table.item(0, 0).text().startswith("✓ ACCOUNTED")
    total = len(before)
    assert panel.tally.text() == f"accounted 1/{total}"
    scene.click_row_button(first)  # a second click there marks nobody else
    assert scene.requests[-1][1] == [ev.ParAccounted(par_id, first)]
    assert len([r for r in scene.requests if r[1][0].TYPE == "par_accounted"]) == 1
    QApplication.sendEvent(viewport, QEvent(QEvent.Type.Leave))
    assert panel.unaccounted_shown() == before[1:]
