"""The responder lifecycle as an explicit state machine.

``notified → acknowledged | declined → en route → at staging | on scene → identified → staged
→ assigned → released`` (domain notes). Every allowed move is listed in :data:`TRANSITIONS`;
anything else is refused with a :class:`RuleViolation` that names the rule it breaks.
Self-dispatched is not a status: it is a lasting flag on the responder (see ``fold``).
"""

from __future__ import annotations

from enum import StrEnum


class ResponderStatus(StrEnum):
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"
    EN_ROUTE = "en_route"
    AT_STAGING = "at_staging"
    ON_SCENE = "on_scene"
    IDENTIFIED = "identified"
    STAGED = "staged"
    ASSIGNED = "assigned"
    RELEASED = "released"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


S = ResponderStatus

#: Statuses in which a responder is physically at the incident (staging or scene).
PRESENT = frozenset({S.AT_STAGING, S.ON_SCENE, S.IDENTIFIED, S.STAGED, S.ASSIGNED})
#: Statuses reached only through identification (a human act).
IDENTIFIED_OR_LATER = frozenset({S.IDENTIFIED, S.STAGED, S.ASSIGNED})
#: Statuses of a responder who is moving towards, or is at, the incident.
RESPONDING = frozenset({S.EN_ROUTE} | PRESENT)

TRANSITIONS: dict[ResponderStatus, frozenset[ResponderStatus]] = {
    S.NOTIFIED: frozenset(
        {S.ACKNOWLEDGED, S.DECLINED, S.EN_ROUTE, S.AT_STAGING, S.ON_SCENE, S.RELEASED}
    ),
    S.ACKNOWLEDGED: frozenset({S.DECLINED, S.EN_ROUTE, S.AT_STAGING, S.ON_SCENE, S.RELEASED}),
    S.DECLINED: frozenset({S.ACKNOWLEDGED, S.EN_ROUTE, S.AT_STAGING, S.ON_SCENE, S.RELEASED}),
    S.EN_ROUTE: frozenset({S.AT_STAGING, S.ON_SCENE, S.RELEASED}),
    S.AT_STAGING: frozenset({S.ON_SCENE, S.IDENTIFIED, S.RELEASED}),
    S.ON_SCENE: frozenset({S.AT_STAGING, S.IDENTIFIED, S.RELEASED}),
    S.IDENTIFIED: frozenset({S.STAGED, S.ASSIGNED, S.RELEASED}),
    S.STAGED: frozenset({S.ASSIGNED, S.RELEASED}),
    S.ASSIGNED: frozenset({S.ASSIGNED, S.STAGED, S.RELEASED}),
    S.RELEASED: frozenset(),
}


class Rule(StrEnum):
    """Named rules, so a refusal says which rule it enforces."""

    ASSIGN_REQUIRES_IDENTIFIED = "only identified responders can be assigned"
    STAGE_REQUIRES_IDENTIFIED = "only identified responders can be staged"
    IDENTIFY_REQUIRES_PRESENCE = (
        "identification is done in person: the responder must be at staging or on scene"
    )
    RELEASED_IS_FINAL = "a released responder takes no further part in the incident"
    NO_GOING_BACK = "a responder's lifecycle does not go backwards"
    UNKNOWN_RESPONDER = "the responder was not notified for this incident"
    ALREADY_NOTIFIED = "a responder is notified once per incident"
    UNKNOWN_STAGING_AREA = "the staging area does not exist in this incident"
    UNKNOWN_ALERT = "the alert does not belong to this incident"
    ALERT_ALREADY_ACKNOWLEDGED = "an alert is acknowledged once"
    INCIDENT_CLOSED = "the incident is closed (all clear or cancelled)"
    INCIDENT_NOT_OPEN = "the incident has not been opened"
    INCIDENT_ALREADY_OPEN = "the incident is already open"
    UNKNOWN_PERIMETER = "the perimeter does not exist in this incident"
    VERIFIER_REQUIRED = "identification needs the name of the person who verified it"
    ALERT_ALREADY_RECEIVED = "an alert is received once"
    ALERT_OF_ANOTHER_SCHOOL = "an incident gathers alerts of its own school only"
    BAD_AREA = "an area is a valid polygon, or a point with a positive radius, in WGS84"
    STAGING_AREA_REQUIRED = "arrival at staging names the staging area"
    NOT_PRESENT = "equipment is issued in person: the responder must be at staging or on scene"
    BAD_DETAIL = (
        "a team, radio channel, place or name is one line of at most 80 characters, without "
        "control or bidi characters"
    )
    UNKNOWN_DIRECTIVE = "the directive does not exist in this incident"
    DIRECTIVE_ALREADY_ACKNOWLEDGED = "a directive is acknowledged once"
    NOT_YOUR_DIRECTIVE = "a device can only acknowledge its own directives"
    UNKNOWN_BROADCAST = "the broadcast does not exist in this incident"
    BROADCAST_ALREADY_SENT = "a broadcast is sent once"
    EMPTY_BROADCAST = "a broadcast needs a text to read"
    ALREADY_INSIDE = "the responder is already inside that perimeter"
    NOT_INSIDE = "the responder is not inside that perimeter"
    PERIMETER_KIND_MISMATCH = "the perimeter is of another kind"
    UNKNOWN_WARNING = "the warning does not exist in this incident"
    WARNING_ENDED = "the warning has ended"
    WARNING_ALREADY_RAISED = "a warning is raised once"
    WARNING_ALREADY_ACTIVE = "a warning of this kind is already active for this responder"
    WARNING_ALREADY_ACKNOWLEDGED = "a warning is acknowledged once"
    ACKNOWLEDGER_REQUIRED = "an acknowledgement needs the name of who acknowledged it"
    PAR_RUNNING = "one roll call (PAR) at a time: end the running one first"
    NO_OPEN_GATE = "the agency has no held alert waiting for release in this incident"
    PAR_ALREADY_STARTED = "a roll call (PAR) is started once"
    PAR_NOT_RUNNING = "the roll call (PAR) is not running"
    NOT_IN_PAR = "the responder is not in this roll call (PAR)"
    CONFLICT = "someone else changed what this command acts on since it was decided"
    ROLE_MAY_NOT_COMMAND = "observers and trainers watch: they do not change an incident"
    UNKNOWN_USER = "a console user must be registered in the store to change an incident"
    COMMAND_ALREADY_ESTABLISHED = "command is established once; after that it is transferred"
    NO_COMMAND = "command must be established before it can be transferred"
    NOT_IN_COMMAND = "only the incident commander in command now can hand command over"
    COMMANDER_REQUIRED = "incident command needs the incident commander's name"


class RuleViolation(Exception):
    """A command refused by a domain rule. ``rule`` names it; ``str()`` explains it."""

    def __init__(self, rule: Rule, detail: str) -> None:
        super().__init__(f"{rule.name}: {rule.value} ({detail})")
        self.rule = rule
        self.detail = detail


def check_transition(responder_id: str, current: ResponderStatus, target: ResponderStatus) -> None:
    """Raise :class:`RuleViolation` unless ``current → target`` is an allowed move."""
    if target in TRANSITIONS[current]:
        return
    where = f"responder {responder_id} is {current.label}, cannot become {target.label}"
    if current is S.RELEASED:
        raise RuleViolation(Rule.RELEASED_IS_FINAL, where)
    if target is S.ASSIGNED and current not in IDENTIFIED_OR_LATER:
        raise RuleViolation(Rule.ASSIGN_REQUIRES_IDENTIFIED, where)
    if target is S.STAGED and current not in IDENTIFIED_OR_LATER:
        raise RuleViolation(Rule.STAGE_REQUIRES_IDENTIFIED, where)
    if target is S.IDENTIFIED and current not in PRESENT:
        raise RuleViolation(Rule.IDENTIFY_REQUIRES_PRESENCE, where)
    raise RuleViolation(Rule.NO_GOING_BACK, where)
