"""The one write path: validate a command against live state, append it, publish it. No Qt."""

from dispatch_console.service.incidents import (
    BatchOutcome,
    Command,
    IncidentService,
    PositionFields,
    PositionReport,
    PositionsOutcome,
    Subscriber,
)

__all__ = [
    "BatchOutcome",
    "Command",
    "IncidentService",
    "PositionFields",
    "PositionReport",
    "PositionsOutcome",
    "Subscriber",
]
