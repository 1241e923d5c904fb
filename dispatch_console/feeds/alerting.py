"""Who of the devices near a school is alerted, under their agencies' response rules.

The console is the alerting service (``feeds/notify.py`` finds the devices in the school's
radius); this decides, per device, from its roster entry and the agency's rules in force
(``domain/rules.py``): alerted now, held behind the agency's dispatcher gate, or not alerted
(and why), and what each alerted officer is told. With no rules loaded at all, every device in
the radius is alerted as before (the console says "no agency rules in force").
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from dispatch_console.domain.roster import Roster
from dispatch_console.domain.rules import AgencyRules, RuleDecision, decide, instruction
from dispatch_console.store.registry import Device

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
) -> AlertPlan | None:
    """The plan for ``devices`` (None: no rules are loaded, every device is alerted)."""
    if not rules:
        return None
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
