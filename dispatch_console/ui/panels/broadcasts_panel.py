"""Broadcasts: one message to every notified responder at once, and how it landed.

Two acts, each asked once with a confirmation that names what it will send and to how many
people (:data:`Confirm`, injectable for tests): "Broadcast: go to staging…" (a menu of the
incident's staging areas) and "STAND DOWN…" ("threat neutralized, do not respond": the act that
keeps the most off-duty officers away, so it is always one click from view). Both become
``commands_requested`` (``BroadcastSent`` plus one directive per recipient, built by
:mod:`dispatch_console.app.commands`); nothing shows as sent until the events come back.

Below, every broadcast sent, newest first, with delivered n/N and acknowledged n/N, and after a
stand-down who is still coming: responders en route whose positions since the stand-down show
them moving and not moving away from the school (:func:`still_en_route`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app import commands
from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import MOVING_SPEED_MPS, local_frame
from dispatch_console.domain.lifecycle import IDENTIFIED_OR_LATER, ResponderStatus
from dispatch_console.domain.state import Broadcast, IncidentState, Responder
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.ui.shell.cards import CardColumn
from dispatch_console.ui.shell.header import local_clock
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font

#: ``(parent, title, text, accept label) -> accepted``: asks once before a broadcast.
Confirm = Callable[[QWidget, str, str, str], bool]

GO_TO_STAGING_BUTTON = "Broadcast: go to staging…"
STAND_DOWN_BUTTON = "STAND DOWN…"
#: Names listed after "still en route after stand-down: n —".
NAMES_LIMIT = 8
#: Closer to the school by at least this over the last positions: still coming.
CLOSING_M = 10.0
#: Event types that change what the broadcast list shows.
BROADCAST_EVENT_TYPES = frozenset(
    {
        ev.BroadcastSent.TYPE,
        ev.DirectiveQueued.TYPE,
        ev.DirectiveDelivered.TYPE,
        ev.DirectiveAcknowledged.TYPE,
    }
)
KIND_LABELS = {"go_to_staging": "GO TO STAGING", "stand_down": "STAND DOWN", "message": "MESSAGE"}


def confirmation_box(parent: QWidget | None, title: str, text: str, accept: str) -> QMessageBox:
    """The question :func:`ask` shows: Cancel is the default (Enter does not send), Esc
    cancels."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Confirm")  # the question is the text, not said twice
    box.setText(title)
    box.setInformativeText(text)
    send = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
    send.setObjectName("send")
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    return box


def ask(parent: QWidget, title: str, text: str, accept: str) -> bool:
    """The default :data:`Confirm`: a modal question; True only if the send button was
    clicked."""
    box = confirmation_box(parent, title, text, accept)
    box.exec()
    clicked = box.clickedButton()
    return clicked is not None and clicked.objectName() == "send"


# --- what a broadcast achieved (no Qt) -----------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """How far a broadcast got: of ``total`` directives, how many delivered, acknowledged."""

    total: int
    delivered: int
    acknowledged: int


def reach(state: IncidentState, broadcast: Broadcast) -> Reach:
    directives = state.directives
    ids = broadcast.directive_ids or [
        d.directive_id for d in directives.values() if d.broadcast_id == broadcast.broadcast_id
    ]
    found = [directives[i] for i in ids if i in directives]
    return Reach(
        len(ids),
        sum(1 for d in found if d.delivered_at_us is not None),
        sum(1 for d in found if d.acknowledged_at_us is not None),
    )


@dataclass(frozen=True)
class StillEnRoute:
    """After a stand-down: who is still coming, and how many en route cannot be told."""

    coming: list[Responder]
    #: En route with no position reported since the stand-down, or a stale one.
    unknown: list[Responder]


def still_en_route(state: IncidentState, broadcast: Broadcast, now_us: int) -> StillEnRoute:
    """Responders en route after ``broadcast`` (a stand-down) who are still coming: a fresh
    position reported since it was sent, moving (or speed unknown), and not moving away from
    the school (their last positions close on it, or their heading points at it)."""
    frame = local_frame(state.lon, state.lat)
    coming: list[Responder] = []
    unknown: list[Responder] = []
    for r in state.responders.values():
        if r.status is not ResponderStatus.EN_ROUTE:
            continue
        pos = r.position
        if pos is None or pos.at_us < broadcast.sent_at_us or pos.is_stale(now_us):
            unknown.append(r)
            continue
        if pos.speed_mps is not None and pos.speed_mps < MOVING_SPEED_MPS:
            continue  # stopped: pulled over, or waiting
        track = [p for p in r.track if p.at_us >= broadcast.sent_at_us] or [pos]
        first, last = track[0], track[-1]
        if len(track) >= 2:
            before = frame.distance_m(first.lon, first.lat, state.lon, state.lat)
            after = frame.distance_m(last.lon, last.lat, state.lon, state.lat)
            if after > before - CLOSING_M:
                continue  # not closing on the school: going home, or circling
        elif pos.heading_deg is not None:
            x, y = frame.to_local(pos.lon, pos.lat)
            if not _heading_towards(pos.heading_deg, -x, -y):
                continue
        coming.append(r)
    return StillEnRoute(coming, unknown)


def _heading_towards(heading_deg: float, dx: float, dy: float) -> bool:
    """Whether a compass heading points within 90° of the direction ``(dx, dy)`` (east,
    north)."""
    hx, hy = math.sin(math.radians(heading_deg)), math.cos(math.radians(heading_deg))
    return hx * dx + hy * dy > 0


def names(responders: list[Responder], limit: int = NAMES_LIMIT) -> str:
    shown = ", ".join(r.display_name for r in responders[:limit])
    return shown + (", …" if len(responders) > limit else "")


# --- the panel -----------------------------------------------------------------------------------


class BroadcastCard(QFrame):
    """One sent broadcast: when, what, by whom, delivered and acknowledged counts."""

    def __init__(self, broadcast_id: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.broadcast_id = broadcast_id
        self.setObjectName("broadcast_card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        self.title = _label("title", self)
        self.text = _label("text", self)
        self.counts = _label("counts", self)
        self.counts.setWordWrap(False)
        self.en_route = _label("en_route", self)
        for label in (self.title, self.text, self.counts, self.en_route):
            layout.addWidget(label)

    def show_broadcast(self, state: IncidentState, broadcast: Broadcast, now_us: int) -> None:
        kind = KIND_LABELS.get(broadcast.kind, broadcast.kind.upper())
        where = ""
        if broadcast.staging_area_id:
            where = f" → {commands.staging_area_name(state, broadcast.staging_area_id)}"
        _set(
            self.title,
            f"{local_clock(broadcast.sent_at_us)} · {kind}{where} · by {broadcast.sent_by}",
        )
        _set(self.text, f"“{broadcast.text}”")
        r = reach(state, broadcast)
        _set(
            self.counts,
            f"delivered {r.delivered}/{r.total} · acknowledged {r.acknowledged}/{r.total}",
        )
        stand_down = broadcast.kind == "stand_down"
        self.en_route.setVisible(stand_down)
        if stand_down:
            still = still_en_route(state, broadcast, now_us)
            text = f"still en route after stand-down: {len(still.coming)}"
            if still.coming:
                text += f" — {names(still.coming)}"
            if still.unknown:
                text += f"\n(+{len(still.unknown)} en route with no fresh position since)"
            _set(self.en_route, text)
            self.en_route.setProperty("alarming", bool(still.coming))
            self.en_route.style().unpolish(self.en_route)
            self.en_route.style().polish(self.en_route)


class BroadcastsPanel(QWidget):
    """Panel contract (``refresh``, ``set_theme``) and :attr:`commands_requested`."""

    #: ``(incident_id, payloads, description)``: the main window submits them as the user.
    commands_requested = Signal(str, object, str)

    def __init__(
        self,
        console: ConsoleState,
        selection: Selection,
        theme: Theme,
        parent: QWidget | None = None,
        *,
        confirm: Confirm = ask,
    ) -> None:
        super().__init__(parent)
        self.console = console
        self.selection = selection
        self.theme = theme
        self.confirm = confirm
        self.now_us = 0
        self.cards: dict[str, BroadcastCard] = {}
        self._incident_id: str | None = None
        self._areas: list[tuple[str, str]] = []
        self._second = -1
        self.setObjectName("broadcasts_panel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        self.go_button = QPushButton(GO_TO_STAGING_BUTTON, self)
        self.go_button.setObjectName("go_to_staging")
        self.go_menu = QMenu(self.go_button)
        self.go_menu.triggered.connect(self._on_area_chosen)
        self.go_button.setMenu(self.go_menu)
        self.stand_down_button = QPushButton(STAND_DOWN_BUTTON, self)
        self.stand_down_button.setObjectName("stand_down")
        self.stand_down_button.clicked.connect(self.request_stand_down)
        buttons.addWidget(self.go_button)
        buttons.addWidget(self.stand_down_button)
        layout.addLayout(buttons)
        self.recipients = QLabel(self)
        self.recipients.setObjectName("recipients")
        self.recipients.setWordWrap(True)
        layout.addWidget(self.recipients)
        self.empty = QLabel(self)
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty, 1)
        self.scroll_area = CardColumn("card_list", self)
        self.card_list = self.scroll_area.container
        self.list_layout = self.scroll_area.column
        layout.addWidget(self.scroll_area, 1)

        selection.focus_changed.connect(self._on_focus_changed)
        self.set_theme(theme)
        self._sync()

    # --- panel contract ----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        self.now_us = now_us
        focused = self.selection.incident_id
        touched = focused != self._incident_id or focused in changes.areas
        touched = touched or any(
            e.incident_id == focused and e.type in BROADCAST_EVENT_TYPES for e in changes.events
        )
        second = now_us // US_PER_S
        if touched or second != self._second or focused in changes.new_responders:
            self._second = second
            self._sync()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        mono = tabular_font().family()
        self.setStyleSheet(
            f"""
            QWidget#broadcasts_panel, QWidget#card_list {{ background: {t.panel}; }}
            QPushButton#go_to_staging, QPushButton#stand_down {{ font-size: 11pt;
                font-weight: bold; padding: 8px 6px; }}
            QPushButton#stand_down {{ border: 2px solid {t.text}; }}
            QLabel#recipients, QLabel#empty {{ color: {t.muted}; font-size: 11pt; }}
            QFrame#broadcast_card {{ background: {t.calm}; border-radius: 4px; }}
            QLabel#title {{ font-size: 11pt; font-weight: bold; color: {t.text}; }}
            QLabel#text {{ font-size: 12pt; color: {t.text}; }}
            QLabel#counts {{ font-family: "{mono}"; font-size: 12pt; font-weight: bold;
                color: {t.text}; }}
            QLabel#en_route {{ font-size: 12pt; color: {t.text}; }}
            QLabel#en_route[alarming="true"] {{ color: {t.caution}; font-weight: bold; }}
            """
        )

    # --- acts ------------------------------------------------------------------------------------

    def request_go_to_staging(self, staging_area_id: str) -> bool:
        """Ask once, then request the go-to-staging broadcast; True if it was requested."""
        state = self._state()
        if state is None or staging_area_id not in state.staging_areas:
            return False
        n = len(commands.broadcast_recipients(state, IDENTIFIED_OR_LATER))
        if n == 0:
            return False
        area = commands.staging_area_name(state, staging_area_id)
        text = commands.go_to_staging_text(state, staging_area_id)
        title = f"Broadcast to {n} {_people(n)}: go to {area}?"
        body = (
            f"Every notified responder not yet checked in, who has not declined or been "
            f"released ({n} {_people(n)}), will receive, and be directed there:\n\n“{text}”"
        )
        if not self.confirm(self, title, body, f"Send to {n} {_people(n)}"):
            return False
        self.commands_requested.emit(
            state.incident_id,
            commands.broadcast_go_to_staging(state, staging_area_id),
            f"broadcast go to {area} to {n} {_people(n)}",
        )
        return True

    def request_stand_down(self) -> bool:
        """Ask once, then request the stand-down broadcast; True if it was requested."""
        state = self._state()
        if state is None:
            return False
        n = len(commands.broadcast_recipients(state))
        if n == 0:
            return False
        title = f"STAND DOWN {n} {_people(n)}?"
        body = (
            f"Every notified responder who has not declined or been released ({n} "
            f"{_people(n)}) will be told:\n\n“{commands.STAND_DOWN_TEXT}”\n\n"
            "Send it only when the threat is over. It cannot be taken back."
        )
        if not self.confirm(self, title, body, f"STAND DOWN {n} {_people(n)}"):
            return False
        self.commands_requested.emit(
            state.incident_id,
            commands.stand_down(state),
            f"stand-down broadcast to {n} {_people(n)}",
        )
        return True

    def order(self) -> list[str]:
        """Broadcast ids as shown, newest first."""
        shown = []
        for i in range(self.list_layout.count()):
            item = self.list_layout.itemAt(i)
            card = item.widget() if item is not None else None
            if isinstance(card, BroadcastCard):
                shown.append(card.broadcast_id)
        return shown

    # --- internals --------------------------------------------------------------------------------

    def _state(self) -> IncidentState | None:
        focused = self.selection.incident_id
        return self.console.incident(focused)

    def _sync(self) -> None:
        state = self._state()
        self._incident_id = self.selection.incident_id
        live = state is not None and not state.closed
        n = len(commands.broadcast_recipients(state)) if state is not None else 0
        self._sync_menu(state)
        self.go_button.setEnabled(live and n > 0 and bool(self._areas))
        self.stand_down_button.setEnabled(live and n > 0)
        if state is None:
            self.recipients.setText("")
        else:
            self.recipients.setText(f"A broadcast now reaches {n} {_people(n)}.")
        broadcasts = (
            sorted(state.broadcasts.values(), key=lambda b: b.sent_at_us, reverse=True)
            if state is not None
            else []
        )
        ids = [b.broadcast_id for b in broadcasts]
        for broadcast_id in set(self.cards) - set(ids):
            card = self.cards.pop(broadcast_id)
            self.list_layout.removeWidget(card)
            card.deleteLater()
        for index, b in enumerate(broadcasts):
            card = self.cards.get(b.broadcast_id) or self._new_card(b.broadcast_id)
            assert state is not None
            card.show_broadcast(state, b, self.now_us)
            if self.list_layout.indexOf(card) != index:
                self.list_layout.removeWidget(card)
                self.list_layout.insertWidget(index, card)
                card.show()
        self.empty.setText("No incident in focus." if state is None else "No broadcast sent yet.")
        self.empty.setVisible(not broadcasts)
        self.scroll_area.setVisible(bool(broadcasts))

    def _new_card(self, broadcast_id: str) -> BroadcastCard:
        card = self.cards[broadcast_id] = BroadcastCard(broadcast_id, self.card_list)
        return card

    def _sync_menu(self, state: IncidentState | None) -> None:
        areas = (
            [(a.staging_area_id, a.name) for a in state.staging_areas.values()]
            if state is not None
            else []
        )
        if areas == self._areas:
            return
        self._areas = areas
        self.go_menu.clear()
        for area_id, name in areas:
            action = self.go_menu.addAction(name)
            action.setData(area_id)

    def _on_area_chosen(self, action: QAction) -> None:
        area_id = action.data()
        if isinstance(area_id, str):
            self.request_go_to_staging(area_id)

    def _on_focus_changed(self, _incident_id: str) -> None:
        self._sync()


def _people(n: int) -> str:
    return "responder" if n == 1 else "responders"


def _label(name: str, parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


def _set(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)
