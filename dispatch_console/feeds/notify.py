"""Who to alert: every registered device within the school's notification radius, on duty and
off, by its last known position or, when none is known, its registered home or patrol area."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dispatch_console.domain.geometry import near_distances_m
from dispatch_console.domain.reference import School
from dispatch_console.store.registry import Device


def devices_to_notify(school: School, devices: Iterable[Device]) -> list[Device]:
    """Devices within the school's notification radius, nearest first (ties in the registry's
    order). The radius is measured as a report joining an incident measures it
    (:func:`~dispatch_console.domain.geometry.near_distance_m`), for all devices at once: an
    activation among 2,000 devices costs a millisecond, not a projection of each."""
    placed = [(d, d.known_position()) for d in devices]
    placed = [(d, p) for d, p in placed if p is not None]
    if not placed:
        return []
    lonlat = np.array([p for _, p in placed], dtype=np.float64)
    distances = near_distances_m(school.lon, school.lat, lonlat[:, 0], lonlat[:, 1])
    inside = np.flatnonzero(distances <= school.notification_radius_m)
    order = inside[np.argsort(distances[inside], kind="stable")]
    return [placed[i][0] for i in order]


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
