"""The gateway's journal under the faults a review found: a commit the gateway did not hear
about, an incident closed during the outage, a restart with promises pending, a message that
cannot be forwarded, a store that answers reads but not writes.

The outage here is a partition: the gateway's own connections to a SQLite store fail while
other connections (a console's) still work. tests/feeds/test_journal.py stops a real
PostgreSQL server instead."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import iso
from dispatch_console.feeds.journal import Journal
from dispatch_console.feeds.keys import SecretBox
from dispatch_console.feeds.server import Gateway, GatewayThread, Listen
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.feeds.gateway_fixture import RunningGateway, start_gateway
from tests.feeds.test_contract import example

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. J. Hayes")


class Outage:
    """While ``down``, every statement of the gateway's store fails as a lost server does
    (``writes_only``: only writes fail, as on a full disk)."""

    def __init__(self, store: Store) -> None:
        self.down = False
        self.writes_only = False
        self.statements = 0  # tried while down
        engines = {id(e): e for e in (store._writer, store._reader, store._cache_writer)}
        for engine in engines.values():
            event.listen(engine, "before_cursor_execute", self._hook)

    def _hook(self, _c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if not self.down:
            return
        if self.writes_only and not statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            return
        self.statements += 1
        raise OperationalError(statement, params, sqlite3.OperationalError("server gone away"))


@pytest.fixture
def partitioned(tmp_path: Path) -> Iterator[tuple[RunningGateway, Outage]]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
    running = start_gateway(url, tmp_path)
    gateway = running.thread.gateway
    assert gateway._store is not None
    outage = Outage(gateway._store)
    yield running, outage
    outage.down = False
    running.stop()


def _gateway(g: RunningGateway) -> Gateway:
    return g.thread.gateway


def _wait_ok(g: RunningGateway, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (health := g.get("/v1/health", None)[1])["status"] != "ok":
        assert time.monotonic() < deadline, health
        time.sleep(0.05)


def _answers(tmp_path: Path) -> list[tuple[str, int | None, dict[str, Any] | None]]:
    journal = Journal(tmp_path / "gateway-journal.sqlite3")
    try:
        return [(entry.route, status, reply) for entry, status, reply in journal.history()]
    finally:
        journal.close()


def _position(message_id: str) -> dict[str, Any]:
    now = iso(time.time_ns() // 1000)
    return {"messages": [{"id": message_id, "kind": "position", "at": now, "lat": 38.23,
                          "lon": -84.55}]}  # fmt: skip


def test_a_commit_the_gateway_did_not_hear_about_keeps_its_incident_id_and_the_journal_moves(
    partitioned: tuple[RunningGateway, Outage], tmp_path: Path
) -> None:
    """The store committed the activation, then the connection dropped before the answer: the
    school is promised the id it was stored under, the devices are alerted when the journal
    is forwarded, and what comes after is stored normally."""
    g, _ = partitioned
    store = _gateway(g)._store
    assert store is not None
    commit = store.writing
    lost: list[bool] = []

    @contextlib.contextmanager
    def writing_then_losing_the_answer() -> Iterator[Any]:
        with commit() as tx:
            yield tx
        if not lost:
            lost.append(True)
            raise OperationalError("COMMIT", None, sqlite3.OperationalError("connection lost"))

    store.writing = writing_then_losing_the_answer  # type: ignore[method-assign]
    try:
        status, answer = g.post("/v1/activations", example("activation"), "school")
    finally:
        store.writing = commit  # type: ignore[method-assign]
    assert status == 202 and answer["journaled"] is True
    (stored,) = [s.incident_id for s in g.store.incidents()]
    assert answer["incident_id"] == stored
    _wait_ok(g)
    assert [(route, status) for route, status, _ in _answers(tmp_path)] == [("activation", 202)]
    state = IncidentService(g.store).state(stored)
    assert {"dev-ruiz", "dev-chen", "dev-walker"} <= set(state.responders)
    status, later = g.post("/v1/devices/dev-ruiz/messages", _position("p-1"), "dev-ruiz")
    assert (status, later) == (202, {"results": [{"id": "p-1", "result": "stored"}]})


def test_an_alert_promised_an_incident_closed_meanwhile_opens_a_new_one(
    partitioned: tuple[RunningGateway, Outage], tmp_path: Path
) -> None:
    g, outage = partitioned
    status, first = g.post("/v1/activations", example("activation"), "school")
    assert status == 202
    outage.down = True  # the gateway is cut off; a console still reaches the store
    IncidentService(g.store).execute(
        first["incident_id"], [ev.IncidentStatusChanged("all_clear")], actor=IC,
        source=ev.Source.CONSOLE,
    )  # fmt: skip
    again = {**example("activation"), "id": "act-again", "message": "shots fired again"}
    status, promised = g.post("/v1/activations", again, "school")
    assert (status, promised) == (202, {"incident_id": first["incident_id"], "journaled": True})
    outage.down = False
    _wait_ok(g)
    ((_, status, reply),) = _answers(tmp_path)
    assert status == 202 and reply is not None
    opened = reply["incident_id"]
    assert opened != first["incident_id"]
    key = f"{g.keys['school'].key_id}/act-again"
    assert g.store.incident_of_key(key) == opened  # the alert is in an open incident
    assert IncidentService(g.store).state(opened).opened


def test_a_restarted_gateway_keeps_the_incident_ids_its_journal_promised(
    partitioned: tuple[RunningGateway, Outage], tmp_path: Path
) -> None:
    g, outage = partitioned
    outage.down = True
    status, first = g.post("/v1/activations", example("activation"), "school")
    assert status == 202 and first["journaled"]
    g.thread.stop()  # restarted with the activation still in the journal
    thread = GatewayThread(
        g.store_url, Listen("127.0.0.1", 0, 0, 0, udp_worker=False),
        box=SecretBox(tmp_path / "master.key"),
        journal_path=str(tmp_path / "gateway-journal.sqlite3"),
    )  # fmt: skip
    thread.start_and_wait()
    g.thread = thread
    g.url = f"http://127.0.0.1:{thread.gateway.ports['http']}"
    second = {**example("activation"), "id": "act-2", "message": "second caller"}
    status, answer = g.post("/v1/activations", second, "school")
    assert (status, answer["incident_id"]) == (202, first["incident_id"])
    status, _ = g.post(f"/v1/incidents/{first['incident_id']}/notified", example("notified"),
                       "school")  # fmt: skip
    assert status == 202
    _wait_ok(g)
    assert [status for _, status, _ in _answers(tmp_path)] == [202, 202, 202]
    assert [s.incident_id for s in g.store.incidents()] == [first["incident_id"]]


def test_a_message_that_cannot_be_forwarded_is_kept_as_failed_and_the_rest_goes_on(
    partitioned: tuple[RunningGateway, Outage], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g, outage = partitioned
    status, opened = g.post("/v1/activations", example("activation"), "school")
    assert status == 202
    outage.down = True
    for n in range(3):
        assert g.post("/v1/devices/dev-ruiz/messages", _position(f"q-{n}"), "dev-ruiz")[0] == 202
    core = _gateway(g).core
    assert core is not None
    handle = core.handle

    def broken_for_the_first(route: str, key: Any, target: str, body: bytes, *a: Any) -> Any:
        if b'"q-0"' in body:
            raise ValueError("a bug that this message always meets")
        return handle(route, key, target, body, *a)

    monkeypatch.setattr(core, "handle", broken_for_the_first)
    outage.down = False
    _wait_ok(g)
    answers = _answers(tmp_path)
    assert [status for _, status, _ in answers] == [500, 202, 202]
    assert "a bug that this message always meets" in answers[0][2]["error"]  # type: ignore[index]
    chen_or_ruiz = g.keys["dev-ruiz"].key_id
    assert g.store.incident_of_key(f"{chen_or_ruiz}/q-2") == opened["incident_id"]


def test_while_the_store_is_known_down_messages_are_journaled_without_asking_it(
    partitioned: tuple[RunningGateway, Outage],
) -> None:
    g, outage = partitioned
    outage.down = True
    assert g.post("/v1/devices/dev-ruiz/messages", _position("d-0"), "dev-ruiz")[0] == 202
    tried = outage.statements
    started = time.monotonic()
    for n in range(1, 21):
        assert g.post("/v1/devices/dev-ruiz/messages", _position(f"d-{n}"), "dev-ruiz")[0] == 202
    assert outage.statements == tried  # not one statement for these 20 (a try can take seconds)
    assert time.monotonic() - started < 10


def test_during_an_outage_refusals_stay_refusals_and_a_revoked_key_is_refused(
    partitioned: tuple[RunningGateway, Outage],
) -> None:
    g, outage = partitioned
    assert g.post("/v1/devices/dev-ruiz/messages", _position("r-0"), "dev-ruiz")[0] == 202
    g.store.revoke_key(g.keys["dev-chen"].key_id)
    gateway = _gateway(g)
    assert gateway.core is not None
    assert g.post("/v1/devices/dev-chen/messages", _position("c-0"), "dev-chen")[0] == 401
    gateway._writer.submit(gateway.core.remember_reference).result()  # the minute's re-read
    outage.down = True
    assert g.post("/v1/devices/dev-ruiz/messages", _position("r-1"), "dev-ruiz")[0] == 202
    assert g.post("/v1/devices/dev-chen/messages", _position("c-1"), "dev-chen")[0] == 401
    # The rejection log cannot be written now: refusals are kept, and stay 401 (not 503).
    statuses = {
        g.post(
            "/v1/devices/dev-ruiz/messages", _position(f"x-{n}"), "dev-ruiz", signature="t=1,v1=00"
        )[0]
        for n in range(210)
    }
    assert statuses == {401}


def test_a_store_that_reads_but_cannot_write_is_said_down_once_not_every_tick(
    partitioned: tuple[RunningGateway, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    g, outage = partitioned
    status, opened = g.post("/v1/activations", example("activation"), "school")
    assert status == 202
    outage.down = outage.writes_only = True  # a full disk: reads work
    ack = {"messages": [{"id": "a-1", "kind": "ack", "at": iso(time.time_ns() // 1000),
                         "incident_id": opened["incident_id"], "responding": True}]}  # fmt: skip
    status, answer = g.post("/v1/devices/dev-ruiz/messages", ack, "dev-ruiz")
    assert status == 202 and answer["journaled"] is True
    time.sleep(3)  # six ticks

    def said(text: str) -> int:
        return sum(text in r.getMessage() for r in caplog.records)

    assert said("store is unreachable") == 1 and said("answers again") == 0
    outage.down = False
    _wait_ok(g)
    assert said("answers again") == 1
    key = f"{g.keys['dev-ruiz'].key_id}/a-1"
    assert g.store.incident_of_key(key) == opened["incident_id"]
