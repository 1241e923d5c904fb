"""The responders a user has selected, shared by the map, the table and the detail panel.

One object, one signal: whichever view changes the selection, the others follow. ``origin``
names the view that made the change, so it does not react to its own selection again.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class Selection(QObject):
    #: Emitted with the view that made the change ("map", "table", "alerts", ...).
    changed = Signal(str)
    #: The incident in focus changed (the header, the map and the table follow it).
    focus_changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.incident_id: str | None = None
        self.responder_ids: frozenset[str] = frozenset()

    def focus(self, incident_id: str | None) -> None:
        """Show ``incident_id`` (clears the responder selection if the incident changes)."""
        if incident_id == self.incident_id:
            return
        self.incident_id = incident_id
        self.responder_ids = frozenset()
        self.focus_changed.emit(incident_id or "")
        self.changed.emit("focus")

    def select(self, responder_ids: frozenset[str] | set[str], origin: str) -> None:
        ids = frozenset(responder_ids)
        if ids == self.responder_ids:
            return
        self.responder_ids = ids
        self.changed.emit(origin)

    @property
    def current(self) -> str | None:
        """One selected responder (for the detail panel), or None."""
        return min(self.responder_ids) if len(self.responder_ids) == 1 else None
