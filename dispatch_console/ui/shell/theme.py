"""The console's two themes and its one palette of responder statuses.

Red is reserved for what needs a human now (an unacknowledged alert, an active warning); the
status colours come from the colour-blind-safe Okabe-Ito palette and are the same on the map,
in the table and in charts. Stale is grey, never a live colour. Night is dark and low-glare
for the dispatch floor; day is light for a sunlit command-post laptop. Text colours meet WCAG
AA contrast (4.5:1) on their backgrounds (``tests/ui/test_theme.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication

from dispatch_console.domain.lifecycle import ResponderStatus

S = ResponderStatus

#: Okabe-Ito, one colour per status (no red: red means "act now").
_STATUS_NIGHT = {
    S.NOTIFIED: "#56B4E9",
    S.ACKNOWLEDGED: "#5A9BD5",
    S.DECLINED: "#CC79A7",
    S.EN_ROUTE: "#E69F00",
    S.AT_STAGING: "#F0E442",
    S.ON_SCENE: "#D55E00",
    S.IDENTIFIED: "#009E73",
    S.STAGED: "#4DC8A0",
    S.ASSIGNED: "#F2F2F2",
    S.RELEASED: "#6B7580",
}
_STATUS_DAY = {
    **_STATUS_NIGHT,
    S.ACKNOWLEDGED: "#0072B2",
    S.AT_STAGING: "#C9BC00",
    S.STAGED: "#2BA37E",
    S.ASSIGNED: "#1A1A1A",
    S.RELEASED: "#8C96A0",
}


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    panel: str
    text: str
    muted: str
    border: str
    #: Unacknowledged alerts and active warnings only.
    alarm: str
    alarm_text: str
    #: Acknowledged alerts, history: the colour of "dealt with".
    calm: str
    #: Caution (a stale position, an unverified identity): amber, not red.
    caution: str
    map_background: str
    road_major: str
    road_minor: str
    campus: str
    school: str
    staging: str
    inner_perimeter: str
    outer_perimeter: str
    stale: str
    selection: str
    status: dict[ResponderStatus, str] = field(default_factory=dict)

    def color(self, name: str) -> QColor:
        return QColor(getattr(self, name))

    def status_color(self, status: ResponderStatus) -> QColor:
        return QColor(self.status[status])


NIGHT = Theme(
    name="night",
    window="#0E1217",
    panel="#161B22",
    text="#E6EAF0",
    muted="#A3ADB8",
    border="#2A323C",
    alarm="#E0162B",
    alarm_text="#FFFFFF",
    calm="#2F3A46",
    caution="#FFB000",
    map_background="#0B0F14",
    road_major="#4A5563",
    road_minor="#262E38",
    campus="#7A8699",
    school="#E6EAF0",
    staging="#009E73",
    inner_perimeter="#E0162B",
    outer_perimeter="#FFB000",
    stale="#8A8F96",
    selection="#FFFFFF",
    status=_STATUS_NIGHT,
)

DAY = Theme(
    name="day",
    window="#F4F5F7",
    panel="#FFFFFF",
    text="#111418",
    muted="#4E5864",
    border="#C9CED6",
    alarm="#C8102E",
    alarm_text="#FFFFFF",
    calm="#E3E7EC",
    caution="#9A6700",
    map_background="#F7F7F2",
    road_major="#A8AFB8",
    road_minor="#D7DBE0",
    campus="#5F6B7A",
    school="#111418",
    staging="#007A5A",
    inner_perimeter="#C8102E",
    outer_perimeter="#B07800",
    stale="#8A8F96",
    selection="#000000",
    status=_STATUS_DAY,
)

THEMES = {NIGHT.name: NIGHT, DAY.name: DAY}


def tabular_font(point_size: int = 14, *, bold: bool = False) -> QFont:
    """Monospaced digits, so elapsed times and counts do not jitter as they change."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSize(point_size)
    font.setBold(bold)
    return font


def stylesheet(theme: Theme) -> str:
    t = theme
    return f"""
    QMainWindow, QDialog {{ background: {t.window}; color: {t.text}; }}
    QWidget {{ color: {t.text}; font-size: 11pt; }}
    QDockWidget {{ color: {t.text}; font-weight: bold; }}
    QDockWidget::title {{ background: {t.panel}; padding: 4px 8px;
        border-bottom: 1px solid {t.border}; }}
    QTableView, QListView, QTreeView, QTextEdit, QPlainTextEdit, QLineEdit, QComboBox {{
        background: {t.panel}; color: {t.text}; border: 1px solid {t.border};
        selection-background-color: {t.calm}; selection-color: {t.text};
        gridline-color: {t.border};
    }}
    QHeaderView::section {{ background: {t.window}; color: {t.muted}; border: 0;
        border-bottom: 1px solid {t.border}; padding: 3px 6px; font-weight: bold; }}
    QPushButton, QToolButton {{ background: {t.calm}; color: {t.text}; border: 1px solid {t.border};
        padding: 4px 10px; border-radius: 3px; }}
    QPushButton:checked, QToolButton:checked {{ border: 2px solid {t.text}; }}
    QPushButton:disabled {{ color: {t.muted}; }}
    QLabel[role="muted"] {{ color: {t.muted}; }}
    QStatusBar {{ background: {t.panel}; color: {t.muted}; }}
    QMenuBar, QMenu {{ background: {t.panel}; color: {t.text}; }}
    QMenu::item:selected {{ background: {t.calm}; }}
    QTabBar::tab {{ background: {t.window}; color: {t.muted}; padding: 5px 12px; }}
    QTabBar::tab:selected {{ background: {t.panel}; color: {t.text}; }}
    QToolTip {{ background: {t.panel}; color: {t.text}; border: 1px solid {t.border}; }}
    """


def apply_theme(app: QApplication, theme: Theme) -> None:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.panel,
        QPalette.ColorRole.AlternateBase: theme.window,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.calm,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.ToolTipBase: theme.panel,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.Highlight: theme.calm,
        QPalette.ColorRole.HighlightedText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    app.setPalette(palette)
    app.setStyleSheet(stylesheet(theme))


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two ``#RRGGBB`` colours."""

    def luminance(hex_color: str) -> float:
        c = QColor(hex_color)
        channels = []
        for value in (c.redF(), c.greenF(), c.blueF()):
            channels.append(value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4)
        r, g, b = channels
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
