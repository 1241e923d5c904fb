"""The examples of docs/feed-contract.md, sent to a real gateway (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.rules import DEFAULT_AGENCY
from dispatch_console.service import IncidentService
from tests.feeds.gateway_fixture import RunningGateway

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "feed-contract.md"


def example(name: str, **values: str) -> dict[str, Any]:
    text = CONTRACT.read_text()
    match = re.search(rf"<!-- example: {name} -->\s*```json\n(.*?)```", text, re.S)
    assert match is not None, f"no example {name} in {CONTRACT}"
    body = match.group(1)
    for key, value in values.items():
        body = body.replace("{" + key + "}", value)
    result: dict[str, Any] = json.loads(body)
    return result


def state(gateway: RunningGateway, incident_id: str):  # type: ignore[no-untyped-def]
    return IncidentService(gateway.store).state(incident_id)


def test_the_activation_example_opens_an_incident_and_alerts_devices_in_the_radius(
    gateway: RunningGateway,
) -> None:
    status, answer = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202, answer
    incident = state(gateway, answer["incident_id"])
    assert incident.school_name == "Lincoln High School"
    (alert,) = incident.alerts.values()
    # Alert ids are the sender's, under its key id: two alert systems may both use "act-7f3a".
    assert alert.alert_id == f"{gateway.keys['school'].key_id}/act-7f3a"
    assert alert.location_detail == "Gym, building C"
    assert set(incident.staging_areas) == {"staging-a", "staging-b"}
    assert {p.kind for p in incident.perimeters.values()} == {"inner", "outer"}
    assert set(incident.responders) == {"dev-ruiz", "dev-chen", "dev-walker"}  # not dev-far
    assert answer["notified"] == 3
    alerts = [d for d in incident.directives.values() if d.kind == "alert"]
    assert sorted(d.device_id for d in alerts) == ["dev-chen", "dev-ruiz", "dev-walker"]
    # No agency rules loaded: the default rule decided (each is on a roster, duty not reported
    # yet: off duty, the stricter case) and is recorded with the incident.
    for d in alerts:
        assert "Go to Staging A" in d.text and "Do not go to the school" in d.text, d.text
        assert "credentials" in d.text and "raid jacket or a vest" in d.text, d.text
    assert list(incident.rules_in_force) == [DEFAULT_AGENCY]

    again_status, again = gateway.post("/v1/activations", example("activation"), "school")
    assert again_status == 202
    assert again == {"incident_id": answer["incident_id"], "duplicate": True, "notified": 0}
    assert len(gateway.store.incidents()) == 1


def test_the_device_messages_example_updates_the_responder(gateway: RunningGateway) -> None:
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    incident_id = opened["incident_id"]
    body = example("device_messages", incident_id=incident_id)
    status, answer = gateway.post("/v1/devices/dev-ruiz/messages", body, "dev-ruiz")
    assert status == 202, answer
    assert [r["result"] for r in answer["results"]] == ["stored"] * 4
    ruiz = state(gateway, incident_id).responders["dev-ruiz"]
    assert ruiz.name == "Det. M. Ruiz" and ruiz.duty == "off" and ruiz.plainclothes
    assert ruiz.status is ResponderStatus.EN_ROUTE and ruiz.self_dispatched
    assert ruiz.position is not None and ruiz.position.speed_mps == 14.5
    assert ruiz.roster_verdict == "sworn_active"  # the example roster (resources/example)
    status, again = gateway.post("/v1/devices/dev-ruiz/messages", body, "dev-ruiz")
    assert [r["result"] for r in again["results"]] == ["duplicate"] * 4


def test_the_notified_example_adds_the_devices_the_school_alerted(gateway: RunningGateway) -> None:
    activation = {**example("activation"), "notified_device_ids": ["dev-ruiz"]}
    _, opened = gateway.post("/v1/activations", activation, "school")
    incident_id = opened["incident_id"]
    assert set(state(gateway, incident_id).responders) == {"dev-ruiz"}
    status, answer = gateway.post(
        f"/v1/incidents/{incident_id}/notified", example("notified"), "school"
    )
    assert (status, answer["notified"]) == (202, 1)
    responders = state(gateway, incident_id).responders
    assert set(responders) == {"dev-ruiz", "dev-walker"}
    assert (
        gateway.post(f"/v1/incidents/{incident_id}/notified", example("notified"), "school")[1][
            "duplicate"
        ]
        is True
    )


def test_directives_are_fetched_delivered_and_acknowledged(gateway: RunningGateway) -> None:
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    status, listed = gateway.get("/v1/devices/dev-walker/directives", "dev-walker")
    assert status == 200
    (directive,) = listed["directives"]
    assert directive["kind"] == "alert" and directive["school"] == "Lincoln High School"
    assert set(directive) == set(example("directives")["directives"][0])
    incident = state(gateway, opened["incident_id"])
    assert incident.directives[directive["directive_id"]].delivered_via == "http"
    ack = {
        "messages": [
            {
                "id": "a-1",
                "kind": "directive_ack",
                "at": "2026-11-24T09:15:00Z",
                "directive_id": directive["directive_id"],
            }
        ]
    }
    assert gateway.post("/v1/devices/dev-walker/messages", ack, "dev-walker")[0] == 202
    assert gateway.get("/v1/devices/dev-walker/directives", "dev-walker")[1]["directives"] == []
    other = gateway.post(
        "/v1/devices/dev-ruiz/messages",
        {**ack, "messages": [{**ack["messages"][0], "id": "a-2"}]},
        "dev-ruiz",
    )[1]
    assert other["results"][0]["result"] == "refused"  # not dev-ruiz's directive


def test_a_second_alert_from_the_same_school_joins_the_open_incident(
    gateway: RunningGateway,
) -> None:
    _, first = gateway.post("/v1/activations", example("activation"), "school")
    second_alert = {
        **example("activation"),
        "id": "act-8a01",
        "type": "lockdown",
        "location_detail": "Library",
        "message": "second call: shooter upstairs",
    }
    status, second = gateway.post("/v1/activations", second_alert, "school")
    assert status == 202 and second["incident_id"] == first["incident_id"]
    assert second["notified"] == 0  # everyone in range was alerted already
    incident = state(gateway, first["incident_id"])
    key_id = gateway.keys["school"].key_id
    assert set(incident.alerts) == {f"{key_id}/act-7f3a", f"{key_id}/act-8a01"}
    assert len(gateway.store.incidents()) == 1


def test_the_exercise_example_opens_an_exercise_kept_apart_from_live_incidents(
    gateway: RunningGateway,
) -> None:
    status, drill = gateway.post("/v1/activations", example("activation_exercise"), "school")
    assert status == 202, drill
    exercise = state(gateway, drill["incident_id"])
    assert exercise.exercise and drill["notified"] == 3
    alerts = [d for d in exercise.directives.values() if d.kind == "alert"]
    assert alerts and all(d.text.startswith("EXERCISE, NOT A REAL CALL.") for d in alerts)
    # A real alert at the same school never joins the drill: it opens a live incident.
    _, live = gateway.post("/v1/activations", example("activation"), "school")
    assert live["incident_id"] != drill["incident_id"]
    live_state = state(gateway, live["incident_id"])
    assert not live_state.exercise
    assert not any(d.text.startswith("EXERCISE") for d in live_state.directives.values())
    # ... and a second drill alert joins the drill, not the live incident.
    again = {**example("activation_exercise"), "id": "drill-2"}
    _, second = gateway.post("/v1/activations", again, "school")
    assert second["incident_id"] == drill["incident_id"]
    flags = {i.incident_id: i.exercise for i in gateway.store.incidents()}
    assert flags == {drill["incident_id"]: True, live["incident_id"]: False}


def test_the_gateway_serves_https_with_a_certificate(store_url: str, tmp_path: Path) -> None:
    import datetime
    import ssl
    import urllib.request

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from dispatch_console.feeds.keys import SecretBox
    from dispatch_console.feeds.server import GatewayThread, Listen

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    listen = Listen("127.0.0.1", 0, 0, 0, str(cert_file), str(key_file), udp_worker=False)
    thread = GatewayThread(store_url, listen, box=SecretBox(tmp_path / "master.key"))
    thread.start_and_wait()
    try:
        context = ssl.create_default_context(cafile=str(cert_file))
        url = f"https://localhost:{thread.gateway.ports['http']}/v1/health"
        with urllib.request.urlopen(url, context=context, timeout=30) as response:
            health = json.loads(response.read())
            assert response.status == 200
            assert health == {"status": "ok", "store": "reachable", "journaled": 0}
    finally:
        thread.stop()
