"""The incident commander's small dialogs: identify, assign, direct, revise the suspect, release.

Each dialog reads the incident state it is given, asks for the few fields its act needs, keeps
OK disabled until the required ones are filled, and builds its payloads with
:mod:`dispatch_console.app.commands` (:meth:`payloads`, with :meth:`description` for the status
bar). It stores nothing: the caller emits or submits the payloads (``commands_requested``).
Keyboard first: the first field has the focus, Tab follows the fields in reading order, Enter
accepts when OK is enabled, Esc cancels.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app import commands
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.state import IncidentState, Responder
from dispatch_console.ui.shell.header import local_clock
from dispatch_console.ui.shell.theme import NIGHT, Theme

#: The identification methods in words, in the order offered.
METHOD_WORDS: dict[ev.IdentificationMethod, str] = {
    "credentials_in_person": "Credentials checked in person",
    "known_personally": "Known personally",
    "agency_confirmed_by_phone": "Agency confirmed by phone",
    "agency_confirmed_by_radio": "Agency confirmed by radio",
}
#: The assignment tasks in words.
TASK_WORDS: dict[ev.AssignmentTask, str] = {
    "contact_team": "Contact team",
    "rescue_task_force": "Rescue task force",
    "perimeter_post": "Perimeter post",
    "traffic": "Traffic",
    "reunification": "Reunification",
    "other": "Other",
}
#: What staging may issue to mark a plainclothes officer ("" = nothing).
MARKING_WORDS: dict[str, str] = {"": "None", "raid_jacket": "Raid jacket", "vest": "Marked vest"}
ROSTER_WORDS = {
    "sworn_active": "On roster: sworn, active",
    "retired": "On roster: retired (LEOSA)",
    "not_on_roster": "NOT ON ROSTER",
    None: "NOT CHECKED against a roster",
}
#: Suspect description fields in dialog order (pairs share a row).
SUSPECT_FIELDS: tuple[tuple[str, str], ...] = (
    ("sex", "Sex"),
    ("race", "Race"),
    ("age_range", "Age"),
    ("height", "Height"),
    ("build", "Build"),
    ("hair", "Hair"),
    ("top_color", "Top colour"),
    ("top_type", "Top type"),
    ("bottom_color", "Bottom colour"),
    ("bottom_type", "Bottom type"),
    ("headwear", "Headwear"),
    ("weapon", "Weapon"),
)
RELEASE_REASONS = ("not needed", "stand-down", "identity could not be verified", "left the scene")
NAMES_LIMIT = 8
#: Suspect revisions listed in the dialog.
HISTORY_LIMIT = 8

_BANNER = "font-size: 14pt; font-weight: bold; padding: 6px 10px; border-radius: 3px;"
_TITLE = "font-size: 16pt; font-weight: bold;"


def names(responders: Iterable[Responder], limit: int = NAMES_LIMIT) -> str:
    listed = list(responders)
    text = ", ".join(r.display_name for r in listed[:limit])
    return text + (f" and {len(listed) - limit} more" if len(listed) > limit else "")


def _people(n: int) -> str:
    return "responder" if n == 1 else "responders"


class _CommandDialog(QDialog):
    """OK/Cancel, OK enabled by :meth:`ready`; Enter accepts, Esc cancels."""

    def __init__(
        self, state: IncidentState, title: str, parent: QWidget | None, theme: Theme
    ) -> None:
        super().__init__(parent)
        self.state = state
        #: The incident's version when the dialog opened: what the user decides on (the state
        #: object itself is updated in place while the dialog is open).
        self.decided_on: int = state.last_seq
        self.theme = theme
        self.setWindowTitle(title)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setSpacing(8)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    @property
    def incident_id(self) -> str:
        return self.state.incident_id

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def ready(self) -> bool:
        return True

    def update_ok(self, *_: object) -> None:
        ok = self.ok_button
        ok.setEnabled(self.ready())
        ok.setDefault(True)

    def accept(self) -> None:
        if self.ready():  # Enter with OK disabled must not accept
            super().accept()

    def payloads(self) -> list[ev.Payload]:
        raise NotImplementedError

    def description(self) -> str:
        raise NotImplementedError

    def _finish(self, first: QWidget) -> None:
        self.layout_.addWidget(self.buttons)
        self.update_ok()
        first.setFocus(Qt.FocusReason.OtherFocusReason)

    def _title(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("title")
        label.setStyleSheet(_TITLE)
        label.setWordWrap(True)
        self.layout_.addWidget(label)
        return label

    def _note(self, text: str, *, caution: bool = False) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.PlainText)
        if caution:
            label.setStyleSheet(f"color: {self.theme.caution}; font-weight: bold;")
        else:
            label.setProperty("role", "muted")
        self.layout_.addWidget(label)
        return label


def _line(placeholder: str) -> QLineEdit:
    """A one-line field a responder reads on a phone: no longer than a directive carries."""
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setMaxLength(ev.MAX_DETAIL_CHARS)
    edit.setMinimumWidth(280)  # "East wing, building B" whole
    return edit


def _combo(items: Iterable[tuple[str, str]], placeholder: str | None) -> QComboBox:
    combo = QComboBox()
    for value, words in items:
        combo.addItem(words, value)
    if placeholder is not None:
        combo.setPlaceholderText(placeholder)
        combo.setCurrentIndex(-1)
    return combo


# --- identify ------------------------------------------------------------------------------------


class IdentifyDialog(_CommandDialog):
    """Mark one responder identified (ICS check-in), with what staging issued."""

    def __init__(
        self,
        state: IncidentState,
        responder_id: str,
        user_name: str,
        parent: QWidget | None = None,
        *,
        theme: Theme = NIGHT,
    ) -> None:
        super().__init__(state, "Mark identified", parent, theme)
        self.responder = state.responders[responder_id]
        r = self.responder
        t = theme
        # The name once (a responder without a callsign is shown by name already).
        named = r.name and r.name != r.display_name
        self._title(f"Identify {r.display_name}" + (f" · {r.name}" if named else ""))
        claim = " · ".join(p for p in (r.agency, r.badge and f"badge {r.badge}") if p)
        self._note(f"claims: {claim}" if claim else "claims no agency or badge")
        self.roster = QLabel(ROSTER_WORDS.get(r.roster_verdict, ROSTER_WORDS[None]))
        self.roster.setObjectName("roster")
        self.roster.setWordWrap(True)
        if r.unverified:
            self.roster.setStyleSheet(f"{_BANNER} color: #000000; background: {t.caution};")
        else:
            self.roster.setStyleSheet(f"{_BANNER} color: {t.text}; border: 1px solid {t.border};")
        self.layout_.addWidget(self.roster)
        reason = r.roster_reason or (
            "Anyone can install the app: verify credentials in person and with the agency."
            if r.roster_verdict == "not_on_roster"
            else ""
        )
        if reason:
            self._note(reason)
        self.attire = QLabel(self._attire_text(r))
        self.attire.setObjectName("attire")
        self.attire.setWordWrap(True)
        self.attire.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.layout_.addWidget(self.attire)

        self.method = _combo(METHOD_WORDS.items(), "How was the identity verified?")
        self.verifier = QLineEdit(user_name)
        self.verifier.setPlaceholderText("name of the person who verified it")
        self.radio_id = QLineEdit()
        self.radio_id.setPlaceholderText("e.g. R-14 (optional)")
        self.radio_channel = _line("e.g. TAC 2 (optional)")
        self.marking = _combo(MARKING_WORDS.items(), None)
        self.team = _line("e.g. Team 2 (optional)")
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Verified by", self.verifier)
        form.addRow("Radio issued", self.radio_id)
        form.addRow("Radio channel", self.radio_channel)
        form.addRow("Marking issued", self.marking)
        form.addRow("Team", self.team)
        self.layout_.addLayout(form)
        if r.plainclothes and r.attire is not None and r.attire.visible_id in (None, "none"):
            self._note(
                "Plainclothes with no visible police ID: issue a raid jacket or vest.",
                caution=True,
            )
        self.method.currentIndexChanged.connect(self.update_ok)
        self.verifier.textChanged.connect(self.update_ok)
        for a, b in (
            (self.method, self.verifier),
            (self.verifier, self.radio_id),
            (self.radio_id, self.radio_channel),
            (self.radio_channel, self.marking),
            (self.marking, self.team),
        ):
            QWidget.setTabOrder(a, b)
        self._note("The responder's phone is told: identified, team, radio channel, marking.")
        self.ok_button.setText("Mark identified")
        self._finish(self.method)

    @staticmethod
    def _attire_text(r: Responder) -> str:
        duty = {"on": "on duty", "off": "OFF DUTY"}.get(r.duty or "", "duty not reported")
        if r.attire is None:
            return f"{duty} · attire not reported"
        if r.attire.uniform:
            return f"{duty} · uniform"
        return f"{duty} · PLAINCLOTHES: " + r.attire.describe().removeprefix("plainclothes: ")

    def ready(self) -> bool:
        return self.method.currentIndex() >= 0 and bool(self.verifier.text().strip())

    def payloads(self) -> list[ev.Payload]:
        return commands.identify(
            self.responder.responder_id,
            self.method.currentData(),
            self.verifier.text(),
            self.radio_id.text(),
            self.radio_channel.text(),
            self.marking.currentData() or None,
            team=self.team.text(),
            state=self.state,
        )

    def description(self) -> str:
        return f"mark {self.responder.display_name} identified"


# --- assign --------------------------------------------------------------------------------------


class AssignDialog(_CommandDialog):
    """Give identified responders a task and a team (unidentified ones are left out, and
    named: only identified responders can be assigned)."""

    def __init__(
        self,
        state: IncidentState,
        responder_ids: Iterable[str],
        parent: QWidget | None = None,
        *,
        theme: Theme = NIGHT,
    ) -> None:
        super().__init__(state, "Assign", parent, theme)
        chosen = [state.responders[rid] for rid in dict.fromkeys(responder_ids)]
        self.assignable = [r for r in chosen if r.identified and r.status.value != "released"]
        left_out = [r for r in chosen if r not in self.assignable]
        n = len(self.assignable)
        self._title(f"Assign {n} {_people(n)}" if n else "Nobody here can be assigned")
        if self.assignable:
            self._note(names(self.assignable))
        if left_out:
            self._note(
                f"{len(left_out)} not identified (or released), cannot be assigned: "
                f"{names(left_out)}",
                caution=True,
            )
        self.task = _combo(TASK_WORDS.items(), "Choose a task")
        self.team = _line("e.g. Team 2, Contact 1")
        self.location = _line("e.g. east wing, Sector 2 (optional)")
        self.radio_channel = _line("e.g. TAC 2 (optional)")
        self.report_to = _line("e.g. Sgt. Lee (optional)")
        # Prefilled only when every one of them has the same already (the team, the channel
        # issued at check-in); reporting to the incident commander unless told otherwise.
        for edit, values in (
            (self.team, {r.team for r in self.assignable}),
            (self.radio_channel, {r.radio_channel for r in self.assignable}),
        ):
            if len(values) == 1 and (value := values.pop()) is not None:
                edit.setText(value)
        if state.commander:
            self.report_to.setText(state.commander[: ev.MAX_DETAIL_CHARS])
        form = QFormLayout()
        form.addRow("Task", self.task)
        form.addRow("Team", self.team)
        form.addRow("Where", self.location)
        form.addRow("Radio channel", self.radio_channel)
        form.addRow("Report to", self.report_to)
        self.layout_.addLayout(form)
        self._note("Each responder's phone is sent the assignment, to acknowledge.")
        self.task.currentIndexChanged.connect(self.update_ok)
        self.team.textChanged.connect(self.update_ok)
        for a, b in (
            (self.task, self.team),
            (self.team, self.location),
            (self.location, self.radio_channel),
            (self.radio_channel, self.report_to),
        ):
            QWidget.setTabOrder(a, b)
        self.ok_button.setText(f"Assign {n}" if n else "Assign")
        self._finish(self.task)

    def ready(self) -> bool:
        return (
            bool(self.assignable)
            and self.task.currentIndex() >= 0
            and bool(self.team.text().strip())
        )

    def payloads(self) -> list[ev.Payload]:
        task = self.task.currentData()
        return [
            p
            for r in self.assignable
            for p in commands.assign(
                r.responder_id,
                task,
                self.team.text(),
                location=self.location.text(),
                radio_channel=self.radio_channel.text(),
                report_to=self.report_to.text(),
                state=self.state,
            )
        ]

    def description(self) -> str:
        n = len(self.assignable)
        return f"assign {n} {_people(n)}: {self.task.currentText().lower()}, {self.team.text()}"


# --- direct --------------------------------------------------------------------------------------


class DirectDialog(_CommandDialog):
    """Direct responders to one of the incident's staging areas (a directive each)."""

    def __init__(
        self,
        state: IncidentState,
        responder_ids: Iterable[str],
        parent: QWidget | None = None,
        *,
        theme: Theme = NIGHT,
    ) -> None:
        super().__init__(state, "Direct to staging", parent, theme)
        chosen = [state.responders[rid] for rid in dict.fromkeys(responder_ids)]
        self.responders = [r for r in chosen if r.status is not ResponderStatus.RELEASED]
        released = len(chosen) - len(self.responders)
        n = len(self.responders)
        self._title(f"Direct {n} {_people(n)} to a staging area")
        if self.responders:
            self._note(names(self.responders))
        if released:
            self._note(f"{released} released, left out", caution=True)
        self.areas = QListWidget()
        self.areas.setObjectName("areas")
        waiting = {a: 0 for a in state.staging_areas}
        for r in state.responders.values():
            if r.staging_area_id in waiting and r.status is not ResponderStatus.RELEASED:
                waiting[r.staging_area_id] += 1
        for area in state.staging_areas.values():
            there = waiting[area.staging_area_id]
            text = f"{area.name} — {there} {_people(there)} there now"
            if area.capacity:
                text += f" · capacity {area.capacity}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, area.staging_area_id)
            self.areas.addItem(item)
        self.areas.setMinimumWidth(420)
        self.areas.setMaximumHeight(max(60, 34 * min(6, self.areas.count()) + 8))
        if not state.staging_areas:
            self._note("This incident has no staging area: draw one on the map first.")
        self.layout_.addWidget(self.areas)
        # The area they were last directed to, if they share one; else the first.
        previous = {r.directed_to for r in self.responders}
        row = 0
        if len(previous) == 1 and (target := previous.pop()) in state.staging_areas:
            row = list(state.staging_areas).index(target)
        if self.areas.count():
            self.areas.setCurrentRow(row)
        self.areas.currentRowChanged.connect(self.update_ok)
        self.areas.itemActivated.connect(self._on_activated)
        self.ok_button.setText(f"Direct {n}" if n else "Direct")
        self._finish(self.areas)

    def staging_area_id(self) -> str | None:
        item = self.areas.currentItem()
        value = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return value if isinstance(value, str) else None

    def ready(self) -> bool:
        return bool(self.responders) and self.staging_area_id() is not None

    def payloads(self) -> list[ev.Payload]:
        area = self.staging_area_id()
        assert area is not None
        return commands.direct(self.state, [r.responder_id for r in self.responders], area)

    def description(self) -> str:
        n = len(self.responders)
        area = commands.staging_area_name(self.state, self.staging_area_id() or "")
        return f"direct {n} {_people(n)} to {area}"

    def _on_activated(self, _item: QListWidgetItem) -> None:
        self.accept()


# --- suspect -------------------------------------------------------------------------------------


class SuspectDialog(_CommandDialog):
    """A new revision of the suspect description: structured fields and free text, prefilled
    with the current revision; every earlier revision listed (none is ever lost)."""

    def __init__(
        self, state: IncidentState, parent: QWidget | None = None, *, theme: Theme = NIGHT
    ) -> None:
        super().__init__(state, "Suspect description", parent, theme)
        current = state.suspect
        self.current = current.description if current is not None else ev.SuspectDescription()
        rev = f"revision {current.rev + 1}" if current is not None else "first description"
        self._title(f"Suspect description — {rev}")
        self.fields: dict[str, QLineEdit] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(6)
        order: list[QWidget] = []
        for i, (name, words) in enumerate(SUSPECT_FIELDS):
            edit = QLineEdit(getattr(self.current, name) or "")
            edit.setObjectName(name)
            edit.textChanged.connect(self.update_ok)
            self.fields[name] = edit
            row, pair = divmod(i, 2)
            grid.addWidget(QLabel(words), row, pair * 2)
            grid.addWidget(edit, row, pair * 2 + 1)
            order.append(edit)
        self.free_text = QLineEdit(self.current.free_text or "")
        self.free_text.setObjectName("free_text")
        self.free_text.setPlaceholderText("anything else: direction of travel, vehicle, name…")
        self.free_text.textChanged.connect(self.update_ok)
        last = len(SUSPECT_FIELDS) // 2 + 1
        grid.addWidget(QLabel("Free text"), last, 0)
        grid.addWidget(self.free_text, last, 1, 1, 3)
        order.append(self.free_text)
        self.layout_.addLayout(grid)
        for a, b in itertools.pairwise(order):
            QWidget.setTabOrder(a, b)
        revisions = list(reversed(state.suspect_revisions))
        lines = [
            f"rev {r.rev} · {local_clock(r.revised_at_us)} · {r.revised_by}: "
            f"{r.description.describe()}"
            for r in revisions[:HISTORY_LIMIT]
        ]
        if len(revisions) > HISTORY_LIMIT:
            lines.append(f"… and {len(revisions) - HISTORY_LIMIT} earlier")
        self.history = QLabel("\n".join(lines))
        self.history.setObjectName("history")
        self.history.setWordWrap(True)
        self.history.setTextFormat(Qt.TextFormat.PlainText)
        self.history.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if revisions:
            self._note(f"Every revision ({len(revisions)}), newest first:")
            self.layout_.addWidget(self.history)
        else:
            self.history.hide()
        self.ok_button.setText("Save revision")
        self.setMinimumWidth(620)
        self._finish(order[0])

    def description_value(self) -> ev.SuspectDescription:
        values = {name: edit.text().strip() or None for name, edit in self.fields.items()}
        return ev.SuspectDescription(**values, free_text=self.free_text.text().strip() or None)

    def ready(self) -> bool:
        value = self.description_value()
        return value != ev.SuspectDescription() and value != self.current

    def payloads(self) -> list[ev.Payload]:
        return commands.revise_suspect(self.description_value())

    def description(self) -> str:
        return f"revise suspect description: {self.description_value().describe()}"


# --- release -------------------------------------------------------------------------------------


class ReleaseDialog(_CommandDialog):
    """Release responders from the incident, with a reason."""

    def __init__(
        self,
        state: IncidentState,
        responder_ids: Iterable[str],
        parent: QWidget | None = None,
        *,
        theme: Theme = NIGHT,
    ) -> None:
        super().__init__(state, "Release", parent, theme)
        chosen = [state.responders[rid] for rid in dict.fromkeys(responder_ids)]
        self.responders = [r for r in chosen if r.status is not ResponderStatus.RELEASED]
        n = len(self.responders)
        self._title(f"Release {n} {_people(n)}")
        if self.responders:
            self._note(names(self.responders))
        self.reason = QComboBox()
        self.reason.setEditable(True)
        self.reason.addItems(RELEASE_REASONS)
        self.reason.setCurrentIndex(-1)
        self.reason.setEditText("")
        line = self.reason.lineEdit()
        if line is not None:
            line.setPlaceholderText("why (required)")
        self.reason.editTextChanged.connect(self.update_ok)
        form = QFormLayout()
        form.addRow("Reason", self.reason)
        self.layout_.addLayout(form)
        self.ok_button.setText(f"Release {n}" if n else "Release")
        self.setMinimumWidth(420)
        self._finish(self.reason)

    def reason_text(self) -> str:
        return self.reason.currentText().strip()

    def ready(self) -> bool:
        return bool(self.responders) and bool(self.reason_text())

    def payloads(self) -> list[ev.Payload]:
        reason = self.reason_text()
        return [p for r in self.responders for p in commands.release(r.responder_id, reason)]

    def description(self) -> str:
        n = len(self.responders)
        return f"release {n} {_people(n)}: {self.reason_text()}"


#: Where a command post may be put on the map, in the dialog's words.
NO_POINT = "No map point"


class CommandDialog(_CommandDialog):
    """Establish incident command (nobody holds it yet) or transfer it: the incident
    commander's name, the command post (a name, and optionally a point: the check-in point or
    the school), and for a transfer why. Every earlier holder is listed."""

    def __init__(
        self,
        state: IncidentState,
        user_name: str,
        parent: QWidget | None = None,
        *,
        theme: Theme = NIGHT,
    ) -> None:
        transfer = state.commander is not None
        super().__init__(state, "Transfer command" if transfer else "Establish command", parent,
                         theme)  # fmt: skip
        self.transfer = transfer
        if transfer:
            self._title(f"Transfer command from {state.commander}")
            post = state.command_post
            self._note(f"Command post now: {post}" if post else "No command post named yet.")
        else:
            self._title("Establish incident command")
            self._note("Nobody holds command of this incident yet.")
        self.commander = QLineEdit("" if transfer else user_name)
        self.commander.setObjectName("commander")
        self.commander.setPlaceholderText("incident commander's name (required)")
        self.commander.textChanged.connect(self.update_ok)
        self.post = QLineEdit(state.command_post or "")
        self.post.setObjectName("command_post")
        self.post.setPlaceholderText("e.g. Engine 3 tailboard, church lot on Elm St")
        self.point = QComboBox()
        self.point.setObjectName("command_post_point")
        self.point.addItem(NO_POINT, None)
        if state.check_in_point is not None:
            cp = state.check_in_point
            self.point.addItem(f"At the check-in point ({cp.name})", (cp.lon, cp.lat))
        if state.opened:
            self.point.addItem(f"At the school ({state.school_name})", (state.lon, state.lat))
        self.reason = QLineEdit()
        self.reason.setObjectName("reason")
        self.reason.setPlaceholderText("why (optional): e.g. a higher-ranking officer arrived")
        form = QFormLayout()
        form.addRow("Incident commander", self.commander)
        form.addRow("Command post", self.post)
        form.addRow("On the map", self.point)
        if transfer:
            form.addRow("Reason", self.reason)
        else:
            self.reason.hide()
        self.layout_.addLayout(form)
        if state.command:
            lines = [f"{local_clock(p.since_us)} · {p.commander} ({p.how})" for p in state.command]
            self._note("Held by, oldest first:\n" + "\n".join(lines[-HISTORY_LIMIT:]))
        self.ok_button.setText("Transfer command" if transfer else "Establish command")
        self.setMinimumWidth(480)
        order = [self.commander, self.post, self.point] + ([self.reason] if transfer else [])
        for a, b in itertools.pairwise(order):
            QWidget.setTabOrder(a, b)
        self._finish(self.commander)

    def ready(self) -> bool:
        name = self.commander.text().strip()
        return bool(name) and name != self.state.commander

    def payloads(self) -> list[ev.Payload]:
        point = self.point.currentData()
        lon, lat = point if point is not None else (None, None)
        return commands.take_command(
            self.state, self.commander.text(), self.post.text(), lon, lat, self.reason.text()
        )

    def description(self) -> str:
        name = self.commander.text().strip()
        if self.transfer:
            return f"transfer command from {self.state.commander} to {name}"
        return f"establish command: {name} is incident commander"
