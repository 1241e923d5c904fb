"""PostgreSQL restarts mid-incident while the simulator sends through a gateway and a console
process watches: a private cluster that the test stops and starts (never the shared server).

Every message the gateway acknowledged, before, during and after the outage, is stored exactly
once; the console shows NOT LIVE, reconnects by itself and ends with every event once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from dispatch_console.county.load import load_demo_county
from dispatch_console.feeds.journal import Journal
from dispatch_console.feeds.keys import SecretBox
from dispatch_console.feeds.server import GatewayThread, Listen
from dispatch_console.resources import resource
from dispatch_console.service import IncidentService
from dispatch_console.sim import run as sim_run
from dispatch_console.sim.run import HttpCotTransport, SimResult, run_scenario
from dispatch_console.store import Store
from tests.deploy.consoles import ConsoleProcess
from tests.pgcluster import PrivateCluster

SPEED = 10.0  # the 150 s lockdown in about 15 s


class _Recorder:
    """What the simulator's transport was answered: (path, body sent, answer) per 2xx."""

    def __init__(self) -> None:
        self.answered: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.lock = threading.Lock()

    def transport(self) -> type[HttpCotTransport]:
        recorder = self

        class Recording(HttpCotTransport):
            def _request(self, method: str, path: str, key: Any, body: Any) -> Any:
                answer = super()._request(method, path, key, body)  # raises unless 2xx
                if method == "POST":
                    with recorder.lock:
                        recorder.answered.append((path, body, answer))
                return answer

        return Recording

    def count(self) -> int:
        with self.lock:
            return len(self.answered)


def test_postgresql_restarts_while_the_simulator_sends_and_a_console_watches(
    cluster: PrivateCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cluster.new_database()
    box = SecretBox(tmp_path / "master.key")
    with Store(url) as setup:
        county = load_demo_county(setup, box)
    keys = {**county.school_keys, **county.device_keys}
    journal_path = tmp_path / "gateway-journal.sqlite3"
    gateway = GatewayThread(
        url, Listen("127.0.0.1", 0, 0, 0, udp_worker=False), box=box, journal_path=str(journal_path)
    )
    gateway.start_and_wait()
    console = ConsoleProcess(url, "Lt. J. Hayes", "incident commander", tmp_path / "console.log")
    recorder = _Recorder()
    monkeypatch.setattr(sim_run, "HttpCotTransport", recorder.transport())
    outcome: list[SimResult | BaseException] = []
    try:
        loaded_at = int(console.wait_ready()["last_seq"])
        ports = gateway.gateway.ports

        def simulate() -> None:
            try:
                outcome.append(
                    run_scenario(
                        resource("scenarios", "small_lockdown.toml"),
                        gateway_url=f"http://127.0.0.1:{ports['http']}",
                        udp=("127.0.0.1", ports["udp"]),
                        tcp=("127.0.0.1", ports["tcp"]),
                        keys=keys,
                        speed=SPEED,
                        start_us=time.time_ns() // 1000 - 150 * 10**6,  # never in the future
                        seed=7,
                    )
                )
            except BaseException as exc:  # reported by the test, not lost in the thread
                outcome.append(exc)

        sender = threading.Thread(target=simulate, name="simulator")
        sender.start()
        deadline = time.monotonic() + 60
        while recorder.count() < 15:  # the activation and the first answers
            assert time.monotonic() < deadline and sender.is_alive(), outcome
            time.sleep(0.05)
        mark = console.mark()
        cluster.stop()  # mid-stream: requests are in flight
        before_outage = recorder.count()
        down = console.wait_for("health", after=mark, timeout=30)
        assert down["live"] is False
        assert down["banner"] and down["banner"].startswith("NOT LIVE")
        time.sleep(3.0)  # the simulator goes on sending; the gateway journals
        during_outage = recorder.count() - before_outage
        mark = console.mark()
        cluster.start()
        up = console.wait_for("health", after=mark, timeout=30)
        assert up["live"] is True and up["banner"] is None
        sender.join(timeout=120)
        assert not sender.is_alive(), "the simulator did not finish"
        (result,) = outcome
        assert isinstance(result, SimResult), result
        deadline = time.monotonic() + 60
        while gateway.gateway.journal.pending or gateway.gateway.store_down:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the journal was not forwarded"
            time.sleep(0.1)
        with Store(url) as store:
            last_seq = store.last_seq()
            console.wait_seen(set(range(loaded_at + 1, last_seq + 1)), timeout=30)
            stored_keys = _keys_stored(url)
            state = IncidentService(store).state(str(result.incident_id))
    finally:
        console.stop()
        try:
            if not cluster.running:
                cluster.start()
        finally:
            gateway.stop()

    assert during_outage > 0, "nothing was sent while the database was down"
    # What each journaled message was answered when it was forwarded, by its key.
    forwarded: dict[str, str] = {}
    with_journal = Journal(journal_path)
    for entry, status, reply in with_journal.history():
        assert status == 202 and reply is not None, (entry, status, reply)
        for result in reply.get("results", []):
            forwarded[f"{entry.key_id}/{result['id']}"] = result["result"]
    with_journal.close()
    assert len(forwarded) >= 5, "too little went through the journal"
    # Every acknowledged message: stored once, or said to be a duplicate or refused. An ack, a
    # status or a directive's acknowledgement stored is one event under the message's key; a
    # position or a profile may be none (a device in no incident is remembered, not an event).
    # The officers the activation alerted are responders from its answer on: each position
    # they sent after it is a responder_position event under its key.
    first = min(r.notified_at_us for r in state.responders.values())
    alerted = {rid for rid, r in state.responders.items() if r.notified_at_us == first}
    activation = next(i for i, (path, *_) in enumerate(recorder.answered) if "activ" in path)
    expected_stored: list[str] = []
    at_most_once: list[str] = []
    for index, (path, body, answer) in enumerate(recorder.answered):
        if not path.startswith("/v1/devices/"):
            continue
        device_id = path.split("/")[3]
        key_id = keys[device_id].key_id
        kinds = {m["id"]: m["kind"] for m in body["messages"]}
        for result in answer["results"]:
            key = f"{key_id}/{result['id']}"
            final = forwarded[key] if result["result"] == "journaled" else result["result"]
            assert final in ("stored", "duplicate", "refused"), (key, final)
            if final == "stored":
                kind = kinds[result["id"]]
                certain = kind not in ("position", "profile") or (
                    kind == "position" and device_id in alerted and index > activation
                )
                (expected_stored if certain else at_most_once).append(key)
    assert len(expected_stored) > 50, len(expected_stored)
    # (the unique index on the key stores none twice; stored_keys counts to show it)
    missing = [key for key in expected_stored if stored_keys.get(key, 0) != 1]
    assert missing == []
    journaled_and_stored = [
        k for k in expected_stored + at_most_once if forwarded.get(k) == "stored"
    ]
    assert journaled_and_stored, "no journaled message was stored"
    # The console saw every event once, in order, the ones of the outage included.
    assert all(n == 1 for n in console.times_seen.values())
    assert console.order == sorted(console.order)


def _keys_stored(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT idempotency_key, count(*) FROM events "
                    "WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key"
                )
            )
            return {str(key): int(n) for key, n in rows}
    finally:
        engine.dispose()
