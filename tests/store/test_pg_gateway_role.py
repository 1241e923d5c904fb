"""The gateway end to end under its own PostgreSQL login role (issue 16), on a private cluster
whose ``pg_hba.conf`` requires ``scram-sha-256``: the real ``dispatch-console gateway`` process,
connected as ``gateway`` (a member of ``dc_gateway``), stores a school's signed activation and a
device's positions; a console user (after its second factor) sees them. The gateway's role
cannot append a console user's decision, cannot alter the tables or their triggers, and holds
none of the consoles' secrets (their passwords are the server's, their TOTP keys are in
``dc_private``, which it cannot read)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.domain.sentences import sentence
from dispatch_console.feeds.keys import SecretBox, new_key_material
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.resources import resource
from dispatch_console.store import Store
from dispatch_console.store import accounts as acc
from dispatch_console.store.chain import verify_chain
from dispatch_console.store.pgroles import (
    create_login,
    second_factor,
    setup_roles,
)
from dispatch_console.store.store import wall_clock_us
from tests.feeds.gateway_fixture import Key, RunningGateway, wait_until_healthy
from tests.feeds.test_contract import example
from tests.pgcluster import PrivateCluster
from tests.ports import free_port
from tests.scram import scram_cluster, url_as

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_PASSWORD = "the gateway's own long password"
IC_PASSWORD = "incident commander password"


@pytest.fixture(scope="module")
def scram() -> Iterator[tuple[PrivateCluster, str]]:
    with scram_cluster() as found:
        yield found


def test_the_gateway_runs_under_its_own_login_role(
    scram: tuple[PrivateCluster, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster, owner_url = scram
    monkeypatch.delenv("PGOPTIONS", raising=False)
    master = tmp_path / "master.key"
    box = SecretBox(master)
    keys: dict[str, Key] = {}
    with Store(owner_url) as store:  # the owner: migrations, schools, devices, keys
        store.upsert_schools(load_schools(resource("example", "lincoln_hs.geojson")).imported)
        store.add_device("dev-1", home=(-84.55, 38.23))
        for name, kind, scope in (("school", "school", "lincoln-hs"), ("dev-1", "device", "dev-1")):
            material = new_key_material(kind)  # type: ignore[arg-type]
            store.add_key(material.key_id, kind, scope, box.seal(material.secret), None)  # type: ignore[arg-type]
            keys[name] = Key(material.key_id, material.secret)
    setup_roles(owner_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(GATEWAY_PASSWORD + "\n"))
    assert main(["users", "add-gateway", "gateway", "--password-stdin", "--db", owner_url]) == 0
    with Store(owner_url, migrate=False) as store:  # the audit trail says what happened
        made = [
            e
            for e in store.read(None, types=[ev.AccessChanged.TYPE])
            if e.payload.what == "gateway"  # type: ignore[attr-defined]
        ]
    assert len(made) == 1 and made[0].actor.name.startswith("cli:")
    assert sentence(made[0]).startswith(
        f"Gateway login role gateway created by {made[0].actor.name}"
    )
    ic_secret = create_login(owner_url, "Lt. Hayes", "incident commander", IC_PASSWORD)
    gateway_url = url_as(cluster, "gateway", GATEWAY_PASSWORD, "dispatch")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PG", "DISPATCH_CONSOLE"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DISPATCH_CONSOLE_MASTER_KEY_FILE=str(master),
        DISPATCH_CONSOLE_SIGNING_KEY_FILE=str(tmp_path / "centre-signing.key"),
    )
    command = [
        sys.executable, "-m", "dispatch_console.cli", "gateway", "--db", gateway_url,
        "--http-port", str(port), "--udp-port", str(free_port(socket.SOCK_DGRAM)),
        "--tcp-port", str(free_port()), "--no-cot-tls", "--journal",
        str(tmp_path / "journal.sqlite3"),
    ]  # fmt: skip
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = RunningGateway(f"http://127.0.0.1:{port}", gateway_url, {}, keys, None, None)  # type: ignore[arg-type]
    try:
        wait_until_healthy(client, child)
        status, opened = client.post("/v1/activations", example("activation"), "school")
        assert status == 202, opened
        incident_id = opened["incident_id"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        positions = [
            {"id": f"p-{i}", "kind": "position", "at": now, "lat": 38.23 + i * 1e-4, "lon": -84.55}
            for i in range(5)
        ]
        status, sent = client.post("/v1/devices/dev-1/messages", {"messages": positions}, "dev-1")
        assert status == 202, sent
    finally:
        child.send_signal(signal.SIGTERM)  # a clean stop: it signs a last checkpoint
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        errors = child.stderr.read().decode(errors="replace") if child.stderr else ""
        if child.stderr:
            child.stderr.close()
    assert "permission denied" not in errors and "row-level security" not in errors, errors
    # Stored by the gateway's role, as the system and the device.
    with Store(owner_url, migrate=False) as store:
        stored = list(store.read(incident_id))
        assert any(e.type == ev.ResponderPosition.TYPE for e in stored), [e.type for e in stored]
        assert {e.actor.kind for e in stored} <= {ev.ActorKind.SYSTEM, ev.ActorKind.DEVICE}
        checked = verify_chain(store)
        assert checked.ok and checked.anchored_seq == checked.last_seq  # its checkpoint
    # Seen by a console role once its second factor passed.
    ticket = second_factor(
        url_as(cluster, "Lt. Hayes", IC_PASSWORD, "dispatch"),
        acc.totp(ic_secret, acc.totp_step(wall_clock_us())),
    )
    assert ticket is not None
    monkeypatch.setenv("PGOPTIONS", f"-c dc.session_ticket={ticket}")
    with Store(url_as(cluster, "Lt. Hayes", IC_PASSWORD, "dispatch"), migrate=False) as store:
        state = store.state_at(incident_id)
        assert state.event_count == len(stored)
    monkeypatch.delenv("PGOPTIONS")
    # What the gateway's role cannot do.
    engine = create_engine(gateway_url)
    hayes_ack = (
        "INSERT INTO events (seq, incident_id, type, occurred_at_us, received_at_us, "
        "actor_kind, actor_name, source, payload, idempotency_key, chain_hash) VALUES "
        f"(999999, '{incident_id}', 'incident_commander_assigned', 1, 1, 'console_user', "
        "'Lt. Hayes', 'console', '{\"name\": \"Lt. Hayes\"}', NULL, '\\x00')"
    )
    system_ack = hayes_ack.replace("'console_user', 'Lt. Hayes'", "'system', 'gw'")
    with engine.connect() as conn:
        for attack, refusal in (
            (hayes_ack, "row-level security"),  # a console user's decision
            (system_ack, "row-level security"),  # ... even labelled as the system
            ("ALTER TABLE events DISABLE TRIGGER events_no_change", "must be owner"),
            ("DROP TRIGGER events_no_change ON events", "must be owner"),
            ("ALTER TABLE events DISABLE ROW LEVEL SECURITY", "must be owner"),
            ("DELETE FROM events", "permission denied"),
            ("DELETE FROM chain_checkpoints", "permission denied"),
            ("SELECT secret FROM dc_private.second_factor", "permission denied"),
            ("SELECT * FROM dc_private.session_tickets", "permission denied"),
            ("SELECT second_factor('123456')", "permission denied"),
        ):
            with pytest.raises(DBAPIError, match=refusal):
                conn.execute(text(attack))
            conn.rollback()
        # The consoles' password verifiers are the server's: not readable by the gateway.
        with pytest.raises(DBAPIError, match="permission denied"):
            conn.execute(text("SELECT rolpassword FROM pg_authid"))
        conn.rollback()
    engine.dispose()
