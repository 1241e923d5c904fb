from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import format_duration, iso, parse_iso, to_us


def test_every_event_type_round_trips_through_its_json_payload() -> None:
    samples: list[ev.Payload] = [
        ev.IncidentOpened("s", "School", "lockdown", -84.5, 38.2, exercise=True),
        ev.AlertReceived("a", "s", "fire", 5, "J. Ortiz", "office", "Gym", "smoke"),
        ev.SuspectDescriptionRevised(ev.SuspectDescription(sex="male", weapon="rifle")),
        ev.ResponderProfileReported(
            "r",
            "N",
            "A",
            "1",
            "C",
            "off",
            False,
            ev.Attire(False, "black", "t-shirt", "blue", None, "none"),
        ),
        ev.ResponderPosition("r", 38.2, -84.5, 1, 2, 5.0, 12.5, 270.0),
        ev.ResponderAssigned("r", "rescue_task_force", "RTF 1"),
    ]
    for payload in samples:
        raw = ev.encode_payload(payload)
        assert ev.decode_payload(payload.TYPE, raw) == payload
    assert len(ev.PAYLOAD_TYPES) == len({cls.TYPE for cls in ev.PAYLOAD_TYPES.values()})


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(math.nan, 0.0), (0.0, math.inf), (91.0, 0.0), (-90.5, 0.0), (0.0, 180.01), (0.0, -181.0)],
)
def test_a_position_outside_wgs84_cannot_exist(lat: float, lon: float) -> None:
    with pytest.raises(ValueError):
        ev.ResponderPosition("r", lat, lon, 1, 2)
    raw = msgspec.json.encode(
        {"responder_id": "r", "lat": lat, "lon": lon, "at_us": 1, "stale_at_us": 2}
    )
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        ev.decode_payload("responder_position", raw)


def test_a_position_whose_stale_time_precedes_it_is_refused() -> None:
    with pytest.raises(ValueError, match="stale"):
        ev.ResponderPosition("r", 38.0, -84.0, 10, 5)


def test_unknown_fields_and_types_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        ev.decode_payload("responder_en_route", b'{"responder_id":"r","extra":1}')
    with pytest.raises(ev.UnknownEventType):
        ev.decode_payload("responder_teleported", b"{}")


def test_attire_describes_what_a_colleague_would_see() -> None:
    attire = ev.Attire(False, "black", "t-shirt", "blue", None, "none")
    assert attire.describe() == "plainclothes: black t-shirt, blue pants, no visible ID"
    assert ev.Attire(True).describe() == "uniform"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T09:14:05Z",
        "2026-11-24T09:14:05.71Z",
        "2026-11-24T09:14:05.000Z",
        "2026-11-24T09:14:05.000000Z",
        "2026-11-24T09:14:05.0000000Z",
        "2026-11-24T04:14:05-05:00",
    ],
)
def test_iso_times_with_any_fraction_length_parse_to_the_same_second(text: str) -> None:
    assert parse_iso(text) // 1_000_000 == parse_iso("2026-11-24T09:14:05Z") // 1_000_000


def test_a_time_without_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        parse_iso("2026-11-24T09:14:05")
    with pytest.raises(ValueError):
        parse_iso("yesterday")


@given(st.integers(min_value=0, max_value=4_000_000_000_000_000))
def test_iso_round_trips_to_the_millisecond(us: int) -> None:
    assert parse_iso(iso(us)) == us - us % 1000


def test_durations_read_like_a_clock() -> None:
    assert format_duration(130_000_000) == "2m 10s"
    assert format_duration(3_723_000_000) == "1h 02m 03s"
    assert format_duration(-5) == "0s"
    from datetime import UTC, datetime

    assert to_us(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1_000_000
