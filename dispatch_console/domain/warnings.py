"""The five friendly-fire warnings of the domain notes, evaluated from an incident state.

:func:`evaluate` answers "which warnings hold now?" for every responding responder (en route
or present; never a released one), highest priority first:

1. ``unidentified_in_inner_perimeter``: inside an inner perimeter while not identified, or
   plainclothes with no visible police ID (none reported, no raid jacket or vest issued).
2. ``attire_matches_suspect``: plainclothes, and the attire matches the current suspect
   description (:func:`attire_match`, which says which fields matched). A raid jacket or
   marked vest over the top (worn, or issued at staging) covers the match: the torso says
   POLICE, whatever is under it.
3. ``bypassing_staging``: directed to a staging area, not arrived at staging (en route, or
   arrived on scene instead), and inside an inner perimeter, or within
   :data:`BYPASS_DISTANCE_M` of one and moving towards it (see :func:`_heading_into`).
4. ``stale_or_no_radio_in_perimeter``: inside a perimeter (inner or outer) with a stale
   position, or with no radio (``has_radio`` False and no radio issued).
5. ``not_on_roster``: the roster check found no such officer.

Where a responder is: the last known position decides, stale or not (a stale position is the
last known membership; it does not move anybody out of a perimeter). Positions are compared
with areas in a plane that is linear in longitude and latitude, scaled to metres at the
incident (:class:`GeofenceIndex`): exactly how GeoJSON draws a polygon's edges (straight in
lon/lat), within 0.1 m of the console's azimuthal frame (``geometry.LocalFrame``) 1 km from
the school and 0.6 m 3 km out, and fast (no projection call per position). A point with a
radius is a metric circle in that plane.

Findings are pure facts of ``(state, now)``: the monitor (``domain.monitor``) turns their
start and end into events, so live console and replay see the same warnings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from dispatch_console.domain.events import WARNING_PRIORITY, Attire, SuspectDescription, WarningKind
from dispatch_console.domain.geometry import MOVING_SPEED_MPS
from dispatch_console.domain.lifecycle import RESPONDING
from dispatch_console.domain.lifecycle import ResponderStatus as S
from dispatch_console.domain.state import (
    IncidentState,
    Perimeter,
    Position,
    Responder,
    StagingArea,
)

#: A responder directed to staging this close to an inner perimeter (metres), and moving
#: towards it, is bypassing staging.
BYPASS_DISTANCE_M = 150.0
#: How far ahead along their direction of travel a responder is looked at (metres): if that
#: stretch crosses the inner perimeter, they are moving into it.
BYPASS_LOOKAHEAD_M = 200.0
#: Two fixes closer than this (metres) say nothing about direction (GPS noise at a standstill).
MIN_TRACK_MOVE_M = 5.0

# --- attire against the suspect description ------------------------------------------------


def _families(table: Mapping[str, str]) -> dict[str, str]:
    """{family: "word|word|..."} -> {word: family}."""
    return {word: family for family, words in table.items() for word in words.split("|")}


#: Colour families. Witnesses name colours loosely ("blue" for navy, "grey" for charcoal), so
#: colours are compared by family: a word here is its family; any other word is its own
#: family (compared literally). Shades ("dark", "light", ...) are dropped first. Grouping errs
#: towards a match, which is the safe side for a friendly-fire warning. Dispatchers' and NCIC
#: abbreviations ("W/M, BLK SHIRT, BLU JEANS") are colours too.
COLOUR_FAMILIES: dict[str, str] = _families(
    {
        "black": "black|jet black|ebony|blk|bk",
        "grey": "grey|gray|charcoal|silver|heather grey|heather gray|slate|ash|gry|gy",
        "white": "white|off white|cream|ivory|wht|wh",
        "blue": "blue|navy|navy blue|royal blue|denim|indigo|blu|bl|nvy|nav",
        "red": "red|maroon|burgundy|crimson|scarlet|wine|mar",
        "green": "green|olive|olive drab|forest green|army green|grn|gr",
        "brown": "brown|tan|khaki|beige|camel|coyote|brn|br",
        "yellow": "yellow|gold|mustard|yel|ylw",
        "orange": "orange|org|ong",
        "purple": "purple|violet|lavender|pur|prp",
        "pink": "pink|magenta|pnk",
    }
)
_SHADES = frozenset({"dark", "light", "bright", "pale", "deep", "faded"})

#: Garment families: a top is a shirt, a hoodie/sweatshirt or a jacket/coat; a phrase not
#: listed is judged by its last word ("graphic tee" -> tee -> shirt). Words too vague to
#: compare ("top", "clothing") mean the kind is unknown.
TOP_FAMILIES: dict[str, str] = _families(
    {
        "shirt": "shirt|tshirt|tee|polo|polo shirt|button down|button up|flannel|jersey|tank"
        "|tank top|blouse|henley|dress shirt",
        "hoodie": "hoodie|hoody|hooded sweatshirt|sweatshirt|sweater|pullover|crewneck|jumper",
        "jacket": "jacket|coat|windbreaker|parka|raincoat|bomber|blazer|fleece|puffer|vest|anorak",
    }
)
BOTTOM_FAMILIES: dict[str, str] = _families(
    {
        "pants": "jeans|pants|trousers|slacks|khakis|sweatpants|joggers|chinos",
        "shorts": "shorts",
        "skirt": "skirt",
    }
)
HEADWEAR_FAMILIES: dict[str, str] = _families(
    {
        "cap": "cap|baseball cap|ball cap|ballcap|hat|snapback",
        "beanie": "beanie|toque|knit cap|knit hat|stocking cap",
        "hood": "hood|hood up",
        "mask": "ski mask|balaclava|mask",
        "bandana": "bandana",
        "helmet": "helmet",
    }
)
_VAGUE = frozenset({"top", "clothing", "clothes", "outfit", "shirtless"})
_NOTHING = frozenset({"", "none", "no", "n/a", "unknown", "bare", "bareheaded"})
#: Labels of the matched fields, in the order they are reported.
FIELD_LABELS: dict[str, str] = {
    "top_color": "top colour",
    "top_type": "top type",
    "bottom_color": "bottom colour",
    "headwear": "headwear",
}


def _words(text: str) -> str:
    text = text.lower().replace("t-shirt", "tshirt").replace("t shirt", "tshirt")
    text = text.replace("tee shirt", "tshirt")
    return " ".join(re.sub(r"[^a-z/&]+", " ", text).split())


def colour_families(text: str | None) -> frozenset[str]:
    """The colour families named by ``text`` ("black and white" names two); empty if none."""
    if text is None:
        return frozenset()
    families = set()
    for part in re.split(r"\band\b|/|&|\bor\b", _words(text)):
        words = [w for w in part.split() if w not in _SHADES]
        phrase = " ".join(words)
        if not phrase or phrase in _NOTHING:
            continue
        families.add(COLOUR_FAMILIES.get(phrase) or COLOUR_FAMILIES.get(words[-1]) or phrase)
    return frozenset(families)


def _family(text: str | None, table: Mapping[str, str]) -> str | None:
    """The family of a garment phrase, by the whole phrase, else its last word."""
    if text is None:
        return None
    words = _words(text).split()
    phrase = " ".join(words)
    if not phrase or phrase in _NOTHING or phrase in _VAGUE:
        return None
    found = table.get(phrase)
    if found is None:
        found = table.get(words[-1])
    if found is None and words[-1] in _VAGUE:
        return None
    return found or phrase


@dataclass(frozen=True)
class _Garments:
    """Comparable facts of an outfit: colour families and garment families."""

    top_colour: frozenset[str] = frozenset()
    top_kind: str | None = None
    bottom_colour: frozenset[str] = frozenset()
    headwear: str | None = None
    headwear_colour: frozenset[str] = frozenset()
    words: dict[str, str] = field(default_factory=dict, compare=False)


def _split_headwear(text: str | None) -> tuple[frozenset[str], str | None]:
    """'black cap' -> ({'black'}, 'cap')."""
    if text is None:
        return frozenset(), None
    words = _words(text).split()
    colours = [w for w in words if w in COLOUR_FAMILIES]
    rest = " ".join(w for w in words if w not in COLOUR_FAMILIES and w not in _SHADES)
    return colour_families(" ".join(colours)) if colours else frozenset(), _family(
        rest, HEADWEAR_FAMILIES
    )


def _attire_garments(attire: Attire) -> _Garments:
    hw_colour, headwear = _split_headwear(attire.headwear)
    words = {
        "top_color": attire.top_color or "",
        "top_type": attire.top_type or "",
        "bottom_color": attire.bottom_color or "",
        "headwear": attire.headwear or "",
    }
    return _Garments(
        colour_families(attire.top_color),
        _family(attire.top_type, TOP_FAMILIES),
        colour_families(attire.bottom_color),
        headwear,
        hw_colour,
        words,
    )


_STOP_WORDS = frozenset(
    {"in", "a", "an", "the", "of", "on", "male", "female", "man", "woman", "boy", "girl"}
    | {"teen", "person", "wearing", "with", "and"}
)


def _colour_before(words: list[str], index: int) -> str:
    """The colour words among the (up to three) words before ``words[index]``, stopping at a
    word that starts another phrase ("white male in a black shirt" -> "black")."""
    colours: list[str] = []
    before = words[max(0, index - 3) : index]
    for k in range(len(before) - 1, -1, -1):
        word = before[k]
        if word == "and" and colours and k > 0 and before[k - 1] in COLOUR_FAMILIES:
            colours.insert(0, word)  # "black and white shirt": one garment, two colours
            continue
        if word in _STOP_WORDS:
            break
        if word in COLOUR_FAMILIES or word in _SHADES:
            colours.insert(0, word)
    return " ".join(colours)


def _from_free_text(text: str) -> dict[str, str]:
    """Garments named in a free-text description ("white male, black shirt, jeans"): the
    first top, bottom and headwear word, each with the colour written just before it."""
    found: dict[str, str] = {}
    # Clauses end at punctuation, read before the words are cleaned (which drops it), and at
    # "with"; not at "and", which joins colours ("black and white shirt") as often as
    # garments (and "and" stops a colour from reaching back over it anyway).
    for raw in re.split(r"[,;.]|\bwith\b", text.lower()):
        words = _words(raw).split()
        for index, word in enumerate(words):
            colour = _colour_before(words, index)
            if word in TOP_FAMILIES and "top_type" not in found:
                found["top_type"] = word
                if colour:
                    found.setdefault("top_color", colour)
            elif word in BOTTOM_FAMILIES and "bottom_type" not in found:
                found["bottom_type"] = word
                if colour:
                    found.setdefault("bottom_color", colour)
            elif word in HEADWEAR_FAMILIES and "headwear" not in found:
                found["headwear"] = f"{colour} {word}".strip()
    return found


def _suspect_garments(suspect: SuspectDescription) -> _Garments:
    """The structured fields; those left empty are filled from the free text, if it says."""
    text = _from_free_text(suspect.free_text) if suspect.free_text else {}
    top_color = suspect.top_color or text.get("top_color")
    top_type = suspect.top_type or text.get("top_type")
    bottom_color = suspect.bottom_color or text.get("bottom_color")
    headwear_text = suspect.headwear or text.get("headwear")
    hw_colour, headwear = _split_headwear(headwear_text)
    words = {
        "top_color": top_color or "",
        "top_type": top_type or "",
        "bottom_color": bottom_color or "",
        "headwear": headwear_text or "",
    }
    return _Garments(
        colour_families(top_color),
        _family(top_type, TOP_FAMILIES),
        colour_families(bottom_color),
        headwear,
        hw_colour,
        words,
    )


@lru_cache(maxsize=4096)
def attire_match(attire: Attire | None, suspect: SuspectDescription | None) -> tuple[str, ...]:
    """The fields in which a plainclothes ``attire`` matches the ``suspect`` description,
    in the order of :data:`FIELD_LABELS`; empty when it does not match.

    It matches when the top colour matches AND either the top type or the bottom colour does
    too: a colour alone is too common to accuse anybody (a black jacket is not a black shirt),
    and a colour with the garment kind, or top and bottom colours together, is what a witness
    and an officer at the door compare. Colours match by family (:data:`COLOUR_FAMILIES`),
    garments by family (:data:`TOP_FAMILIES`, :data:`HEADWEAR_FAMILIES`). Headwear is
    reported when it matches but never makes a match on its own. A suspect field left empty
    is read from the free text ("white male, black shirt") when it names it; a uniform never
    matches.
    """
    if attire is None or attire.uniform or suspect is None:
        return ()
    officer = _attire_garments(attire)
    wanted = _suspect_garments(suspect)
    top_colour = bool(officer.top_colour & wanted.top_colour)
    top_type = officer.top_kind is not None and officer.top_kind == wanted.top_kind
    bottom_colour = bool(officer.bottom_colour & wanted.bottom_colour)
    if not (top_colour and (top_type or bottom_colour)):
        return ()
    headwear = (
        officer.headwear is not None
        and officer.headwear == wanted.headwear
        and not (
            officer.headwear_colour
            and wanted.headwear_colour
            and not officer.headwear_colour & wanted.headwear_colour
        )
    )
    flags = {
        "top_color": top_colour,
        "top_type": top_type,
        "bottom_color": bottom_colour,
        "headwear": headwear,
    }
    return tuple(name for name in FIELD_LABELS if flags[name])


def describe_match(
    attire: Attire, suspect: SuspectDescription, matched: Iterable[str] | None = None
) -> str:
    """'top colour black, top type shirt (t-shirt)': each matched field, as the suspect
    description says it, with the officer's own word in brackets where it differs."""
    fields = attire_match(attire, suspect) if matched is None else tuple(matched)
    officer = _attire_garments(attire).words
    wanted = _suspect_garments(suspect).words
    parts = []
    for name in fields:
        said, worn = wanted.get(name, "").lower(), officer.get(name, "").lower()
        text = f"{FIELD_LABELS[name]} {said or worn}"
        if said and worn and said != worn:
            text += f" ({worn})"
        parts.append(text)
    return ", ".join(parts)


# --- areas -------------------------------------------------------------------------------------

_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694_379_990_14e-3


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(east, north) metres per degree of longitude and latitude at ``lat`` (WGS84)."""
    phi = math.radians(lat)
    w = 1.0 - _WGS84_E2 * math.sin(phi) ** 2
    meridional = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
    prime_vertical = _WGS84_A / math.sqrt(w)
    return (
        math.radians(1.0) * prime_vertical * math.cos(phi),
        math.radians(1.0) * meridional,
    )


AreaRole = str  # "staging", "inner" or "outer"


class Place(msgspec.Struct, frozen=True, gc=False):
    """Where one position is: the areas it lies in or on (indexes into the index's areas),
    and the same by role."""

    areas: tuple[int, ...] = ()
    staging: tuple[str, ...] = ()
    #: Perimeter ids (inner and outer), in the index's order.
    perimeters: tuple[str, ...] = ()
    inner: bool = False
    outer: bool = False


NOWHERE = Place()


class GeofenceIndex:
    """An incident's staging areas and perimeters, ready to test thousands of positions.

    Build it once per set of areas (:meth:`for_state` keeps the last one per incident and
    rebuilds only when an area changed) and pass it to :func:`evaluate`, :func:`survey` or
    :func:`dispatch_console.domain.monitor.derive`. It remembers where each responder's last
    located position is, so after a batch only the positions that changed are located again.
    """

    def __init__(
        self,
        lon0: float,
        lat0: float,
        staging_areas: Iterable[StagingArea],
        perimeters: Iterable[Perimeter],
    ) -> None:
        self.lon0, self.lat0 = lon0, lat0
        self.kx, self.ky = metres_per_degree(lat0)
        self._sources: tuple[StagingArea | Perimeter, ...] = (*staging_areas, *perimeters)
        ids: list[str] = []
        roles: list[AreaRole] = []
        shapes: list[BaseGeometry] = []
        for area in self._sources:
            if isinstance(area, StagingArea):
                ids.append(area.staging_area_id)
                roles.append("staging")
            else:
                ids.append(area.perimeter_id)
                roles.append(area.kind)
            shapes.append(self.area_shape(area.geometry, area.radius_m))
        self.ids = ids
        self.roles = roles
        self.shapes: NDArray[Any] = np.array(shapes, dtype=object)
        shapely.prepare(self.shapes)
        bounds = shapely.bounds(self.shapes) if shapes else np.empty((0, 4))
        self._bounds: NDArray[np.float64] = np.asarray(bounds, dtype=float)
        inner = [s for s, role in zip(shapes, roles, strict=True) if role == "inner"]
        self.inner: BaseGeometry | None = shapely.union_all(inner) if inner else None
        if self.inner is not None:
            shapely.prepare(self.inner)
        self._places: dict[tuple[int, ...], Place] = {(): NOWHERE}
        self._by_mask: dict[int, Place] = {0: NOWHERE}
        #: responder id -> (the position located last, where it is).
        self._seen: dict[str, tuple[Position, Place]] = {}

    # -- projection ----------------------------------------------------------------------------

    def to_plane(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def to_plane_many(
        self, lons: NDArray[np.float64], lats: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return (lons - self.lon0) * self.kx, (lats - self.lat0) * self.ky

    def area_shape(self, geometry: Mapping[str, Any], radius_m: float | None) -> BaseGeometry:
        kx, ky, lon0, lat0 = self.kx, self.ky, self.lon0, self.lat0

        def forward(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.column_stack([(coords[:, 0] - lon0) * kx, (coords[:, 1] - lat0) * ky])

        geom: BaseGeometry = shapely.transform(shape(geometry), forward)
        if radius_m is not None and radius_m > 0:
            geom = geom.buffer(radius_m, quad_segs=16)
        return geom

    # -- queries -------------------------------------------------------------------------------

    def locate(
        self, xs: NDArray[np.float64], ys: NDArray[np.float64]
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Pairs ``(area index, point index)`` of every point in or on every area: a bounding
        box test for all pairs at once, then the exact test for the pairs that pass."""
        empty = np.empty(0, dtype=np.intp)
        if not len(self.ids) or not len(xs):
            return empty, empty
        b = self._bounds
        candidate = (
            (xs[None, :] >= b[:, 0, None])
            & (xs[None, :] <= b[:, 2, None])
            & (ys[None, :] >= b[:, 1, None])
            & (ys[None, :] <= b[:, 3, None])
        )
        areas, points = np.nonzero(candidate)
        if not len(areas):
            return empty, empty
        inside = shapely.intersects_xy(self.shapes[areas], xs[points], ys[points])
        return areas[inside].astype(np.intp), points[inside].astype(np.intp)

    def place(self, areas: tuple[int, ...]) -> Place:
        """The :class:`Place` of a set of area indexes (one object per distinct set)."""
        found = self._places.get(areas)
        if found is None:
            roles, ids = self.roles, self.ids
            found = self._places[areas] = Place(
                areas,
                tuple(ids[a] for a in areas if roles[a] == "staging"),
                tuple(ids[a] for a in areas if roles[a] != "staging"),
                any(roles[a] == "inner" for a in areas),
                any(roles[a] == "outer" for a in areas),
            )
        return found

    def places(self, areas: NDArray[np.intp], points: NDArray[np.intp], count: int) -> list[Place]:
        """The :class:`Place` of each of ``count`` points, from :meth:`locate`'s pairs."""
        places = [NOWHERE] * count
        if not len(points):
            return places
        order = np.argsort(points, kind="stable")
        points, areas = points[order], areas[order]
        starts = np.flatnonzero(np.r_[True, points[1:] != points[:-1]])
        firsts = points[starts].tolist()
        if len(self.ids) <= 64:  # one bit per area: the set of areas of a point is one int
            bits = np.left_shift(np.uint64(1), areas.astype(np.uint64))
            masks = np.bitwise_or.reduceat(bits, starts).tolist()
            by_mask = self._by_mask
            for point, mask in zip(firsts, masks, strict=True):
                place = by_mask.get(mask)
                if place is None:
                    members = tuple(a for a in range(len(self.ids)) if mask >> a & 1)
                    place = by_mask[mask] = self.place(members)
                places[point] = place
        else:
            groups = np.split(areas, starts[1:])
            for point, group in zip(firsts, groups, strict=True):
                places[point] = self.place(tuple(sorted(group.tolist())))
        return places

    def place_of(self, lon: float, lat: float) -> Place:
        x, y = self.to_plane(lon, lat)
        areas, _ = self.locate(np.array([x]), np.array([y]))
        return self.place(tuple(sorted(areas.tolist())))

    def distance_to_inner(self, x: float, y: float) -> float:
        if self.inner is None:
            return math.inf
        return float(shapely.distance(self.inner, Point(x, y)))

    def crosses_inner(self, x: float, y: float, dx: float, dy: float, length: float) -> bool:
        """Does the stretch from (x, y) along the unit direction (dx, dy) meet an inner
        perimeter?"""
        if self.inner is None:
            return False
        segment = LineString([(x, y), (x + dx * length, y + dy * length)])
        return bool(shapely.intersects(self.inner, segment))

    # -- cache ---------------------------------------------------------------------------------

    def built_from(
        self, lon0: float, lat0: float, areas: tuple[StagingArea | Perimeter, ...]
    ) -> bool:
        if (lon0, lat0) != (self.lon0, self.lat0) or len(areas) != len(self._sources):
            return False
        return all(a is b or a == b for a, b in zip(areas, self._sources, strict=True))

    @classmethod
    def for_state(cls, state: IncidentState) -> GeofenceIndex:
        """The index of ``state``'s areas: the cached one while they are unchanged."""
        areas: tuple[StagingArea | Perimeter, ...] = (
            *state.staging_areas.values(),
            *state.perimeters.values(),
        )
        cached = _INDEXES.get(state.incident_id)
        if cached is not None and cached.built_from(state.lon, state.lat, areas):
            return cached
        index = cls(state.lon, state.lat, state.staging_areas.values(), state.perimeters.values())
        if len(_INDEXES) >= _INDEX_CACHE_SIZE:
            _INDEXES.pop(next(iter(_INDEXES)))
        _INDEXES[state.incident_id] = index
        return index


_INDEX_CACHE_SIZE = 32
_INDEXES: dict[str, GeofenceIndex] = {}


class Survey:
    """Where every responder with a position is, by their last known position."""

    def __init__(
        self, index: GeofenceIndex, inside: dict[str, Place], responders: Mapping[str, Responder]
    ) -> None:
        self.index = index
        #: responder id -> where they are, for the responders inside at least one area.
        self.inside = inside
        self._responders = responders

    def place(self, responder_id: str) -> Place:
        return self.inside.get(responder_id, NOWHERE)

    def area_ids(self, responder_id: str, *roles: AreaRole) -> list[str]:
        """Ids of the areas the responder is in, of the given roles (all roles if none)."""
        ids, kinds = self.index.ids, self.index.roles
        return [ids[a] for a in self.place(responder_id).areas if not roles or kinds[a] in roles]

    def perimeters(self, responder_id: str) -> tuple[str, ...]:
        return self.place(responder_id).perimeters

    def plane_xy(self, responder_id: str) -> tuple[float, float]:
        """The responder's last known position in the index's plane (metres)."""
        pos = self._responders[responder_id].position
        assert pos is not None
        return self.index.to_plane(pos.lon, pos.lat)

    def within(self, x: float, y: float, radius_m: float) -> list[str]:
        """Responders (of those surveyed) whose last known position is within ``radius_m``
        of (x, y)."""
        to_plane = self.index.to_plane
        out = []
        for rid, r in self._responders.items():
            if r.position is not None:
                px, py = to_plane(r.position.lon, r.position.lat)
                if math.hypot(px - x, py - y) <= radius_m:
                    out.append(rid)
        return out


def survey(
    state: IncidentState,
    index: GeofenceIndex | None = None,
    members: Mapping[str, Responder] | None = None,
) -> Survey:
    """Which areas each responder's last known position is in. Positions the index located
    already are not located again; the new ones are located together (vectorised).
    ``members``: only these responders (the others are not looked at, and the survey must
    not be asked about them)."""
    index = index or GeofenceIndex.for_state(state)
    seen = index._seen
    seen_get = seen.get
    inside: dict[str, Place] = {}
    new: list[tuple[str, Position]] = []
    lons: list[float] = []
    lats: list[float] = []
    for rid, r in (state.responders if members is None else members).items():
        pos = r.position
        if pos is None:
            continue
        hit = seen_get(rid)
        if hit is not None and hit[0] is pos:
            if hit[1] is not NOWHERE:
                inside[rid] = hit[1]
        else:
            new.append((rid, pos))
            lons.append(pos.lon)
            lats.append(pos.lat)
    if new:
        xs, ys = index.to_plane_many(np.array(lons), np.array(lats))
        places = index.places(*index.locate(xs, ys), len(new))
        for (rid, pos), place in zip(new, places, strict=True):
            seen[rid] = (pos, place)
            if place is not NOWHERE:
                inside[rid] = place
    _keep_near_boundary(state.responders if members is None else members, index, inside)
    return Survey(index, inside, state.responders if members is None else members)


#: A responder recorded inside a perimeter counts as having left it only when their position
#: is more than this far outside: GPS noise at the boundary must not end a warning and raise
#: it again every few seconds.
EXIT_MARGIN_M = 15.0


def _keep_near_boundary(
    responders: Mapping[str, Responder], index: GeofenceIndex, inside: dict[str, Place]
) -> None:
    area_of = {area_id: k for k, area_id in enumerate(index.ids)}
    for rid, r in responders.items():
        if not r.inside_perimeters or r.position is None:
            continue
        place = inside.get(rid, NOWHERE)
        missing = [
            area_of[pid]
            for pid in r.inside_perimeters
            if pid not in place.perimeters and pid in area_of
        ]
        if not missing:
            continue
        x, y = index.to_plane(r.position.lon, r.position.lat)
        near = [
            k for k in missing if shapely.distance(index.shapes[k], Point(x, y)) <= EXIT_MARGIN_M
        ]
        if near:
            inside[rid] = index.place(tuple(sorted({*place.areas, *near})))


# --- findings ----------------------------------------------------------------------------------

#: The warning kinds, by name.
UNIDENTIFIED: WarningKind = "unidentified_in_inner_perimeter"
ATTIRE_MATCH: WarningKind = "attire_matches_suspect"
BYPASSING: WarningKind = "bypassing_staging"
STALE_OR_NO_RADIO: WarningKind = "stale_or_no_radio_in_perimeter"
NOT_ON_ROSTER: WarningKind = "not_on_roster"
#: The phrases of the details (the monitor reads them back to say why a warning ended).
NOT_IDENTIFIED = "not identified"
NO_VISIBLE_ID = "plainclothes with no visible police ID"
STALE = "position stale"
NO_RADIO = "no radio"


class WarningFinding(msgspec.Struct, frozen=True, gc=False):
    """A warning that holds now: its kind, whom it is about, the sentence to show, and (for
    an attire match) which fields matched."""

    kind: WarningKind
    responder_id: str
    detail: str
    matched_fields: tuple[str, ...] = ()

    @property
    def priority(self) -> int:
        return WARNING_PRIORITY[self.kind]

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.responder_id


def name_of(r: Responder) -> str:
    return r.name or r.callsign or r.responder_id


def visible_police_id(r: Responder) -> str | None:
    """What shows the responder is police at a glance: an issued marking, a raid jacket,
    vest or badge worn, a uniform; ``None`` for plainclothes with nothing visible."""
    if r.equipment is not None and r.equipment.marking:
        return r.equipment.marking
    attire = r.attire
    if attire is None:
        return None
    if attire.uniform:
        return "uniform"
    if attire.visible_id is not None and attire.visible_id != "none":
        return attire.visible_id
    return None


def torso_marked(r: Responder) -> bool:
    """A raid jacket or marked vest over the top (worn or issued) hides a matching shirt."""
    return visible_police_id(r) in ("raid_jacket", "vest")


def has_no_radio(r: Responder) -> bool:
    issued = r.equipment is not None and r.equipment.radio_id is not None
    return r.has_radio is False and not issued


def _age(now_us: int, at_us: int) -> str:
    seconds = max(0, (now_us - at_us) // 1_000_000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _heading_into(r: Responder, x: float, y: float, index: GeofenceIndex) -> bool:
    """Is the responder moving towards an inner perimeter? The last two fixes give the
    direction when they are at least :data:`MIN_TRACK_MOVE_M` apart and the distance to the
    perimeter shrank; otherwise the reported heading does, if the responder is moving (speed
    unknown or at least walking-fast). Either way the next :data:`BYPASS_LOOKAHEAD_M` along
    that direction must cross the perimeter."""
    pos = r.position
    assert pos is not None
    if len(r.track) >= 2:
        before = r.track[-2]
        bx, by = index.to_plane(before.lon, before.lat)
        moved = math.hypot(x - bx, y - by)
        if moved >= MIN_TRACK_MOVE_M:
            if index.distance_to_inner(x, y) >= index.distance_to_inner(bx, by):
                return False
            return index.crosses_inner(x, y, (x - bx) / moved, (y - by) / moved, BYPASS_LOOKAHEAD_M)
    if pos.heading_deg is None:
        return False
    if pos.speed_mps is not None and pos.speed_mps < MOVING_SPEED_MPS:
        return False
    h = math.radians(pos.heading_deg)
    return index.crosses_inner(x, y, math.sin(h), math.cos(h), BYPASS_LOOKAHEAD_M)


def _area_name(state: IncidentState, area_id: str | None) -> str:
    area = state.staging_areas.get(area_id) if area_id is not None else None
    return area.name if area is not None else (area_id or "staging")


def evaluate(
    state: IncidentState,
    now_us: int,
    index: GeofenceIndex | None = None,
    *,
    where: Survey | None = None,
) -> list[WarningFinding]:
    """Every warning that holds at ``now_us``, highest priority first, then by responder.

    ``index`` is a prebuilt :class:`GeofenceIndex` of the state's areas (default: the cached
    one, :meth:`GeofenceIndex.for_state`); ``where`` a :func:`survey` made with it already.
    """
    return scan(state, now_us, where or survey(state, index)).findings


_BY_RESPONDER = attrgetter("responder_id")
_MATCHES: dict[int, tuple[Attire, SuspectDescription, tuple[str, ...]]] = {}


def _attire_match_memo(attire: Attire, suspect: SuspectDescription) -> tuple[str, ...]:
    """:func:`attire_match`, remembered per attire object (hashing two structs per responder
    per evaluation costs more than the rest of the check)."""
    hit = _MATCHES.get(id(attire))
    if hit is not None and hit[0] is attire and hit[1] is suspect:
        return hit[2]
    result = attire_match(attire, suspect)
    if len(_MATCHES) >= 50_000:
        _MATCHES.clear()
    _MATCHES[id(attire)] = (attire, suspect, result)  # holds both: the id stays theirs
    return result


class Scan(msgspec.Struct, gc=False):
    """What :func:`scan` found: the findings, and the keys of the ``known`` ones."""

    #: Findings not in ``known``, highest priority first, then by responder.
    findings: list[WarningFinding]
    #: ``(kind, responder_id)`` of the known findings that still hold.
    still: list[tuple[str, str]]


def scan(
    state: IncidentState,
    now_us: int,
    where: Survey,
    known: Container[tuple[str, str]] = (),
    members: Mapping[str, Responder] | None = None,
) -> Scan:
    """:func:`evaluate` given a survey. A finding whose ``(kind, responder_id)`` is in
    ``known`` (an active warning says it already) is only reported by its key: no detail is
    written for it (the monitor runs this after every batch of positions). ``members``: only
    these responders are looked at (what changed: see ``domain.monitor.derive``)."""
    still: list[tuple[str, str]] = []
    if not state.opened or state.closed:
        return Scan([], still)
    index = where.index
    inside_get = where.inside.get
    suspect = state.suspect.description if state.suspect is not None else None
    unidentified: list[WarningFinding] = []
    attire_matches: list[WarningFinding] = []
    bypassing: list[WarningFinding] = []
    stale_or_no_radio: list[WarningFinding] = []
    not_on_roster: list[WarningFinding] = []
    for rid, r in (state.responders if members is None else members).items():
        if r.status not in RESPONDING:
            continue
        place = inside_get(rid, NOWHERE)
        attire = r.attire
        plainclothes = attire is not None and not attire.uniform
        # 1. unidentified, or plainclothes with no visible ID, inside the inner perimeter
        if place.inner:
            why = []
            if r.identification is None:
                why.append(NOT_IDENTIFIED)
            if plainclothes and visible_police_id(r) is None:
                why.append(NO_VISIBLE_ID)
            if why:
                key = (UNIDENTIFIED, rid)
                if key in known:
                    still.append(key)
                else:
                    unidentified.append(WarningFinding(UNIDENTIFIED, rid, _inner_detail(r, why)))
        # 2. plainclothes attire matches the suspect
        if plainclothes and suspect is not None and not torso_marked(r):
            assert attire is not None
            matched = _attire_match_memo(attire, suspect)
            if matched:
                key = (ATTIRE_MATCH, rid)
                newly = _newly_matched(known, key, matched)
                if key in known and not newly:
                    still.append(key)
                else:
                    # New, or a revised description matches more of what they wear: a new
                    # warning that names what is new (the monitor ends the old one).
                    detail = _attire_detail(r, attire, suspect, matched)
                    if newly:
                        detail += (
                            " — newly matching since the suspect description was revised: "
                            + describe_match(attire, suspect, newly)
                        )
                    attire_matches.append(WarningFinding(ATTIRE_MATCH, rid, detail, matched))
        # 3. directed to staging, heading into the inner perimeter instead
        if (
            r.directed_to is not None
            and index.inner is not None
            and r.position is not None
            and r.status in _BYPASSING_STATUSES
        ):
            distance: float | None = None
            if not place.inner:
                x, y = where.plane_xy(rid)
                distance = index.distance_to_inner(x, y)
                if distance > BYPASS_DISTANCE_M or not _heading_into(r, x, y, index):
                    distance = -1.0
            if distance is None or distance >= 0:
                key = (BYPASSING, rid)
                if key in known:
                    still.append(key)
                else:
                    staging = _area_name(state, r.directed_to)
                    detail = _bypassing_detail(r, staging, distance)
                    bypassing.append(WarningFinding(BYPASSING, rid, detail))
        # 4. stale position or no radio inside a perimeter
        if place.inner or place.outer:
            pos = r.position
            stale = pos is not None and now_us >= pos.stale_at_us
            no_radio = r.has_radio is False and has_no_radio(r)
            if stale or no_radio:
                key = (STALE_OR_NO_RADIO, rid)
                if key in known:
                    still.append(key)
                else:
                    detail = _stale_detail(r, place.inner, stale, no_radio, now_us)
                    stale_or_no_radio.append(WarningFinding(STALE_OR_NO_RADIO, rid, detail))
        # 5. not on any roster
        if r.roster_verdict == "not_on_roster":
            key = (NOT_ON_ROSTER, rid)
            if key in known:
                still.append(key)
            else:
                not_on_roster.append(WarningFinding(NOT_ON_ROSTER, rid, _roster_detail(r)))
    findings: list[WarningFinding] = []
    for bucket in (unidentified, attire_matches, bypassing, stale_or_no_radio, not_on_roster):
        bucket.sort(key=_BY_RESPONDER)
        findings.extend(bucket)
    return Scan(findings, still)


_BYPASSING_STATUSES = frozenset({S.EN_ROUTE, S.ON_SCENE})


def _newly_matched(
    known: Container[tuple[str, str]], key: tuple[str, str], matched: tuple[str, ...]
) -> tuple[str, ...]:
    """The fields of ``matched`` the active warning ``known[key]`` did not name (when
    ``known`` maps keys to warnings, as the monitor's does); ``()`` otherwise."""
    get = getattr(known, "get", None)
    prior = get(key) if get is not None else None
    before = getattr(prior, "matched_fields", None)
    if before is None:
        return ()
    return tuple(f for f in matched if f not in before)


def _inner_detail(r: Responder, why: list[str]) -> str:
    return f"{name_of(r)} is inside the inner perimeter: {' and '.join(why)}"


def _attire_detail(
    r: Responder, attire: Attire, suspect: SuspectDescription, matched: tuple[str, ...]
) -> str:
    return (
        f"{name_of(r)} (plainclothes): attire matches suspect: "
        f"{describe_match(attire, suspect, matched)}"
    )


def _bypassing_detail(r: Responder, staging: str, distance: float | None) -> str:
    where = (
        "inside the inner perimeter"
        if distance is None
        else f"{distance:.0f} m from the inner perimeter and heading into it"
    )
    return f"{name_of(r)} was directed to {staging} but is {where} (bypassing staging)"


def _stale_detail(r: Responder, inner: bool, stale: bool, no_radio: bool, now_us: int) -> str:
    why = []
    if stale:
        assert r.position is not None
        why.append(f"{STALE} (last fix {_age(now_us, r.position.at_us)} ago)")
    if no_radio:
        why.append(NO_RADIO)
    perimeter = "inner" if inner else "outer"
    return f"{name_of(r)} is inside the {perimeter} perimeter: {' and '.join(why)}"


def _roster_detail(r: Responder) -> str:
    claims = ", ".join(p for p in (r.agency, f"badge {r.badge}" if r.badge else None) if p)
    return (
        f"{name_of(r)} is not on any roster"
        + (f" (claims {claims})" if claims else "")
        + (f": {r.roster_reason}" if r.roster_reason else "")
    )


# --- the radio broadcast line ----------------------------------------------------------------

_ID_WORDS = {
    "raid_jacket": "raid jacket",
    "vest": "police vest",
    "badge_on_belt": "badge on belt",
}
NO_PLAINCLOTHES_INSIDE = "No plainclothes officers inside the outer perimeter."


def radio_description(r: Responder) -> str:
    """'Det. M. Ruiz, black t-shirt, blue pants, no visible ID'."""
    attire = r.attire
    assert attire is not None
    parts = [name_of(r)]
    top = " ".join(p for p in (attire.top_color, attire.top_type) if p)
    if top:
        parts.append(top)
    if attire.bottom_color:
        parts.append(f"{attire.bottom_color} pants")
    if attire.headwear and attire.headwear.strip().lower() not in _NOTHING:
        parts.append(attire.headwear)
    marking = visible_police_id(r)
    parts.append(_ID_WORDS.get(marking, marking) if marking else "no visible ID")
    return ", ".join(parts)


def radio_line(state: IncidentState, now_us: int, *, where: Survey | None = None) -> str:
    """One sentence to read on the radio, describing every plainclothes responder inside the
    outer (or inner) perimeter by their last known position, ordered by name:
    ``"Plainclothes officers inside: Det. M. Ruiz, black t-shirt, blue pants, no visible ID;
    Sgt. E. Cox, grey hoodie, blue pants, badge on belt."``"""
    if where is None:
        where = survey(state)
    inside = []
    places = where.inside
    for rid, place in places.items():
        r = state.responders[rid]
        if place.perimeters and r.status in RESPONDING and r.plainclothes:
            inside.append(r)
    if not inside:
        return NO_PLAINCLOTHES_INSIDE
    inside.sort(key=lambda r: (name_of(r).casefold(), r.responder_id))
    return "Plainclothes officers inside: " + "; ".join(map(radio_description, inside)) + "."
