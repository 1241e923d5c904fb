"""Guard against PySide6 6.12.0's None-refcount bug on Python 3.11.

There, every call of a Qt method that returns nothing lowers ``None``'s reference count; a
console running for hours then aborts with ``Fatal Python error: none_dealloc``. pyproject pins
PySide6 below 6.12; this test fails if an upgrade brings the bug back.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF
from PySide6.QtGui import QStandardItem
from PySide6.QtWidgets import QGraphicsRectItem, QLabel

CALLS = 20_000


def test_void_qt_calls_do_not_drain_nones_reference_count(qtbot) -> None:  # type: ignore[no-untyped-def]
    item = QGraphicsRectItem(0, 0, 10, 10)
    model_item = QStandardItem("x")
    label = QLabel("refcount probe")
    qtbot.addWidget(label)
    label.resize(40, 20)
    before = sys.getrefcount(None)
    for i in range(CALLS):
        item.setPos(QPointF(i % 100, i % 50))
        model_item.setData(i)
    for _ in range(200):
        label.grab()
    after = sys.getrefcount(None)
    # A leak in the other direction is harmless; a fall of one per call is the bug.
    assert after >= before - 100, f"None's refcount fell by {before - after} over {CALLS} calls"
