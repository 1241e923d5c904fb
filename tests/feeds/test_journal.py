"""The gateway's journal: messages acknowledged while PostgreSQL is down are stored once when it
is back, on a private PostgreSQL cluster the tests stop and start (never the shared server)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import iso
from dispatch_console.feeds import journal as journal_module
from dispatch_console.feeds.auth import sign
from dispatch_console.feeds.journal import Entry, Journal, JournalError, default_journal_path
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.feeds.gateway_fixture import RunningGateway, start_gateway, wait_until_healthy
from tests.feeds.test_contract import example
from tests.pgcluster import PrivateCluster
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


# --- the journal file ---------------------------------------------------------------------------


def _entry(n: int) -> Entry:
    return Entry(1_000 + n, "device_messages", "dev-1", "dk_1", "t=1,v1=ab", b'{"n":%d}' % n, "p")


def test_the_journal_keeps_entries_in_order_across_a_reopen_and_records_their_answers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway-journal"
    journal = Journal(path)
    assert not path.exists() and journal.pending == 0 and journal.oldest(10) == []
    ids = [journal.add(_entry(n)) for n in range(5)]
    assert ids == sorted(ids) and journal.pending == 5
    journal.close()  # as if the gateway died: what add() returned from is on disk

    reopened = Journal(path)
    assert reopened.pending == 5
    first_two = reopened.oldest(2)
    assert [e.body for e in first_two] == [b'{"n":0}', b'{"n":1}']
    for entry in first_two:
        reopened.forwarded(entry.id, 202, {"results": [{"id": "x", "result": "stored"}]})
    reopened.forwarded(first_two[0].id, 202, {})  # twice: counted once
    assert reopened.pending == 3
    assert [e.body for e in reopened.oldest(10)] == [b'{"n":2}', b'{"n":3}', b'{"n":4}']
    history = list(reopened.history())
    assert [status for _, status, _ in history] == [202, 202, None, None, None]
    assert history[0][2] == {"results": [{"id": "x", "result": "stored"}]}
    # Forwarded entries are pruned after a week, pending ones never.
    assert reopened.prune(now_us=time.time_ns() // 1000) == 0
    assert reopened.prune(now_us=time.time_ns() // 1000 + 8 * 24 * 3600 * 10**6) == 2
    assert reopened.pending == 3 and len(list(reopened.history())) == 3
    reopened.close()


def test_a_full_journal_refuses_instead_of_filling_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "MAX_PENDING", 2)
    journal = Journal(tmp_path / "j")
    journal.add(_entry(1))
    journal.add(_entry(2))
    with pytest.raises(JournalError, match="holds 2 messages"):
        journal.add(_entry(3))
    journal.close()


def test_the_journal_lives_beside_a_sqlite_store_and_per_database_for_postgresql(
    tmp_path: Path,
) -> None:
    assert default_journal_path(f"sqlite:///{tmp_path}/s.db") == Path(
        f"{tmp_path}/s.db.gateway-journal"
    )
    one = default_journal_path("postgresql+psycopg://u:secret@db.example/one")
    two = default_journal_path("postgresql+psycopg://u:secret@db.example/two")
    assert one != two and one.parent == two.parent and "secret" not in str(one)


# --- a real outage ------------------------------------------------------------------------------


@pytest.fixture
def gateway_pg(cluster: PrivateCluster, tmp_path: Path) -> Iterator[RunningGateway]:
    running = start_gateway(cluster.new_database(), tmp_path)
    yield running
    if not cluster.running:
        cluster.start()  # a failed test must not leave the next one without a server
    running.stop()


def _health(gateway: RunningGateway) -> dict[str, Any]:
    status, body = gateway.get("/v1/health", None)
    assert status == 200
    return body


def _wait_until_forwarded(gateway: RunningGateway, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (health := _health(gateway))["status"] != "ok":
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def _now() -> str:
    return iso(time.time_ns() // 1000)


def _events_with_key(store: Store, incident_id: str, key: str) -> list[ev.Event]:
    return [e for e in store.read(incident_id) if e.idempotency_key == key]


def test_messages_acknowledged_while_postgresql_is_down_are_stored_once_when_it_is_back(
    gateway_pg: RunningGateway, cluster: PrivateCluster
) -> None:
    g = gateway_pg
    status, opened = g.post("/v1/activations", example("activation"), "school")
    assert status == 202, opened
    incident_id = opened["incident_id"]
    ruiz = g.keys["dev-ruiz"].key_id

    cluster.stop()
    down_at = time.time_ns() // 1000
    messages = [
        {"id": "a-1", "kind": "ack", "at": _now(), "incident_id": incident_id, "responding": True},
        {"id": "a-2", "kind": "status", "at": _now(), "incident_id": incident_id,
         "status": "en_route"},
        {"id": "a-3", "kind": "position", "at": _now(), "lat": 38.2300, "lon": -84.5500},
    ]  # fmt: skip
    status, answer = g.post("/v1/devices/dev-ruiz/messages", {"messages": messages}, "dev-ruiz")
    assert status == 202, answer
    assert answer == {
        "journaled": True,
        "results": [{"id": m["id"], "result": "journaled"} for m in messages],
    }
    # The device did not hear the answer and sends the same messages again: stored once.
    status, _ = g.post("/v1/devices/dev-ruiz/messages", {"messages": messages}, "dev-ruiz")
    assert status == 202
    # A second alert from the school joins the open incident, whose id it is answered with.
    second = {**example("activation"), "id": "act-second", "message": "second caller"}
    status, joined = g.post("/v1/activations", second, "school")
    assert (status, joined) == (202, {"incident_id": incident_id, "journaled": True})
    # What can be checked without the database is still checked, and refused at once.
    status, bad = g.post("/v1/devices/dev-ruiz/messages", {"messages": [{"id": "x"}]}, "dev-ruiz")
    assert status == 400, bad
    status, _ = g.post("/v1/devices/dev-chen/messages", {"messages": messages}, "dev-ruiz")
    assert status == 403
    status, _ = g.post("/v1/devices/dev-ruiz/messages", {"messages": messages}, "dev-ruiz",
                       signature="t=1,v1=00")  # fmt: skip
    assert status == 401
    # A message that cannot be checked (its key was never read) is not acknowledged.
    status, unknown = g.post("/v1/devices/dev-ruiz/messages", {"messages": messages},
                             g.keys["dev-ruiz"].__class__("dk_never_seen", "x"))  # fmt: skip
    assert status == 503 and "send again" in unknown["error"]
    # Directives are listed from memory (an officer en route still learns where to go); the
    # fetch is recorded as their delivery once the store is back.
    status, listed = g.get("/v1/devices/dev-ruiz/directives", "dev-ruiz")
    assert status == 200 and [d["kind"] for d in listed["directives"]] == ["alert"]
    health = _health(g)
    assert health["status"] == "degraded" and health["store"] == "unreachable"
    assert health["journaled"] == 3
    up_at = time.time_ns() // 1000

    cluster.start()
    _wait_until_forwarded(g)
    with Store(g.store_url) as store:
        for message in messages:
            (stored,) = _events_with_key(store, incident_id, f"{ruiz}/{message['id']}")
            assert down_at - 1_000_000 <= stored.occurred_at_us <= up_at  # its own time
        school_key = g.keys["school"].key_id
        assert len(_events_with_key(store, incident_id, f"{school_key}/act-second")) == 1
        state = IncidentService(store).state(incident_id)
        assert state.responders["dev-ruiz"].status == "en_route"
        assert len(state.alerts) == 2
        (alert,) = state.pending_directives("dev-ruiz")
        assert alert.delivered_at_us is None  # not recorded while the store was down
    assert g.get("/v1/devices/dev-ruiz/directives", "dev-ruiz")[0] == 200
    with Store(g.store_url) as store:
        (alert,) = IncidentService(store).state(incident_id).pending_directives("dev-ruiz")
        assert alert.delivered_at_us is not None  # the first fetch since it is back
    # The journal kept what each forwarded message was answered.
    journal = Journal(Path(g.thread.gateway.journal.path))  # type: ignore[union-attr]
    answers = [(entry.route, status, reply) for entry, status, reply in journal.history()]
    journal.close()
    assert [a[:2] for a in answers] == [
        ("device_messages", 202), ("device_messages", 202), ("activation", 202)
    ]  # fmt: skip
    assert {r["result"] for r in answers[0][2]["results"]} == {"stored"}
    assert {r["result"] for r in answers[1][2]["results"]} == {"duplicate"}
    # Back to normal: answered from the store again.
    status, normal = g.post(
        "/v1/devices/dev-ruiz/messages",
        {
            "messages": [
                {"id": "a-4", "kind": "position", "at": _now(), "lat": 38.23, "lon": -84.55}
            ]
        },
        "dev-ruiz",
    )
    assert status == 202 and normal == {"results": [{"id": "a-4", "result": "stored"}]}


def test_an_activation_during_the_outage_opens_the_incident_it_was_promised(
    gateway_pg: RunningGateway, cluster: PrivateCluster
) -> None:
    g = gateway_pg
    cluster.stop()
    status, first = g.post("/v1/activations", example("activation"), "school")
    assert status == 202 and first["journaled"] is True
    promised = first["incident_id"]
    again = {**example("activation"), "id": "act-again"}
    assert g.post("/v1/activations", again, "school")[1]["incident_id"] == promised
    status, notified = g.post(f"/v1/incidents/{promised}/notified", example("notified"), "school")
    assert (status, notified) == (202, {"incident_id": promised, "journaled": True})
    assert g.post("/v1/incidents/no-such/notified", example("notified"), "school")[0] == 404
    cluster.start()
    _wait_until_forwarded(g)
    with Store(g.store_url) as store:
        state = IncidentService(store).state(promised)
        assert state.opened and len(state.alerts) == 2
        assert "dev-walker" in state.responders  # notified by the school's own system
        assert [s.incident_id for s in store.incidents()] == [promised]


def test_a_journal_left_by_a_killed_gateway_is_forwarded_by_the_next_one(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    """kill -9 while the database is down and messages are journaled: nothing acknowledged is
    lost, the next gateway on the same journal forwards it once."""
    prepared = start_gateway(cluster.new_database(), tmp_path)  # keys, devices, the school
    status, opened = prepared.post("/v1/activations", example("activation"), "school")
    assert status == 202
    prepared.stop()
    journal = tmp_path / "journal-of-the-process"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISPATCH_CONSOLE_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    }
    command = [
        sys.executable, "-m", "dispatch_console.cli", "gateway", "--db", prepared.store_url,
        "--http-port", str(port), "--udp-port", str(free_port(socket.SOCK_DGRAM)),
        "--tcp-port", str(free_port()), "--journal", str(journal), "--cot-plaintext",
        "--no-cot-tls",
    ]  # fmt: skip
    client = RunningGateway(
        f"http://127.0.0.1:{port}",
        prepared.store_url,
        {},
        prepared.keys,
        None,
        None,  # type: ignore[arg-type]
    )

    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    acknowledged: list[str] = []
    try:
        wait_until_healthy(client, child)
        # The keys are read once while the database answers, as in a real outage.
        warm = [{"id": "w-0", "kind": "position", "at": _now(), "lat": 38.23, "lon": -84.55}]
        assert (
            client.post("/v1/devices/dev-chen/messages", {"messages": warm}, "dev-chen")[0] == 202
        )
        cluster.stop()
        for n in range(1, 41):
            body = {"messages": [
                {"id": f"k-{n}", "kind": "position", "at": _now(), "lat": 38.23 + n * 1e-5,
                 "lon": -84.55},
            ]}  # fmt: skip
            status, answer = client.post("/v1/devices/dev-chen/messages", body, "dev-chen")
            assert status == 202 and answer["journaled"] is True, answer
            acknowledged.append(f"k-{n}")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # The outage lasted ten minutes: the signatures are older than the 300 s a new message may
    # be, but each journaled message is checked as at the moment it was received.
    secret = prepared.keys["dev-chen"].secret.encode()
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT id, received_us, body FROM journal").fetchall()
        assert len(rows) == len(acknowledged)
        for entry_id, received_us, body in rows:
            earlier = received_us - 600 * 10**6
            sent = json.loads(body)
            sent["messages"][0]["at"] = iso(earlier)
            older = json.dumps(sent).encode()
            db.execute(
                "UPDATE journal SET received_us = ?, signature = ?, body = ? WHERE id = ?",
                (earlier, sign(secret, earlier // 10**6, older), older, entry_id),
            )
    cluster.start()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_healthy(client, child)
        _wait_until_forwarded(client)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    chen = prepared.keys["dev-chen"].key_id
    with Store(prepared.store_url) as store:
        counts = {
            message_id: len(_events_with_key(store, opened["incident_id"], f"{chen}/{message_id}"))
            for message_id in acknowledged
        }
    assert counts == dict.fromkeys(acknowledged, 1)
    with Store(prepared.store_url) as store:
        assert not [r for r in store.rejections() if "401" in r.reason]
