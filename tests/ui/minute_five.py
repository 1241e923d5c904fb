"""The checks of the console at minute five of the large scenario, as a dispatcher would make
them at one screen size: shared by ``test_layout_screens.py`` (in the test process) and
``screen_4k.py`` (a child process on a 4K screen at 200 %)."""

from __future__ import annotations

import itertools
import time

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyleOptionDockWidget,
    QStyleOptionTab,
    QTabBar,
    QWidget,
)

from dispatch_console.ui.panels.warnings_panel import group_key
from dispatch_console.ui.shell.main_window import MainWindow


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


def check_minute_five(window: MainWindow, width: int, height: int, rows: int) -> None:
    """``window`` (``width``×``height`` logical pixels) at minute five: no dock over another or
    over the critical strip, the strip (header, radio line with its copy button, top warning)
    whole, the table's rows, the unacknowledged alert card whole, warnings one card per
    responder in severity order with the top card whole, no dock or tab title cut."""
    assert (window.width(), window.height()) == (width, height), (window.size(), "fits the screen")
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
    strip_parts: list[QWidget] = [window.header, window.broadcast_line, window.top_warning]
    for part in strip_parts:
        assert whole(part), f"{part.objectName()} is cut at {width}x{height}"
    assert window.broadcast_line.line.startswith("Plainclothes officers inside: ")
    assert window.broadcast_line.is_whole(), f"radio line cut at {width}x{height}"
    assert whole(window.broadcast_line.copy_button)
    assert window.top_warning.text().startswith("TOP WARNING: ")

    assert window.responders.visible_rows() >= rows
    assert window.responders.model.rowCount() == 123  # under the three agencies' rules

    # The unacknowledged alert: the whole card and its ACKNOWLEDGE button inside the alerts
    # dock's viewport (compact on a short dock), the dock in front of the responder's detail.
    alerts = window.alerts
    waiting = [card for card in alerts.cards.values() if card.acknowledged is False]
    assert waiting, "the scenario has an unacknowledged alert at minute five"
    viewport = alerts.scroll_area.viewport()
    seen = QRect(QPoint(0, 0), viewport.size())
    for card in waiting[:1]:
        card_parts: list[QWidget] = [card, card.button, card.school, card.kind, card.elapsed]
        for part in card_parts:
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
    # The responder's detail, with nobody selected: its hint whole where the dock shows it.
    detail = window.detail
    if detail.mode == "none" and not detail.visibleRegion().isEmpty():
        hint = detail.hint
        needed = hint.heightForWidth(hint.width())
        shown = hint.parentWidget().height()  # the scroll area's viewport
        assert needed <= shown, (
            f"responder hint needs {needed} px, {shown} shown at {width}x{height}"
        )
    assert window.docks["warnings"].windowTitle().startswith("Warnings: ")
    assert "critical" in window.docks["warnings"].windowTitle()
