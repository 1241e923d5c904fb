"""The HTTP device path at capacity: requests arriving together are stored in one group
commit and each answered after it; past capacity the gateway answers fast with 503 and
Retry-After, and nothing refused is stored nor anything acknowledged lost; behind a trusted
reverse proxy (or a carrier's NAT) the sender is who the proxy says, and thousands of phones
on one address are not throttled."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import iso
from dispatch_console.feeds import server
from dispatch_console.feeds.server import Gateway, Listen
from tests.feeds.gateway_fixture import RunningGateway
from tests.feeds.test_contract import example


def _position(message_id: str) -> dict[str, Any]:
    at = iso(int(time.time()) * 1_000_000)
    return {
        "messages": [
            {"id": message_id, "kind": "position", "at": at, "lat": 38.2290, "lon": -84.5440}
        ]
    }


def _send_all(gateway: RunningGateway, count: int) -> list[tuple[str, int, float, str | None]]:
    """``count`` position requests at once from the three alerted devices: (message id,
    status, seconds to the answer, Retry-After)."""
    devices = ["dev-ruiz", "dev-chen", "dev-walker"]

    def one(n: int) -> tuple[str, int, float, str | None]:
        device = devices[n % 3]
        started = time.monotonic()
        status, _ = gateway.post(f"/v1/devices/{device}/messages", _position(f"p{n}"), device)
        return f"p{n}", status, time.monotonic() - started, None

    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(one, range(count)))


def _stored_position_ids(gateway: RunningGateway, incident_id: str) -> set[str]:
    keys = {e.idempotency_key for e in gateway.store.read(incident_id)}
    return {k.rsplit("/", 1)[1] for k in keys if k and "/" in k and k.rsplit("/", 1)[1][0] == "p"}


def test_requests_arriving_together_are_stored_in_one_group_commit(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HTTP_WAIT_MAX_S", 30.0)  # (the machine may be slow)
    monkeypatch.setattr(server, "HTTP_ADMIT_AGE_S", 30.0)
    status, opened = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202
    running = gateway.thread.gateway
    release = threading.Event()
    running._writer.submit(release.wait, 10)  # the writer is busy: requests gather
    groups_before = running.groups
    with ThreadPoolExecutor(max_workers=1) as background:
        sent = background.submit(_send_all, gateway, 30)
        deadline = time.monotonic() + 10
        while len(running._http_waiting) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        answers = sent.result()
    assert {status for _, status, _, _ in answers} == {202}
    assert running.groups - groups_before <= 2  # 30 requests, one or two commits
    assert _stored_position_ids(gateway, opened["incident_id"]) == {f"p{n}" for n in range(30)}


def test_past_capacity_the_gateway_refuses_fast_and_loses_nothing_acknowledged(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, opened = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202
    monkeypatch.setattr(server, "HTTP_QUEUE_MAX", 10)
    running = gateway.thread.gateway
    release = threading.Event()
    running._writer.submit(release.wait, 10)
    with ThreadPoolExecutor(max_workers=1) as background:
        sent = background.submit(_send_all, gateway, 60)
        deadline = time.monotonic() + 10
        while running.overloaded < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        answers = sent.result()
    statuses = [status for _, status, _, _ in answers]
    assert set(statuses) <= {202, 503} and statuses.count(503) >= 50
    assert max(seconds for _, status, seconds, _ in answers if status == 503) < 5.0
    refused_fast = [s for _, status, s, _ in answers if status == 503]
    assert sorted(refused_fast)[len(refused_fast) // 2] < 1.0  # not held behind the writer
    acknowledged = {mid for mid, status, _, _ in answers if status == 202}
    assert _stored_position_ids(gateway, opened["incident_id"]) == acknowledged


def test_past_capacity_a_request_is_refused_by_the_queue_age_before_its_signature_is_checked(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import urllib.error
    import urllib.request

    status, opened = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202
    monkeypatch.setattr(server, "HTTP_ADMIT_AGE_S", 0.2)
    running = gateway.thread.gateway
    release = threading.Event()
    running._writer.submit(release.wait, 10)  # the writer is stuck: the queue ages
    with ThreadPoolExecutor(max_workers=1) as background:
        first = background.submit(
            gateway.post, "/v1/devices/dev-ruiz/messages", _position("pa1"), "dev-ruiz"
        )
        deadline = time.monotonic() + 10
        while not running._http_waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the one waiting is now older than the admission age
        overloaded_before = running.overloaded
        # A forged signature: refused 503 at admission, not 401 after checking it (the queue
        # is only one request long: it is its age that refuses).
        forged = urllib.request.Request(
            gateway.url + "/v1/devices/dev-chen/messages",
            data=json.dumps(_position("pa2")).encode(),
            headers={"X-Dispatch-Key-Id": "dk_nobody", "X-Dispatch-Signature": "t=1,v1=00"},
            method="POST",
        )
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        took = time.monotonic() - started
        assert refused.value.code == 503 and refused.value.headers["Retry-After"] == "1"
        refused.value.close()
        assert took < 1.0 and running.overloaded == overloaded_before + 1
        release.set()
        assert first.result()[0] == 202  # admitted before the queue aged: stored
    assert _stored_position_ids(gateway, opened["incident_id"]) == {"pa1"}
    gateway.thread.gateway._writer.submit(lambda: None).result(10)  # (refusals logged by now)
    # Its signature was never checked: no 401 was logged for it.
    assert not [r for r in gateway.store.rejections(1000) if "dk_nobody" in r.sender]


def test_a_503_at_capacity_says_when_to_send_again(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import urllib.error
    import urllib.request

    from dispatch_console.feeds.auth import sign

    monkeypatch.setattr(server, "HTTP_QUEUE_MAX", 0)
    raw = json.dumps(_position("x1")).encode()
    key = gateway.keys["dev-ruiz"]
    request = urllib.request.Request(
        gateway.url + "/v1/devices/dev-ruiz/messages",
        data=raw,
        headers={
            "X-Dispatch-Key-Id": key.key_id,
            "X-Dispatch-Signature": sign(key.secret.encode(), int(time.time()), raw),
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 503
    assert refused.value.headers["Retry-After"] == "1"
    refused.value.close()


def _request(peer: str, forwarded: str | None) -> Any:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    request = make_mocked_request("POST", "/v1/devices/d/messages", headers=headers)
    return request.clone(remote=peer)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("10.0.0.5", "203.0.113.7", "203.0.113.7"),  # through the trusted proxy
        ("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),  # two proxies
        ("192.0.2.44", "203.0.113.7", "192.0.2.44"),  # anyone can write the header
        ("10.0.0.5", "not-an-address", "10.0.0.5"),  # a broken header: the proxy is the sender
        ("10.0.0.5", None, "10.0.0.5"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, peer: str, forwarded: str | None, expected: str
) -> None:
    gateway = Gateway(None, Listen(trusted_proxies=("10.0.0.0/8",)))
    try:
        assert gateway.client_address(_request(peer, forwarded)) == expected
    finally:
        gateway._writer.shutdown()


def test_a_carriers_nat_with_thousands_of_phones_on_one_address_is_not_throttled() -> None:
    gateway = Gateway(None, Listen())
    try:
        # 2,000 phones every 5 s behind one address, for 3 s, in one burst (a worst case).
        assert all(gateway.peer_limiter.allow("100.64.0.1") for _ in range(1200))
    finally:
        gateway._writer.shutdown()


def test_events_of_a_group_are_ordinary_position_events(gateway: RunningGateway) -> None:
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    _send_all(gateway, 6)
    positions = [
        e for e in gateway.store.read(opened["incident_id"])
        if isinstance(e.payload, ev.ResponderPosition)
    ]  # fmt: skip
    assert len(positions) == 6
    assert all(e.actor.kind == ev.ActorKind.DEVICE for e in positions)


def test_a_request_that_breaks_its_group_does_not_fail_the_others(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HTTP_WAIT_MAX_S", 30.0)
    status, opened = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202
    running = gateway.thread.gateway
    core = running.core
    assert core is not None
    real = core.device_messages_group

    def breaking(requests: Any) -> Any:
        if any(b"p0" in r.body.split(b'"at"')[0] for r in requests):
            raise RuntimeError("a bug one request's content triggers")
        return real(requests)

    monkeypatch.setattr(core, "device_messages_group", breaking)
    release = threading.Event()
    running._writer.submit(release.wait, 10)
    with ThreadPoolExecutor(max_workers=1) as background:
        sent = background.submit(_send_all, gateway, 9)
        deadline = time.monotonic() + 10
        while len(running._http_waiting) < 9 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        answers = sent.result()
    by_id = {mid: status for mid, status, _, _ in answers}
    assert by_id.pop("p0") == 500
    assert set(by_id.values()) == {202}
    assert _stored_position_ids(gateway, opened["incident_id"]) == set(by_id)


def test_the_keys_of_a_group_are_read_in_one_query_and_a_revocation_still_counts(
    tmp_path: Path,
) -> None:
    from dispatch_console.feeds.keys import KeyRing, SecretBox, new_key_material
    from dispatch_console.store import Store

    box = SecretBox(tmp_path / "master.key")
    with Store(f"sqlite:///{tmp_path / 'store.sqlite3'}") as store:
        ids = []
        for n in range(5):
            store.add_device(f"d{n}", home=(-84.5, 38.2))
            material = new_key_material("device")
            store.add_key(material.key_id, "device", f"d{n}", box.seal(material.secret), None)
            ids.append(material.key_id)
        looked_up: list[str] = []

        def one(key_id: str) -> Any:
            looked_up.append(key_id)
            return store.key(key_id)

        ring = KeyRing(one, box, ttl_s=60.0)
        queries: list[list[str]] = []

        def many(key_ids: list[str]) -> Any:
            queries.append(key_ids)
            return store.keys(key_ids)

        ring.prefetch([*ids, "unknown-key"], many)
        assert len(queries) == 1 and sorted(queries[0]) == sorted([*ids, "unknown-key"])
        assert all(ring.get(k) is not None for k in ids) and ring.get("unknown-key") is None
        assert looked_up == []  # every one answered from the group's query
        store.revoke_key(ids[0])
        ring.prefetch(ids, many)
        assert len(queries) == 1  # fresh: not read again
        ring._ttl = 0.0  # old: read again, in one query
        ring.prefetch(ids, many)
        ring._ttl = 60.0
        assert len(queries) == 2 and ring.get(ids[0]) is None and ring.get(ids[1]) is not None
        # Twice a second the gateway reads again every key past half its time to live, in one
        # query, so that requests find their keys fresh.
        ring.refresh_ageing(many)
        assert len(queries) == 2  # none is old yet
        ring._ttl = 0.0
        ring.refresh_ageing(many)
        assert len(queries) == 3 and sorted(queries[2]) == sorted([*ids, "unknown-key"])
        assert looked_up == []
