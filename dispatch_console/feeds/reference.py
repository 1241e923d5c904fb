"""Reference caches of the gateway: devices (and their TAK uids), schools, the roster and each
school's notification radius, read from the store and trusted for :data:`REFERENCE_TTL_S`.

While the store is unreachable (``offline``) the last copy read is used without asking the
store (each try could take seconds): the outage journal checks messages against it. Also here:
what a device says of itself (its profile) becomes, with the roster's verdict on it, the two
events every path that adds a responder to an incident stores (:meth:`profile_commands`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import DEFAULT_NOTIFICATION_RADIUS_M, School
from dispatch_console.domain.roster import Roster
from dispatch_console.feeds.identity import enrolled_uids
from dispatch_console.service import Command
from dispatch_console.store import Store, StoreUnreachable, unreachable
from dispatch_console.store.registry import Device

#: How long cached reference data (devices, roster) is trusted before it is read again.
REFERENCE_TTL_S = 10.0
GATEWAY = ev.Actor(ev.ActorKind.SYSTEM, "gateway")


@dataclass
class _Cached:
    loaded_at: float = 0.0
    value: Any = None


class ReferenceCache:
    """Devices, schools, roster and radii, as the gateway checks and routes messages."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: The store is known to be down (set by the gateway): the copies read last are used.
        self.offline = False
        self._schools: dict[str, School] = {}
        self._devices = _Cached()
        self._by_tak_uid: dict[str, Device] = {}
        #: TAK uid -> device id of devices enrolled with a client certificate (read with the
        #: devices): plain CoT never speaks for them (:mod:`~dispatch_console.feeds.identity`).
        self._enrolled: dict[str, str] = {}
        self._radii: dict[str, float] = {}
        self._roster = _Cached()

    def devices(self) -> dict[str, Device]:
        if time.monotonic() - self._devices.loaded_at > REFERENCE_TTL_S:
            try:
                if self.offline:
                    raise StoreUnreachable("the store is down")
                listed = self.store.devices()
            except Exception as exc:
                if self._devices.value is None or not unreachable(exc):
                    raise
                value: dict[str, Device] = self._devices.value
                return value  # the last copy: the store is down
            devices = {d.device_id: d for d in listed}
            self._devices = _Cached(time.monotonic(), devices)
            self._by_tak_uid = {d.tak_uid: d for d in devices.values() if d.tak_uid}
            self._enrolled = enrolled_uids(self.store, devices)
        current: dict[str, Device] = self._devices.value
        return current

    def enrolled(self) -> dict[str, str]:
        """TAK uid -> device id of every device enrolled with an active client certificate."""
        self.devices()  # refreshes it with the devices when the cache is old
        return self._enrolled

    def forget_devices(self) -> None:
        """Read the devices again on next use (a profile changed, a device was removed)."""
        self._devices.loaded_at = 0.0

    def remember(self) -> None:
        """Read every school and device now: what a message is checked against while the
        store is unreachable."""
        self._schools = {school.school_id: school for school in self.store.schools()}
        self.forget_devices()
        self.devices()

    def school(self, school_id: str) -> School | None:
        """The school, from the store (or its last copy read, while the store is down)."""
        try:
            if self.offline:
                raise StoreUnreachable("the store is down")
            school = self.store.school(school_id)
        except Exception as exc:
            if not unreachable(exc) or school_id not in self._schools:
                raise
            return self._schools[school_id]
        if school is not None:
            self._schools[school_id] = school
        return school

    def device_for_tak_uid(self, uid: str) -> Device | None:
        self.devices()  # refreshes the index when the cache is old
        return self._by_tak_uid.get(uid)

    def roster(self) -> Roster:
        if time.monotonic() - self._roster.loaded_at > REFERENCE_TTL_S:
            self._roster = _Cached(time.monotonic(), Roster(self.store.roster()))
        value: Roster = self._roster.value
        return value

    def radius(self, school_id: str) -> float:
        """The school's notification radius in metres (read once per school)."""
        radius = self._radii.get(school_id)
        if radius is None:
            school = self.school(school_id)
            radius = school.notification_radius_m if school else DEFAULT_NOTIFICATION_RADIUS_M
            self._radii[school_id] = radius
        return radius

    def profile_commands(
        self, incident_id: str, device_id: str, profile: dict[str, Any], at_us: int
    ) -> list[Command]:
        """What the device claims of itself, and the roster's verdict on it."""
        attire = profile.get("attire")
        reported = ev.ResponderProfileReported(
            device_id,
            profile.get("name"),
            profile.get("agency"),
            profile.get("badge"),
            profile.get("callsign"),
            profile.get("duty"),
            profile.get("has_radio"),
            msgspec.convert(attire, ev.Attire) if attire is not None else None,
        )
        match = self.roster().match(
            agency=reported.agency, badge=reported.badge, name=reported.name, device_id=device_id
        )
        checked = ev.ResponderRosterChecked(
            device_id,
            match.verdict,
            match.entry.name if match.entry else None,
            reported.agency,
            reported.badge,
            match.reason,
        )
        actor = ev.Actor(ev.ActorKind.DEVICE, device_id)
        return [
            Command(incident_id, reported, actor, ev.Source.FEED, at_us),
            Command(incident_id, checked, GATEWAY, ev.Source.FEED, at_us),
        ]
