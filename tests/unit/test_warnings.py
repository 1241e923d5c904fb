"""The five friendly-fire warnings, the attire/suspect match and the radio line."""

from __future__ import annotations

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.warnings import (
    NO_PLAINCLOTHES_INSIDE,
    GeofenceIndex,
    WarningFinding,
    attire_match,
    colour_families,
    describe_match,
    evaluate,
    radio_line,
)
from tests.builders import SCHOOL_LAT, SCHOOL_LON, T0, Recorder, S

OUTER = {"type": "Point", "coordinates": [SCHOOL_LON, SCHOOL_LAT]}
# Places around tests.builders' Lincoln HS (inner perimeter: lat 38.2236..38.2264).
IN_INNER = (38.2250, -84.5400)
NEAR_INNER = (38.2275, -84.5400)  # ~120 m north of the inner perimeter, inside the outer
OUTER_ONLY = (38.2290, -84.5400)  # ~290 m north of the inner perimeter, inside the outer
IN_STAGING = (38.2293, -84.5459)  # staging A (60 m around it); outside the outer perimeter
FAR = (38.2600, -84.5400)  # 3.9 km north

UNIFORM = ev.Attire(uniform=True)
BLACK_TEE = ev.Attire(False, "black", "t-shirt", "blue", None, "none")
GREY_HOODIE = ev.Attire(False, "grey", "hoodie", "blue", None, "badge_on_belt")
SEED_SUSPECT = ev.SuspectDescription(
    sex="male", race="white", top_color="black", free_text="white male, black shirt"
)


def incident() -> Recorder:
    """Lincoln HS with staging A, the inner perimeter and a 600 m outer perimeter."""
    rec = Recorder().opened()
    rec.add(ev.PerimeterSet("outer", "outer", OUTER, 600.0))
    return rec


def responder(
    rec: Recorder,
    rid: str,
    *,
    name: str | None = None,
    attire: ev.Attire = UNIFORM,
    status: str = "en_route",
    verdict: ev.RosterVerdict = "sworn_active",
    has_radio: bool = True,
    at_s: float = 2,
) -> None:
    rec.notified(rid, at_s=at_s)
    rec.add(
        ev.ResponderProfileReported(
            rid, name or f"Officer {rid}", "Georgetown PD", "1234", None, "off", has_radio, attire
        ),
        at_s,
    )
    rec.add(ev.ResponderRosterChecked(rid, verdict), at_s)
    if status == "notified":
        return
    rec.add(ev.ResponderAcknowledged(rid, True), at_s + 1)
    if status == "acknowledged":
        return
    rec.add(ev.ResponderEnRoute(rid), at_s + 2)
    if status in ("on_scene", "identified"):
        rec.add(ev.ResponderArrived(rid, "scene"), at_s + 3)
    if status == "at_staging":
        rec.add(ev.ResponderArrived(rid, "staging", "staging-a"), at_s + 3)
    if status == "identified":
        rec.add(ev.ResponderIdentified(rid, "credentials_in_person", "Sgt. Brooks"), at_s + 4)
    if status == "released":
        rec.add(ev.ResponderReleased(rid), at_s + 3)


def at(rec: Recorder, rid: str, place: tuple[float, float], at_s: float = 10, **kw: float) -> None:
    """A fresh fix at ``place`` (stale 30 s later); ``heading_deg``/``speed_mps`` optional."""
    lat, lon = place
    when = T0 + int(at_s * S)
    rec.add(
        ev.ResponderPosition(rid, lat, lon, when, when + 30 * S, 8.0, **kw),
        at_s,
        actor=ev.Actor(ev.ActorKind.DEVICE, rid),
    )


def findings(state: IncidentState, at_s: float = 12) -> list[WarningFinding]:
    return evaluate(state, T0 + int(at_s * S))


def kinds(state: IncidentState, rid: str, at_s: float = 12) -> list[str]:
    return [f.kind for f in findings(state, at_s) if f.responder_id == rid]


# --- attire against the suspect ----------------------------------------------------------------


def test_the_seed_case_black_shirt_matches_white_male_black_shirt_and_says_which_fields() -> None:
    assert attire_match(BLACK_TEE, SEED_SUSPECT) == ("top_color", "top_type")
    # The kind comes from the free text: the structured fields give the colour only.
    assert describe_match(BLACK_TEE, SEED_SUSPECT) == ("top colour black, top type shirt (t-shirt)")


def test_a_full_structured_description_reports_every_matching_field() -> None:
    suspect = ev.SuspectDescription(
        top_color="Black", top_type="T-Shirt", bottom_color="blue", bottom_type="jeans",
        headwear="black baseball cap",
    )  # fmt: skip
    attire = ev.Attire(False, "black", "tee", "navy", "black cap", "none")
    assert attire_match(attire, suspect) == ("top_color", "top_type", "bottom_color", "headwear")
    assert describe_match(attire, suspect) == (
        "top colour black, top type t-shirt (tee), bottom colour blue (navy), "
        "headwear black baseball cap (black cap)"
    )


@pytest.mark.parametrize(
    ("attire", "suspect", "why"),
    [
        (GREY_HOODIE, SEED_SUSPECT, "another colour and another kind"),
        (
            ev.Attire(False, "black", "jacket", "khaki", None, "none"),
            ev.SuspectDescription(top_color="black", top_type="shirt", bottom_color="blue"),
            "colour only: a black jacket is not a black shirt",
        ),
        (
            ev.Attire(False, "black", "jacket", "khaki", None, "none"),
            SEED_SUSPECT,
            "colour only, kind read from the free text",
        ),
        (BLACK_TEE, ev.SuspectDescription(top_color="black"), "the suspect's colour alone"),
        (BLACK_TEE, ev.SuspectDescription(top_type="shirt", bottom_color="blue"), "no colour"),
        (
            ev.Attire(False, "white", "t-shirt", "black", None, "none"),
            SEED_SUSPECT,
            "a white shirt with black pants",
        ),
        (ev.Attire(False, "black", "t-shirt"), ev.SuspectDescription(), "no description"),
        (ev.Attire(True, "black", "shirt"), SEED_SUSPECT, "a uniform never matches"),
        (BLACK_TEE, None, "no suspect"),
        (None, SEED_SUSPECT, "attire not reported"),
    ],
)
def test_near_misses_do_not_match(
    attire: ev.Attire | None, suspect: ev.SuspectDescription | None, why: str
) -> None:
    assert attire_match(attire, suspect) == (), why


def test_top_and_bottom_colours_together_match_even_in_another_kind_of_top() -> None:
    attire = ev.Attire(False, "black", "jacket", "blue", None, "none")
    suspect = ev.SuspectDescription(top_color="black", top_type="shirt", bottom_color="blue")
    assert attire_match(attire, suspect) == ("top_color", "bottom_color")


def test_colours_and_garments_are_compared_by_family() -> None:
    assert colour_families("Dark Navy") == {"blue"}
    assert colour_families("gray") == colour_families("charcoal") == {"grey"}
    assert colour_families("black and white") == {"black", "white"}
    assert colour_families("teal") == {"teal"}  # not in the table: compared literally
    navy_polo = ev.Attire(False, "navy", "polo", None, None, "none")
    blue_shirt = ev.SuspectDescription(top_color="blue", top_type="shirt")
    assert attire_match(navy_polo, blue_shirt) == ("top_color", "top_type")
    charcoal = ev.Attire(False, "dark grey", "hooded sweatshirt", None, None, "none")
    gray_hoodie = ev.SuspectDescription(top_color="gray", top_type="hoodie")
    assert attire_match(charcoal, gray_hoodie) == ("top_color", "top_type")
    assert attire_match(charcoal, ev.SuspectDescription(top_color="gray", top_type="coat")) == ()


def test_free_text_fills_the_fields_left_empty() -> None:
    suspect = ev.SuspectDescription(free_text="White male in a red hoodie and black jeans.")
    attire = ev.Attire(False, "red", "sweatshirt", "black", None, "none")
    assert attire_match(attire, suspect) == ("top_color", "top_type", "bottom_color")
    # The structured fields win over the free text.
    revised = ev.SuspectDescription(top_color="green", free_text="red hoodie")
    assert attire_match(attire, revised) == ()


# --- the five warnings ------------------------------------------------------------------------


def test_unidentified_responder_inside_inner_perimeter_raises_warning_1() -> None:
    rec = incident()
    responder(rec, "r1")
    at(rec, "r1", IN_INNER)
    (finding,) = findings(rec.state())
    assert finding.kind == "unidentified_in_inner_perimeter" and finding.responder_id == "r1"
    assert finding.detail == "Officer r1 is inside the inner perimeter: not identified"
    at(rec, "r1", OUTER_ONLY, at_s=11)
    assert findings(rec.state()) == []


def test_identified_plainclothes_without_visible_id_inside_inner_perimeter_still_warns() -> None:
    rec = incident()
    responder(
        rec, "r1", attire=ev.Attire(False, "red", "polo", "tan", None, "none"), status="identified"
    )
    responder(
        rec, "r2", attire=ev.Attire(False, "red", "polo", "tan", None, None), status="identified"
    )
    responder(rec, "r3", attire=GREY_HOODIE, status="identified")
    responder(
        rec, "r4", attire=ev.Attire(False, "red", "polo", "tan", None, "none"), status="identified"
    )
    rec.add(ev.ResponderEquipmentIssued("r4", marking="vest"), 8)
    for rid in ("r1", "r2", "r3", "r4"):
        at(rec, rid, IN_INNER)
    state = rec.state()
    assert kinds(state, "r1") == kinds(state, "r2") == ["unidentified_in_inner_perimeter"]
    assert findings(state)[0].detail.endswith("plainclothes with no visible police ID")
    assert kinds(state, "r3") == []  # badge on belt
    assert kinds(state, "r4") == []  # issued a vest


def test_plainclothes_attire_matching_the_suspect_raises_warning_2_with_the_fields() -> None:
    rec = incident()
    responder(rec, "r1", name="Sgt. Elena Cox", attire=BLACK_TEE)
    responder(rec, "r2", attire=GREY_HOODIE)
    at(rec, "r1", FAR)
    assert findings(rec.state()) == []  # no suspect description yet
    rec.add(ev.SuspectDescriptionRevised(SEED_SUSPECT), 11)
    (finding,) = findings(rec.state())
    assert finding.kind == "attire_matches_suspect" and finding.responder_id == "r1"
    assert finding.matched_fields == ("top_color", "top_type")
    assert "attire matches suspect: top colour black, top type shirt" in finding.detail
    assert finding.detail.startswith("Sgt. Elena Cox")


def test_a_raid_jacket_or_vest_over_the_matching_shirt_covers_it() -> None:
    rec = incident()
    responder(rec, "r1", attire=BLACK_TEE, status="identified")
    responder(rec, "r2", attire=ev.Attire(False, "black", "t-shirt", "blue", None, "raid_jacket"))
    rec.add(ev.SuspectDescriptionRevised(SEED_SUSPECT), 11)
    assert kinds(rec.state(), "r1") == ["attire_matches_suspect"]
    assert kinds(rec.state(), "r2") == []
    rec.add(ev.ResponderEquipmentIssued("r1", marking="vest"), 11)
    assert kinds(rec.state(), "r1") == []


def test_directed_responder_inside_inner_perimeter_is_bypassing_staging() -> None:
    rec = incident()
    responder(rec, "r1")
    rec.add(ev.ResponderDirected("r1", "staging-a"), 5)
    at(rec, "r1", IN_INNER)
    found = {f.kind: f for f in findings(rec.state())}
    assert set(found) == {"unidentified_in_inner_perimeter", "bypassing_staging"}
    assert found["bypassing_staging"].detail == (
        "Officer r1 was directed to Staging A but is inside the inner perimeter (bypassing staging)"
    )


@pytest.mark.parametrize(
    ("place", "heading", "speed", "bypassing"),
    [
        (NEAR_INNER, 180.0, 12.0, True),  # 120 m out, driving south into it
        (NEAR_INNER, 200.0, None, True),  # a little off, speed unknown
        (NEAR_INNER, 0.0, 12.0, False),  # driving away
        (NEAR_INNER, 90.0, 12.0, False),  # driving past
        (NEAR_INNER, 180.0, 0.5, False),  # standing still: a heading says nothing
        (OUTER_ONLY, 180.0, 12.0, False),  # 290 m out: not yet
    ],
)
def test_bypassing_staging_by_heading(
    place: tuple[float, float], heading: float, speed: float | None, bypassing: bool
) -> None:
    rec = incident()
    responder(rec, "r1")
    rec.add(ev.ResponderDirected("r1", "staging-a"), 5)
    at(rec, "r1", place, heading_deg=heading, **({"speed_mps": speed} if speed else {}))
    assert ("bypassing_staging" in kinds(rec.state(), "r1")) is bypassing


def test_bypassing_staging_by_the_last_two_fixes() -> None:
    rec = incident()
    responder(rec, "r1")
    rec.add(ev.ResponderDirected("r1", "staging-a"), 5)
    at(rec, "r1", (38.2285, -84.5400), at_s=8)
    at(rec, "r1", NEAR_INNER, at_s=10, heading_deg=0.0)  # the fixes win over a stale heading
    finding = next(f for f in findings(rec.state()) if f.kind == "bypassing_staging")
    assert "m from the inner perimeter and heading into it" in finding.detail
    at(rec, "r1", (38.2280, -84.5400), at_s=11)  # turned back north
    assert "bypassing_staging" not in kinds(rec.state(), "r1")


def test_no_bypassing_warning_without_a_directive_or_after_arrival_at_staging() -> None:
    rec = incident()
    responder(rec, "r1")  # self-dispatched: warning 1, not 3
    responder(rec, "r2", status="at_staging")
    rec.add(ev.ResponderDirected("r2", "staging-a"), 5)
    rec.add(ev.ResponderIdentified("r2", "known_personally", "Sgt. Brooks"), 6)
    at(rec, "r1", IN_INNER)
    at(rec, "r2", IN_INNER)
    assert "bypassing_staging" not in [f.kind for f in findings(rec.state())]


def test_stale_position_inside_a_perimeter_raises_warning_4() -> None:
    rec = incident()
    responder(rec, "r1", status="identified")
    responder(rec, "r2", status="identified")
    at(rec, "r1", OUTER_ONLY, at_s=10)
    at(rec, "r2", FAR, at_s=10)
    state = rec.state()
    assert findings(state, at_s=39) == []
    (finding,) = findings(state, at_s=85)  # r2 is stale too, but inside no perimeter
    assert finding.kind == "stale_or_no_radio_in_perimeter" and finding.responder_id == "r1"
    assert finding.detail == (
        "Officer r1 is inside the outer perimeter: position stale (last fix 1 min 15 s ago)"
    )


def test_no_radio_inside_a_perimeter_raises_warning_4_until_staging_issues_one() -> None:
    rec = incident()
    responder(rec, "r1", status="identified", has_radio=False)
    at(rec, "r1", IN_INNER)
    (finding,) = findings(rec.state())
    assert finding.detail == "Officer r1 is inside the inner perimeter: no radio"
    rec.add(ev.ResponderEquipmentIssued("r1", "radio-17", "TAC 2"), 11)
    assert findings(rec.state()) == []


def test_responder_not_on_any_roster_raises_warning_5_only_while_responding() -> None:
    rec = incident()
    responder(rec, "r1", verdict="not_on_roster")
    responder(rec, "r2", verdict="not_on_roster", status="notified")
    responder(rec, "r3", verdict="not_on_roster", status="acknowledged")
    responder(rec, "r4", verdict="retired")
    (finding,) = findings(rec.state())
    assert finding.kind == "not_on_roster" and finding.responder_id == "r1"
    assert finding.detail == "Officer r1 is not on any roster (claims Georgetown PD, badge 1234)"


def test_released_responders_never_warn() -> None:
    rec = incident()
    responder(
        rec, "r1", attire=BLACK_TEE, verdict="not_on_roster", has_radio=False, status="released"
    )
    rec.add(ev.SuspectDescriptionRevised(SEED_SUSPECT), 9)
    at(rec, "r1", IN_INNER)
    assert findings(rec.state(), at_s=100) == []


def test_findings_come_highest_priority_first() -> None:
    rec = incident()
    responder(rec, "r2", verdict="not_on_roster", has_radio=False)
    responder(rec, "r1", attire=BLACK_TEE)
    rec.add(ev.ResponderDirected("r2", "staging-a"), 5)
    rec.add(ev.SuspectDescriptionRevised(SEED_SUSPECT), 9)
    at(rec, "r1", FAR)
    at(rec, "r2", IN_INNER)
    assert [(f.kind, f.responder_id) for f in findings(rec.state())] == [
        ("unidentified_in_inner_perimeter", "r2"),
        ("attire_matches_suspect", "r1"),
        ("bypassing_staging", "r2"),
        ("stale_or_no_radio_in_perimeter", "r2"),
        ("not_on_roster", "r2"),
    ]


def test_a_closed_incident_has_no_warnings() -> None:
    rec = incident()
    responder(rec, "r1")
    at(rec, "r1", IN_INNER)
    rec.add(ev.IncidentStatusChanged("all_clear"), 11)
    assert findings(rec.state()) == []


def test_the_geofence_index_is_rebuilt_only_when_an_area_changes() -> None:
    rec = incident()
    state = rec.state()
    index = GeofenceIndex.for_state(state)
    assert GeofenceIndex.for_state(state) is index
    assert GeofenceIndex.for_state(rec.state()) is index  # equal areas, other objects
    assert sorted(zip(index.ids, index.roles, strict=True)) == [
        ("inner", "inner"), ("outer", "outer"), ("staging-a", "staging")
    ]  # fmt: skip
    rec.add(ev.PerimeterSet("outer", "outer", OUTER, 700.0))
    assert GeofenceIndex.for_state(rec.state()) is not index


def test_an_index_can_be_passed_in() -> None:
    rec = incident()
    responder(rec, "r1")
    at(rec, "r1", IN_INNER)
    state = rec.state()
    prebuilt = GeofenceIndex(
        state.lon, state.lat, state.staging_areas.values(), state.perimeters.values()
    )
    assert evaluate(state, T0 + 12 * S, prebuilt) == findings(state)


# --- the radio line ----------------------------------------------------------------------------


def test_radio_line_describes_every_plainclothes_officer_inside_the_outer_perimeter() -> None:
    rec = incident()
    responder(rec, "r1", name="Sgt. E. Cox", attire=GREY_HOODIE)
    responder(rec, "r2", name="Det. M. Ruiz", attire=BLACK_TEE)
    responder(rec, "r3", name="Ofc. A. Uniform")  # in uniform
    responder(rec, "r4", name="Det. B. Far", attire=BLACK_TEE)  # outside
    responder(rec, "r5", name="Det. C. Gone", attire=BLACK_TEE, status="released")
    responder(rec, "r6", name="Det. D. Marked", attire=BLACK_TEE, status="identified")
    rec.add(ev.ResponderEquipmentIssued("r6", marking="raid_jacket"), 8)
    assert radio_line(rec.state(), T0 + 12 * S) == NO_PLAINCLOTHES_INSIDE
    at(rec, "r1", OUTER_ONLY)
    at(rec, "r2", IN_INNER)
    at(rec, "r3", IN_INNER)
    at(rec, "r4", FAR)
    at(rec, "r5", IN_INNER)
    at(rec, "r6", IN_INNER)
    assert radio_line(rec.state(), T0 + 12 * S) == (
        "Plainclothes officers inside: Det. D. Marked, black t-shirt, blue pants, raid jacket; "
        "Det. M. Ruiz, black t-shirt, blue pants, no visible ID; "
        "Sgt. E. Cox, grey hoodie, blue pants, badge on belt."
    )
    assert NO_PLAINCLOTHES_INSIDE == "No plainclothes officers inside the outer perimeter."


@pytest.mark.parametrize("extra_areas", [10, 70])  # one bit per area up to 64; lists beyond
def test_the_survey_agrees_with_shapely_point_by_point(extra_areas: int) -> None:
    import random

    from shapely.geometry import Point as LonLat
    from shapely.geometry import shape

    from dispatch_console.domain.warnings import metres_per_degree, survey

    rng = random.Random(extra_areas)
    rec = incident()
    kx, ky = metres_per_degree(SCHOOL_LAT)
    for k in range(extra_areas):
        lon = SCHOOL_LON + rng.uniform(-800, 800) / kx
        lat = SCHOOL_LAT + rng.uniform(-800, 800) / ky
        d = rng.uniform(50, 300)
        ring = [[lon - d / kx, lat - d / ky], [lon + d / kx, lat - d / ky],
                [lon + d / kx, lat + d / ky], [lon - d / kx, lat + d / ky]]  # fmt: skip
        polygon = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        rec.add(ev.StagingAreaSet(f"s{k:02d}", f"S{k}", polygon))
    for i in range(300):
        rid = f"p{i:03d}"
        rec.notified(rid)
        at(rec, rid, (SCHOOL_LAT + rng.uniform(-1200, 1200) / ky,
                      SCHOOL_LON + rng.uniform(-1200, 1200) / kx))  # fmt: skip
    state = rec.state()
    where = survey(state)
    again = survey(state)  # every position located already: from the index's memory
    for rid, r in state.responders.items():
        assert r.position is not None
        point = LonLat(r.position.lon, r.position.lat)
        expected = sorted(
            area_id
            for area_id, area in state.staging_areas.items()
            if area.radius_m is None and shape(area.geometry).intersects(point)
        )
        got = sorted(a for a in where.area_ids(rid, "staging") if a != "staging-a")
        assert got == expected, rid
        assert where.place(rid) is again.place(rid)


def test_free_text_clauses_and_dispatch_abbreviations_are_read_as_written() -> None:
    from dispatch_console.domain.warnings import attire_match

    black_tee = ev.Attire(False, "black", "t-shirt", "blue", None, "none")
    black_jacket = ev.Attire(False, "black", "jacket", "black", None, "none")
    said = ev.SuspectDescription
    # Abbreviations as dispatchers type them.
    assert attire_match(black_tee, said(free_text="W/M, BLK SHIRT, BLU JEANS")) == (
        "top_color", "top_type", "bottom_color",
    )  # fmt: skip
    # Two colours of one garment.
    assert attire_match(black_tee, said(free_text="white male black and white shirt"))
    # A colour never crosses a comma into the next garment: the jeans have no colour here,
    # so a black jacket and black trousers match on colour only, which is no match.
    assert attire_match(black_jacket, said(free_text="white male, black shirt, jeans")) == ()
