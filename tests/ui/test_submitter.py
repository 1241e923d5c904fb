"""The console's bridge from the window to the command runner: the version the user saw goes
with each command, and a user who signed in as someone else is registered again first."""

from __future__ import annotations

from typing import Any, cast

from dispatch_console.app.backend import CommandRunner
from dispatch_console.app.live import ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.launch.console import _Submitter
from dispatch_console.ui.shell.main_window import MainWindow
from dispatch_console.ui.shell.user import User


class _Runner:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def submit(self, incident_id: str, payloads: Any, **kwargs: Any) -> None:
        self.calls.append(("submit", (incident_id, kwargs["expected_seq"])))

    def register_user(self, name: str, role: str) -> None:
        self.calls.append(("register", (name, role)))


class _Window:
    def __init__(self, user: User) -> None:
        self.user = user


def test_the_version_seen_goes_with_the_command_and_a_new_user_is_registered() -> None:
    runner = _Runner()
    console = ConsoleState()
    console.incidents["inc-1"] = IncidentState(incident_id="inc-1", last_seq=42)
    first = User("A. Moreno", "dispatcher")
    submit = _Submitter(cast(CommandRunner, runner), console, first)
    window = _Window(first)
    submit.window = cast(MainWindow, window)
    actor = ev.Actor(ev.ActorKind.CONSOLE_USER, first.name)
    payload = ev.AlertAcknowledged("act-1", first.name)
    submit("inc-1", [payload], actor, "ack")
    submit("inc-2", [payload], actor, "ack")  # not known here: not checked
    submit("inc-1", [payload], actor, "ack", expected_seq=7)
    window.user = User("Lt. Hayes", "incident commander")
    submit("inc-1", [payload], actor, "ack")
    assert runner.calls == [
        ("submit", ("inc-1", 42)),
        ("submit", ("inc-2", None)),
        ("submit", ("inc-1", 7)),
        ("register", ("Lt. Hayes", "incident commander")),
        ("submit", ("inc-1", 42)),
    ]
