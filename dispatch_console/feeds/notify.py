"""Who to alert: every registered device within the school's notification radius, on duty and
off, by its last known position or, when none is known, its registered home or patrol area."""

from __future__ import annotations

from collections.abc import Iterable

from shapely.geometry import Point

from dispatch_console.domain.geometry import Area, AreaIndex, local_frame
from dispatch_console.domain.reference import School
from dispatch_console.store.registry import Device


def devices_to_notify(school: School, devices: Iterable[Device]) -> list[Device]:
    """Devices inside the radius, nearest first (a spatial index over the device positions)."""
    frame = local_frame(school.lon, school.lat)
    radius = Area("radius", "notification", Point(0.0, 0.0).buffer(school.notification_radius_m))
    known = {d.device_id: (d, d.known_position()) for d in devices}
    points = {device_id: pos for device_id, (_, pos) in known.items() if pos is not None}
    inside = AreaIndex(frame, [radius]).containing(points)
    chosen = [known[device_id][0] for device_id, areas in inside.items() if areas]
    return sorted(
        chosen,
        key=lambda d: frame.distance_m(*points[d.device_id], school.lon, school.lat),
    )


def alert_text(
    school: School,
    alert_type: str,
    location: str | None,
    message: str | None,
    staging_name: str | None,
    instruction: str | None = None,
) -> str:
    """The alert as a responder's phone shows it: what, where, and where to go instead."""
    what = alert_type.replace("_", " ").upper()
    where = f" ({location})" if location else ""
    said = f": {message}" if message else ""
    go = (
        f" {instruction}"
        if instruction
        else f" Go to {staging_name}, NOT the school, and check in there."
        if staging_name
        else " Check in with the incident commander before you act."
    )
    return f"{what} at {school.name}{where}{said}.{go}"
