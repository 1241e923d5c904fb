"""Time as integer microseconds since the Unix epoch (UTC).

Integers are exact, order the same on SQLite and PostgreSQL, and cost nothing to compare
in the fold; conversion to ``datetime`` happens only at the edges (CLI, UI, reports).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

US_PER_S = 1_000_000

_FRACTION = re.compile(r"\.(\d+)")


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (naive ones are refused)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"time without a UTC offset is ambiguous: {moment.isoformat()}")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def iso(us: int) -> str:
    """ISO 8601 in UTC with a ``Z`` (milliseconds shown only when not zero)."""
    moment = from_us(us)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> int:
    """Parse an ISO 8601 time with an offset or ``Z``; any number of fractional digits.

    Senders use 0, 2, 3, 6 or 7 fractional digits; Python's parser wants 0, 3 or 6, so the
    fraction is normalised to microseconds first. A time without an offset is refused: a
    dispatcher's clock and a device's clock need not share a zone.
    """
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("empty time")
    if cleaned[-1] in "zZ":
        cleaned = cleaned[:-1] + "+00:00"
    match = _FRACTION.search(cleaned)
    if match:
        digits = (match.group(1) + "000000")[:6]
        cleaned = cleaned[: match.start()] + "." + digits + cleaned[match.end() :]
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from None
    return to_us(moment)


def format_duration(us: int) -> str:
    """``1h 02m 03s`` / ``2m 10s`` / ``45s``: for ages and elapsed times."""
    seconds = max(0, us // US_PER_S)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
