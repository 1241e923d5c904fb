"""What the main window asks of every part it refreshes and themes (header, map, panels)."""

from __future__ import annotations

from typing import Protocol

from dispatch_console.app.live import Changes
from dispatch_console.ui.shell.theme import Theme


class Panel(Protocol):
    """A part of the window: shown again from what changed since the last refresh (``now_us``:
    the console's clock), and restyled when the theme changes."""

    def refresh(self, changes: Changes, now_us: int) -> None: ...

    def set_theme(self, theme: Theme) -> None: ...


__all__ = ["Panel"]
