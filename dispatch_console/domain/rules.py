"""Agency response rules: who an agency lets the console alert, and what each is told.

Alerting every officer near a school cuts response time, but self-dispatch without rules is
dangerous (``shared/design/domain.md``): an agency writes its rules before it endorses such
alerts. A rule set is per agency and versioned, loaded from a TOML file
(``dispatch-console rules load FILE``), and recorded with each incident it is applied to.

The TOML file, field by field (every field but ``agency`` and ``version`` has a default)::

    agency = "Carverton Police Department"   # as on the roster
    version = 3                              # a new version for every change
    [alert]                                  # who is alerted
    on_duty = true
    off_duty = true
    leosa_retired = false                    # retired officers qualified under LEOSA
    training_required = true                 # only with current active-shooter training
    training_valid_days = 365                # how long a training date stays current
    [off_duty]                               # what off-duty and retired responders are told
    staging_only = true                      # go to staging, never to the school
    identification_required = true           # check in with credentials at staging
    attire = "raid_jacket_or_vest"           # "raid_jacket_or_vest", "vest", "any"
    attire_reminder = "Put on your raid jacket before you leave the car."
    [gate]                                   # the dispatcher gate for off-duty and retired
    enabled = false
    auto_release_s = 120                     # released automatically after this; 0: never

Unverified people (on no roster, or whose claim does not match it) are never alerted, whatever
the rules say: anyone can install an app.

With no rules loaded at all, the :data:`DEFAULT_RULES` are in force (and say so in the console,
the CLI and the report): only officers on a roster are alerted (on duty, off duty, and retired
officers the roster marks LEOSA-qualified; no training requirement, as no agency has set one);
off-duty and retired officers are told staging only, identification required, raid jacket or
vest; no dispatcher gate. An agency that loads its own rules replaces them for every agency:
officers of an agency with no rules of its own are then not alerted.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from typing import Literal

import msgspec

from dispatch_console.domain.reference import RosterEntry
from dispatch_console.domain.roster import agency_key

AttireRule = Literal["raid_jacket_or_vest", "vest", "any"]
ResponderKind = Literal["on_duty", "off_duty", "retired", "unverified"]

#: The reminder shown when a rule set gives none, per attire rule.
DEFAULT_REMINDERS: dict[str, str] = {
    "raid_jacket_or_vest": "Put on your raid jacket or a vest marked POLICE before you leave "
    "the car.",
    "vest": "Put on a vest marked POLICE before you leave the car.",
    "any": "",
}
MAX_RULES_BYTES = 16_384


class RulesError(ValueError):
    """A rule file that cannot be used, told in one line."""


class AlertRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    on_duty: bool = True
    off_duty: bool = True
    leosa_retired: bool = False
    training_required: bool = True
    training_valid_days: int = 365


class OffDutyRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    staging_only: bool = True
    identification_required: bool = True
    attire: AttireRule = "raid_jacket_or_vest"
    attire_reminder: str | None = None


class GateRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enabled: bool = False
    auto_release_s: int = 120


class AgencyRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agency: str
    version: int
    alert: AlertRules = AlertRules()
    off_duty: OffDutyRules = OffDutyRules()
    gate: GateRules = GateRules()

    @property
    def key(self) -> str:
        return agency_key(self.agency)

    def reminder(self) -> str:
        given = self.off_duty.attire_reminder
        return given if given is not None else DEFAULT_REMINDERS[self.off_duty.attire]

    def summary(self) -> list[str]:
        """The rules in plain words, one line each (console, report, CLI)."""
        a, o, g = self.alert, self.off_duty, self.gate
        who = [
            name
            for name, on in (
                ("on duty", a.on_duty),
                ("off duty", a.off_duty),
                ("LEOSA-qualified retired", a.leosa_retired),
            )
            if on
        ]
        title = (
            "DEFAULT RULE in force: no agency rules are loaded"
            if self.agency == DEFAULT_AGENCY
            else f"{self.agency}, rules version {self.version}"
        )
        lines = [
            title,
            "Alerted: " + (", ".join(who) if who else "nobody") + "; never unverified app users",
            (
                f"Only with active-shooter training in the last {a.training_valid_days} days"
                if a.training_required
                else "No training requirement"
            ),
            "Off duty and retired: "
            + ", ".join(
                part
                for part in (
                    "staging only, never the school" if o.staging_only else "may go to the school",
                    "identification required at staging" if o.identification_required else "",
                    f"attire: {o.attire.replace('_', ' ')}",
                )
                if part
            ),
        ]
        if g.enabled:
            after = (
                f"released automatically after {g.auto_release_s} s"
                if g.auto_release_s > 0
                else "only a dispatcher releases it"
            )
            lines.append(f"Dispatcher gate for off duty and retired: {after}")
        else:
            lines.append("No dispatcher gate")
        return lines


#: The name the default rules are recorded under (``agency_rules_applied``).
DEFAULT_AGENCY = "Default rule (no agency rules loaded)"
#: In force while no agency has loaded rules: verified officers only, off duty and retired to
#: staging, identified, marked.
DEFAULT_RULES = AgencyRules(
    agency=DEFAULT_AGENCY,
    version=1,
    alert=AlertRules(on_duty=True, off_duty=True, leosa_retired=True, training_required=False),
    off_duty=OffDutyRules(
        staging_only=True, identification_required=True, attire="raid_jacket_or_vest"
    ),
    gate=GateRules(enabled=False),
)


def parse_rules(text: str | bytes, *, source: str = "<rules>") -> AgencyRules:
    """Rules from TOML text; a :class:`RulesError` saying what is wrong otherwise."""
    if len(text) > MAX_RULES_BYTES:
        raise RulesError(f"{source}: larger than {MAX_RULES_BYTES} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise RulesError(f"{source}: not UTF-8 text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not TOML: {exc}") from None
    try:
        rules = msgspec.convert(raw, AgencyRules)
    except msgspec.ValidationError as exc:
        raise RulesError(f"{source}: {exc}") from None
    if not rules.agency.strip():
        raise RulesError(f"{source}: agency is empty")
    if rules.version < 1:
        raise RulesError(f"{source}: version must be 1 or more")
    if not 1 <= rules.alert.training_valid_days <= 3650:
        raise RulesError(f"{source}: alert.training_valid_days must be 1 to 3650")
    if not 0 <= rules.gate.auto_release_s <= 3600:
        raise RulesError(f"{source}: gate.auto_release_s must be 0 to 3600")
    return rules


def rules_json(rules: AgencyRules) -> str:
    return msgspec.json.encode(rules).decode()


def rules_from_json(text: str) -> AgencyRules:
    return msgspec.json.decode(text, type=AgencyRules)


@dataclass(frozen=True)
class RuleDecision:
    """What an agency's rules decide for one device."""

    kind: ResponderKind
    alerted: bool
    #: Alerted only once the dispatcher gate is released.
    gated: bool
    reason: str
    rules: AgencyRules | None


def _training_current(entry: RosterEntry, rules: AgencyRules, today: dt.date) -> bool:
    if entry.training_date is None:
        return False
    try:
        trained = dt.date.fromisoformat(entry.training_date)
    except ValueError:
        return False
    return trained <= today and (today - trained).days <= rules.alert.training_valid_days


def decide(
    rules_by_agency: dict[str, AgencyRules],
    entry: RosterEntry | None,
    verified: bool,
    duty: str | None,
    today: dt.date,
) -> RuleDecision:
    """Whether a device is alerted, under the rules of its roster entry's agency (with no rules
    loaded at all, ``rules_by_agency`` empty: the :data:`DEFAULT_RULES`).

    ``verified``: the roster matched the device's claim (sworn active or retired); ``duty``:
    what the officer's profile says (unknown counts as off duty, the stricter case)."""
    if entry is None or not verified:
        return RuleDecision("unverified", False, False, "not verified on any roster", None)
    kind: ResponderKind = (
        "retired" if entry.status == "retired" else "on_duty" if duty == "on" else "off_duty"
    )
    rules = rules_by_agency.get(agency_key(entry.agency)) if rules_by_agency else DEFAULT_RULES
    if rules is None:
        return RuleDecision(kind, False, False, f"{entry.agency} has no response rules", None)
    allowed = {
        "on_duty": rules.alert.on_duty,
        "off_duty": rules.alert.off_duty,
        "retired": rules.alert.leosa_retired and entry.leosa_qualified,
    }[kind]
    if not allowed:
        why = (
            "retired, not LEOSA-qualified"
            if kind == "retired" and rules.alert.leosa_retired
            else f"{kind.replace('_', ' ')} officers are not alerted"
        )
        return RuleDecision(kind, False, False, f"{why} (v{rules.version})", rules)
    if rules.alert.training_required and not _training_current(entry, rules, today):
        return RuleDecision(
            kind,
            False,
            False,
            f"no active-shooter training in the last {rules.alert.training_valid_days} days "
            f"(v{rules.version})",
            rules,
        )
    gated = rules.gate.enabled and kind != "on_duty"
    return RuleDecision(kind, True, gated, f"alerted under v{rules.version}", rules)


def instruction(decision: RuleDecision, staging_name: str | None) -> str:
    """What this responder is told to do (the end of the alert text)."""
    rules = decision.rules
    if rules is None or decision.kind == "on_duty" or not rules.off_duty.staging_only:
        if staging_name:
            return f"Go to {staging_name}, NOT the school, and check in there."
        return "Check in with the incident commander before you act."
    parts = [
        f"Go to {staging_name}. Do not go to the school."
        if staging_name
        else "Do not go to the school: wait for a staging area."
    ]
    if rules.off_duty.identification_required:
        parts.append("Have your credentials ready: you will be identified at staging.")
    reminder = rules.reminder()
    if reminder:
        parts.append(reminder)
    return " ".join(parts)
