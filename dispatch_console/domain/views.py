"""Derived, read-only views of an incident state at an instant (header counts, responder rows).

The CLI, the console's tables and replay all show the same figures because they all come from
here. ``now_us`` is an argument: the live console passes the clock, replay the scrubbed instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch_console.domain.geometry import LocalFrame, local_frame, straight_line_eta_s
from dispatch_console.domain.lifecycle import PRESENT, ResponderStatus
from dispatch_console.domain.state import IncidentState, Responder
from dispatch_console.domain.text import neutralise


@dataclass(frozen=True)
class ResponderRow:
    responder_id: str
    name: str
    agency: str
    duty: str
    attire: str
    plainclothes: bool
    roster: str
    status: ResponderStatus
    self_dispatched: bool
    identified: bool
    distance_m: float | None
    eta_s: float | None
    position_age_s: float | None
    stale: bool

    @property
    def unverified(self) -> bool:
        return self.roster in ("UNVERIFIED", "not checked")


_ROSTER_LABELS = {
    "sworn_active": "sworn, active",
    "retired": "retired (LEOSA)",
    "not_on_roster": "UNVERIFIED",
    None: "not checked",
}


def responder_row(
    state: IncidentState, responder: Responder, now_us: int, frame: LocalFrame | None = None
) -> ResponderRow:
    frame = frame or local_frame(state.lon, state.lat)
    pos = responder.position
    distance = eta = age = None
    if pos is not None:
        distance = frame.distance_m(pos.lon, pos.lat, state.lon, state.lat)
        if responder.status is ResponderStatus.EN_ROUTE:
            eta = straight_line_eta_s(distance, pos.speed_mps)
        elif responder.status in PRESENT:
            eta = 0.0
        age = max(0.0, (now_us - pos.at_us) / 1e6)
    # Names come from responders' own apps: shown with control and bidi characters visible.
    name = neutralise(responder.name or responder.callsign or responder.responder_id)
    return ResponderRow(
        responder_id=responder.responder_id,
        name=name,
        agency=neutralise(responder.agency or ""),
        duty={"on": "on duty", "off": "OFF duty"}.get(responder.duty or "", "?"),
        attire=responder.attire.describe() if responder.attire else "?",
        plainclothes=responder.plainclothes,
        roster=_ROSTER_LABELS.get(responder.roster_verdict, "not checked"),
        status=responder.status,
        self_dispatched=responder.self_dispatched,
        identified=responder.identified,
        distance_m=distance,
        eta_s=eta,
        position_age_s=age,
        stale=pos is not None and pos.is_stale(now_us),
    )


def responder_rows(state: IncidentState, now_us: int) -> list[ResponderRow]:
    frame = local_frame(state.lon, state.lat)
    rows = [responder_row(state, r, now_us, frame) for r in state.responders.values()]
    order = list(ResponderStatus)
    return sorted(rows, key=lambda row: (order.index(row.status), row.name))
