"""Hostile and broken HTTP input: each gets the contract's clear answer, nothing crashes, nothing
half-written is stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_console.feeds.auth import sign
from dispatch_console.feeds.keys import new_key_material
from dispatch_console.feeds.rejections import counted
from dispatch_console.feeds.server import RateLimiter
from tests.feeds.gateway_fixture import Key, RunningGateway
from tests.feeds.test_contract import example

POSITION = {"id": "p-1", "kind": "position", "at": "2026-11-24T09:14:35Z", "lat": 38.23,
            "lon": -84.56}  # fmt: skip


def _reasons(gateway: RunningGateway) -> list[str]:
    """Each refusal's reason, once per refusal (a row counts the same ones from one source)."""
    return [
        reason
        for r in gateway.store.rejections(1000)
        for count, reason in [counted(r.reason)]
        for _ in range(count)
    ]


def _wait_for_rejections(gateway: RunningGateway, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reasons = _reasons(gateway)
        if len(reasons) >= count:
            return reasons
        time.sleep(0.1)
    return _reasons(gateway)


def test_signatures_are_checked(gateway: RunningGateway) -> None:
    body = json.dumps(example("activation")).encode()
    key = gateway.keys["school"]
    now = int(time.time())
    cases = {
        "unknown key": gateway.post("/v1/activations", body, Key("sk_nobody", "x")),
        "no signature": gateway.post("/v1/activations", body, key, signature=""),
        "forged": gateway.post("/v1/activations", body, Key(key.key_id, "not-the-secret")),
        # 300 s is the limit; 330 leaves room for a slow machine between the lines.
        "expired": gateway.post("/v1/activations", body, key, t=int(time.time()) - 330),
        "from the future": gateway.post("/v1/activations", body, key, t=int(time.time()) + 330),
        "garbled": gateway.post("/v1/activations", body, key, signature="t=abc,v1=zz"),
        "another body": gateway.post(
            "/v1/activations", body.replace(b"act-7f3a", b"act-0000"), key,
            signature=sign(key.secret.encode(), now, body),
        ),
    }  # fmt: skip
    for name, (status, answer) in cases.items():
        assert (status, answer) == (401, {"error": "unauthorized"}), name
    assert gateway.store.incidents() == []
    reasons = _wait_for_rejections(gateway, len(cases))
    assert sum(r.startswith("401") for r in reasons) == len(cases)
    assert any("bad signature" in r for r in reasons) and any(
        "from the gateway clock" in r for r in reasons
    )


def test_a_replayed_request_is_stored_once(gateway: RunningGateway) -> None:
    body = json.dumps(example("activation")).encode()
    key = gateway.keys["school"]
    signature = sign(key.secret.encode(), int(time.time()), body)
    first = gateway.post("/v1/activations", body, key, signature=signature)
    replay = gateway.post("/v1/activations", body, key, signature=signature)
    assert first[0] == replay[0] == 202 and replay[1]["duplicate"] is True
    assert len(gateway.store.incidents()) == 1


def test_a_revoked_key_is_refused(gateway: RunningGateway) -> None:
    core = gateway.thread.gateway.core
    assert core is not None
    core.keys._ttl = 0.0  # the default 5 s cache would delay the revocation in a test
    gateway.store.revoke_key(gateway.keys["school"].key_id)
    assert gateway.post("/v1/activations", example("activation"), "school")[0] == 401


def test_keys_only_speak_for_their_own_school_or_device(gateway: RunningGateway) -> None:
    from dispatch_console.feeds.keys import SecretBox

    box = SecretBox(gateway.thread.gateway.box.path)  # type: ignore[union-attr]
    material = new_key_material("school")
    gateway.store.add_key(
        material.key_id, "school", "other-school", box.seal(material.secret), None
    )
    other_school = Key(material.key_id, material.secret)
    status, answer = gateway.post("/v1/activations", example("activation"), other_school)
    assert status == 403 and answer["field"] == "$.school_id"
    status, _ = gateway.post("/v1/devices/dev-ruiz/messages", {"messages": [POSITION]}, "dev-chen")
    assert status == 403
    assert gateway.get("/v1/devices/dev-ruiz/directives", "dev-chen")[0] == 403
    assert (
        gateway.post("/v1/devices/dev-ruiz/messages", {"messages": [POSITION]}, "school")[0] == 403
    )
    assert gateway.store.incidents() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "$"),
        (b'{"messages": []}', "$.messages"),
        (b'{"messages": [{"id": "x", "kind": "teleport", "at": "2026-11-24T09:14:35Z"}]}',
         "$.messages[0].kind"),
        (json.dumps({"messages": [{**POSITION, "lat": "north"}]}).encode(), "$.messages[0].lat"),
        (json.dumps({"messages": [{**POSITION, "lat": 95.0}]}).encode(), "$.messages[0].lat"),
        (json.dumps({"messages": [{**POSITION, "lon": -180.5}]}).encode(), "$.messages[0].lon"),
        (b'{"messages": [{"id": "x", "kind": "position", "at": "2026-11-24T09:14:35Z",'
         b' "lat": NaN, "lon": 1}]}', "$"),
        (b'{"messages": [{"id": "x", "kind": "position", "at": "2026-11-24T09:14:35Z",'
         b' "lat": 1e999, "lon": 1}]}', "$.messages[0].lat"),
        (json.dumps({"messages": [{**POSITION, "at": "yesterday"}]}).encode(), "$.messages[0].at"),
        (json.dumps({"messages": [{**POSITION, "at": "2999-01-01T00:00:00Z"}]}).encode(),
         "$.messages[0].at"),
        (json.dumps({"messages": [{**POSITION, "extra": 1}]}).encode(), "$.messages[0]"),
        (json.dumps({"messages": [POSITION] * 501}).encode(), "$.messages"),
        (json.dumps({"messages": [{**POSITION, "id": "\u202e\u0000"}]}).encode(),
         "$.messages[0].id"),
        ("{\"messages\": [{\"id\": \"\u0000\"}]}".encode(), "$"),  # a raw NUL: not JSON
    ],
)  # fmt: skip
def test_a_malformed_body_is_a_400_naming_the_field(gateway: RunningGateway, body: bytes,
                                                    field: str) -> None:  # fmt: skip
    status, answer = gateway.post("/v1/devices/dev-ruiz/messages", body, "dev-ruiz")
    assert status == 400, answer
    assert answer["field"] == field and answer["error"]
    assert gateway.store.last_seq() == 0


def test_a_body_over_64_kib_is_a_413(gateway: RunningGateway) -> None:
    huge = json.dumps({"messages": [{**POSITION, "id": "x" * 70_000}]}).encode()
    status, answer = gateway.post("/v1/devices/dev-ruiz/messages", huge, "dev-ruiz")
    assert status == 413 and "larger than" in answer["error"]


def test_a_flood_is_rate_limited(gateway: RunningGateway) -> None:
    gateway.thread.gateway.key_limiter = RateLimiter(rate=1.0, burst=3.0)
    answers = [gateway.get("/v1/devices/dev-ruiz/directives", "dev-ruiz")[0] for _ in range(8)]
    assert answers[:3] == [200, 200, 200] and 429 in answers[3:]


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_message_like = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8), "kind": st.sampled_from(
        ["profile", "ack", "position", "status", "directive_ack", "other"]),
     "at": st.sampled_from(["2026-11-24T09:14:35Z", "", "2026-02-30T00:00:00Z", "now"])},
    optional={"lat": st.floats(), "lon": st.floats(), "incident_id": st.text(max_size=8),
              "responding": _json, "status": st.text(max_size=10), "attire": _json,
              "name": _json, "duty": st.sampled_from(["on", "off", "maybe"])},
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(
    st.binary(max_size=300),
    _json.map(lambda v: json.dumps(v).encode()),
    st.lists(_message_like, min_size=1, max_size=4).map(
        lambda ms: json.dumps({"messages": ms}, allow_nan=True).encode()),
))  # fmt: skip
def test_random_bodies_never_crash_the_gateway(gateway: RunningGateway, body: bytes) -> None:
    for path, key in (("/v1/devices/dev-ruiz/messages", "dev-ruiz"), ("/v1/activations", "school")):
        status, answer = gateway.post(path, body, key)
        assert status in (202, 400, 403), (status, answer)
        if status != 202:
            assert isinstance(answer.get("error"), str)
    assert gateway.get("/v1/health", None)[0] == 200
