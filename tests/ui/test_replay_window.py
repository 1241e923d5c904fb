"""The replay window: every panel shows the incident at the timeline's instant (after a seek and
while playing), play moves by speed × elapsed, steps land on events, bookmarks persist, nothing
done in replay reaches a store, and an exercise says EXERCISE."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.replay.timeline import Timeline
from dispatch_console.store import Store
from dispatch_console.ui.replay.replay_window import ReplayWindow
from dispatch_console.ui.replay.timeline_bar import STEP_KIND_BY_KEY, BookmarkStore
from tests.ui.factory import Built, build_incident, demo_roads, demo_schools

S = US_PER_S
COUNTS = ("notified", "acknowledged", "en_route", "on_scene", "at_staging", "identified",
          "staged", "assigned", "arrived_not_checked_in")  # fmt: skip


class FakeWall:
    """A wall clock the test moves (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def built() -> Built:
    return build_incident(40, minutes=6, acknowledge_alert=True)


@pytest.fixture(scope="module")
def timeline(built: Built) -> Timeline:
    return Timeline(built.events)


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


def make_window(
    qtbot: QtBot, timeline: Timeline, tmp_path: Path, wall: FakeWall | None = None
) -> ReplayWindow:
    settings = QSettings(str(tmp_path / "replay.ini"), QSettings.Format.IniFormat)
    window = ReplayWindow(
        timeline,
        schools=demo_schools(),
        roads=demo_roads(),
        settings=settings,
        bookmarks=BookmarkStore.for_incident(timeline.incident_id, tmp_path / "bookmarks"),
        wall=wall or FakeWall(),
    )
    qtbot.addWidget(window)
    window.resize(1920, 1080)
    return window


@pytest.fixture
def window(
    qtbot: QtBot, timeline: Timeline, tmp_path: Path, wall: FakeWall
) -> Iterator[ReplayWindow]:
    w = make_window(qtbot, timeline, tmp_path, wall)
    yield w
    w.set_playing(False)


def shown_counts(window: ReplayWindow) -> dict[str, str]:
    return {name: window.header.text_of(name) for name in COUNTS}


def expected_counts(timeline: Timeline, t: int) -> dict[str, str]:
    counts = timeline.state_at(t).counts(t)
    return {name: str(counts[name]) for name in COUNTS}


def assert_shows(window: ReplayWindow, timeline: Timeline, t: int) -> None:
    """Every panel shows the incident as the timeline has it at ``t``."""
    state = timeline.state_at(t)
    assert window.instant_us == t
    assert shown_counts(window) == expected_counts(timeline, t)
    assert window.responders.model.rowCount() == len(state.responders)
    with_position = [r for r in state.responders.values() if r.position is not None]
    assert window.map.marker_count() == len(with_position)
    for responder in with_position[:5]:
        p = responder.position
        assert p is not None
        x, y = window.map.frame.to_local(p.lon, p.lat)
        drawn = window.map.marker_position(responder.responder_id)
        assert drawn is not None
        assert drawn == pytest.approx((x, y), abs=0.5)  # metres
    assert window.event_log.model.rowCount() == len(window.console.log)
    assert window.console.log[-1] is timeline.events[timeline.index_at(t) - 1] or (
        timeline.events[timeline.index_at(t) - 1].type == ev.ResponderPosition.TYPE
    )
    unacknowledged = sum(1 for a in state.alerts.values() if a.acknowledged_at_us is None)
    assert window.alerts.unacknowledged_count() == unacknowledged


# --- seek ------------------------------------------------------------------------------------


def test_the_window_opens_at_the_first_event(window: ReplayWindow, timeline: Timeline) -> None:
    assert_shows(window, timeline, timeline.start_us)
    assert window.selection.incident_id == timeline.incident_id


def test_seek_shows_the_instant_in_every_panel_forward_and_back(
    window: ReplayWindow, timeline: Timeline
) -> None:
    start, end = timeline.start_us, timeline.end_us
    for t in (start + 200 * S, end, start + 40 * S, start + 2 * S, start + 330 * S):
        window.seek(t)
        assert_shows(window, timeline, t)


def test_seek_back_before_responders_existed_removes_them_everywhere(
    window: ReplayWindow, timeline: Timeline
) -> None:
    window.seek(timeline.end_us)
    assert window.map.marker_count() > 0
    window.seek(timeline.start_us + 2 * S)  # before the first notification (+3 s)
    assert window.responders.model.rowCount() == 0
    assert window.map.marker_count() == 0
    assert window.header.text_of("notified") == "0"


def test_seek_loads_the_log_as_a_console_started_then(
    window: ReplayWindow, timeline: Timeline
) -> None:
    t = timeline.start_us + 200 * S
    window.seek(t)
    expected = [
        e for e in timeline.events[: timeline.index_at(t)] if e.type != ev.ResponderPosition.TYPE
    ]
    assert list(window.console.log) == expected
    assert window.event_log.model.rowCount() == len(expected)
    window.tick(0.2)  # play appends everything, positions included
    new = timeline.events_between(t, window.instant_us)
    assert any(e.type == ev.ResponderPosition.TYPE for e in new)
    assert list(window.console.log) == expected + new
    assert window.event_log.model.rowCount() == len(expected) + len(new)


def test_seek_rebuilds_trails_of_the_last_minutes_only(
    window: ReplayWindow, timeline: Timeline
) -> None:
    t = timeline.start_us + 250 * S
    window.seek(t)
    trails = window.console.trails
    assert trails
    for (_incident, rid), points in trails.items():
        assert points, rid
        assert all(p.at_us <= t for p in points)
        assert [p.at_us for p in points] == sorted(p.at_us for p in points)
        full = timeline.trail(rid, t, 5 * 60 * S)
        assert (points[-1].at_us, points[-1].lon, points[-1].lat) == full[-1]  # the latest fix
        assert {(p.at_us, p.lon, p.lat) for p in points} <= set(full)
        steps = [p.at_us // (5 * S) for p in points]
        assert len(steps) == len(set(steps))  # one point per 5 s at most


def test_scrubber_click_seeks_the_window(
    qtbot: QtBot, window: ReplayWindow, timeline: Timeline
) -> None:
    window.show()
    qtbot.waitExposed(window)
    scrubber = window.bar.scrubber
    target = timeline.start_us + (timeline.end_us - timeline.start_us) // 3
    x = round(scrubber.x_of(target))
    QTest.mouseClick(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(x, 20))
    expected = scrubber.time_at(x)
    qtbot.waitUntil(lambda: window.instant_us == expected)
    assert_shows(window, timeline, expected)


def test_chart_click_seeks_the_window(
    qtbot: QtBot, window: ReplayWindow, timeline: Timeline
) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.docks["charts"].raise_()
    target = timeline.start_us + 120 * S
    with qtbot.waitSignal(window.instant_changed, timeout=3000):
        window.charts.seek_requested.emit(target)
    assert window.instant_us == target
    assert abs(window.charts.cursor_us() - target) <= 1


def test_a_drag_seeks_only_to_its_latest_instant(
    qtbot: QtBot, window: ReplayWindow, timeline: Timeline
) -> None:
    seen: list[int] = []
    window.instant_changed.connect(seen.append)
    for k in range(1, 6):
        window.request_seek(timeline.start_us + k * 30 * S)
    qtbot.waitUntil(lambda: window.instant_us == timeline.start_us + 150 * S)
    assert seen == [timeline.start_us + 150 * S]


# --- play --------------------------------------------------------------------------------------


def test_play_moves_by_speed_times_elapsed(
    window: ReplayWindow, timeline: Timeline, wall: FakeWall
) -> None:
    t0 = timeline.start_us + 60 * S
    window.seek(t0)
    window.set_speed(10.0)
    window.set_playing(True)
    wall.now += 0.25
    window._play_frame()
    assert window.instant_us == t0 + round(0.25 * 10 * S)
    window.set_speed(60.0)
    window.tick(0.5)
    assert window.instant_us == t0 + 2_500_000 + 30 * S
    assert window.playing
    assert "playing 60×" in window.replay_banner.text()


def test_play_folds_to_the_same_state_as_a_seek(window: ReplayWindow, timeline: Timeline) -> None:
    window.seek(timeline.start_us)
    window.set_speed(30.0)
    for _ in range(24):  # 24 frames of 1/3 s at 30x: 4 minutes, folding only what is new
        window.tick(1 / 3)
    t = window.instant_us
    assert t == timeline.start_us + 240 * S
    assert_shows(window, timeline, t)
    played = window.state
    sought = timeline.state_at(t)
    assert {r: x.status for r, x in played.responders.items()} == {
        r: x.status for r, x in sought.responders.items()
    }
    assert played.last_seq == sought.last_seq


def test_play_stops_at_the_end_and_starts_over(window: ReplayWindow, timeline: Timeline) -> None:
    window.seek(timeline.end_us - 3 * S)
    window.set_speed(10.0)
    window.set_playing(True)
    window.tick(1.0)
    assert window.instant_us == timeline.end_us
    assert not window.playing
    assert not window.play_timer.isActive()
    window.set_playing(True)
    assert window.instant_us == timeline.start_us


def test_k_plays_and_pauses(qtbot: QtBot, window: ReplayWindow) -> None:
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_K)
    assert window.playing
    assert window.play_timer.isActive()
    QTest.keyClick(window, Qt.Key.Key_K)
    assert not window.playing
    keys = {s.keys for s in window.shortcuts}
    assert {"K", "J", "L", "B", "[", "]"} <= keys


# --- steps -------------------------------------------------------------------------------------


def test_step_to_next_event_of_a_kind_lands_exactly_on_its_time(
    window: ReplayWindow, timeline: Timeline
) -> None:
    arrivals = sorted(
        timeline.time_of(i)
        for i, e in enumerate(timeline.events)
        if e.type == ev.ResponderArrived.TYPE
    )
    window.seek(timeline.start_us)
    kind = STEP_KIND_BY_KEY["arrival"]
    assert window.step(1, kind) == arrivals[0]
    assert window.instant_us == arrivals[0]
    arrived = [r for r in window.state.responders.values() if r.arrived_at_us is not None]
    assert arrived  # the event stepped to is folded in
    later = [t for t in arrivals if t > arrivals[0]]
    if later:
        assert window.step(1, kind) == later[0]
        assert window.step(-1, kind) == arrivals[0]


def test_step_with_nothing_further_says_so(window: ReplayWindow, timeline: Timeline) -> None:
    window.seek(timeline.end_us)
    assert window.step(1, STEP_KIND_BY_KEY["alert"]) is None
    assert window.instant_us == timeline.end_us
    assert "No later event" in window.statusBar().currentMessage()


def test_bar_step_uses_the_kind_chosen_there(window: ReplayWindow, timeline: Timeline) -> None:
    identified = min(
        timeline.time_of(i)
        for i, e in enumerate(timeline.events)
        if e.type == ev.ResponderIdentified.TYPE
    )
    window.seek(timeline.start_us)
    window.bar.set_step_kind("identification")
    window.bar.next_button.click()
    assert window.instant_us == identified


# --- bookmarks ---------------------------------------------------------------------------------


def test_bookmarks_are_saved_and_restored(
    qtbot: QtBot, window: ReplayWindow, timeline: Timeline, tmp_path: Path
) -> None:
    window.seek(timeline.start_us + 100 * S)
    window.add_bookmark("first plainclothes on scene")
    window.seek(timeline.start_us + 40 * S)
    window.add_bookmark("  dispatcher acknowledges  ")
    path = tmp_path / "bookmarks" / f"{timeline.incident_id}.json"
    assert path.exists()
    again = make_window(qtbot, timeline, tmp_path)
    assert [(b.at_us, b.note) for b in again.bookmarks] == [
        (timeline.start_us + 40 * S, "dispatcher acknowledges"),
        (timeline.start_us + 100 * S, "first plainclothes on scene"),
    ]
    assert again.bookmarks_panel.list.count() == 2
    assert again.bar.scrubber.bookmarks == [b.at_us for b in again.bookmarks]
    again.bookmarks_panel.jump_requested.emit(timeline.start_us + 100 * S)
    assert again.instant_us == timeline.start_us + 100 * S
    again.remove_bookmark(timeline.start_us + 40 * S)
    assert [b.note for b in BookmarkStore(path, timeline.incident_id).load()] == [
        "first plainclothes on scene"
    ]


def test_bookmarks_never_go_into_the_incident(
    window: ReplayWindow, timeline: Timeline, built: Built
) -> None:
    before = len(timeline.events)
    window.add_bookmark("note")
    assert len(timeline.events) == before
    assert window.refusals.refused == []


def test_a_damaged_bookmark_file_is_left_alone(
    qtbot: QtBot, timeline: Timeline, tmp_path: Path
) -> None:
    path = tmp_path / "bookmarks" / f"{timeline.incident_id}.json"
    path.parent.mkdir(parents=True)
    path.write_text("not json at all", encoding="utf-8")
    window = make_window(qtbot, timeline, tmp_path)
    window.add_bookmark("kept in memory only")
    assert path.read_text(encoding="utf-8") == "not json at all"
    assert [b.note for b in window.bookmarks] == ["kept in memory only"]


# --- read-only, title and banners (the example incident, an exercise, in a real store) --------


@pytest.fixture(scope="module")
def example_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from dispatch_console.cli import main

    path = tmp_path_factory.mktemp("example") / "example.sqlite3"
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["example", "--db", str(path)]) == 0
    return f"sqlite:///{path}"


@pytest.fixture
def example(qtbot: QtBot, example_db: str, tmp_path: Path) -> Iterator[tuple[ReplayWindow, Store]]:
    store = Store(example_db)
    incident_id = store.incidents()[0].incident_id
    window = ReplayWindow.load(
        store,
        incident_id,
        settings=QSettings(str(tmp_path / "replay.ini"), QSettings.Format.IniFormat),
        roads=demo_roads(),
        bookmarks_folder=tmp_path / "bookmarks",
    )
    qtbot.addWidget(window)
    window.resize(1920, 1080)
    yield window, store
    store.close()


def test_acknowledging_in_replay_is_refused_and_stores_nothing(
    qtbot: QtBot, example: tuple[ReplayWindow, Store]
) -> None:
    window, store = example
    last_seq = store.last_seq()
    window.seek(window.timeline.start_us + 5 * S)  # the alert is waiting for acknowledgement
    assert window.alerts.unacknowledged_count() == 1
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_Space)  # "acknowledge" in the live console
    assert window.refusals.refused and window.refusals.refused[0].startswith(
        "acknowledge the alert"
    )
    assert "Replay is read-only" in window.statusBar().currentMessage()
    assert window.alerts.unacknowledged_count() == 1  # the instant is unchanged
    assert store.last_seq() == last_seq


def test_replay_turns_off_commands_and_map_editing(example: tuple[ReplayWindow, Store]) -> None:
    window, store = example
    last_seq = store.last_seq()
    assert not window.map.editing_enabled
    for name in (
        "direct",
        "identify",
        "assign",
        "release",
        "suspect",
        "par",
        "stand_down",
        "command",
    ):
        action = window.findChild(QAction, f"action_{name}")
        assert action is not None and not action.isEnabled(), name
    window.warnings.commands_requested.emit(window.incident_id, [ev.WarningEnded("w-1")], "end")
    assert window.refusals.refused == ["end"]
    assert store.last_seq() == last_seq


def test_exercise_replay_says_exercise_and_replay(
    qtbot: QtBot, example: tuple[ReplayWindow, Store]
) -> None:
    window, _store = example
    window.show()
    qtbot.waitExposed(window)
    assert window.timeline.exercise
    assert window.exercise_banner.isVisible()
    assert window.replay_banner.isVisible()
    # The exercise banner is the top one, across the whole window.
    top = window.exercise_banner.mapTo(window, QPoint(0, 0)).y()
    assert top < window.replay_banner.mapTo(window, QPoint(0, 0)).y()
    assert top < window.header.mapTo(window, QPoint(0, 0)).y()
    assert window.exercise_banner.width() >= window.width() - 20
    assert "EXERCISE" in window.exercise_banner.text()
    assert window.exercise_banner.styleSheet().count("#C8102E") == 1
    assert window.windowTitle() == (
        f"REPLAY — Lincoln High School — {window.incident_id} — EXERCISE"
    )
    assert window.replay_banner.text().startswith("REPLAY — read-only — T+00:00:00")
    window.seek(window.timeline.start_us + 282 * S)
    assert window.replay_banner.text().startswith("REPLAY — read-only — T+00:04:42")


def test_a_live_incident_replay_has_no_exercise_banner(
    qtbot: QtBot, window: ReplayWindow, timeline: Timeline
) -> None:
    window.show()
    qtbot.waitExposed(window)
    assert not timeline.exercise
    assert not window.exercise_banner.isVisible()
    assert window.windowTitle() == f"REPLAY — Lincoln High School — {timeline.incident_id}"
    assert window.replay_banner.isVisible()


def test_layout_fits_1920_by_1080(qtbot: QtBot, window: ReplayWindow) -> None:
    window.show()
    qtbot.waitExposed(window)
    assert window.minimumSizeHint().width() <= 1920
    assert window.width() == 1920


def test_an_alert_played_in_replay_never_sounds_the_alarm(
    qtbot: QtBot, built: Built, tmp_path: Path
) -> None:
    from tests.ui.factory import SCHOOL_ACTOR, EventWriter

    writer = EventWriter(built.incident_id, first_seq=len(built.events) + 1)
    writer.add(
        ev.AlertReceived("act-2", built.school.school_id, "active_shooter", built.now_us, "B. Lee"),
        built.now_us,
        SCHOOL_ACTOR,
    )
    timeline = Timeline([*built.events, *writer.events])
    window = make_window(qtbot, timeline, tmp_path)
    window.seek(timeline.end_us - 2 * S)
    assert window.alerts.unacknowledged_count() == 0
    window.set_speed(10.0)
    window.tick(1.0)  # plays over the second alert
    assert window.alerts.unacknowledged_count() == 1
    assert not window.alerts.alarm.is_sounding
