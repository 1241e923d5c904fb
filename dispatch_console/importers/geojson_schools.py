"""Schools (and their pre-plans) from GeoJSON.

Reads RFC 7946 GeoJSON as real sources write it: a FeatureCollection (or a lone Feature), an
old-style ``crs`` member, ESRI ``"<Null>"`` strings, property names that differ from source to
source. Each feature is checked on its own; a bad feature is reported with its index in
``features`` and a reason, and the rest of the file is still imported. The rules (which property
is the name, how ids are made, the pre-plan feature format) are in ``docs/import-formats.md``.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch_console.domain.geometry import geodesic_distance_m
from dispatch_console.domain.reference import (
    DEFAULT_NOTIFICATION_RADIUS_M,
    CheckIn,
    PlannedArea,
    PrePlan,
    School,
)
from dispatch_console.importers._crs import SourceCrs, resolve_crs
from dispatch_console.importers._geometry import (
    GEOJSON_GEOMETRY_TYPES,
    CheckedGeometry,
    GeometryRejected,
    check_geometry,
)
from dispatch_console.importers._text import (
    clean_text,
    decode_text,
    fold,
    normalize_key,
    read_file,
    slug,
)
from dispatch_console.importers.report import ImportFileError, ImportReport, Problem

__all__ = [
    "ADDRESS_KEYS",
    "CLASSIFICATION_KEYS",
    "FEATURE_KINDS",
    "NAME_KEYS",
    "PHONE_KEYS",
    "load_schools",
    "parse_schools",
    "schools_from_features",
]

#: Property keys that may hold a school's name (compared after :func:`normalize_key`, so
#: ``"SCHOOL"``, ``"School Name"`` and ``"school-name"`` all match). When several are present
#: the longest value wins (the most complete name: ``"Western Elementary School"`` over
#: ``"Western Elementary"``); on equal length, the key earlier in this list wins.
NAME_KEYS = (
    "school_name", "schoolname", "school", "sch_name", "schname", "name",
    "facility_name", "facilityname", "facility", "fac_name",
    "institution_name", "institution", "inst_name",
)  # fmt: skip
#: The first key present with a value wins. OSM ``addr:housenumber`` + ``addr:street`` are
#: joined when none of these is present.
ADDRESS_KEYS = (
    "address", "full_address", "street_address", "site_address", "location_address",
    "address1", "address_1", "addr", "addr1",
)  # fmt: skip
PHONE_KEYS = ("phone", "telephone", "phone_number", "phonenumber", "phone_no", "tel")
#: ``CLASSIFICA`` is ``CLASSIFICATION`` cut to a shapefile's 10-character field names.
CLASSIFICATION_KEYS = (
    "classification", "classifica", "school_type", "schooltype", "school_level",
    "category", "class", "level",
)  # fmt: skip

#: Values of the ``kind`` property (our pre-plan format); absent means ``"school"``.
FEATURE_KINDS = ("school", "staging_area", "inner_perimeter", "outer_perimeter", "check_in")

_SCHOOL_GEOMETRY = ("Point", "Polygon", "MultiPolygon")
_AREA_GEOMETRY = ("Polygon", "MultiPolygon", "Point")
_CHECK_IN_GEOMETRY = ("Point",)
_ROLE = {
    "school": "a school location",
    "staging_area": "a staging area",
    "inner_perimeter": "an inner perimeter",
    "outer_perimeter": "an outer perimeter",
    "check_in": "a check-in point",
}
_DEFAULT_AREA_NAME = {
    "inner_perimeter": "Inner perimeter",
    "outer_perimeter": "Outer perimeter",
    "check_in": "Check-in",
}

#: Two schools with the same name closer than this are probably one school digitised twice.
NEAR_DUPLICATE_M = 100.0
#: Lat/lon swap heuristic: a feature this far from the median of the others ...
SWAP_FAR_M = 500_000.0
#: ... whose swapped position lies this close to it.
SWAP_NEAR_M = 50_000.0
#: The median means something only with enough other features.
SWAP_MIN_OTHERS = 3

_MAX_INT_DIGITS = 400


@dataclass
class _Candidate:
    """A feature that passed the per-feature checks."""

    index: int
    kind: str
    name: str
    props: dict[str, Any]
    feature_id: object
    geometry: CheckedGeometry
    radius_m: float | None = None


@dataclass
class _SchoolDraft:
    candidate: _Candidate
    school_id: str
    staging_areas: list[PlannedArea] = field(default_factory=list)
    inner: tuple[int, PlannedArea] | None = None
    outer: tuple[int, PlannedArea] | None = None
    check_in: tuple[int, CheckIn] | None = None


def feature_properties(feature: Any) -> dict[str, Any] | str:
    """A Feature's normalised properties, or why it is not a usable GeoJSON Feature."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        kind = feature.get("type") if isinstance(feature, dict) else None
        if isinstance(kind, str) and kind in GEOJSON_GEOMETRY_TYPES:
            return f"a bare {kind} geometry, not a Feature"
        return "not a GeoJSON Feature"
    raw_props = feature.get("properties")
    if raw_props is not None and not isinstance(raw_props, dict):
        return "properties is not an object"
    return _normalize_props(raw_props or {})


def read_collection(data: bytes | str, source: str) -> tuple[list[Any], Any]:
    """The features of a GeoJSON FeatureCollection (or lone Feature) and its CRS; a file
    that is not one is an :class:`ImportFileError`."""
    document = _load_json(decode_text(data, source), source)
    features, crs_member = _features(document, source)
    return features, resolve_crs(crs_member, source)


def transformed_warning(crs: Any) -> Problem:
    return Problem(None, f"coordinates transformed from {crs.name} to WGS84")


def load_schools(path: str | Path) -> ImportReport[School]:
    """:func:`parse_schools` on a file; an unreadable file is an :class:`ImportFileError`."""
    return parse_schools(read_file(path), source=str(path))


def parse_schools(data: bytes | str, *, source: str = "<input>") -> ImportReport[School]:
    """Schools, with their pre-plans, from GeoJSON text. See ``docs/import-formats.md``."""
    features, crs = read_collection(data, source)
    return schools_from_features(features, crs, source=source)


def schools_from_features(
    features: list[Any], crs: SourceCrs, *, source: str = "<input>"
) -> ImportReport[School]:
    """Schools from GeoJSON-shaped features (dicts) whose coordinates are in ``crs``: the
    GeoJSON reader's and the GIS reader's (shapefile, GeoPackage, ...) one code path."""
    report: ImportReport[School] = ImportReport(source=source, unit="feature")
    if not crs.is_wgs84:
        report.warnings.append(transformed_warning(crs))
    unusable_school_refs: dict[str, int] = {}
    candidates = [
        c
        for index, feature in enumerate(features)
        if (c := _check_feature(index, feature, crs, report, unusable_school_refs)) is not None
    ]
    candidates = _reject_swapped(candidates, report, unusable_school_refs)

    drafts = _assign_school_ids([c for c in candidates if c.kind == "school"], report)
    _attach_pre_plans(
        [c for c in candidates if c.kind != "school"], drafts, unusable_school_refs, report
    )
    _warn_near_duplicates(drafts, report)
    report.imported = [_build_school(d, report) for d in drafts]
    report.attached = sum(
        len(d.staging_areas) + sum(x is not None for x in (d.inner, d.outer, d.check_in))
        for d in drafts
    )
    for problems in (report.rejected, report.skipped, report.warnings):
        problems.sort(key=lambda p: (p.index is not None, p.index or 0))
    return report


# --- the file as a whole ---------------------------------------------------------------------


def _parse_int(text: str) -> int | float:
    # A number too long for int() (Python limits int parsing to 4300 digits) is huge anyway:
    # make it a float (inf), so the feature holding it is rejected rather than the file.
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def _load_json(text: str, source: str) -> object:
    if not text.strip():
        raise ImportFileError("the file is empty", source)
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", source
        ) from None
    except RecursionError:
        raise ImportFileError("not usable JSON: nested too deeply", source) from None
    except ValueError as exc:
        raise ImportFileError(f"not valid JSON: {exc}", source) from None


def _features(document: object, source: str) -> tuple[list[object], object]:
    if not isinstance(document, dict):
        raise ImportFileError(
            f"not GeoJSON: the top level is a JSON {_json_type(document)}, not a FeatureCollection",
            source,
        )
    kind = document.get("type")
    crs = document.get("crs")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise ImportFileError("the FeatureCollection has no features array", source)
        if not features:
            raise ImportFileError("empty FeatureCollection: no features to import", source)
        return features, crs
    if kind == "Feature":
        return [document], crs
    if isinstance(kind, str) and kind in GEOJSON_GEOMETRY_TYPES:
        raise ImportFileError(
            f"a bare {kind} geometry, not a FeatureCollection: there is nothing to name it",
            source,
        )
    what = f"type {_short(kind)}" if kind is not None else "no type member"
    raise ImportFileError(f"not GeoJSON: expected a FeatureCollection ({what})", source)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "array" if isinstance(value, list) else "string"


# --- one feature -----------------------------------------------------------------------------


def _normalize_props(raw: dict[str, Any]) -> dict[str, Any]:
    """Keys normalised; when two keys collide, the first with a value is kept."""
    props: dict[str, Any] = {}
    for key, value in raw.items():
        norm = normalize_key(key)
        if norm not in props or (_is_blank(props[norm]) and not _is_blank(value)):
            props[norm] = value
    return props


def _is_blank(value: object) -> bool:
    """``None``, or text that reads as null (``""``, spaces, ``"<Null>"``)."""
    return value is None or (isinstance(value, str) and clean_text(value) is None)


def _school_name(props: dict[str, Any]) -> str | None:
    found = [
        (text, rank)
        for rank, key in enumerate(NAME_KEYS)
        if (text := clean_text(props.get(key))) is not None
    ]
    if not found:
        return None
    return max(found, key=lambda tr: (len(tr[0]), -tr[1]))[0]


def _first_text(props: dict[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        if (text := clean_text(props.get(key))) is not None:
            return text
    return None


def _address(props: dict[str, Any]) -> str | None:
    if (text := _first_text(props, ADDRESS_KEYS)) is not None:
        return text
    parts = [clean_text(props.get(k)) for k in ("addr_housenumber", "addr_street")]
    joined = " ".join(p for p in parts if p)
    return joined or None


def _explicit_school_id(props: dict[str, Any], feature_id: object) -> str | None:
    return _first_text(props, ("school_id", "id")) or clean_text(feature_id)


def _school_refs(props: dict[str, Any], feature_id: object, name: str | None) -> list[str]:
    """The ids a pre-plan feature may use for this school: its explicit id and its name's slug."""
    explicit = _explicit_school_id(props, feature_id)
    return [r for r in (explicit, slug(name, "school") if name else None) if r is not None]


def _check_feature(
    index: int,
    feature: object,
    crs: SourceCrs,
    report: ImportReport[School],
    unusable_school_refs: dict[str, int],
) -> _Candidate | None:
    school_refs: list[str] = []

    def reject(reason: str, name: str | None = None) -> None:
        report.rejected.append(Problem(index, reason, name))
        for ref in school_refs:
            unusable_school_refs.setdefault(ref, index)

    props = feature_properties(feature)
    if isinstance(props, str):
        reject(props)
        return None
    assert isinstance(feature, dict)  # feature_properties said it is a Feature
    feature_id = feature.get("id")

    kind_text = clean_text(props.get("kind"))
    kind = normalize_key(kind_text) if kind_text is not None else "school"
    if kind not in FEATURE_KINDS:
        reject(f"unknown kind {_short(kind_text)} (expected {', '.join(FEATURE_KINDS)})")
        return None

    name = _school_name(props) if kind == "school" else clean_text(props.get("name"))
    if kind == "school":
        school_refs.extend(_school_refs(props, feature_id, name))

    if "geometry" not in feature:
        reject("the feature has no geometry member", name)
        return None
    if feature["geometry"] is None:
        report.skipped.append(Problem(index, "geometry is null", name))
        for ref in school_refs:
            unusable_school_refs.setdefault(ref, index)
        return None
    if name is None:
        if kind in ("school", "staging_area"):
            reject("missing name")
            return None
        name = _DEFAULT_AREA_NAME[kind]

    allowed = {
        "school": _SCHOOL_GEOMETRY,
        "check_in": _CHECK_IN_GEOMETRY,
    }.get(kind, _AREA_GEOMETRY)
    try:
        geometry = check_geometry(feature["geometry"], allowed, crs, _ROLE[kind])
    except GeometryRejected as exc:
        reject(exc.reason, name)
        return None

    radius_m: float | None = None
    if kind in ("staging_area", "inner_perimeter", "outer_perimeter"):
        raw_radius = props.get("radius_m")
        if not _is_blank(raw_radius):
            radius_m = _positive_number(raw_radius)
            if radius_m is None:
                reject(
                    f"radius_m must be a positive number of metres (got {_short(raw_radius)})",
                    name,
                )
                return None
        if geometry.type == "Point" and radius_m is None:
            reject(f"a Point as {_ROLE[kind]} needs a radius_m (metres)", name)
            return None
    return _Candidate(index, kind, name, props, feature_id, geometry, radius_m)


def _positive_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _whole_number(value: object) -> int | None:
    """A count: a non-negative whole number (``12``, ``12.0`` or ``"12"``), else ``None``."""
    number: int
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if 0 <= number < 2**31 else None


# --- across features -------------------------------------------------------------------------


def _median_without(sorted_values: list[float], value: float) -> float:
    """The median of ``sorted_values`` with one occurrence of ``value`` left out."""
    k = bisect.bisect_left(sorted_values, value)
    m = len(sorted_values) - 1

    def at(j: int) -> float:
        return sorted_values[j] if j < k else sorted_values[j + 1]

    return at(m // 2) if m % 2 else (at(m // 2 - 1) + at(m // 2)) / 2


def _reject_swapped(
    candidates: list[_Candidate], report: ImportReport[School], unusable: dict[str, int]
) -> list[_Candidate]:
    """Reject features whose lat/lon are swapped although both are in range.

    A feature more than :data:`SWAP_FAR_M` from the median position of the file's other
    features, whose swapped position lies within :data:`SWAP_NEAR_M` of that median, had its
    latitude and longitude written in the wrong order.
    """
    if len(candidates) < SWAP_MIN_OTHERS + 1:
        return candidates
    lons = sorted(c.geometry.lon for c in candidates)
    lats = sorted(c.geometry.lat for c in candidates)
    kept: list[_Candidate] = []
    for c in candidates:
        lon, lat = c.geometry.lon, c.geometry.lat
        mlon, mlat = _median_without(lons, lon), _median_without(lats, lat)
        if (
            -90.0 <= lon <= 90.0
            and geodesic_distance_m(lon, lat, mlon, mlat) > SWAP_FAR_M
            and geodesic_distance_m(lat, lon, mlon, mlat) < SWAP_NEAR_M
        ):
            report.rejected.append(
                Problem(c.index, "latitude and longitude appear swapped", c.name)
            )
            if c.kind == "school":
                for ref in _school_refs(c.props, c.feature_id, c.name):
                    unusable.setdefault(ref, c.index)
            continue
        kept.append(c)
    return kept


def _unique(base: str, used: set[str]) -> str:
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base}-{n}", n + 1
    used.add(candidate)
    return candidate


def _assign_school_ids(
    schools: list[_Candidate], report: ImportReport[School]
) -> list[_SchoolDraft]:
    used: set[str] = set()
    first_with: dict[str, int] = {}
    drafts: list[_SchoolDraft] = []
    for c in schools:
        explicit = _explicit_school_id(c.props, c.feature_id)
        base = explicit or slug(c.name, "school")
        school_id = _unique(base, used)
        first_with.setdefault(base, c.index)
        if explicit is not None and school_id != base:
            report.warnings.append(
                Problem(
                    c.index,
                    f"school_id {base!r} is already used by feature {first_with[base]}; "
                    f"this school is imported as {school_id!r}",
                    c.name,
                )
            )
        drafts.append(_SchoolDraft(c, school_id))
    return drafts


def _attach_pre_plans(
    features: list[_Candidate],
    drafts: list[_SchoolDraft],
    unusable_school_refs: dict[str, int],
    report: ImportReport[School],
) -> None:
    by_id = {d.school_id: d for d in drafts}
    used_area_ids: set[str] = set()
    first_area: dict[str, int] = {}
    for c in features:

        def reject(reason: str, c: _Candidate = c) -> None:
            report.rejected.append(Problem(c.index, reason, c.name))

        ref = clean_text(c.props.get("school_id"))
        if ref is None:
            reject(f"missing school_id: which school is this {c.kind.replace('_', ' ')} for?")
            continue
        draft = by_id.get(ref)
        if draft is None:
            if ref in unusable_school_refs:
                reject(
                    f"school_id {ref!r} names a school that was not imported "
                    f"(feature {unusable_school_refs[ref]})"
                )
            else:
                reject(f"school_id {ref!r} names no school in this file")
            continue

        if c.kind == "check_in":
            if draft.check_in is not None:
                reject(f"school {ref!r} already has a check-in point (feature {draft.check_in[0]})")
                continue
            draft.check_in = (c.index, CheckIn(c.name, c.geometry.lon, c.geometry.lat))
            continue

        if c.kind in ("inner_perimeter", "outer_perimeter"):
            existing = draft.inner if c.kind == "inner_perimeter" else draft.outer
            if existing is not None:
                reject(
                    f"school {ref!r} already has an {c.kind.replace('_', ' ')} "
                    f"(feature {existing[0]})"
                )
                continue

        capacity: int | None = None
        raw_capacity = c.props.get("capacity")
        if not _is_blank(raw_capacity):
            capacity = _whole_number(raw_capacity)
            if capacity is None:
                report.warnings.append(
                    Problem(
                        c.index,
                        f"capacity {_short(raw_capacity)} is not a whole number; ignored",
                        c.name,
                    )
                )
        explicit = _first_text(c.props, ("area_id", "id")) or clean_text(c.feature_id)
        base = explicit or f"{draft.school_id}/{slug(c.name, 'area')}"
        area_id = _unique(base, used_area_ids)
        first_area.setdefault(base, c.index)
        if explicit is not None and area_id != base:
            report.warnings.append(
                Problem(
                    c.index,
                    f"area id {base!r} is already used by feature {first_area[base]}; "
                    f"this area is imported as {area_id!r}",
                    c.name,
                )
            )
        area = PlannedArea(area_id, c.name, c.geometry.geojson, c.radius_m, capacity)
        if c.kind == "staging_area":
            draft.staging_areas.append(area)
        elif c.kind == "inner_perimeter":
            draft.inner = (c.index, area)
        else:
            draft.outer = (c.index, area)


def _warn_near_duplicates(drafts: list[_SchoolDraft], report: ImportReport[School]) -> None:
    groups: dict[str, list[_Candidate]] = {}
    for d in drafts:
        groups.setdefault(fold(d.candidate.name), []).append(d.candidate)
    for group in groups.values():
        for later_pos, later in enumerate(group):
            for earlier in group[:later_pos]:
                distance = geodesic_distance_m(
                    earlier.geometry.lon, earlier.geometry.lat,
                    later.geometry.lon, later.geometry.lat,
                )  # fmt: skip
                if distance < NEAR_DUPLICATE_M:
                    report.warnings.append(
                        Problem(
                            later.index,
                            f"possible duplicate of feature {earlier.index} ({earlier.name}): "
                            f"same name, {distance:.0f} m apart",
                            later.name,
                        )
                    )


def _build_school(draft: _SchoolDraft, report: ImportReport[School]) -> School:
    c = draft.candidate
    props = c.props
    notification_radius_m = DEFAULT_NOTIFICATION_RADIUS_M
    raw_radius = props.get("notification_radius_m")
    if not _is_blank(raw_radius):
        radius = _positive_number(raw_radius)
        if radius is None:
            report.warnings.append(
                Problem(
                    c.index,
                    f"notification_radius_m {_short(raw_radius)} is not a positive number; "
                    f"using {DEFAULT_NOTIFICATION_RADIUS_M:g} m",
                    c.name,
                )
            )
        else:
            notification_radius_m = radius
    return School(
        school_id=draft.school_id,
        name=c.name,
        lon=c.geometry.lon,
        lat=c.geometry.lat,
        address=_address(props),
        phone=_first_text(props, PHONE_KEYS),
        classification=_first_text(props, CLASSIFICATION_KEYS),
        campus=c.geometry.geojson if c.geometry.type != "Point" else None,
        pre_plan=PrePlan(
            staging_areas=tuple(draft.staging_areas),
            inner_perimeter=draft.inner[1] if draft.inner else None,
            outer_perimeter=draft.outer[1] if draft.outer else None,
            check_in=draft.check_in[1] if draft.check_in else None,
            contacts=_contacts(props.get("contacts")),
        ),
        notification_radius_m=notification_radius_m,
    )


def _contacts(value: object) -> tuple[str, ...]:
    """``contacts``: a list of strings, or one string with ``;`` or line breaks between them."""
    if isinstance(value, list):
        items: list[object] = list(value)
    elif isinstance(value, str):
        items = list(value.replace("\n", ";").split(";"))
    else:
        return ()
    return tuple(text for item in items if (text := clean_text(item)) is not None)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
