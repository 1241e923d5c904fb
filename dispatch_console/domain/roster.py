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
_TITLES = frozenset(
    {
        "ofc",
        "officer",
        "det",
        "detective",
        "sgt",
        "sergeant",
        "lt",
        "lieutenant",
        "capt",
        "captain",
        "cpl",
        "corporal",
        "dep",
        "deputy",
        "tpr",
        "trooper",
        "agent",
        "sa",
        "chief",
        "sheriff",
        "ret",
        "retired",
        "mr",
        "mrs",
        "ms",
        "dr",
    }
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class RosterMatch:
    verdict: RosterVerdict
    entry: RosterEntry | None
    reason: str


def agency_key(text: str) -> str:
    """Agencies compare without case, spacing or punctuation: "Georgetown PD" = "georgetown pd"."""
    return re.sub(r"[\s\-_.]+", " ", text).strip().casefold()


def badge_key(text: str) -> str:
    """Badges compare without spaces, '#', '-' or leading zeros: "#0412" = "412"."""
    cleaned = re.sub(r"[\s#\-]+", "", text).casefold()
    return cleaned.lstrip("0") or "0"


def _name_words(name: str) -> list[str]:
    words = [w.casefold() for w in _WORD.findall(name)]
    return [w for w in words if w not in _TITLES]


def names_agree(claimed: str, on_roster: str) -> bool:
    """Same surname (the last word that is not a title), and the same first initial when the
    claim gives one: "Det. M. Ruiz" agrees with "Maria Ruiz"; "Maria Lopez" does not."""
    claim, roster = _name_words(claimed), _name_words(on_roster)
    if not claim or not roster or claim[-1] != roster[-1]:
        return False
    if len(claim) > 1 and len(roster) > 1:
        return claim[0][0] == roster[0][0]
    return True


class Roster:
    """The imported rosters, indexed for matching claims."""

    def __init__(self, entries: Iterable[RosterEntry]) -> None:
        self._by_badge: dict[tuple[str, str], RosterEntry] = {}
        self._by_device: dict[str, RosterEntry] = {}
        for entry in entries:
            self._by_badge[(agency_key(entry.agency), badge_key(entry.badge))] = entry
            for device_id in entry.device_ids:
                self._by_device[device_id.casefold()] = entry

    def by_device(self, device_id: str) -> RosterEntry | None:
        """The officer whose roster entry lists this device (the agency registered it)."""
        return self._by_device.get(device_id.casefold())

    def match(
        self,
        *,
        agency: str | None,
        badge: str | None,
        name: str | None,
        device_id: str | None = None,
    ) -> RosterMatch:
        by_device = self._by_device.get(device_id.casefold()) if device_id else None
        entry = None
        if agency and badge:
            entry = self._by_badge.get((agency_key(agency), badge_key(badge)))
        elif by_device is not None:
            entry = by_device
        claimed = f"{agency or 'no agency'} #{badge or 'no badge'}"
        if entry is None and by_device is None:
            return RosterMatch("not_on_roster", None, f"{claimed} is on no roster")
        if by_device is not None and by_device is not entry:
            return RosterMatch(
                "not_on_roster",
                entry,
                f"device {device_id} is registered to {by_device.agency} #{by_device.badge} "
                f"({by_device.name}), but the claim is {claimed}",
            )
        assert entry is not None
        if not name:
            return RosterMatch(
                "not_on_roster", entry, f"{claimed} is on the roster, but no name was claimed"
            )
        if not names_agree(name, entry.name):
            return RosterMatch(
                "not_on_roster",
                entry,
                f"{entry.agency} #{entry.badge} belongs to {entry.name}, not {name!r}",
            )
        verdict: RosterVerdict = "sworn_active" if entry.status == "active" else "retired"
        return RosterMatch(verdict, entry, f"{entry.agency} #{entry.badge}: {entry.name}")
