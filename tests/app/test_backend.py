"""The console's workers against real stores (SQLite and PostgreSQL): the store feed hands
every event to the GUI thread once and in order; commands are stored with the user's name."""

from __future__ import annotations

import threading

import pytest
from pytestqt.qtbot import QtBot

from dispatch_console.app.backend import CommandRunner, Loaded, StoreFeed
from dispatch_console.app.live import ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import Rule
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.ui.factory import SCHOOL_ACTOR, demo_schools

DISPATCHER = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")


def _open(store: Store, alert_id: str = "act-1") -> tuple[IncidentService, str]:
    school = demo_schools()[0]
    store.upsert_schools([school])
    service = IncidentService(store)
    alert = ev.AlertReceived(alert_id, school.school_id, "active_shooter", service.clock())
    incident, _ = service.open_incident(school, alert, actor=SCHOOL_ACTOR, source=ev.Source.FEED)
    return service, incident


class _Collector:
    """Receives the feed's signals in the GUI thread, as the main window does."""

    def __init__(self) -> None:
        self.console = ConsoleState(demo_schools())
        self.batches: list[list[ev.Event]] = []
        self.health: list[tuple[bool, str]] = []

    def loaded(self, loaded: Loaded) -> None:
        self.console.load(loaded.states, loaded.last_seq, loaded.backlog)

    def events(self, events: list[ev.Event]) -> None:
        self.batches.append(events)
        self.console.apply(events)

    def on_health(self, live: bool, message: str, unreachable: bool) -> None:
        self.health.append((live, message))
        self.unreachable = unreachable


def test_feed_loads_active_incidents_then_delivers_new_events_once_in_order(
    qtbot: QtBot, store_url: str
) -> None:
    store = Store(store_url)
    _, incident = _open(store)
    feed = StoreFeed(store_url, poll_s=0.05)
    sink = _Collector()
    feed.signals.loaded.connect(sink.loaded)
    feed.signals.events.connect(sink.events)
    try:
        with qtbot.waitSignal(feed.signals.loaded, timeout=10_000):
            feed.start()
        assert incident in sink.console.incidents
        assert sink.console.incidents[incident].opened
        assert any(e.type == "alert_received" for e in sink.console.log)  # the backlog

        # Another writer (a second service: the gateway, another console) appends.
        other = IncidentService(Store(store_url))
        writers = []
        for k in range(3):
            payloads = [ev.ResponderNotified(f"r{k}-{i}", f"dev-{k}-{i}") for i in range(20)]
            writers.append(
                threading.Thread(
                    target=other.execute,
                    args=(incident, payloads),
                    kwargs={"actor": SCHOOL_ACTOR, "source": ev.Source.FEED},
                )
            )
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        qtbot.waitUntil(
            lambda: len(sink.console.incidents[incident].responders) == 60, timeout=10_000
        )
        seqs = [e.seq for batch in sink.batches for e in batch]
        assert seqs == sorted(set(seqs))  # in order, none twice
        assert sink.console.incidents[incident] == other.state(incident)
        other.store.close()
    finally:
        feed.stop()
        store.close()
    assert not feed._thread.is_alive()


def test_feed_wake_delivers_without_waiting_for_the_poll(qtbot: QtBot, tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/wake.sqlite3"  # type: ignore[str-bytes-safe]
    store = Store(url)
    service, incident = _open(store)
    feed = StoreFeed(url, poll_s=30.0)  # it would not look again for 30 s by itself
    sink = _Collector()
    feed.signals.loaded.connect(sink.loaded)
    feed.signals.events.connect(sink.events)
    service.subscribe(feed.wake)
    try:
        with qtbot.waitSignal(feed.signals.loaded, timeout=10_000):
            feed.start()
        service.execute(
            incident, [ev.ResponderNotified("r1", "d1")], actor=SCHOOL_ACTOR, source=ev.Source.FEED
        )
        qtbot.waitUntil(lambda: "r1" in sink.console.incidents[incident].responders, timeout=5_000)
    finally:
        feed.stop()
        store.close()


def test_feed_on_an_unreachable_database_says_not_live_and_keeps_trying(qtbot: QtBot) -> None:
    feed = StoreFeed("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1")
    sink = _Collector()
    feed.signals.health.connect(sink.on_health)
    try:
        with qtbot.waitSignal(feed.signals.health, timeout=15_000):
            feed.start()
        live, message = sink.health[0]
        assert not live
        assert "connection" in message.lower()  # why, in the driver's words
        assert sink.unreachable  # the network, not a failed read
        assert not message.startswith("(") and "Background on this error" not in message
        assert feed._thread.is_alive()  # it retries; it does not die
    finally:
        feed.stop()
    assert not feed._thread.is_alive()


def test_command_runner_stores_the_acknowledgement_with_the_users_name(
    qtbot: QtBot, store_url: str
) -> None:
    store = Store(store_url)
    _, incident = _open(store)
    runner = CommandRunner(store_url)
    runner.register_user(DISPATCHER.name, "dispatcher")
    runner.start()
    try:
        with qtbot.waitSignal(runner.signals.command_done, timeout=10_000) as done:
            runner.submit(
                incident,
                [ev.AlertAcknowledged("act-1", DISPATCHER.name)],
                actor=DISPATCHER,
                description="acknowledge alert act-1",
            )
        assert done.args == ["acknowledge alert act-1", True, ""]
        acks = list(store.read(incident, types=["alert_acknowledged"]))
        assert len(acks) == 1
        assert acks[0].actor == DISPATCHER
        assert acks[0].source is ev.Source.CONSOLE
        assert store.state_at(incident).alerts["act-1"].acknowledged_by == DISPATCHER.name
    finally:
        runner.stop()
        store.close()


def test_command_runner_reports_a_refusal_and_stores_nothing(
    qtbot: QtBot, tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/refuse.sqlite3"  # type: ignore[str-bytes-safe]
    store = Store(url)
    service, incident = _open(store)
    service.execute(
        incident, [ev.ResponderNotified("r1", "d1")], actor=SCHOOL_ACTOR, source=ev.Source.FEED
    )
    before = store.last_seq()
    runner = CommandRunner(url)
    runner.register_user(DISPATCHER.name, "dispatcher")
    runner.start()
    try:
        with qtbot.waitSignal(runner.signals.command_done, timeout=10_000) as done:
            runner.submit(
                incident,
                [ev.ResponderAssigned("r1", "contact_team", "Team 1")],
                actor=DISPATCHER,
                description="assign r1",
            )
        _, ok, message = done.args
        assert not ok
        assert Rule.ASSIGN_REQUIRES_IDENTIFIED.value in message
        assert store.last_seq() == before
    finally:
        runner.stop()
        store.close()


@pytest.mark.parametrize("jobs", [0, 3])
def test_command_runner_stops_and_joins(jobs: int, tmp_path: object, qtbot: QtBot) -> None:
    url = f"sqlite:///{tmp_path}/stop.sqlite3"  # type: ignore[str-bytes-safe]
    store = Store(url)
    _, incident = _open(store)
    runner = CommandRunner(url)
    runner.register_user(DISPATCHER.name, "dispatcher")
    runner.start()
    for k in range(jobs):
        runner.submit(incident, [ev.ResponderNotified(f"r{k}", f"d{k}")], actor=DISPATCHER,
                      description=f"notify {k}")  # fmt: skip
    runner.stop()
    assert not runner._thread.is_alive()
    assert len(store.state_at(incident).responders) == jobs
    store.close()


@pytest.mark.postgres
def test_feed_on_postgresql_is_woken_by_the_stores_notification(
    qtbot: QtBot, postgres: object
) -> None:
    """Another writer (another machine's console or gateway) appends: PostgreSQL's NOTIFY
    wakes the feed long before its 30 s poll would."""
    url = postgres.new()  # type: ignore[attr-defined]
    store = Store(url)
    _, incident = _open(store)
    feed = StoreFeed(url, poll_s=30.0)
    sink = _Collector()
    feed.signals.loaded.connect(sink.loaded)
    feed.signals.events.connect(sink.events)
    other = IncidentService(Store(url))
    try:
        with qtbot.waitSignal(feed.signals.loaded, timeout=10_000):
            feed.start()
        qtbot.wait(300)  # the feed is waiting for a notification now
        other.execute(
            incident, [ev.ResponderNotified("r1", "d1")], actor=SCHOOL_ACTOR, source=ev.Source.FEED
        )
        qtbot.waitUntil(lambda: "r1" in sink.console.incidents[incident].responders, timeout=3_000)
    finally:
        feed.stop()
        other.store.close()
        store.close()
    assert not feed._thread.is_alive()


def test_command_runner_passes_the_version_seen_and_registers_the_user(
    qtbot: QtBot, tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/versions.sqlite3"  # type: ignore[str-bytes-safe]
    store = Store(url)
    service, incident = _open(store)
    service.execute(
        incident, [ev.ResponderNotified("r1", "d1")], actor=SCHOOL_ACTOR, source=ev.Source.FEED
    )
    seen = store.last_seq()
    area = next(iter(store.state_at(incident).staging_areas))
    store.set_user("Lt. Hayes", "incident commander")
    hayes = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
    service.execute(  # another console, after this one looked
        incident, [ev.ResponderDirected("r1", area)], actor=hayes, source=ev.Source.CONSOLE
    )
    runner = CommandRunner(url)
    runner.register_user("Watcher", "observer")
    runner.start()
    try:
        with qtbot.waitSignal(runner.signals.command_done, timeout=10_000) as done:
            runner.submit(incident, [ev.AlertAcknowledged("act-1", "Watcher")],
                          actor=ev.Actor(ev.ActorKind.CONSOLE_USER, "Watcher"),
                          description="acknowledge alert act-1")  # fmt: skip
        assert done.args[1] is False and "ROLE_MAY_NOT_COMMAND" in done.args[2]
        assert store.user_role("Watcher") == "observer"
        runner.register_user(DISPATCHER.name, "dispatcher")
        with qtbot.waitSignal(runner.signals.command_done, timeout=10_000) as done:
            runner.submit(incident, [ev.ResponderDirected("r1", area)], actor=DISPATCHER,
                          description="direct r1", expected_seq=seen)  # fmt: skip
        assert done.args[0] == "direct r1" and done.args[1] is False
        assert (
            "CONFLICT" in done.args[2]
            and "since you looked, Lt. Hayes directed r1" in (done.args[2])
        )
        assert len(list(store.read(incident, types=["responder_directed"]))) == 1
    finally:
        runner.stop()
        store.close()
