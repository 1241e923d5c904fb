"""An incident as KML (Google Earth, with its time slider) and as GeoJSON, for review.

Both come from one :class:`GeoIncident` read from the store: the school, the incident's areas
(staging areas, perimeters, check-in), each responder's track (every position the fold took,
in time order: :func:`~dispatch_console.domain.fold.position_fix` and ``moves_forward``, the
same rule as the live console and replay) and every friendly-fire warning at the instant it was
raised, placed where its responder was then.

KML: one ``Folder`` per kind; a track is a ``gx:Track`` (a ``when`` and a ``gx:coord`` per
position, so Google Earth's time slider plays it); a warning is a ``Placemark`` with a
``TimeStamp``. KMZ is the same document zipped as ``doc.kml``. GeoJSON: a FeatureCollection with
a ``kind`` property on each feature; a track is a LineString (a Point when it has one position)
with its ISO times in ``times`` (the convention of togeojson's ``coordTimes``).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from shapely.geometry import mapping, shape

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import moves_forward, position_fix
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.state import IncidentState, Position
from dispatch_console.domain.timeutil import iso
from dispatch_console.store.store import Store, StoreError

__all__ = [
    "GeoIncident",
    "TrackedResponder",
    "WarningMark",
    "geojson_document",
    "kml_document",
    "read_geo_incident",
    "write_geojson",
    "write_kml",
]

KML_NS = "http://www.opengis.net/kml/2.2"
GX_NS = "http://www.google.com/kml/ext/2.2"
_K = f"{{{KML_NS}}}"
_GX = f"{{{GX_NS}}}"


@dataclass
class TrackedResponder:
    responder_id: str
    label: str
    agency: str | None
    status: str
    positions: list[Position] = field(default_factory=list)


@dataclass(frozen=True)
class WarningMark:
    warning_id: str
    kind: str
    responder_id: str
    detail: str
    raised_at_us: int
    ended_at_us: int | None
    lon: float
    lat: float


@dataclass
class GeoIncident:
    state: IncidentState
    responders: list[TrackedResponder]
    warnings: list[WarningMark]


def read_geo_incident(store: Store, incident_id: str) -> GeoIncident:
    """The incident's places, tracks and warnings, from its events."""
    if not store.has_incident(incident_id):
        raise StoreError(f"no incident {incident_id!r}")
    state = store.state_at(incident_id)
    tracks: dict[str, list[Position]] = {}
    for event in store.read(incident_id, types=[ev.ResponderPosition.TYPE]):
        payload = event.payload
        assert isinstance(payload, ev.ResponderPosition)
        if payload.responder_id not in state.responders:
            continue
        track = tracks.setdefault(payload.responder_id, [])
        fix = position_fix(event)
        if moves_forward(track[-1] if track else None, fix):
            track.append(fix)
    responders = [
        TrackedResponder(
            r.responder_id, r.display_name, r.agency, r.status.value, tracks.get(rid, [])
        )
        for rid, r in sorted(state.responders.items())
    ]
    warnings = []
    for w in sorted(state.warnings.values(), key=lambda w: (w.raised_at_us, w.warning_id)):
        lon, lat = _where(tracks.get(w.responder_id, []), w.raised_at_us, state)
        warnings.append(
            WarningMark(
                w.warning_id, w.kind, w.responder_id, w.detail, w.raised_at_us,
                w.ended_at_us, lon, lat,
            )
        )  # fmt: skip
    return GeoIncident(state, responders, warnings)


def _where(track: list[Position], at_us: int, state: IncidentState) -> tuple[float, float]:
    """The last position at or before ``at_us`` (else the first after it, else the school)."""
    before = [p for p in track if p.at_us <= at_us]
    chosen = before[-1] if before else (track[0] if track else None)
    return (chosen.lon, chosen.lat) if chosen is not None else (state.lon, state.lat)


def _areas(state: IncidentState) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(kind, id, name, geometry)`` of each area, a point with a radius made a polygon."""
    frame = local_frame(state.lon, state.lat)
    result: list[tuple[str, str, str, dict[str, Any]]] = []

    def outline(geometry: dict[str, Any], radius_m: float | None) -> dict[str, Any]:
        if radius_m and geometry.get("type") == "Point":
            lon, lat = geometry["coordinates"][:2]
            shaped: dict[str, Any] = json.loads(
                json.dumps(mapping(frame.circle(lon, lat, radius_m, segments=64)))
            )
            return shaped
        return json.loads(json.dumps(mapping(shape(geometry))))  # type: ignore[no-any-return]

    for sa in state.staging_areas.values():
        result.append(
            ("staging_area", sa.staging_area_id, sa.name, outline(sa.geometry, sa.radius_m))
        )
    for p in state.perimeters.values():
        name = p.kind.replace("_", " ").capitalize() + " perimeter"
        result.append(
            (f"{p.kind}_perimeter", p.perimeter_id, name, outline(p.geometry, p.radius_m))
        )
    if state.check_in_point is not None:
        c = state.check_in_point
        result.append(
            ("check_in", "check-in", c.name, {"type": "Point", "coordinates": [c.lon, c.lat]})
        )
    return result


# --- GeoJSON ----------------------------------------------------------------------------------


def geojson_document(geo: GeoIncident) -> dict[str, Any]:
    s = geo.state
    features: list[dict[str, Any]] = [
        _feature(
            {"type": "Point", "coordinates": [s.lon, s.lat]},
            kind="school",
            id=s.school_id,
            name=s.school_name,
            incident_id=s.incident_id,
            incident_type=s.incident_type,
            status=s.status,
            exercise=s.exercise,
            opened_at=iso(s.opened_at_us) if s.opened else None,
        )
    ]
    for kind, area_id, name, geometry in _areas(s):
        features.append(_feature(geometry, kind=kind, id=area_id, name=name))
    for r in geo.responders:
        if not r.positions:
            continue
        coords = [[p.lon, p.lat] for p in r.positions]
        geometry = (
            {"type": "Point", "coordinates": coords[0]}
            if len(coords) == 1
            else {"type": "LineString", "coordinates": coords}
        )
        features.append(
            _feature(
                geometry,
                kind="track",
                id=r.responder_id,
                name=r.label,
                agency=r.agency,
                status=r.status,
                times=[iso(p.at_us) for p in r.positions],
            )
        )
    for w in geo.warnings:
        features.append(
            _feature(
                {"type": "Point", "coordinates": [w.lon, w.lat]},
                kind="warning",
                id=w.warning_id,
                name=w.kind.replace("_", " "),
                warning_kind=w.kind,
                responder_id=w.responder_id,
                detail=w.detail,
                time=iso(w.raised_at_us),
                ended_at=iso(w.ended_at_us) if w.ended_at_us is not None else None,
            )
        )
    return {"type": "FeatureCollection", "features": features}


def _feature(geometry: dict[str, Any], *, id: str, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "id": id, "properties": properties, "geometry": geometry}


def write_geojson(geo: GeoIncident, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(geojson_document(geo), ensure_ascii=False, indent=1) + "\n")
    return path


# --- KML --------------------------------------------------------------------------------------


def kml_document(geo: GeoIncident) -> bytes:
    s = geo.state
    kml = etree.Element(_K + "kml", nsmap={None: KML_NS, "gx": GX_NS})  # type: ignore[dict-item]
    doc = _sub(kml, "Document")
    title = f"{s.school_name}: {s.incident_type.replace('_', ' ')} ({s.incident_id})"
    _text(doc, "name", title + (" [EXERCISE]" if s.exercise else ""))
    _style(doc, "school", "ff0000ff", "http://maps.google.com/mapfiles/kml/shapes/schools.png")
    _style(doc, "warning", "ff00a5ff", "http://maps.google.com/mapfiles/kml/shapes/caution.png")
    _style(doc, "track", "ffffaa00", "http://maps.google.com/mapfiles/kml/shapes/police.png")
    _area_style(doc, "staging_area", "ff00ff00", "4000ff00")
    _area_style(doc, "perimeter", "ff0000ff", "300000ff")

    school = _placemark(doc, s.school_name, "school")
    if s.opened:
        _when_stamp(school, s.opened_at_us)
    _point(school, s.lon, s.lat)

    areas = _folder(doc, "Areas")
    for kind, _area_id, name, geometry in _areas(s):
        pm = _placemark(areas, name, "staging_area" if kind == "staging_area" else "perimeter")
        _kml_geometry(pm, geometry)

    tracks = _folder(doc, "Responders")
    for r in geo.responders:
        if not r.positions:
            continue
        pm = _placemark(tracks, r.label, "track")
        _text(
            pm,
            "description",
            f"{r.agency or 'agency unknown'}; status {r.status.replace('_', ' ')}",
        )
        track = etree.SubElement(pm, _GX + "Track")
        for p in r.positions:
            _text(track, "when", iso(p.at_us))
        for p in r.positions:
            coord = etree.SubElement(track, _GX + "coord")
            coord.text = f"{p.lon:.7f} {p.lat:.7f} 0"

    warnings = _folder(doc, "Warnings")
    for w in geo.warnings:
        pm = _placemark(warnings, w.kind.replace("_", " "), "warning")
        ended = f" (ended {iso(w.ended_at_us)})" if w.ended_at_us is not None else ""
        _text(pm, "description", f"{w.detail}{ended}")
        _when_stamp(pm, w.raised_at_us)
        _point(pm, w.lon, w.lat)
    result: bytes = etree.tostring(kml, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return result


def write_kml(geo: GeoIncident, path: str | Path) -> Path:
    """A ``.kml`` file, or a ``.kmz`` (the document zipped as ``doc.kml``)."""
    path = Path(path)
    document = kml_document(geo)
    if path.suffix.lower() == ".kmz":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("doc.kml", document)
    else:
        path.write_bytes(document)
    return path


def _sub(parent: Any, tag: str) -> Any:
    return etree.SubElement(parent, _K + tag)


def _text(parent: Any, tag: str, text: str) -> Any:
    element = _sub(parent, tag)
    element.text = text
    return element


def _folder(doc: Any, name: str) -> Any:
    folder = _sub(doc, "Folder")
    _text(folder, "name", name)
    return folder


def _placemark(parent: Any, name: str, style: str) -> Any:
    pm = _sub(parent, "Placemark")
    _text(pm, "name", name)
    _text(pm, "styleUrl", f"#{style}")
    return pm


def _when_stamp(pm: Any, at_us: int) -> None:
    _text(_sub(pm, "TimeStamp"), "when", iso(at_us))


def _point(pm: Any, lon: float, lat: float) -> None:
    _text(_sub(pm, "Point"), "coordinates", f"{lon:.7f},{lat:.7f}")


def _style(doc: Any, style_id: str, color: str, icon: str) -> None:
    style = _sub(doc, "Style")
    style.set("id", style_id)
    icon_style = _sub(style, "IconStyle")
    _text(icon_style, "color", color)
    _text(_sub(icon_style, "Icon"), "href", icon)
    line = _sub(style, "LineStyle")
    _text(line, "color", color)
    _text(line, "width", "3")


def _area_style(doc: Any, style_id: str, line_color: str, fill_color: str) -> None:
    style = _sub(doc, "Style")
    style.set("id", style_id)
    line = _sub(style, "LineStyle")
    _text(line, "color", line_color)
    _text(line, "width", "2")
    _text(_sub(style, "PolyStyle"), "color", fill_color)


def _ring(parent: Any, tag: str, ring: list[list[float]]) -> None:
    text = " ".join(f"{c[0]:.7f},{c[1]:.7f}" for c in ring)
    _text(_sub(_sub(parent, tag), "LinearRing"), "coordinates", text)


def _polygon(parent: Any, rings: list[list[list[float]]]) -> None:
    polygon = _sub(parent, "Polygon")
    _ring(polygon, "outerBoundaryIs", rings[0])
    for hole in rings[1:]:
        _ring(polygon, "innerBoundaryIs", hole)


def _kml_geometry(pm: Any, geometry: dict[str, Any]) -> None:
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Point" and coords is not None:
        _point(pm, coords[0], coords[1])
    elif kind == "Polygon" and coords:
        _polygon(pm, coords)
    elif kind == "MultiPolygon" and coords:
        multi = _sub(pm, "MultiGeometry")
        for polygon in coords:
            _polygon(multi, polygon)
