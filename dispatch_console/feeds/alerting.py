"""Who of the devices near a school is alerted, under their agencies' response rules.

The console is the alerting service (``feeds/notify.py`` finds the devices in the school's
radius); this decides, per device, from its roster entry and the agency's rules in force
(``domain/rules.py``): alerted now, held behind the agency's dispatcher gate, or not alerted
(and why), and what each alerted officer is told. With no rules loaded at all, the default rule
(``domain.rules.DEFAULT_RULES``) decides: officers on a roster only, never an unverified app
user; it is recorded with the incident like any agency's rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import School
from dispatch_console.domain.roster import Roster, agency_key
from dispatch_console.domain.rules import (
    AgencyRules,
    RuleDecision,
    decide,
    instruction,
    rules_from_json,
    rules_json,
)
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.service import Command
from dispatch_console.store import StoreUnreachable, unreachable
from dispatch_console.store.registry import Device

if TYPE_CHECKING:
    from dispatch_console.feeds.core import GatewayCore

log = logging.getLogger(__name__)


@dataclass
class AlertPlan:
    #: Devices alerted now, in the order given.
    now: list[str] = field(default_factory=list)
    #: What each alerted (or held) device is told: the end of its alert text.
    instructions: dict[str, str] = field(default_factory=dict)
    #: Agency -> devices held behind its dispatcher gate.
    held: dict[str, list[str]] = field(default_factory=dict)
    #: Device -> why it is not alerted.
    withheld: dict[str, str] = field(default_factory=dict)
    #: The rule sets that decided for at least one device (recorded with the incident).
    applied: dict[str, AgencyRules] = field(default_factory=dict)


def decision_for(
    device: Device, roster: Roster, rules: dict[str, AgencyRules], today: dt.date
) -> RuleDecision:
    """The rules' decision for one device: its profile's claim checked against the roster, or,
    with no claim yet, the roster entry its agency registered the device to."""
    profile = device.profile or {}
    duty = profile.get("duty")
    if profile.get("agency") or profile.get("badge") or profile.get("name"):
        match = roster.match(
            agency=profile.get("agency"),
            badge=profile.get("badge"),
            name=profile.get("name"),
            device_id=device.device_id,
        )
        verified = match.verdict != "not_on_roster"
        return decide(rules, match.entry if verified else None, verified, duty, today)
    entry = roster.by_device(device.device_id)
    return decide(rules, entry, entry is not None, duty, today)


def plan_alerts(
    devices: Iterable[Device],
    roster: Roster,
    rules: dict[str, AgencyRules],
    staging_name: str | None,
    today: dt.date,
) -> AlertPlan:
    """The plan for ``devices`` (``rules`` empty: under the default rule)."""
    plan = AlertPlan()
    for device in devices:
        decision = decision_for(device, roster, rules, today)
        if decision.rules is not None:
            plan.applied.setdefault(decision.rules.agency, decision.rules)
        if not decision.alerted:
            plan.withheld[device.device_id] = f"{decision.kind}: {decision.reason}"
            log.info("device %s not alerted: %s", device.device_id, decision.reason)
            continue
        plan.instructions[device.device_id] = instruction(decision, staging_name)
        if decision.gated:
            assert decision.rules is not None
            plan.held.setdefault(decision.rules.agency, []).append(device.device_id)
        else:
            plan.now.append(device.device_id)
    return plan


class AgencyAlerting:
    """The gateway's side of the rules: alerting under them, and the dispatcher gates (runs on
    the gateway's writer thread, like the rest of :class:`GatewayCore`)."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        self._rules: dict[str, AgencyRules] | None = None
        self._read_at = 0.0
        self._default_said = False

    def rules(self) -> dict[str, AgencyRules]:
        """The agency response rules in force, by agency key (re-read every few seconds)."""
        from dispatch_console.feeds.core import REFERENCE_TTL_S

        core = self.core
        if self._rules is None or time.monotonic() - self._read_at > REFERENCE_TTL_S:
            try:
                if core.offline:
                    raise StoreUnreachable("the store is down")
                self._rules, self._read_at = core.store.agency_rules(), time.monotonic()
                if not self._rules and not self._default_said:
                    log.warning(
                        "no agency rules loaded: the DEFAULT RULE is in force (officers on a "
                        "roster only, never an unverified app user; off duty and retired to "
                        "staging, identified, marked)"
                    )
                self._default_said = not self._rules
            except Exception as exc:
                if self._rules is None or not unreachable(exc):
                    raise
        return self._rules

    def alert(
        self,
        incident_id: str,
        school: School,
        chosen: list[Device],
        by: str = "console",
        idempotency: str | None = None,
    ) -> int:
        """Alert the devices the rules allow of ``chosen`` (the devices in the school's radius,
        or the registered ones the school's own system listed, ``by`` "school"; the default
        rule when no rules are loaded), hold the gated ones, and record the rules applied. A
        listed id that is no registered device is never alerted: rules never alert someone
        they cannot check."""
        from dispatch_console.feeds.core import GATEWAY

        core = self.core
        state = core.service.state(incident_id)
        staging = first_staging(state)
        now = core.clock()
        plan = plan_alerts(
            chosen, core.roster(), self.rules(), staging.name if staging else None, today(now)
        )
        extra = [
            Command(
                incident_id,
                ev.AgencyRulesApplied(r.agency, r.version, rules_json(r)),
                GATEWAY,
                ev.Source.FEED,
                now,
            )
            for r in plan.applied.values()
            if state.rules_in_force.get(r.agency, (0, ""))[0] != r.version
        ]
        for agency, all_held in plan.held.items():
            known = state.gates.get(agency)
            held = [d for d in all_held if known is None or d not in known.device_ids]
            if not held:  # (an activation sent again: held once)
                continue
            wait_s = plan.applied[agency].gate.auto_release_s
            release_at = now + wait_s * US_PER_S if wait_s > 0 else None
            gate = ev.AlertGateHeld(agency, tuple(held), release_at)
            extra.append(Command(incident_id, gate, GATEWAY, ev.Source.FEED, now))
        return core._notify(
            incident_id, school, plan.now, by, idempotency, plan.instructions, extra
        )

    def release_gates(self) -> None:
        """Alert the officers held behind a dispatcher gate once it is released, by a
        dispatcher (an event from a console) or automatically when its time has come."""
        from dispatch_console.feeds.core import GATEWAY

        core = self.core
        now = core.clock()
        for state in core.service.live_incidents():
            if not state.opened or state.closed:
                continue
            for agency, gate in list(state.gates.items()):
                if gate.open and gate.release_at_us is not None and now >= gate.release_at_us:
                    released = ev.AlertGateReleased(agency, automatic=True)
                    cmd = Command(state.incident_id, released, GATEWAY, ev.Source.FEED, now)
                    core.service.execute_batch([cmd])
                if gate.open:
                    continue
                waiting = [d for d in gate.device_ids if d not in state.responders]
                school = core.school(state.school_id) if waiting else None
                if school is None:
                    continue
                applied = state.rules_in_force.get(agency)
                rules = {} if applied is None else {agency_key(agency): rules_from_json(applied[1])}
                staging = first_staging(state)
                devices = core.devices()
                instructions = {
                    d: instruction(
                        decision_for(devices[d], core.roster(), rules, today(now)),
                        staging.name if staging else None,
                    )
                    for d in waiting
                    if d in devices
                }
                core._notify(state.incident_id, school, waiting, "console", None, instructions)


def first_staging(state: IncidentState) -> Any:
    staging = sorted(state.staging_areas.values(), key=lambda a: a.staging_area_id)
    return staging[0] if staging else None


def today(now_us: int) -> dt.date:
    return dt.datetime.fromtimestamp(now_us / US_PER_S, dt.UTC).date()
