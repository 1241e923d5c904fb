"""Whom an activation alerts: every device within the school's radius, nearest first, by the
same distance rule a report uses to join an incident (one rule, two callers)."""

from __future__ import annotations

import random
from dataclasses import replace

from dispatch_console.domain.geometry import near_distance_m
from dispatch_console.domain.reference import School
from dispatch_console.feeds.notify import devices_to_notify
from dispatch_console.store.registry import Device

SCHOOL = School("lincoln-hs", "Lincoln HS", -84.54, 38.225, notification_radius_m=8_000)
BLANK = Device("x", None, None, None, None, None, None, None, None, 0)


def _device(n: int, lon: float | None, lat: float | None, *, home: bool = False) -> Device:
    if home:
        return replace(BLANK, device_id=f"dev-{n}", home_lon=lon, home_lat=lat)
    return replace(BLANK, device_id=f"dev-{n}", last_lon=lon, last_lat=lat, last_at_us=1)


def test_two_thousand_devices_by_the_joining_rule_nearest_first() -> None:
    rng = random.Random(7)
    devices = [
        _device(
            n,
            SCHOOL.lon + rng.uniform(-0.2, 0.2),
            SCHOOL.lat + rng.uniform(-0.15, 0.15),
            home=n % 3 == 0,
        )
        for n in range(2_000)
    ]
    devices.append(_device(2_000, None, None))  # nothing known of where it is: never alerted

    chosen = devices_to_notify(SCHOOL, devices)

    def distance(d: Device) -> float:
        position = d.known_position()
        assert position is not None
        return near_distance_m(SCHOOL.lon, SCHOOL.lat, *position)

    expected = [d for d in devices[:-1] if distance(d) <= SCHOOL.notification_radius_m]
    assert 200 < len(expected) < 1_800  # the sample straddles the radius
    assert {d.device_id for d in chosen} == {d.device_id for d in expected}
    distances = [distance(d) for d in chosen]
    assert distances == sorted(distances)


def test_the_radius_edge_and_a_last_position_over_the_home() -> None:
    # 1 degree of latitude is ~111.2 km: 7,990 m and 8,010 m north of the school.
    inside = _device(1, SCHOOL.lon, SCHOOL.lat + 7_990 / 111_195)
    outside = _device(2, SCHOOL.lon, SCHOOL.lat + 8_010 / 111_195)
    # Registered at home far away, but last reported next to the school: alerted.
    moved = replace(_device(3, SCHOOL.lon + 1.0, SCHOOL.lat, home=True),
                    last_lon=SCHOOL.lon, last_lat=SCHOOL.lat, last_at_us=1)  # fmt: skip
    assert [d.device_id for d in devices_to_notify(SCHOOL, [outside, inside, moved])] == [
        "dev-3",
        "dev-1",
    ]
    assert devices_to_notify(SCHOOL, []) == []
