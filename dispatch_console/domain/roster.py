"""Roster matching: is the identity a responder claims a sworn active officer, a retired
(LEOSA) officer, or nobody we know? Anyone can install an app, so only a roster entry whose
agency and badge match, and whose name agrees with the claimed one, verifies a claim."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dispatch_console.domain.events import RosterVerdict
from dispatch_console.domain.reference import RosterEntry

#: Ranks and titles people put before their name; they are not part of it.
_TITLES = frozenset({
    "ofc", "officer", "det", "detective", "sgt", "sergeant", "lt", "lieutenant", "capt",
    "captain", "cpl", "corporal", "dep", "deputy", "tpr", "trooper", "agent", "sa", "chief",
    "sheriff", "ret", "retired", "mr", "mrs", "ms", "dr",
})  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class RosterMatch:
    verdict: RosterVerdict
    entry: RosterEntry | None
    reason: str


def _key(text: str) -> str:
    return re.sub(r"[\s\-_.]+", " ", text).strip().casefold()


def _badge(text: str) -> str:
    cleaned = re.sub(r"[\s#\-]+", "", text).casefold()
    return cleaned.lstrip("0") or "0"


def _surnames(name: str) -> set[str]:
    words = [w.casefold() for w in _WORD.findall(name)]
    return {w for w in words if w not in _TITLES and len(w) > 1}


class Roster:
    """The imported rosters, indexed for matching claims."""

    def __init__(self, entries: Iterable[RosterEntry]) -> None:
        self._by_badge: dict[tuple[str, str], RosterEntry] = {}
        self._by_device: dict[str, RosterEntry] = {}
        for entry in entries:
            self._by_badge[(_key(entry.agency), _badge(entry.badge))] = entry
            for device_id in entry.device_ids:
                self._by_device[device_id.casefold()] = entry

    def match(
        self,
        *,
        agency: str | None,
        badge: str | None,
        name: str | None,
        device_id: str | None = None,
    ) -> RosterMatch:
        entry = None
        if agency and badge:
            entry = self._by_badge.get((_key(agency), _badge(badge)))
        if entry is None and device_id:
            entry = self._by_device.get(device_id.casefold())
            if entry is not None and (agency or badge):
                claimed = f"{agency or '?'} #{badge or '?'}"
                return RosterMatch(
                    "not_on_roster",
                    entry,
                    f"device {device_id} is registered to {entry.agency} #{entry.badge} "
                    f"({entry.name}), but the claim is {claimed}",
                )
        if entry is None:
            claimed = f"{agency or 'no agency'} #{badge or 'no badge'}"
            return RosterMatch("not_on_roster", None, f"{claimed} is on no roster")
        if name and not (_surnames(name) & _surnames(entry.name)):
            return RosterMatch(
                "not_on_roster",
                entry,
                f"{entry.agency} #{entry.badge} belongs to {entry.name}, not {name!r}",
            )
        verdict: RosterVerdict = "sworn_active" if entry.status == "active" else "retired"
        return RosterMatch(verdict, entry, f"{entry.agency} #{entry.badge}: {entry.name}")
