"""The rejection log, aggregated and bounded per source.

Every refusal is logged, but a flood must not become a flood of rows (20,000 junk datagrams
once added 20,000 rows in under a second, with no credentials needed). Refusals are grouped
by transport and source address (the port left out: a flood from random ports is one source)
and reason for :data:`WINDOW_US`: the first of a group is written as one row at the next flush,
and the ones after it only raise that row's count (``reason`` then reads ``"N× since HH:MM:SS:
<reason>"``). A source has at most :data:`REASONS_PER_SOURCE` groups open (further reasons from
it share one more, ``"N× since ...: various, last: <reason>"``), and at most
:data:`MAX_SOURCES` sources are (refusals from further sources meanwhile share one group per
transport, sender ``"*"``): memory and rows stay bounded whatever the sender does. The Python
log gets the first refusal of each group and a summary line per flush, never one per datagram.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Final, Protocol

from dispatch_console.domain.timeutil import US_PER_S, iso
from dispatch_console.store.registry import Rejection

log = logging.getLogger(__name__)

#: How long refusals from one source are counted in one row.
WINDOW_US: Final = 60 * US_PER_S
#: Sources counted in a group of their own at once; refusals from others share one group.
MAX_SOURCES: Final = 1000
#: Distinct reasons from one source counted in rows of their own at once.
REASONS_PER_SOURCE: Final = 20
OTHER: Final = "\0various"
OVERFLOW: Final = "*"


class RejectionStore(Protocol):
    def add_rejections_counted(self, rejections: list[Rejection]) -> list[int]: ...

    def update_rejections(self, updates: list[tuple[int, str, str]]) -> None: ...


def source_of(sender: str) -> str:
    """The address a refusal came from: ``key@1.2.3.4`` -> ``1.2.3.4``; ``1.2.3.4:5678`` ->
    ``1.2.3.4``; ``[::1]:5678`` and ``::1`` alike -> ``::1``."""
    host = sender.rpartition("@")[2]
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


@dataclass
class _Group:
    first: Rejection
    various: bool
    count: int
    last_reason: str
    last_at_us: int
    row_id: int | None = None  # once written
    written_count: int = 0


class RejectionLog:
    """Refusals waiting to be written, grouped by ``(transport, source)``."""

    def __init__(self, window_us: int = WINDOW_US, max_sources: int = MAX_SOURCES) -> None:
        self.window_us = window_us
        self.max_sources = max_sources
        #: (transport, source) -> reason (or OTHER) -> its group.
        self._groups: dict[tuple[str, str], dict[str, _Group]] = {}

    def add(self, rejection: Rejection) -> bool:
        """Count one refusal; ``True`` if it opens a group (the caller logs it in full)."""
        at_us = rejection.at_us
        source = (rejection.transport, source_of(rejection.sender))
        reasons = self._groups.get(source)
        if reasons is None and len(self._groups) >= self.max_sources:
            self._expire(at_us)
            if len(self._groups) >= self.max_sources:
                source = (rejection.transport, OVERFLOW)
                rejection = replace(rejection, sender=f"{OVERFLOW} (too many sources)")
                reasons = self._groups.get(source)
        if reasons is None:
            reasons = self._groups[source] = {}
        reason = rejection.reason
        group = reasons.get(reason)
        if group is None and len(reasons) >= REASONS_PER_SOURCE:
            reason = OTHER
            group = reasons.get(reason)
        if group is not None and at_us - group.first.at_us > self.window_us:
            group = None  # the window is over: a new row (the old one stays as written)
        if group is None:
            reasons[reason] = _Group(rejection, reason == OTHER, 1, rejection.reason, at_us)
            return True
        group.count += 1
        group.last_reason = rejection.reason
        group.last_at_us = rejection.at_us
        return False

    def _all(self) -> list[_Group]:
        return [g for reasons in self._groups.values() for g in reasons.values()]

    @property
    def waiting(self) -> int:
        """Refusals counted but not written yet."""
        return sum(g.count - g.written_count for g in self._all())

    def write(self, store: RejectionStore, now_us: int) -> None:
        """Write new groups as rows and raise the counts of written ones; forget groups whose
        window is over. If the store fails, nothing is lost: the next call writes it."""
        groups = self._all()
        fresh = [g for g in groups if g.row_id is None]
        grown = [g for g in groups if g.row_id is not None and g.count > g.written_count]
        if fresh:
            ids = store.add_rejections_counted([_row(g) for g in fresh])
            for group, row_id in zip(fresh, ids, strict=True):
                group.row_id = row_id
                group.written_count = group.count
        if grown:
            store.update_rejections(
                [(g.row_id, _reason(g), g.first.sender) for g in grown if g.row_id is not None]
            )
            for group in grown:
                if group.count - group.written_count > 1:
                    log.warning(
                        "%d more %s message(s) refused from %s (last: %s)",
                        group.count - group.written_count,
                        group.first.transport,
                        source_of(group.first.sender),
                        group.last_reason,
                    )
                group.written_count = group.count
        self._expire(now_us)

    def _expire(self, now_us: int) -> None:
        for source, reasons in list(self._groups.items()):
            for reason, group in list(reasons.items()):
                if now_us - group.first.at_us > self.window_us and not group.count > (
                    group.written_count
                ):
                    del reasons[reason]
            if not reasons:
                del self._groups[source]


def _reason(group: _Group) -> str:
    if group.count == 1:
        return group.first.reason
    since = iso(group.first.at_us)[11:19]
    if group.various:
        return f"{group.count}× since {since}: various reasons, last: {group.last_reason}"
    return f"{group.count}× since {since}: {group.first.reason}"


def _row(group: _Group) -> Rejection:
    return replace(group.first, reason=_reason(group))


_COUNTED = re.compile(r"^([0-9]+)× since [0-9:]{8}: (?:various reasons, last: )?")


def counted(reason: str) -> tuple[int, str]:
    """How many refusals a row stands for, and the reason (of the last, for ``various``)."""
    match = _COUNTED.match(reason)
    if match is None:
        return 1, reason
    return int(match.group(1)), reason[match.end() :]


__all__ = ["MAX_SOURCES", "WINDOW_US", "RejectionLog", "counted", "source_of"]
