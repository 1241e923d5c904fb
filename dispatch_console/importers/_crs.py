"""The coordinate reference system of a GeoJSON file (the old-style ``crs`` member).

RFC 7946 removed ``crs``: coordinates are WGS84 longitude/latitude. Files written to the 2008
specification, and many GIS exports, still carry one. A ``crs`` naming WGS84 lon/lat (CRS84,
EPSG:4326) changes nothing; another EPSG (or ESRI) code is transformed to WGS84 with pyproj and
the import says so; anything that cannot be identified stops the import: guessing would put
schools in the wrong place.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from dispatch_console.importers.report import ImportFileError

_CRS84 = (
    re.compile(r"^urn:ogc:def:crs:ogc:[^:]*:crs84$"),
    re.compile(r"^(ogc:)?crs84$"),
    re.compile(r"^https?://www\.opengis\.net/def/crs/ogc/[^/]+/crs84$"),
)
_EPSG = (
    re.compile(r"^urn:ogc:def:crs:epsg:[^:]*:([0-9]{1,9})$"),
    re.compile(r"^epsg:{1,2}([0-9]{1,9})$"),
    re.compile(r"^https?://www\.opengis\.net/def/crs/epsg/[^/]+/([0-9]{1,9})$"),
)
_ESRI = re.compile(r"^(?:urn:ogc:def:crs:)?esri:{1,2}([0-9]{1,9})$")

#: A transformed position must come back to within this many source units (plus a relative
#: slack) when transformed back; otherwise it was outside what the projection can represent.
_ROUND_TRIP_TOLERANCE = 1e-3


@dataclass(frozen=True)
class SourceCrs:
    """Where the file's coordinates live. ``authority`` is ``None`` for WGS84 lon/lat, else
    what pyproj reads (``"EPSG:3089"``, or a WKT a GIS file declares); ``label`` names it in
    messages when ``authority`` is a long WKT."""

    authority: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.authority or "WGS84"

    @property
    def is_wgs84(self) -> bool:
        return self.authority is None

    def to_wgs84(self, x: float, y: float) -> tuple[float, float] | None:
        """``(lon, lat)``, or ``None`` if the position cannot be transformed."""
        if self.authority is None:
            return x, y
        forward, inverse = _transformers(self.authority)
        try:
            lon, lat = forward.transform(x, y)
            back_x, back_y = inverse.transform(lon, lat)
        except ProjError:
            return None
        values = (lon, lat, back_x, back_y)
        if not all(math.isfinite(v) for v in values):
            return None
        for original, back in ((x, back_x), (y, back_y)):
            if abs(original - back) > _ROUND_TRIP_TOLERANCE * max(1.0, abs(original)):
                return None
        return float(lon), float(lat)


WGS84 = SourceCrs()


@lru_cache(maxsize=16)
def _transformers(authority: str) -> tuple[Transformer, Transformer]:
    source = CRS.from_user_input(authority)
    return (
        Transformer.from_crs(source, "EPSG:4326", always_xy=True),
        Transformer.from_crs("EPSG:4326", source, always_xy=True),
    )


def _identify_name(name: str) -> str | None:
    """``"EPSG:3089"``-style authority for a crs name; ``""`` for WGS84; ``None`` if unknown."""
    text = name.strip().lower()
    if any(p.match(text) for p in _CRS84):
        return ""
    for pattern in _EPSG:
        if match := pattern.match(text):
            code = int(match.group(1))
            return "" if code == 4326 else f"EPSG:{code}"
    if match := _ESRI.match(text):
        return f"ESRI:{int(match.group(1))}"
    return None


def resolve_crs(member: object, source: str) -> SourceCrs:
    """The :class:`SourceCrs` named by a FeatureCollection's ``crs`` member.

    Accepted forms: ``{"type": "name", "properties": {"name": ...}}`` with an OGC URN, URL or
    ``AUTHORITY:CODE`` name, and the older ``{"type": "EPSG", "properties": {"code": 3089}}``.
    A missing or ``null`` ``crs`` means WGS84 lon/lat (RFC 7946).
    """
    if member is None:
        return WGS84
    if not isinstance(member, dict):
        raise ImportFileError("the crs member is not an object; cannot identify the CRS", source)
    kind = member.get("type")
    props = member.get("properties")
    props = props if isinstance(props, dict) else {}
    authority: str | None
    if isinstance(kind, str) and kind.lower() == "name" and isinstance(props.get("name"), str):
        label = str(props["name"])
        authority = _identify_name(label)
    elif isinstance(kind, str) and kind.lower() == "epsg" and _is_code(props.get("code")):
        label = f"EPSG:{int(str(props['code']).strip())}"
        authority = _identify_name(label)
    else:
        raise ImportFileError(
            f"cannot identify the CRS {_short(member)}; expected a crs of type 'name' "
            "(e.g. urn:ogc:def:crs:OGC:1.3:CRS84 or EPSG:3089)",
            source,
        )
    if authority is None:
        raise ImportFileError(
            f"cannot identify the CRS {label!r}; expected CRS84, EPSG:4326 or another EPSG code",
            source,
        )
    if authority == "":
        return WGS84
    try:
        _transformers(authority)
    except (CRSError, ProjError):
        raise ImportFileError(f"unknown CRS {authority} (named {label!r})", source) from None
    return SourceCrs(authority)


def _is_code(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**7) or (
        isinstance(value, str) and re.fullmatch(r"[0-9]{1,7}", value.strip()) is not None
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
