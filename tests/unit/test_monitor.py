"""derive: geofence events, arrival by geofence, warnings raised and ended; idempotent."""

from __future__ import annotations

from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.domain.fold import apply, replay
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.monitor import MONITOR, derive
from tests.builders import SCHOOL_LAT, SCHOOL_LON, T0, Recorder, S
from tests.unit.test_warnings import (
    BLACK_TEE,
    FAR,
    GREY_HOODIE,
    IN_INNER,
    IN_STAGING,
    NEAR_INNER,
    OUTER_ONLY,
    SEED_SUSPECT,
    at,
    incident,
    responder,
)


def settle(rec: Recorder, at_s: float) -> list[ev.Payload]:
    """Derive at ``at_s``, check each payload with the decider and record it (as the monitor
    does), then check that deriving again at the same instant finds nothing."""
    now = T0 + int(at_s * S)
    state = rec.state()
    derived = derive(state, now)
    for payload in derived:
        validate(state, payload)
        apply(state, rec.add(payload, at_s, actor=MONITOR))
    assert derive(rec.state(), now) == []
    return derived


def raised(payloads: list[ev.Payload]) -> list[tuple[str, str]]:
    return [(p.kind, p.responder_id) for p in payloads if isinstance(p, ev.WarningRaised)]


def ended(payloads: list[ev.Payload]) -> list[tuple[str, str | None]]:
    return [(p.warning_id, p.reason) for p in payloads if isinstance(p, ev.WarningEnded)]


def test_entering_and_leaving_perimeters_are_events() -> None:
    rec = incident()
    responder(rec, "r1", status="identified")
    at(rec, "r1", OUTER_ONLY, at_s=10)
    assert settle(rec, 10) == [ev.PerimeterEntered("r1", "outer", "outer")]
    at(rec, "r1", IN_INNER, at_s=11)
    assert settle(rec, 11) == [ev.PerimeterEntered("r1", "inner", "inner")]
    assert rec.state().responders["r1"].inside_perimeters == ["outer", "inner"]
    at(rec, "r1", FAR, at_s=12)
    assert settle(rec, 12) == [
        ev.PerimeterExited("r1", "outer", "outer"),
        ev.PerimeterExited("r1", "inner", "inner"),
    ]
    assert rec.state().responders["r1"].inside_perimeters == []


def test_a_stale_position_keeps_its_last_known_membership() -> None:
    rec = incident()
    responder(rec, "r1", status="identified")
    at(rec, "r1", IN_INNER, at_s=10)
    settle(rec, 10)
    payloads = settle(rec, 300)  # silent for almost five minutes
    assert not [p for p in payloads if isinstance(p, ev.PerimeterExited)]
    assert raised(payloads) == [("stale_or_no_radio_in_perimeter", "r1")]
    assert sorted(rec.state().responders["r1"].inside_perimeters) == ["inner", "outer"]


def test_arrival_at_staging_is_detected_by_geofence() -> None:
    rec = incident()
    responder(rec, "r1")
    rec.add(ev.ResponderDirected("r1", "staging-a"), 5)
    at(rec, "r1", FAR, at_s=10)
    assert settle(rec, 10) == []
    at(rec, "r1", IN_STAGING, at_s=40)
    assert settle(rec, 40) == [ev.ResponderArrived("r1", "staging", "staging-a")]
    r1 = rec.state().responders["r1"]
    assert r1.status is ResponderStatus.AT_STAGING and r1.staging_area_id == "staging-a"
    assert r1.arrived_at_us == T0 + 40 * S and r1.arrived_place == "staging"
    at(rec, "r1", FAR, at_s=50)  # leaving does not un-arrive
    assert settle(rec, 50) == []


def test_arrival_prefers_the_staging_area_the_responder_was_directed_to() -> None:
    rec = incident()
    lon, lat = IN_STAGING[1], IN_STAGING[0]
    rec.add(
        ev.StagingAreaSet(
            "staging-0", "Staging 0", {"type": "Point", "coordinates": [lon, lat]}, 30
        )
    )
    responder(rec, "r1")
    responder(rec, "r2")
    rec.add(ev.ResponderDirected("r1", "staging-a"), 5)
    at(rec, "r1", IN_STAGING)
    at(rec, "r2", IN_STAGING)
    assert settle(rec, 12) == [
        ev.ResponderArrived("r1", "staging", "staging-a"),
        ev.ResponderArrived("r2", "staging", "staging-0"),  # the first by id
    ]


def test_arrival_on_scene_is_detected_in_the_inner_perimeter_whatever_was_answered() -> None:
    rec = incident()
    responder(rec, "r1", attire=GREY_HOODIE)
    responder(rec, "tak-1", status="notified")  # a TAK device never answers in the app
    responder(rec, "r3", status="acknowledged")
    at(rec, "r1", IN_INNER)
    at(rec, "tak-1", IN_INNER)
    at(rec, "r3", OUTER_ONLY)  # the cordon is not the scene
    payloads = settle(rec, 12)
    arrivals = [p for p in payloads if isinstance(p, ev.ResponderArrived)]
    assert arrivals == [ev.ResponderArrived("r1", "scene"), ev.ResponderArrived("tak-1", "scene")]
    # Arrived, so now responding: the warnings are judged as arrived.
    assert raised(payloads) == [
        ("unidentified_in_inner_perimeter", "r1"),
        ("unidentified_in_inner_perimeter", "tak-1"),
    ]
    state = rec.state()
    assert state.responders["tak-1"].status is ResponderStatus.ON_SCENE
    assert state.responders["tak-1"].self_dispatched
    assert state.responders["r3"].status is ResponderStatus.ACKNOWLEDGED


def test_without_an_inner_perimeter_the_scene_is_100_m_around_the_school() -> None:
    rec = incident()
    rec.add(ev.PerimeterRemoved("inner"))
    responder(rec, "r1")
    responder(rec, "r2")
    at(rec, "r1", (SCHOOL_LAT + 0.0005, SCHOOL_LON))  # 56 m
    at(rec, "r2", (SCHOOL_LAT + 0.0015, SCHOOL_LON))  # 167 m
    arrivals = [p for p in settle(rec, 12) if isinstance(p, ev.ResponderArrived)]
    assert arrivals == [ev.ResponderArrived("r1", "scene")]


def test_a_responder_who_said_on_scene_while_standing_in_staging_is_at_staging() -> None:
    rec = incident()
    responder(rec, "r1", status="on_scene")
    at(rec, "r1", IN_STAGING)
    assert settle(rec, 12) == [ev.ResponderArrived("r1", "staging", "staging-a")]


def test_the_seed_case_attire_match_then_inner_perimeter_then_identified() -> None:
    rec = incident()
    responder(
        rec,
        "r1",
        name="Sgt. Elena Cox",
        attire=ev.Attire(False, "black", "t-shirt", "blue", None, "badge_on_belt"),
    )
    at(rec, "r1", FAR, at_s=10)
    assert settle(rec, 10) == []
    rec.add(ev.SuspectDescriptionRevised(SEED_SUSPECT), 20)
    (attire,) = settle(rec, 20)
    assert attire == ev.WarningRaised(
        "attire_matches_suspect:r1:1",
        "attire_matches_suspect",
        "r1",
        "Sgt. Elena Cox (plainclothes): attire matches suspect: "
        "top colour black, top type shirt (t-shirt)",
        ("top_color", "top_type"),
    )
    at(rec, "r1", IN_INNER, at_s=60)
    payloads = settle(rec, 60)
    assert payloads == [
        ev.PerimeterEntered("r1", "inner", "inner"),
        ev.PerimeterEntered("r1", "outer", "outer"),
        ev.ResponderArrived("r1", "scene"),
        ev.WarningRaised(
            "unidentified_in_inner_perimeter:r1:1",
            "unidentified_in_inner_perimeter",
            "r1",
            "Sgt. Elena Cox is inside the inner perimeter: not identified",
        ),
    ]
    rec.add(ev.ResponderIdentified("r1", "credentials_in_person", "Sgt. Brooks"), 70)
    assert settle(rec, 70) == [
        ev.WarningEnded("unidentified_in_inner_perimeter:r1:1", "identified")
    ]
    state = rec.state()
    assert [w.warning_id for w in state.active_warnings()] == ["attire_matches_suspect:r1:1"]
    done = state.warnings["unidentified_in_inner_perimeter:r1:1"]
    assert (done.raised_at_us, done.ended_at_us) == (T0 + 60 * S, T0 + 70 * S)


def test_warning_1_ends_when_the_responder_leaves_and_starts_again_with_a_new_id() -> None:
    rec = incident()
    responder(rec, "r1")
    at(rec, "r1", IN_INNER, at_s=10)
    assert raised(settle(rec, 10)) == [("unidentified_in_inner_perimeter", "r1")]
    at(rec, "r1", OUTER_ONLY, at_s=20)
    assert ended(settle(rec, 20)) == [
        ("unidentified_in_inner_perimeter:r1:1", "left the inner perimeter")
    ]
    at(rec, "r1", IN_INNER, at_s=30)
    again = [p for p in settle(rec, 30) if isinstance(p, ev.WarningRaised)]
    assert [p.warning_id for p in again] == ["unidentified_in_inner_perimeter:r1:2"]


def test_an_identified_plainclothes_officer_warning_ends_when_marked() -> None:
    rec = incident()
    responder(rec, "r1", attire=BLACK_TEE, status="identified")
    at(rec, "r1", IN_INNER, at_s=10)
    assert raised(settle(rec, 10)) == [("unidentified_in_inner_perimeter", "r1")]
    rec.add(ev.ResponderEquipmentIssued("r1", marking="vest"), 15)
    assert ended(settle(rec, 15)) == [
        ("unidentified_in_inner_perimeter:r1:1", "visible police ID (vest)")
    ]


def test_attire_warning_ends_when_the_suspect_description_is_revised() -> None:
    rec = incident()
    responder(rec, "r1", attire=BLACK_TEE)
    rec.add(ev.SuspectDescriptionRevised(SEED_SUSPECT), 5)
    at(rec, "r1", FAR)
    assert raised(settle(rec, 10)) == [("attire_matches_suspect", "r1")]
    red = ev.SuspectDescription(sex="male", top_color="red", top_type="hoodie")
    rec.add(ev.SuspectDescriptionRevised(red), 20)
    assert ended(settle(rec, 20)) == [
        ("attire_matches_suspect:r1:1", "suspect description revised (rev 2)")
    ]


def test_a_suspect_revision_that_matches_more_names_the_newly_matching_fields() -> None:
    """ "blue jeans" added to the description matches an officer's blue pants: the warning is
    raised again (as events: the old one ends, a new one names what is new)."""
    rec = incident()
    responder(rec, "r1", attire=BLACK_TEE)  # black t-shirt, blue pants
    rec.add(ev.SuspectDescriptionRevised(SEED_SUSPECT), 5)  # "white male, black shirt"
    at(rec, "r1", FAR)
    first = [p for p in settle(rec, 10) if isinstance(p, ev.WarningRaised)]
    assert [p.matched_fields for p in first] == [("top_color", "top_type")]
    jeans = ev.SuspectDescription(
        sex="male", race="white", top_color="black", free_text="white male, black shirt, blue jeans"
    )
    rec.add(ev.SuspectDescriptionRevised(jeans), 20)
    payloads = settle(rec, 20)
    assert ended(payloads) == [
        ("attire_matches_suspect:r1:1", "suspect description revised (rev 2)")
    ]
    again = [p for p in payloads if isinstance(p, ev.WarningRaised)]
    assert [(p.warning_id, p.matched_fields) for p in again] == [
        ("attire_matches_suspect:r1:2", ("top_color", "top_type", "bottom_color"))
    ]
    assert again[0].detail.endswith(
        "newly matching since the suspect description was revised: bottom colour blue"
    )
    # A revision that matches no more than before changes nothing.
    rec.add(ev.SuspectDescriptionRevised(jeans), 30)
    assert settle(rec, 30) == []


def test_bypassing_staging_is_raised_and_ends_on_arrival_at_staging() -> None:
    rec = incident()
    responder(rec, "r1")
    rec.add(ev.ResponderDirected("r1", "staging-a"), 5)
    at(rec, "r1", NEAR_INNER, at_s=10, heading_deg=180.0, speed_mps=10.0)
    payloads = settle(rec, 10)
    assert raised(payloads) == [("bypassing_staging", "r1")]
    at(rec, "r1", IN_STAGING, at_s=60)
    payloads = settle(rec, 60)
    assert ev.ResponderArrived("r1", "staging", "staging-a") in payloads
    assert ended(payloads) == [("bypassing_staging:r1:1", "arrived at staging")]


def test_stale_or_no_radio_warning_ends_with_a_fresh_fix_or_an_issued_radio() -> None:
    rec = incident()
    responder(rec, "r1", status="identified")
    responder(rec, "r2", status="identified", has_radio=False)
    at(rec, "r1", OUTER_ONLY, at_s=10)
    at(rec, "r2", OUTER_ONLY, at_s=10)
    assert raised(settle(rec, 10)) == [("stale_or_no_radio_in_perimeter", "r2")]
    assert raised(settle(rec, 45)) == [("stale_or_no_radio_in_perimeter", "r1")]
    rec.add(ev.ResponderEquipmentIssued("r2", "radio-17", "TAC 2"), 50)
    assert settle(rec, 50) == []  # r2 has a radio now, but its position is stale
    at(rec, "r1", OUTER_ONLY, at_s=51)
    at(rec, "r2", OUTER_ONLY, at_s=51)
    assert sorted(ended(settle(rec, 51))) == [
        ("stale_or_no_radio_in_perimeter:r1:1", "position current"),
        ("stale_or_no_radio_in_perimeter:r2:1", "radio issued"),
    ]


def test_not_on_roster_warning_ends_when_released() -> None:
    rec = incident()
    responder(rec, "r1", verdict="not_on_roster")
    assert raised(settle(rec, 10)) == [("not_on_roster", "r1")]
    rec.add(ev.ResponderReleased("r1", "not a police officer"), 20)
    assert ended(settle(rec, 20)) == [("not_on_roster:r1:1", "released")]


def test_all_clear_ends_every_active_warning() -> None:
    rec = incident()
    responder(rec, "r1", verdict="not_on_roster")
    responder(rec, "r2")
    at(rec, "r2", IN_INNER)
    settle(rec, 12)
    rec.add(ev.IncidentStatusChanged("all_clear"), 20)
    assert sorted(ended(settle(rec, 20))) == [
        ("not_on_roster:r1:1", "incident all clear"),
        ("unidentified_in_inner_perimeter:r2:1", "incident all clear"),
    ]
    assert rec.state().active_warnings() == []


def test_derive_on_a_large_realistic_incident_is_idempotent_and_every_event_is_valid() -> None:
    from tests.ui.factory import build_incident

    built = build_incident(200)
    state = replay(built.incident_id, built.events)
    derived = derive(state, built.now_us)
    kinds = {type(p).__name__ for p in derived}
    assert {"PerimeterEntered", "WarningRaised"} <= kinds
    for seq, payload in enumerate(derived, state.last_seq + 1):
        validate(state, payload)
        apply(
            state,
            ev.Event(
                seq, state.incident_id, payload.TYPE, built.now_us, built.now_us, MONITOR,
                ev.Source.FEED, payload,
            ),
        )  # fmt: skip
    assert derive(state, built.now_us) == []
    r000 = {w.kind for w in state.active_warnings() if w.responder_id == "r000"}
    assert r000 == {
        "unidentified_in_inner_perimeter",
        "attire_matches_suspect",
        "stale_or_no_radio_in_perimeter",  # off duty, no radio
    }


def test_derive_gives_the_same_events_from_a_cold_or_a_warm_index() -> None:
    from dispatch_console.domain.warnings import GeofenceIndex
    from tests.ui.factory import build_incident

    built = build_incident(120, seed=4)
    state = replay(built.incident_id, built.events)

    def cold() -> GeofenceIndex:
        return GeofenceIndex(
            state.lon, state.lat, state.staging_areas.values(), state.perimeters.values()
        )

    warm = cold()
    derive(state, built.now_us, warm)  # remembers every position
    first = derive(state, built.now_us, cold())
    assert first and derive(state, built.now_us, warm) == first == derive(state, built.now_us)


def test_gps_noise_at_the_boundary_does_not_end_and_raise_the_warning_again() -> None:
    rec = incident()
    responder(rec, "r1")
    at(rec, "r1", IN_INNER, at_s=10)
    first = settle(rec, 10)
    assert ("unidentified_in_inner_perimeter", "r1") in raised(first)
    # 8 m north of the inner perimeter's edge (38.2264): noise, not a departure.
    at(rec, "r1", (38.2264 + 8 / 111_000, -84.5400), at_s=12)
    assert settle(rec, 12) == []
    assert "inner" in rec.state().responders["r1"].inside_perimeters
    # 30 m out: left.
    at(rec, "r1", (38.2264 + 30 / 111_000, -84.5400), at_s=14)
    payloads = settle(rec, 14)
    assert ev.PerimeterExited("r1", "inner", "inner") in payloads
    assert [reason for _, reason in ended(payloads)]
