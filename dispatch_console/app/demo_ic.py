"""The demo's incident commander: a scenario's ``[[command]]`` acts as the payloads the console's
own actions store (:mod:`dispatch_console.app.commands`), so the demo ends the way a real
incident ends: command taken, threat stopped, stand-down, check-in at staging, all clear, release.

The simulator calls :func:`act_payloads` with the incident's state as the store has it at that
simulated second; the service checks every payload against the rules as it would a console's.
"""

from __future__ import annotations

from dispatch_console.app import commands
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import TRANSITIONS, ResponderStatus
from dispatch_console.domain.state import IncidentState
from dispatch_console.sim.scenario import ScriptedAct

THREAT_STOPPED_TEXT = "Threat stopped: suspect in custody. Hold where you are; do not enter."
ALL_CLEAR_TEXT = "Threat stopped, building cleared"
RELEASE_REASON = "stand-down: the incident is over"
UNVERIFIED_REASON = "identity could not be verified; the incident is over"
#: How the demo's IC checks people in at staging.
CHECK_IN_METHOD: ev.IdentificationMethod = "credentials_in_person"


def act_payloads(act: ScriptedAct, state: IncidentState) -> list[ev.Payload]:
    """The payloads of ``act`` in ``state`` (empty when there is nothing to do)."""
    commander = state.commander or act.commander or "incident commander"
    if act.act == "establish":
        if state.commander is not None:
            return []  # someone holds command already (a console user took it): leave it
        return commands.take_command(state, act.commander or commander, act.command_post)
    if state.closed and act.act != "release":
        return []
    if act.act == "threat_stopped":
        text = act.text or THREAT_STOPPED_TEXT
        return commands.broadcast(state, "message", text)
    if act.act == "stand_down":
        return commands.stand_down(state)
    if act.act == "check_in":
        # Those who arrived and whom a roster vouches for; the others are released at the end
        # as unverified (nobody is identified on a claim alone).
        present = [
            r for r in state.responders.values() if r.arrived_not_checked_in and not r.unverified
        ]
        return [
            p
            for r in present
            for p in commands.identify(r.responder_id, CHECK_IN_METHOD, commander)
        ]
    if act.act == "all_clear":
        return [ev.IncidentStatusChanged("all_clear", act.text or ALL_CLEAR_TEXT)]
    if act.act == "release":
        releasable = [
            r
            for r in state.responders.values()
            if ResponderStatus.RELEASED in TRANSITIONS[r.status]
        ]
        return [
            p
            for r in releasable
            for p in commands.release(
                r.responder_id,
                UNVERIFIED_REASON if r.arrived_not_checked_in and r.unverified else RELEASE_REASON,
            )
        ]
    raise ValueError(f"unknown act {act.act!r}")
