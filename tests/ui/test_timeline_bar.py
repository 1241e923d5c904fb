"""The replay's timeline bar: the scrubber seeks where it is clicked or dragged, the controls ask
for play, speed and steps, elapsed and wall times are shown, bookmarks survive in their file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.ui.replay.timeline_bar import (
    SPEEDS,
    STEP_KIND_BY_KEY,
    STEP_KINDS,
    Bookmark,
    BookmarksPanel,
    BookmarkStore,
    Scrubber,
    TimelineBar,
    bookmarks_path,
    elapsed_text,
    wall_text,
)

T0 = 1_795_000_000_000_000
HOUR = 3600 * US_PER_S


def test_elapsed_text_counts_whole_seconds_from_the_origin() -> None:
    assert elapsed_text(T0 + 462 * US_PER_S + 999_999, T0) == "T+00:07:42"
    assert elapsed_text(T0 + 2 * HOUR + 5 * US_PER_S, T0) == "T+02:00:05"
    assert elapsed_text(T0 - 5 * US_PER_S, T0) == "T-00:00:05"
    assert elapsed_text(T0, T0) == "T+00:00:00"


def test_wall_text_is_the_local_time_of_the_instant() -> None:
    from datetime import datetime

    expected = datetime.fromtimestamp(T0 / US_PER_S).strftime("%H:%M:%S")
    assert wall_text(T0, date=False) == expected
    assert wall_text(T0).endswith(expected)


@pytest.fixture
def scrubber(qtbot: QtBot) -> Scrubber:
    widget = Scrubber()
    qtbot.addWidget(widget)
    widget.resize(820, 44)
    widget.set_range(T0, T0 + HOUR, T0)
    widget.set_instant(T0)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_scrubber_maps_pixels_to_times_and_back(scrubber: Scrubber) -> None:
    assert scrubber.time_at(scrubber.x_of(T0)) == T0
    assert scrubber.time_at(scrubber.x_of(T0 + HOUR)) == T0 + HOUR
    mid = T0 + HOUR // 2
    assert abs(scrubber.time_at(scrubber.x_of(mid)) - mid) <= 1
    assert scrubber.time_at(-50) == T0  # clamped
    assert scrubber.time_at(5000) == T0 + HOUR


def test_clicking_the_scrubber_asks_to_seek_there(qtbot: QtBot, scrubber: Scrubber) -> None:
    target = T0 + HOUR // 4
    x = round(scrubber.x_of(target))
    with qtbot.waitSignal(scrubber.seek_requested) as blocker:
        QTest.mouseClick(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(x, 20))
    asked = blocker.args[0]
    one_pixel = HOUR / (scrubber.width() - 20)
    assert abs(asked - target) <= one_pixel


def test_dragging_the_scrubber_seeks_all_the_way(qtbot: QtBot, scrubber: Scrubber) -> None:
    asked: list[int] = []
    scrubber.seek_requested.connect(asked.append)
    start, end = round(scrubber.x_of(T0 + HOUR // 10)), round(scrubber.x_of(T0 + HOUR // 2))
    QTest.mousePress(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(start, 20))
    for x in range(start, end, 40):
        QTest.mouseMove(scrubber, QPoint(x, 20))
    QTest.mouseRelease(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(end, 20))
    assert len(asked) >= 3
    assert asked == sorted(asked)
    assert asked[-1] == scrubber.time_at(end)


def test_scrubber_keys_step_seconds_and_jump_to_the_ends(qtbot: QtBot, scrubber: Scrubber) -> None:
    scrubber.set_instant(T0 + 60 * US_PER_S)
    asked: list[int] = []
    scrubber.seek_requested.connect(asked.append)
    QTest.keyClick(scrubber, Qt.Key.Key_Right)
    QTest.keyClick(scrubber, Qt.Key.Key_PageUp)
    QTest.keyClick(scrubber, Qt.Key.Key_End)
    QTest.keyClick(scrubber, Qt.Key.Key_Home)
    assert asked == [T0 + 65 * US_PER_S, T0, T0 + HOUR, T0]


@pytest.fixture
def bar(qtbot: QtBot) -> TimelineBar:
    widget = TimelineBar()
    qtbot.addWidget(widget)
    widget.set_range(T0, T0 + HOUR, T0)
    return widget


def test_play_button_asks_to_play_then_to_pause(qtbot: QtBot, bar: TimelineBar) -> None:
    asked: list[bool] = []
    bar.play_requested.connect(asked.append)
    QTest.mouseClick(bar.play_button, Qt.MouseButton.LeftButton)
    bar.set_playing(True)
    assert "Pause" in bar.play_button.text()
    QTest.mouseClick(bar.play_button, Qt.MouseButton.LeftButton)
    assert asked == [True, False]


def test_speeds_run_from_half_to_sixty_times(bar: TimelineBar) -> None:
    offered = [bar.speed.itemData(i) for i in range(bar.speed.count())]
    assert offered == list(SPEEDS) == [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]
    changed: list[float] = []
    bar.speed_changed.connect(changed.append)
    bar.set_speed(60.0)
    bar.faster()  # already the fastest
    bar.slower()
    assert bar.current_speed() == 30.0
    assert changed == [60.0, 30.0]


def test_step_buttons_ask_for_the_chosen_kind(qtbot: QtBot, bar: TimelineBar) -> None:
    asked: list[int] = []
    bar.step_requested.connect(asked.append)
    bar.set_step_kind("identification")
    QTest.mouseClick(bar.next_button, Qt.MouseButton.LeftButton)
    QTest.mouseClick(bar.prev_button, Qt.MouseButton.LeftButton)
    assert asked == [1, -1]
    assert bar.step_kind().types == {ev.ResponderIdentified.TYPE}


def test_step_kinds_cover_the_issue_list() -> None:
    keys = {k.key for k in STEP_KINDS}
    assert {"alert", "arrival", "identification", "warning", "par"} <= keys
    assert ev.ResponderPosition.TYPE not in STEP_KIND_BY_KEY["any"].types
    assert STEP_KIND_BY_KEY["par"].types == {ev.ParStarted.TYPE, ev.ParEnded.TYPE}


def test_instant_shows_elapsed_and_wall_time(bar: TimelineBar) -> None:
    t = T0 + 462 * US_PER_S
    bar.set_instant(t)
    assert bar.elapsed.text() == "T+00:07:42"
    assert bar.wall.text() == wall_text(t)
    assert bar.scrubber.instant_us == t


# --- bookmarks -------------------------------------------------------------------------------


def test_bookmarks_round_trip_through_their_file(tmp_path: Path) -> None:
    store = BookmarkStore.for_incident("inc/1 x", tmp_path)
    assert store.path == tmp_path / "inc_1_x.json"
    assert store.load() == []
    marks = [Bookmark(T0 + 90 * US_PER_S, "second", "Trainer"), Bookmark(T0, "first", "Trainer", 7)]
    store.save(marks)
    assert store.load() == sorted(marks, key=lambda b: b.at_us)
    document = json.loads(store.path.read_text(encoding="utf-8"))
    assert document["incident_id"] == "inc/1 x"
    assert [b["note"] for b in document["bookmarks"]] == ["first", "second"]
    assert list(tmp_path.iterdir()) == [store.path]  # no temporary file left behind


def test_a_damaged_bookmark_file_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    path = bookmarks_path("inc-1", tmp_path)
    path.write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(ValueError, match="format"):
        BookmarkStore(path, "inc-1").load()


def test_bookmarks_panel_lists_and_jumps(qtbot: QtBot) -> None:
    panel = BookmarksPanel()
    qtbot.addWidget(panel)
    assert not panel.empty.isHidden()
    panel.set_bookmarks(
        [
            Bookmark(T0 + 300 * US_PER_S, "first plainclothes inside"),
            Bookmark(T0 + 60 * US_PER_S, ""),
        ],
        T0,
    )
    assert panel.empty.isHidden()
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert texts == ["T+00:01:00   (no note)", "T+00:05:00   first plainclothes inside"]
    with qtbot.waitSignal(panel.jump_requested) as blocker:
        panel.list.itemActivated.emit(panel.list.item(1))
    assert blocker.args == [T0 + 300 * US_PER_S]
