"""An incident as a NENA EIDO 1.0 document (NENA-STA-021, JSON), for the centre's CAD.

One function, :func:`eido_document`, turns an incident's state at an instant (the fold's
``IncidentState``, as live, replay and reports see it) into an EIDO; ``export-eido``,
``GET /v1/incidents/<id>/eido`` and the ``/v1/eido/subscribe`` WebSocket all call it. The mapping,
field by field, is in the README ("NENA EIDO out"). Locations are PIDF-LO by value (GML Point,
Circle or Polygon in EPSG:4326, latitude first); every data component carries the EIDO prologue
(``$id``, ``lastUpdateTimeStamp``, ``updatedByAgencyReference``).
"""

from __future__ import annotations

import re
from typing import Any, Final

from lxml import etree

from dispatch_console.domain.events import AlertType
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.state import IncidentState, Responder
from dispatch_console.domain.timeutil import iso
from dispatch_console.store.store import Store, wall_clock_us

__all__ = ["EIDO_VERSION", "INCIDENT_TYPES", "UNIT_STATUS", "eido_document", "incident_eido"]

EIDO_VERSION: Final = "1.0"
#: The console's identity in the documents it issues.
ISSUER: Final = "dispatch-console"
PSAP_AGENCY: Final = "psap.dispatch-console"
#: The APCO/NENA common incident type for each alert type.
INCIDENT_TYPES: Final[dict[AlertType, str]] = {
    "active_shooter": "Active Shooter",
    "lockdown": "Law Enforcement - Lockdown",
    "medical": "Medical Emergency",
    "fire": "Fire - Structure",
    "other": "Other",
}
#: EIDO primary unit status for each responder status (``unitStatusInternal`` keeps ours).
UNIT_STATUS: Final[dict[ResponderStatus, str]] = {
    ResponderStatus.NOTIFIED: "Dispatched",
    ResponderStatus.ACKNOWLEDGED: "Acknowledged",
    ResponderStatus.DECLINED: "Unavailable",
    ResponderStatus.EN_ROUTE: "Enroute",
    ResponderStatus.AT_STAGING: "AtStaging",
    ResponderStatus.ON_SCENE: "OnScene",
    ResponderStatus.IDENTIFIED: "OnScene",
    ResponderStatus.STAGED: "AtStaging",
    ResponderStatus.ASSIGNED: "Committed",
    ResponderStatus.RELEASED: "Available",
}
_INCIDENT_STATUS: Final = {"active": "Active", "all_clear": "Closed", "cancelled": "Cancelled"}

_PIDF = "urn:ietf:params:xml:ns:pidf"
_GP = "urn:ietf:params:xml:ns:pidf:geopriv10"
_GML = "http://www.opengis.net/gml"
_GS = "http://www.opengis.net/pidflo/1.0"
_SRS = "urn:ogc:def:crs:EPSG::4326"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def incident_eido(store: Store, incident_id: str, at_us: int | None = None) -> dict[str, Any]:
    """The EIDO of a stored incident as it was known at ``at_us`` (``None``: now)."""
    state = store.state_at(incident_id, at_us)
    return eido_document(state, wall_clock_us() if at_us is None else at_us)


def eido_document(state: IncidentState, at_us: int) -> dict[str, Any]:
    """The EIDO of ``state`` (the incident as known at ``at_us``)."""
    incident_id = state.incident_id
    stamp = iso(at_us)
    base = f"urn:emergency:uid:incidentid:{_slug(incident_id)}:{ISSUER}"

    def prologue(component_id: str) -> dict[str, Any]:
        return {
            "$id": component_id,
            "lastUpdateTimeStamp": stamp,
            "updatedByAgencyReference": {"$ref": PSAP_AGENCY},
        }

    def ref(component_id: str) -> dict[str, str]:
        return {"$ref": component_id}

    agencies: dict[str, dict[str, Any]] = {
        PSAP_AGENCY: {
            **prologue(PSAP_AGENCY),
            "agencyRoleDescriptionRegistryText": ["Dispatching"],
            "agencyType": ["psap"],
            "incidentOwningAgencyIndicator": True,
        }
    }
    agents: list[dict[str, Any]] = []
    persons: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    locations: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []

    school_location = f"{base}:location:school"
    locations.append(
        {
            **prologue(school_location),
            "locationTypeDescriptionRegistryText": "Incident",
            "locationByValue": _pidf(school_location, stamp, point=(state.lon, state.lat)),
            "locationDescriptionText": state.school_name,
            "localIdentifier": [state.school_id],
        }
    )
    for area in state.staging_areas.values():
        area_id = f"{base}:location:staging:{_slug(area.staging_area_id)}"
        locations.append(
            {
                **prologue(area_id),
                "locationTypeDescriptionRegistryText": "Staging",
                "locationByValue": _pidf(area_id, stamp, geometry=area.geometry,
                                         radius_m=area.radius_m),
                "locationDescriptionText": area.name
                + (f" (capacity {area.capacity})" if area.capacity else ""),
                "localIdentifier": [area.staging_area_id],
            }
        )  # fmt: skip
    for perimeter in state.perimeters.values():
        area_id = f"{base}:location:perimeter:{_slug(perimeter.perimeter_id)}"
        locations.append(
            {
                **prologue(area_id),
                "locationTypeDescriptionRegistryText": "Perimeter",
                "locationByValue": _pidf(area_id, stamp, geometry=perimeter.geometry,
                                         radius_m=perimeter.radius_m),
                "locationDescriptionText": f"{perimeter.kind} perimeter",
                "localIdentifier": [perimeter.perimeter_id],
            }
        )  # fmt: skip

    commander_agent = None
    if state.commander:
        commander_agent = f"{base}:agent:ic:{_slug(state.commander)}"
        agents.append(
            {
                **prologue(commander_agent),
                "agentRoleRegistryText": ["Incident Commander"],
                "agencyReference": ref(PSAP_AGENCY),
                "agentJcard": _jcard(state.commander),
            }
        )

    person_refs = []
    for responder in sorted(state.responders.values(), key=lambda r: r.responder_id):
        agency_id = f"agency:{_slug(responder.agency)}" if responder.agency else PSAP_AGENCY
        if responder.agency and agency_id not in agencies:
            agencies[agency_id] = {
                **prologue(agency_id),
                "agencyRoleDescriptionRegistryText": ["Responding"],
                "agencyType": ["police"],
            }
        key = _slug(responder.responder_id)
        person_id, agent_id = f"{base}:person:{key}", f"{base}:agent:{key}"
        resource_id = f"{base}:resource:{key}"
        person: dict[str, Any] = {
            **prologue(person_id),
            "personIncidentRoleRegistryText": ["Responder"],
        }
        name = responder.name or responder.roster_name
        if name:
            person["ncPersonComponent"] = {"name": [{"personFullName": [{"value": name}]}]}
        position_id = None
        if responder.position is not None:
            p = responder.position
            position_id = f"{base}:location:position:{key}"
            locations.append(
                {
                    **prologue(position_id),
                    "lastUpdateTimeStamp": iso(p.at_us),
                    "locationTypeDescriptionRegistryText": "Responder",
                    "locationByValue": _pidf(position_id, iso(p.at_us), point=(p.lon, p.lat),
                                             accuracy_m=p.accuracy_m),
                    "locationDescriptionText": "stale position" if p.is_stale(at_us)
                    else "current position",
                }
            )  # fmt: skip
            person["locationReference"] = [ref(position_id)]
        if responder.directed_to and responder.directed_to in state.staging_areas:
            person["destinationReference"] = ref(
                f"{base}:location:staging:{_slug(responder.directed_to)}"
            )
        note_id = f"{base}:notes:person:{key}"
        notes.append({**prologue(note_id), "notesActionComments": _describe(responder)})
        person["notesReference"] = [ref(note_id)]
        persons.append(person)
        person_refs.append(ref(person_id))
        agents.append(
            {
                **prologue(agent_id),
                "agentRoleRegistryText": ["Responder"],
                "agencyReference": ref(agency_id),
            }
        )
        resource: dict[str, Any] = {
            **prologue(resource_id),
            "emergencyResourceTypeCommonRegistryText": "Law Enforcement Officer",
            "emergencyResourceName": responder.display_name,
            "resourceAttributeRegistryText": ["Other"],
            "resourceAttributeInternalText": [
                f"{responder.duty or 'unknown'} duty",
                "self-dispatched" if responder.self_dispatched else "dispatched",
            ],
            "primaryUnitStatusRegistryText": UNIT_STATUS[responder.status],
            "secondaryUnitStatusRegistryText": [],
            "unitStatusInternal": [responder.status.value],
            "agentReference": [ref(agent_id)],
            "personReference": [ref(person_id)],
            "activeOnIncidentId": base,
        }
        if position_id is not None:
            resource["unitLocationReference"] = ref(position_id)
        resources.append(resource)

    incident_notes = []
    if state.suspect is not None:
        note_id = f"{base}:notes:suspect:{state.suspect.rev}"
        notes.append(
            {
                **prologue(note_id),
                "lastUpdateTimeStamp": iso(state.suspect.revised_at_us),
                "notesActionComments": "Suspect: " + state.suspect.description.describe(),
            }
        )
        incident_notes.append(ref(note_id))
    for warning in state.active_warnings():
        note_id = f"{base}:notes:warning:{_slug(warning.warning_id)}"
        warned = state.responders.get(warning.responder_id)
        who = warned.display_name if warned is not None else warning.responder_id
        notes.append(
            {
                **prologue(note_id),
                "lastUpdateTimeStamp": iso(warning.raised_at_us),
                "notesActionComments": f"WARNING ({warning.kind.replace('_', ' ')}, {who}): "
                f"{warning.detail}",
            }
        )
        incident_notes.append(ref(note_id))
    for alert in sorted(state.alerts.values(), key=lambda a: a.received_at_us):
        text = " — ".join(x for x in (alert.location_detail, alert.message) if x)
        if not text:
            continue
        note_id = f"{base}:notes:alert:{_slug(alert.alert_id)}"
        notes.append(
            {
                **prologue(note_id),
                "lastUpdateTimeStamp": iso(alert.received_at_us),
                "notesActionComments": f"Alert from the school: {text}",
            }
        )
        incident_notes.append(ref(note_id))

    incident: dict[str, Any] = {
        **prologue(f"{base}:incident"),
        "incidentTypeCommonRegistryText": INCIDENT_TYPES[state.incident_type],
        "incidentTypeInternalText": state.incident_type.replace("_", " ")
        + (" (EXERCISE)" if state.exercise else ""),
        "incidentStatusCommonRegistryText": [_INCIDENT_STATUS[state.status]],
        "incidentStatusInternalText": [state.status],
        "internalIncidentId": incident_id,
        "locationReference": [ref(school_location)]
        + [ref(str(loc["$id"])) for loc in locations[1:] if ":position:" not in str(loc["$id"])],
        "personReference": person_refs,
    }
    if commander_agent is not None:
        incident["agentReference"] = [ref(commander_agent)]
    if incident_notes:
        incident["notesReference"] = incident_notes
    document: dict[str, Any] = {
        **prologue(base),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": ISSUER,
        "incidentComponent": incident,
        "agencyComponent": list(agencies.values()),
        "agentComponent": agents,
        "emergencyResourceComponent": resources,
        "locationComponent": locations,
        "personComponent": persons,
        "notesComponent": notes,
    }
    return {k: v for k, v in document.items() if v != []}


def _describe(r: Responder) -> str:
    parts = [
        r.display_name,
        r.agency or "agency unknown",
        r.badge and f"badge {r.badge}",
        r.duty and f"{r.duty} duty",
        f"status {r.status.label}",
        "identified" if r.identified else "NOT identified",
        r.roster_verdict and f"roster: {r.roster_verdict.replace('_', ' ')}",
        r.attire is not None and f"attire: {r.attire.describe()}",
        r.assignment is not None and f"assigned: {r.assignment.task.replace('_', ' ')}",
    ]
    return "; ".join(str(p) for p in parts if p)


def _jcard(name: str) -> str:
    import json

    return json.dumps(["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name]]])


def _pidf(
    entity: str,
    stamp: str,
    *,
    point: tuple[float, float] | None = None,
    geometry: dict[str, Any] | None = None,
    radius_m: float | None = None,
    accuracy_m: float | None = None,
) -> str:
    """A PIDF-LO document with one GML shape (lat lon order, EPSG:4326)."""
    presence = etree.Element(
        f"{{{_PIDF}}}presence",
        nsmap={None: _PIDF, "gp": _GP, "gml": _GML, "gs": _GS},  # type: ignore[dict-item]
        entity=f"pres:{entity}",
    )
    tuple_ = etree.SubElement(presence, f"{{{_PIDF}}}tuple", id="location")
    status = etree.SubElement(tuple_, f"{{{_PIDF}}}status")
    geopriv = etree.SubElement(status, f"{{{_GP}}}geopriv")
    info = etree.SubElement(geopriv, f"{{{_GP}}}location-info")
    if geometry is not None and geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        point = (lon, lat)
    if point is not None:
        lon, lat = point
        radius = radius_m or accuracy_m
        if radius:
            circle = etree.SubElement(info, f"{{{_GS}}}Circle", srsName=_SRS)
            etree.SubElement(circle, f"{{{_GML}}}pos").text = f"{lat:.7f} {lon:.7f}"
            etree.SubElement(
                circle, f"{{{_GS}}}radius", uom="urn:ogc:def:uom:EPSG::9001"
            ).text = f"{radius:.1f}"
        else:
            shape = etree.SubElement(info, f"{{{_GML}}}Point", srsName=_SRS)
            etree.SubElement(shape, f"{{{_GML}}}pos").text = f"{lat:.7f} {lon:.7f}"
    elif geometry is not None:
        rings = geometry.get("coordinates") or []
        if geometry.get("type") == "MultiPolygon":
            rings = rings[0] if rings else []
        polygon = etree.SubElement(info, f"{{{_GML}}}Polygon", srsName=_SRS)
        exterior = etree.SubElement(polygon, f"{{{_GML}}}exterior")
        ring = etree.SubElement(exterior, f"{{{_GML}}}LinearRing")
        etree.SubElement(ring, f"{{{_GML}}}posList").text = " ".join(
            f"{c[1]:.7f} {c[0]:.7f}" for c in (rings[0] if rings else [])
        )
    etree.SubElement(geopriv, f"{{{_GP}}}usage-rules")
    etree.SubElement(tuple_, f"{{{_PIDF}}}timestamp").text = stamp
    text: str = etree.tostring(presence, encoding="unicode")
    return text
