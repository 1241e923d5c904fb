"""A scrolling column of cards: the alerts, the warnings and the broadcasts are each one."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget


class CardColumn(QScrollArea):
    """Cards stacked top-down in :attr:`column` (a stretch keeps them at the top), scrolling
    vertically only, with no frame of its own."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.container = QWidget(self)
        self.container.setObjectName(name)
        self.column = QVBoxLayout(self.container)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.column.setSpacing(6)
        self.column.addStretch(1)
        self.setWidget(self.container)


class WrappedLabel(QLabel):
    """A word-wrapped label exactly as tall as its text needs at the width its layout gives
    it (a tool bar does not ask a wrapping label how tall it wants to be, and its own guess
    is for a narrow width)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().height() + 6)  # one line until laid out

    def needed_height(self, width: int) -> int:
        self.ensurePolished()  # the style sheet's font
        margins = self.contentsMargins()
        inner = max(1, width - margins.left() - margins.right())
        box = QFontMetrics(self.font()).boundingRect(
            QRect(0, 0, inner, 100_000), Qt.TextFlag.TextWordWrap, self.text()
        )
        return box.height() + margins.top() + margins.bottom() + 2

    def fit(self) -> None:
        if self.width() >= 100:
            height = self.needed_height(self.width())
            if height != self.height() or self.minimumHeight() != height:
                self.setFixedHeight(height)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()
