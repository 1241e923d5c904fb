"""The gateway's smaller holes, each closed (issue 16): slow and malformed HTTP, a flood of junk
becoming one counted row, uid and text caps, stream ends, the peer address on every refusal,
no server banner, no plain listener beyond loopback, sslmode honoured, audit events of keys
and devices."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch_console import cli
from dispatch_console.domain import events as ev
from dispatch_console.feeds import server
from dispatch_console.feeds.rejections import RejectionLog, counted, source_of
from dispatch_console.feeds.server import Gateway, Listen
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from dispatch_console.store.registry import Rejection
from tests.feeds.gateway_fixture import TAK_UID, RunningGateway, start_gateway
from tests.feeds.test_contract import example


@pytest.fixture
def sqlite_gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    running = start_gateway(f"sqlite:///{tmp_path / 'gw.sqlite3'}", tmp_path)
    yield running
    running.stop()


def _wait(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _rows(gateway: RunningGateway, needle: str) -> list[Rejection]:
    return [r for r in gateway.store.rejections(1000) if needle in r.reason]


def _raw(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(timeout)
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def _pli(uid: str, callsign: str = "GPD-212", lat: float = 38.2480, lon: float = -84.5800) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    doc = (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{now}" '
        f'start="{now}" stale="{stale}"><point lat="{lat}" lon="{lon}" hae="250" ce="8" '
        f'le="9999999"/><detail><contact callsign="{callsign}"/></detail></event>'
    )
    return doc.encode()


def test_slow_clients_holding_partial_headers_or_bodies_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HEADER_TIMEOUT_S", 0.5)
    monkeypatch.setattr(server, "BODY_TIMEOUT_S", 0.5)
    gateway = start_gateway(f"sqlite:///{tmp_path / 'gw.sqlite3'}", tmp_path)
    try:
        port = gateway.ports["http"]
        started = time.monotonic()
        # Never finishes its headers: closed by the gateway, long before the test's 10 s.
        assert _raw(port, b"POST /v1/activations HTTP/1.1\r\nHost: x\r\nX-Dispatch") == b""
        assert time.monotonic() - started < 5
        # Sends its headers, then only part of the body it announced: 408, and logged.
        answer = _raw(
            port,
            b'POST /v1/activations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"id"',
        )
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        _wait(lambda: _rows(gateway, "408: body not received"))
        assert "@127.0.0.1" in _rows(gateway, "408")[0].sender
        assert gateway.get("/v1/health", None)[0] == 200  # and the port still answers
    finally:
        gateway.stop()


def test_malformed_headers_are_answered_400_or_401_logged_with_the_peer_and_no_banner(
    sqlite_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    port = sqlite_gateway.ports["http"]
    body = b"{}"
    with caplog.at_level(logging.WARNING):
        nul = _raw(
            port,
            b"POST /v1/activations HTTP/1.1\r\nHost: x\r\nX-Dispatch-Key-Id: a\x00b\r\n"
            b"Content-Length: 2\r\n\r\n" + body,
        )
        bad_length = _raw(
            port, b"POST /v1/activations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
        )
        latin = _raw(
            port,
            b"POST /v1/activations HTTP/1.1\r\nHost: x\r\nX-Dispatch-Key-Id: \xff\xfe\r\n"
            b"X-Dispatch-Signature: \xe9\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" + body,
        )
    assert nul.startswith(b"HTTP/1.0 400") and bad_length.startswith(b"HTTP/1.0 400")
    assert latin.startswith(b"HTTP/1.1 401")
    for answer in (nul, bad_length, latin):
        head = answer.split(b"\r\n\r\n")[0].lower()
        assert b"server: dispatch-gateway" in head and b"aiohttp" not in head
        assert b"python" not in head
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    _wait(lambda: len(_rows(sqlite_gateway, "400: ")) >= 2 and _rows(sqlite_gateway, "key id"))
    for row in sqlite_gateway.store.rejections():
        assert row.sender.endswith("@127.0.0.1"), row
        assert "\x00" not in row.sender + row.reason and "\xff" not in row.sender


def test_a_flood_of_junk_datagrams_becomes_one_row_with_a_count(
    gateway: RunningGateway,
) -> None:
    sent = 20_000
    target = ("127.0.0.1", gateway.ports["udp"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(sent):
            sock.sendto(b"<junk", target)

    def counted_all() -> bool:
        rows = [r for r in gateway.store.rejections(1000) if r.transport == "udp"]
        return len(rows) == 1 and counted(rows[0].reason)[0] == gateway.thread.gateway.udp_datagrams

    _wait(lambda: gateway.thread.gateway.udp_datagrams > sent // 2)
    _wait(counted_all, timeout=30)
    row = next(r for r in gateway.store.rejections(1000) if r.transport == "udp")
    count, reason = counted(row.reason)
    assert count > sent // 2 and "not well-formed" in reason
    assert source_of(row.sender) == "127.0.0.1"


def test_rejections_are_bounded_per_source_and_in_sources() -> None:
    log = RejectionLog(max_sources=3)
    for i in range(100):  # 100 distinct reasons from one source: at most 21 groups
        log.add(Rejection(1_000_000 + i, "udp", "10.0.0.1:5000", f"reason {i}", ""))
    for i in range(50):  # 50 more sources: two get groups of their own, the rest share one
        log.add(Rejection(2_000_000, "udp", f"10.0.1.{i}:9", "junk", ""))

    class Rows:
        def __init__(self) -> None:
            self.rows: list[Rejection] = []

        def add_rejections_counted(self, rejections: list[Rejection]) -> list[int]:
            self.rows.extend(rejections)
            return list(range(len(self.rows) - len(rejections), len(self.rows)))

        def update_rejections(self, updates: list[tuple[int, str, str]]) -> None:
            raise AssertionError("nothing was written before")

    rows = Rows()
    log.write(rows, 3_000_000)
    assert len(rows.rows) == 21 + 2 + 1
    assert sum(counted(r.reason)[0] for r in rows.rows) == 150
    various = [r for r in rows.rows if "various reasons" in r.reason]
    assert len(various) == 1 and counted(various[0].reason)[0] == 80
    assert any(r.sender.startswith("*") and counted(r.reason)[0] == 48 for r in rows.rows)


def test_a_huge_uid_never_becomes_a_responder_and_a_callsign_is_neutralised(
    sqlite_gateway: RunningGateway,
) -> None:
    gateway = sqlite_gateway
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    incident_id = opened["incident_id"]
    huge = "A" * 50_000
    with socket.create_connection(("127.0.0.1", gateway.ports["tcp"])) as conn:
        conn.sendall(_pli(huge, lat=38.2300, lon=-84.5450))
        conn.sendall(_pli("ANDROID-cafe", "GPD\u202eLIVE\u200b", lat=38.2300, lon=-84.5450))
        conn.sendall(_pli("ANDROID-long", "C" * 300, lat=38.2300, lon=-84.5450))
    _wait(lambda: _rows(gateway, "uid is 50000 characters"))
    _wait(lambda: _rows(gateway, "callsign is 300 characters"))

    def contact() -> Any:
        return IncidentService(gateway.store).state(incident_id).responders.get("tak:ANDROID-cafe")

    _wait(lambda: contact() is not None and contact().callsign)
    assert contact().callsign == "GPD<U+202E>LIVE<U+200B>"  # (XML allows no controls)
    responders = IncidentService(gateway.store).state(incident_id).responders
    assert not [r for r in responders if len(r) > 200]
    assert "tak:ANDROID-long" not in responders


def test_a_tcp_stream_ending_inside_a_message_is_logged(sqlite_gateway: RunningGateway) -> None:
    with socket.create_connection(("127.0.0.1", sqlite_gateway.ports["tcp"])) as conn:
        conn.sendall(_pli(TAK_UID)[:100])
    _wait(lambda: _rows(sqlite_gateway, "stream ended (closed by the sender) inside a message"))
    row = _rows(sqlite_gateway, "stream ended")[0]
    assert row.transport == "tcp" and row.sender.startswith("127.0.0.1:")


def test_a_403_names_the_peer(sqlite_gateway: RunningGateway) -> None:
    body = {"messages": [{"id": "m1", "kind": "ack", "incident_id": "x", "responding": True,
                          "at": "2026-11-24T09:14:35Z"}]}  # fmt: skip
    status, _ = sqlite_gateway.post("/v1/devices/dev-chen/messages", body, "dev-ruiz")
    assert status == 403
    _wait(lambda: _rows(sqlite_gateway, "403"))
    assert _rows(sqlite_gateway, "403")[0].sender.endswith("@127.0.0.1")


def test_listening_beyond_loopback_without_tls_is_refused_unless_insecure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert Listen("127.0.0.1").insecure_problem() is None
    assert Listen("::1").insecure_problem() is None
    assert "without TLS" in (Listen("0.0.0.0").insecure_problem() or "")
    assert "plain CoT" in (
        Listen("0.0.0.0", certfile="c.pem", keyfile="k.pem").insecure_problem() or ""
    )
    assert (
        Listen("0.0.0.0", certfile="c", keyfile="k", cot_plaintext=False).insecure_problem() is None
    )
    assert Listen("0.0.0.0", insecure=True).insecure_problem() is None
    gateway = Gateway(f"sqlite:///{tmp_path / 'gw.sqlite3'}", Listen("0.0.0.0", 0, 0, 0))
    import asyncio

    with pytest.raises(RuntimeError, match="refusing to listen"):
        asyncio.run(gateway.start())
    code = cli.main(["gateway", "--db", str(tmp_path / "gw.sqlite3"), "--host", "0.0.0.0"])
    assert code == cli.EXIT_ERROR
    assert "refusing to listen: HTTP on 0.0.0.0 without TLS" in capsys.readouterr().err


def test_user_key_and_device_administration_are_audit_events_with_one_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISPATCH_CONSOLE_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    db = str(tmp_path / "admin.sqlite3")
    assert cli.main(["init", "--db", db]) == 0
    assert cli.main(["devices", "add", "dev-x", "--tak-uid", "ANDROID-x", "--db", db]) == 0
    assert cli.main(["keys", "add", "device", "dev-x", "--db", db]) == 0
    key_id = capsys.readouterr().out.split("key id:")[1].split()[0]
    assert cli.main(["keys", "revoke", key_id, "--db", db]) == 0
    assert cli.main(["devices", "remove", "dev-x", "--db", db]) == 0
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    user_add = ["users", "add", "Lt. Hayes", "--role", "dispatcher", "--password-stdin"]
    assert cli.main([*user_add, "--db", db]) == 0
    assert cli.main(["users", "role", "Lt. Hayes", "incident commander", "--db", db]) == 0
    with Store(db) as store:
        events = [e for e in store.read(None) if e.type == ev.AccessChanged.TYPE]
        users = list(store.read(None, types=[ev.ConsoleUserAudit.TYPE]))
    seen = [(e.payload.what, e.payload.action, e.payload.subject) for e in events]  # type: ignore[attr-defined]
    assert seen == [
        ("device", "registered", "dev-x"),
        ("key", "added", key_id),
        ("key", "revoked", key_id),
        ("device", "removed", "dev-x"),
    ]
    assert [e.payload.action for e in users] == ["enrolled", "role_changed"]  # type: ignore[attr-defined]
    # One actor form for every administration event: the command line as a system actor
    # named after the operating-system user, never a console user's label.
    actors = {e.actor for e in [*events, *users]}
    assert len(actors) == 1, actors
    (actor,) = actors
    assert actor.kind is ev.ActorKind.SYSTEM
    assert actor.name.startswith("cli:") and len(actor.name) > 4
    for event in events:
        assert event.incident_id is None
    # Appended as every event is: in the event log's hash chain, which verifies.
    from dispatch_console.store.chain import verify_chain

    with Store(db) as store:
        chained = verify_chain(store)
    assert not chained.breaks and not chained.problems and chained.unchained == 0
    assert chained.last_seq >= max(e.seq for e in events)


@pytest.mark.postgres
def test_postgresql_connections_honour_sslmode_from_the_url(postgres: Any) -> None:
    url = postgres.new()
    with Store(url) as plain, plain._writer.connect() as conn:
        from sqlalchemy import text

        server_ssl = conn.execute(text("SHOW ssl")).scalar() == "on"
    if server_ssl:
        with Store(url + "?sslmode=require") as secure, secure._writer.connect() as conn:
            encrypted = conn.execute(
                text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).scalar()
        assert encrypted is True
    else:
        with pytest.raises(Exception, match=r"(?i)ssl"):
            Store(url + "?sslmode=require").close()
    # verify-full with a root certificate that does not exist: never connects unverified.
    with pytest.raises(Exception, match=r"(?i)root certificate|ssl"):
        Store(url + "?sslmode=verify-full&sslrootcert=/nonexistent/root.crt").close()
    Store(url + "?sslmode=disable").close()  # and disable is honoured too


def test_neutralise_makes_control_and_bidi_characters_visible() -> None:
    from dispatch_console.domain.text import identifier_problem, neutralise

    assert neutralise("Ruiz") == "Ruiz"
    assert neutralise("Émile Zoë") == "Émile Zoë"
    assert neutralise("a\x1b[31mb\u202ec\u2066d\x00\n\u200b") == (
        "a\\x1b[31mb<U+202E>c<U+2066>d\\x00\\x0a<U+200B>"
    )
    assert identifier_problem("ANDROID-1") is None
    assert "over the 128" in (identifier_problem("x" * 129) or "")
    assert "spaces, control or bidi" in (identifier_problem("a\u202eb") or "")
    assert identifier_problem(" ") == "uid is empty"


def test_hostile_names_reach_no_output_raw(tmp_path: Path) -> None:
    from dispatch_console.app.ics211 import build_ics211, write_csv
    from dispatch_console.domain.views import responder_rows
    from tests.builders import T0, Recorder

    hostile = "Ruiz\x1b]0;pwned\x07\u202eNAMOW"
    builder = Recorder().opened().notified("r1")
    builder.add(ev.ResponderProfileReported("r1", hostile, "=GPD\u2067", "1", "C\r\n1"), 2)
    builder.add(ev.ResponderArrived("r1", "scene"), 4, actor=ev.Actor(ev.ActorKind.DEVICE, "r1"))
    state = builder.state()
    now_us = T0 + 60_000_000
    responder = state.responders["r1"]
    assert responder.name == "Ruiz\\x1b]0;pwned\\x07<U+202E>NAMOW"
    assert responder.agency == "=GPD<U+2067>" and responder.callsign == "C\\x0d\\x0a1"
    assert responder_rows(state, now_us)[0].name == responder.name
    path = write_csv(build_ics211(state, now_us), tmp_path / "ics211.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "Ruiz\\x1b]0;pwned\\x07<U+202E>NAMOW" in text and "'=GPD<U+2067>" in text
    out = __import__("io").StringIO()
    cli.write_state_text(state, now_us, out)
    assert "\x1b" not in out.getvalue() and "\u202e" not in out.getvalue()
    assert json.dumps(out.getvalue())  # printable


def _on_writer(gateway: RunningGateway, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on the gateway's writer thread (where its core lives), and return its result."""
    return gateway.thread.gateway._writer.submit(lambda: fn(*args, **kwargs)).result()


def test_each_request_of_a_group_commit_names_its_own_peer(
    sqlite_gateway: RunningGateway,
) -> None:
    # Two requests answered in ONE group commit, from two addresses: each refusal names its own.
    from dispatch_console.feeds.routes import DeviceRequest

    gateway = sqlite_gateway
    core = gateway.thread.gateway.core
    assert core is not None
    chen = _on_writer(gateway, core.keys.get, gateway.keys["dev-chen"].key_id)
    ruiz = _on_writer(gateway, core.keys.get, gateway.keys["dev-ruiz"].key_id)
    bad_body = b'{"messages": [{"id": "m1", "kind": "nonsense"}]}'
    replies = _on_writer(
        gateway,
        core.device_messages_group,
        [
            DeviceRequest(chen, "dev-chen", bad_body, "192.0.2.10"),
            DeviceRequest(ruiz, "dev-chen", b'{"messages": []}', "192.0.2.20"),
        ],
    )
    assert [r.status for r in replies] == [400, 403]
    _on_writer(gateway, core.flush)
    assert _rows(gateway, "400: ")[0].sender.endswith("@192.0.2.10")
    assert _rows(gateway, "403: ")[0].sender.endswith("@192.0.2.20")
    assert core.peer is None  # nothing left behind for the next request


def test_plain_cot_never_speaks_for_an_enrolled_device_on_any_path_into_the_pipeline(
    sqlite_gateway: RunningGateway,
) -> None:
    """The UDP worker's batches, the in-process UDP and TCP batches and a TLS connection's all
    go through the one position pipeline's admission (not only the TLS listener's)."""
    from types import SimpleNamespace

    from dispatch_console.feeds.cot.proto import parse_position_message
    from dispatch_console.feeds.identity import CERTIFICATE

    gateway = sqlite_gateway
    core = gateway.thread.gateway.core
    assert core is not None
    gateway.store.add_key("ct_1", CERTIFICATE, "dev-chen", b"sealed", "certificate")  # type: ignore[arg-type]
    _on_writer(gateway, core.remember_reference)
    report = _pli(TAK_UID)
    worker_batch = SimpleNamespace(
        rejected=[], positions=[(parse_position_message(report), "198.51.100.7:4242")]
    )
    _on_writer(gateway, core.udp_batch, worker_batch)
    assert _on_writer(gateway, core.cot_batch, [(report, "198.51.100.8:1")], "udp") == set()
    assert _on_writer(gateway, core.cot_stream_pieces, [report], "198.51.100.9:2") == set()
    # A TLS connection proving ANOTHER device cannot speak for it either; Chen's own can.
    other = ("dev-ruiz", "ANDROID-ruiz")
    assert _on_writer(gateway, core.cot_stream_pieces, [report], "x:3", proven=other) == set()
    mine = ("dev-chen", TAK_UID)
    assert _on_writer(gateway, core.cot_stream_pieces, [report], "x:4", proven=mine) == {TAK_UID}
    _on_writer(gateway, core.flush)
    refused = _rows(gateway, "enrolled with a certificate")
    assert {r.transport for r in refused} == {"udp", "tcp"}
    assert {r.sender.partition(":")[0] for r in refused} == {
        "198.51.100.7",
        "198.51.100.8",
        "198.51.100.9",
    }
    assert _rows(gateway, "the certificate of dev-ruiz does not speak for uid")
