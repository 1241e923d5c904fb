"""The console at minute five of the large scenario, on every dispatch screen.

The demo's large scenario (84 officers, 147 notified) is run once for the module through a real
embedded gateway to T+5 min; then a fresh console window opens on that store at each screen
size, as a first start would (no saved layout), and is checked as a dispatcher would: no dock
drawn over another, the critical strip (header, radio line, top warning) whole, the responders
table showing its rows, warnings one card per responder in severity order.

A 4K screen at 200 % is 1920×1080 logical pixels: the same layout as 1080p, drawn with twice
the pixels (Qt lays widgets out in logical pixels), so the 1920×1080 case covers it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyleOptionDockWidget,
    QStyleOptionTab,
    QTabBar,
    QWidget,
)
from pytestqt.qtbot import QtBot

from dispatch_console.domain import events as ev
from dispatch_console.feeds.keys import SecretBox
from dispatch_console.resources import resource
from dispatch_console.ui.panels.warnings_panel import group_key
from dispatch_console.ui.print.screenshot import open_window, simulate_into
from dispatch_console.ui.shell.main_window import MainWindow

T5_S = 300.0
#: (width, height, rows the responders table shows at least).
SCREENS = [(1366, 768, 8), (1600, 900, 8), (1920, 1080, 15), (2560, 1440, 15)]


class T5:
    def __init__(self, url: str, now_us: int, folder: Path) -> None:
        self.url, self.now_us, self.folder = url, now_us, folder
        self.opened = itertools.count()

    def window(self, width: int, height: int) -> MainWindow:
        """A fresh console (first start: no saved layout) at ``width``×``height``."""
        ini = self.folder / f"ui-{next(self.opened)}.ini"
        window = open_window(self.url, self.now_us, settings_file=ini)
        window.resize(width, height)
        window.show()
        settle(window)
        return window


@pytest.fixture(scope="module")
def t5(tmp_path_factory: pytest.TempPathFactory, qapp: QApplication) -> T5:
    folder = tmp_path_factory.mktemp("t5")
    url = f"sqlite:///{folder / 't5.sqlite3'}"
    scenario = resource("scenarios", "large_active_shooter.toml")
    now_us = simulate_into(url, scenario, T5_S, SecretBox(folder / "master.key"))
    return T5(url, now_us, folder)


@pytest.fixture
def windows(qtbot: QtBot) -> Iterator[list[MainWindow]]:
    opened: list[MainWindow] = []
    yield opened
    for window in opened:
        window.settings.clear()
        window.close()
        window.deleteLater()


def settle(window: MainWindow) -> None:
    """Laid out as a person would see it: the docks follow a resize over a few turns of the
    event loop (some on short timers), so events run for most of a second."""
    app = QApplication.instance()
    assert app is not None
    end = time.monotonic() + 0.8
    refreshed = False
    while time.monotonic() < end:
        app.processEvents()
        if not refreshed and time.monotonic() > end - 0.5:
            window.refresh_now()
            refreshed = True
        time.sleep(0.01)


def in_window(window: MainWindow, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())


def shown_docks(window: MainWindow) -> dict[str, QRect]:
    """Docks on screen (not closed, not a tab behind another)."""
    return {
        name: in_window(window, dock)
        for name, dock in window.docks.items()
        if dock.isVisible() and not dock.visibleRegion().isEmpty()
    }


def whole(widget: QWidget) -> bool:
    """Drawn whole: visible, nothing of it cut by its parents or the window."""
    if not widget.isVisible():
        return False
    return widget.visibleRegion().boundingRect().size() == widget.size()


def elided_titles(window: MainWindow) -> list[str]:
    """Dock titles and dock tab titles drawn shorter than they are (an ellipsis for the rest),
    of the docks and tab bars on screen."""
    cut = []
    for name, dock in window.docks.items():
        if not dock.isVisible() or dock.visibleRegion().isEmpty():
            continue
        option = QStyleOptionDockWidget()
        dock.initStyleOption(option)
        room = dock.style().subElementRect(
            QStyle.SubElement.SE_DockWidgetTitleBarText, option, dock
        )
        if dock.fontMetrics().horizontalAdvance(option.title) > room.width():
            cut.append(f"dock {name}: {option.title!r} in {room.width()} px")
    for bar in window.findChildren(QTabBar):
        if not bar.isVisible():
            continue
        for index in range(bar.count()):
            tab = QStyleOptionTab()
            bar.initStyleOption(tab, index)  # the text as drawn (elided to its tab)
            if tab.text != bar.tabText(index) or not bar.rect().contains(bar.tabRect(index)):
                cut.append(f"tab {bar.tabText(index)!r} drawn as {tab.text!r}")
    return cut


def assert_top_warning_card_whole(window: MainWindow, where: str) -> None:
    """The warnings dock's first card (the most dangerous) whole: every reason, who it is, and
    its ACKNOWLEDGE button inside the dock's viewport, nothing cut."""
    panel = window.warnings
    top = panel.cards[panel.order()[0]]
    viewport = panel.scroll_area.viewport()
    seen = QRect(QPoint(0, 0), viewport.size())
    parts: list[QWidget] = [top, top.title, top.who]
    if top.acknowledged is False:
        parts.append(top.button)
    for part in parts:
        box = QRect(part.mapTo(viewport, QPoint(0, 0)), part.size())
        assert part.isVisible() and seen.contains(box), (
            f"top warning card: {part.objectName() or 'card'} {box} outside the warnings"
            f" viewport {seen} at {where}"
        )
        assert whole(part), f"top warning card: {part.objectName() or 'card'} cut at {where}"
    # Every reason (one line each, wrapped as they need) inside the title's own height.
    reasons = top.title.text().split("\n")
    assert len(reasons) == len(top.warning_ids) > 0
    assert top.title.needed_height(top.title.width()) <= top.title.height(), where
    assert top.who.needed_height(top.who.width()) <= top.who.height(), where


@pytest.mark.parametrize(("width", "height", "rows"), SCREENS, ids=lambda v: str(v))
def test_every_screen_at_minute_five(
    t5: T5, windows: list[MainWindow], width: int, height: int, rows: int
) -> None:
    window = t5.window(width, height)
    windows.append(window)
    assert (window.width(), window.height()) == (width, height)  # the window fits the screen
    window_rect = window.rect()

    docks = shown_docks(window)
    assert {"alerts", "warnings", "responders"} <= set(docks)
    strip = in_window(window, window.top_bar)
    for (a, ra), (b, rb) in itertools.combinations(docks.items(), 2):
        assert not ra.intersects(rb), f"{a} {ra} overlaps {b} {rb} at {width}x{height}"
    for name, rect in docks.items():
        assert window_rect.contains(rect), f"{name} {rect} leaves the window"
        assert not rect.intersects(strip), f"{name} {rect} covers the critical strip"

    # The critical strip: header counts, radio line (with its copy button), top warning.
    assert window_rect.contains(strip)
    for part in (window.header, window.broadcast_line, window.top_warning):
        assert whole(part), f"{part.objectName()} is cut at {width}x{height}"
    assert window.broadcast_line.line.startswith("Plainclothes officers inside: ")
    assert window.broadcast_line.is_whole(), f"radio line cut at {width}x{height}"
    assert whole(window.broadcast_line.copy_button)
    assert window.top_warning.text().startswith("TOP WARNING: ")

    assert window.responders.visible_rows() >= rows
    assert window.responders.model.rowCount() == 147

    # The unacknowledged alert: the whole card and its ACKNOWLEDGE button inside the alerts
    # dock's viewport (compact on a short dock), the dock in front of the responder's detail.
    alerts = window.alerts
    waiting = [card for card in alerts.cards.values() if card.acknowledged is False]
    assert waiting, "the scenario has an unacknowledged alert at minute five"
    viewport = alerts.scroll_area.viewport()
    seen = QRect(QPoint(0, 0), viewport.size())
    for card in waiting[:1]:
        for part in (card, card.button, card.school, card.kind, card.elapsed):
            box = QRect(part.mapTo(viewport, QPoint(0, 0)), part.size())
            assert part.isVisible() and seen.contains(box), (
                f"{part.objectName() or 'card'} {box} outside the alerts viewport {seen}"
                f" at {width}x{height}"
            )
        assert whole(card) and whole(card.button), f"alert card cut at {width}x{height}"

    # Warnings: one card per responder, critical above advisory, newest first.
    panel = window.warnings
    groups = panel.groups()
    order = panel.order()
    assert len(order) == len(set(order)) == min(len(groups), 50) > 0
    assert order == [rid for rid, _ in groups][: len(order)]
    keys = [group_key(warnings) for _, warnings in groups]
    assert keys == sorted(keys)
    assert docks["warnings"].height() >= 150
    assert_top_warning_card_whole(window, f"{width}x{height}")
    assert not elided_titles(window), f"titles cut at {width}x{height}"
    assert window.docks["warnings"].windowTitle().startswith("Warnings: ")
    assert "critical" in window.docks["warnings"].windowTitle()


def test_a_long_suspect_description_does_not_push_the_table_off_screen(
    t5: T5, windows: list[MainWindow]
) -> None:
    window = t5.window(1366, 768)
    windows.append(window)
    state = window.console.incidents[window.selection.incident_id or ""]
    words = ", ".join(["dark grey hooded sweatshirt with a white logo on the back"] * 8)
    event = ev.Event(
        state.last_seq + 1,
        state.incident_id,
        ev.SuspectDescriptionRevised.TYPE,
        t5.now_us,
        t5.now_us,
        ev.Actor(ev.ActorKind.CONSOLE_USER, "IC"),
        ev.Source.CONSOLE,
        ev.SuspectDescriptionRevised(ev.SuspectDescription(sex="male", free_text=words)),
    )
    window.on_events([event])
    settle(window)
    assert window.header.suspect.text().endswith("…")
    assert words in window.header.suspect.toolTip()
    assert window.responders.visible_rows() >= 8
    assert whole(window.broadcast_line)


def test_shrinking_then_growing_gives_the_table_its_rows_back(
    t5: T5, windows: list[MainWindow], qtbot: QtBot
) -> None:
    window = t5.window(1920, 1080)
    windows.append(window)
    window.resize(1366, 768)
    settle(window)
    window.resize(1920, 1080)
    settle(window)
    assert window.responders.visible_rows() >= 15, (
        window.top_bar.height(),
        {k: (v.y(), v.height()) for k, v in shown_docks(window).items()},
    )
    window.reset_layout()
    settle(window)
    # The docks settle over a few turns of the event loop; the table gets its rows back.
    qtbot.waitUntil(lambda: window.responders.visible_rows() >= 15, timeout=3000)
    assert not any(
        a.intersects(b) for a, b in itertools.combinations(shown_docks(window).values(), 2)
    )


def test_the_table_holds_still_under_the_pointer_and_resumes_visibly(
    t5: T5, windows: list[MainWindow]
) -> None:
    from PySide6.QtCore import QEvent

    window = t5.window(1920, 1080)
    windows.append(window)
    panel = window.responders
    viewport = panel.view.viewport()
    QApplication.sendEvent(viewport, QEvent(QEvent.Type.Enter))
    assert panel.model.holds == {"pointer"}
    assert "held" in panel.order_note.text()
    before = [panel.model.responder_id(r) for r in range(panel.model.rowCount())]
    later = t5.now_us + 40_000_000  # positions go stale, distances stay: sort keys change
    window.clock.now_us = later  # type: ignore[attr-defined]
    changes = window.pending
    changes.responders.update((window.selection.incident_id or "", rid) for rid in before)
    window.refresh_now()
    assert [panel.model.responder_id(r) for r in range(panel.model.rowCount())] == before
    QApplication.sendEvent(viewport, QEvent(QEvent.Type.Leave))
    assert panel.model.holds == set()
    assert not panel.model.order_waiting
