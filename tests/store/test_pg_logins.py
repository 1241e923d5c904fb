"""PostgreSQL console users as their own login roles, proven on a private cluster whose
``pg_hba.conf`` requires ``scram-sha-256`` (issue 16): a wrong password is refused by the
server; a signed-in user appends events only as themselves (the impostor's label is refused by
row-level security, whatever the client claims); runtime roles cannot delete events or disable
the trigger (they own nothing); an observer appends nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.store import Store
from dispatch_console.store import accounts as acc
from dispatch_console.store.chain import verify_chain
from dispatch_console.store.pgroles import create_login, end_session, second_factor, setup_roles
from dispatch_console.store.store import wall_clock_us
from tests.builders import T0, Recorder
from tests.pgcluster import PrivateCluster
from tests.scram import scram_cluster as scram_setup
from tests.scram import url_as

pytestmark = pytest.mark.postgres

HAYES_PASSWORD = "hayes: correct horse % battery"
HAYES = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")


@pytest.fixture(scope="module")
def scram_cluster() -> Iterator[tuple[PrivateCluster, str]]:
    with scram_setup() as found:
        yield found


def test_the_server_checks_each_console_user_s_password(
    scram_cluster: tuple[PrivateCluster, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster, owner_url = scram_cluster
    with Store(owner_url) as store:  # the owner runs the migrations, and only it
        rec = Recorder("inc-1").opened()
        gateway = ev.Actor(ev.ActorKind.SYSTEM, "gw")
        store.append(
            [
                ev.EventDraft(e.incident_id, e.occurred_at_us, gateway, ev.Source.FEED, e.payload)
                for e in rec.events
            ]
        )
    assert main(["users", "pg-roles", "--db", owner_url]) == 0
    setup_roles(owner_url)  # idempotent
    hayes_secret = create_login(owner_url, HAYES.name, "incident commander", HAYES_PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO("observer password 1\n"))
    observer_add = ["users", "add", "Observer O. Ng", "--role", "observer", "--password-stdin"]
    assert main([*observer_add, "--db", owner_url]) == 0
    printed = capsys.readouterr().out
    assert "█" in printed  # the TOTP secret as a QR code, as on SQLite
    observer_secret = printed.split("or enter the secret by hand: ")[1].split()[0]
    # Without the password, or with another, the server refuses the connection.
    for password in (None, "hayes: wrong password"):
        engine = create_engine(url_as(cluster, HAYES.name, password, "dispatch"))
        with pytest.raises(OperationalError, match="password"):
            engine.connect().close()
        engine.dispose()
    hayes_url = url_as(cluster, HAYES.name, HAYES_PASSWORD, "dispatch")
    step = acc.totp_step(wall_clock_us())
    ticket = second_factor(hayes_url, acc.totp(hayes_secret, step))
    assert ticket is not None
    monkeypatch.setenv("PGOPTIONS", f"-c dc.session_ticket={ticket}")
    with Store(hayes_url, migrate=False) as store:
        # As themselves: stored.
        ack = ev.IncidentCommanderAssigned(HAYES.name)
        store.append([ev.EventDraft("inc-1", T0, HAYES, ev.Source.CONSOLE, ack)])
        # The impostor's name on Hayes's session: refused by the server, not the client.
        impostor = ev.Actor(ev.ActorKind.CONSOLE_USER, "Chief Impostor")
        with pytest.raises(DBAPIError, match="row-level security"), store.writing() as tx:
            tx.conn.exec_driver_sql(
                store._insert_sql,
                (
                    999,
                    "inc-1",
                    ack.TYPE,
                    T0,
                    T0,
                    "console_user",
                    impostor.name,
                    "console",
                    '{"name": "Chief Impostor"}',
                    None,
                    b"x" * 32,
                ),
            )
        # A runtime role owns nothing: no delete, no disabling the trigger.
        engine = create_engine(hayes_url)
        with engine.connect() as conn:
            for attack in (
                "DELETE FROM events",
                "ALTER TABLE events DISABLE TRIGGER events_no_change",
                "UPDATE events SET actor_name = 'x'",
            ):
                with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
                    conn.execute(text(attack))
                conn.rollback()
        engine.dispose()
    observer_url = url_as(cluster, "Observer O. Ng", "observer password 1", "dispatch")
    with Store(observer_url, migrate=False) as store:
        assert not store.has_incident("inc-1")  # before its second factor: sees nothing
    observer_ticket = second_factor(observer_url, acc.totp(observer_secret, step))
    assert observer_ticket is not None
    monkeypatch.setenv("PGOPTIONS", f"-c dc.session_ticket={observer_ticket}")
    with Store(observer_url, migrate=False) as store:
        assert store.has_incident("inc-1")  # reads
        observer = ev.Actor(ev.ActorKind.CONSOLE_USER, "Observer O. Ng")
        with pytest.raises(DBAPIError, match="permission denied"), store.writing() as tx:
            tx.conn.exec_driver_sql(
                store._insert_sql,
                (
                    999,
                    "inc-1",
                    ack.TYPE,
                    T0,
                    T0,
                    "console_user",
                    observer.name,
                    "console",
                    '{"name": "Observer O. Ng"}',
                    None,
                    b"x" * 32,
                ),
            )
    # The console as Hayes: the registration needs no write; a locked session's password is a
    # new SCRAM exchange; the lock revokes the ticket and the database records it, for Hayes
    # and for an observer alike (which may append nothing itself).
    monkeypatch.setenv("PGOPTIONS", f"-c dc.session_ticket={ticket}")
    with Store(hayes_url, migrate=False) as store:
        store.set_user(HAYES.name, "incident commander")
    assert end_session(hayes_url, "session_locked")
    assert acc.pg_password_ok(hayes_url, HAYES_PASSWORD)
    assert not acc.pg_password_ok(hayes_url, "hayes: wrong password")
    monkeypatch.setenv("PGOPTIONS", f"-c dc.session_ticket={observer_ticket}")
    assert end_session(observer_url, "signed_out")
    observer = ev.Actor(ev.ActorKind.CONSOLE_USER, "Observer O. Ng")
    with Store(owner_url, migrate=False) as store:
        audits = list(store.read(None, types=[ev.ConsoleUserAudit.TYPE]))
        seen = [(e.actor, e.payload.action) for e in audits]  # type: ignore[attr-defined]
        assert (HAYES, "signed_in") in seen  # recorded by the database's second_factor
        assert seen[-2:] == [(HAYES, "session_locked"), (observer, "signed_out")]
    with Store(owner_url, migrate=False) as store:
        assert verify_chain(store).ok
        stored = [e for e in store.read("inc-1") if e.actor == HAYES]  # the incident's
        assert len(stored) == 1
