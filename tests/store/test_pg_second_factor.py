"""PostgreSQL console logins: the second factor and the lock-out are the DATABASE's (issue 16),
proven on a private cluster whose ``pg_hba.conf`` requires ``scram-sha-256``.

A client that knows a console user's password and connects without the console (psql, a
script) reads no incident and appends nothing until ``second_factor(code)`` passes; a wrong or
reused code is refused; five failed codes lock the login role, even for a client that calls the
function inside a transaction and rolls back; every success, failure and lock-out is an audit
event in the hash chain, which still verifies; the secrets are out of the role's reach."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.store import Store
from dispatch_console.store import accounts as acc
from dispatch_console.store.chain import verify_chain
from dispatch_console.store.pgroles import create_login, second_factor, setup_roles
from dispatch_console.store.store import wall_clock_us
from tests.builders import T0, Recorder
from tests.pgcluster import PrivateCluster
from tests.scram import as_owner, scram_cluster, ticket_times, url_as

pytestmark = pytest.mark.postgres

PASSWORD = "a long console password"


@pytest.fixture(scope="module")
def scram() -> Iterator[tuple[PrivateCluster, str]]:
    with scram_cluster() as (cluster, owner_url):
        with Store(owner_url) as store:
            gw = ev.Actor(ev.ActorKind.SYSTEM, "gw")
            store.append(
                [
                    ev.EventDraft(e.incident_id, e.occurred_at_us, gw, ev.Source.FEED, e.payload)
                    for e in Recorder("inc-1").opened().events
                ]
            )
        setup_roles(owner_url)
        yield cluster, owner_url


def _code(secret: str, offset: int = 0) -> str:
    return acc.totp(secret, acc.totp_step(wall_clock_us()) + offset)


def _ack(name: str) -> list[ev.EventDraft]:
    actor = ev.Actor(ev.ActorKind.CONSOLE_USER, name)
    return [
        ev.EventDraft("inc-1", T0, actor, ev.Source.CONSOLE, ev.IncidentCommanderAssigned(name))
    ]


def _audits(owner_url: str, name: str) -> list[tuple[ev.Actor, str, str | None]]:
    with Store(owner_url, migrate=False) as store:
        return [
            (e.actor, e.payload.action, e.payload.detail)  # type: ignore[attr-defined]
            for e in store.read(None, types=[ev.ConsoleUserAudit.TYPE])
            if e.payload.name == name  # type: ignore[attr-defined]
        ]


def test_the_password_alone_reads_and_writes_nothing_until_the_code_passes(
    scram: tuple[PrivateCluster, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster, owner_url = scram
    name = 'Capt. Zoë "Z" O\'Neil'  # quotes and non-ASCII: the SQL-made audit rows must chain
    secret = create_login(owner_url, name, "incident commander", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    # psql-like: the password only. The incident is invisible and an append is refused.
    with Store(url, migrate=False) as store:
        assert not store.has_incident("inc-1")
        with pytest.raises(DBAPIError, match="row-level security"):
            store.append(_ack(name))
    # The secrets are out of reach; a ticket cannot be made up.
    engine = create_engine(url)
    with engine.connect() as conn:
        for attack in (
            "SELECT secret FROM dc_private.second_factor",
            "SELECT dc_private.audit('signed_in', 'x', 'system', 'x', 'x')",
            "UPDATE dc_private.second_factor SET locked_at = NULL",
        ):
            with pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text(attack))
            conn.rollback()
        conn.execute(text("SET dc.session_ticket = 'deadbeef'"))
        assert conn.execute(text("SELECT second_factor_verified()")).scalar() is False
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0
    engine.dispose()
    # A wrong code: refused, recorded.
    assert second_factor(url, "000000" if _code(secret) != "000000" else "111111") is None
    # The right code: a ticket, which every connection of the console then carries.
    code = _code(secret)
    ticket = second_factor(url, code)
    assert ticket is not None and len(ticket) == 64
    assert second_factor(url, code) is None  # the same code again: refused (no replay)
    monkeypatch.setenv("PGOPTIONS", f"-c dc.session_ticket={ticket}")
    with Store(url, migrate=False) as store:
        assert store.has_incident("inc-1")
        store.append(_ack(name))
    # Another login role with this ticket (stolen from a console): still nothing.
    other_secret = create_login(owner_url, "Dispatcher B. Ruiz", "dispatcher", PASSWORD)
    other = url_as(cluster, "Dispatcher B. Ruiz", PASSWORD, "dispatch")
    with Store(other, migrate=False) as store:
        assert not store.has_incident("inc-1")
    assert other_secret
    actor = ev.Actor(ev.ActorKind.CONSOLE_USER, name)
    seen = _audits(owner_url, name)
    assert [(a, action) for a, action, _ in seen] == [
        (actor, "sign_in_failed"),
        (actor, "signed_in"),
        (actor, "sign_in_failed"),
    ]
    assert "wrong or reused one-time code" in (seen[0][2] or "")
    with Store(owner_url, migrate=False) as store:
        checked = verify_chain(store)
    assert checked.ok and checked.unchained == 0, checked.breaks
    log = (cluster.folder / "server.log").read_text(errors="replace")
    assert "dispatch-console second factor: signed_in" in log


def test_five_failed_codes_lock_the_role_even_when_the_client_rolls_back(
    scram: tuple[PrivateCluster, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster, owner_url = scram
    name = "Sgt. Rollback"
    secret = create_login(owner_url, name, "dispatcher", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    wrong = "000000" if _code(secret) != "000000" else "111111"
    # A verified session first, to see the lock-out end it.
    ticket = second_factor(url, _code(secret))
    assert ticket is not None
    # The attacker guesses inside transactions it rolls back: each guess still counts.
    engine = create_engine(url)
    with engine.connect() as conn:
        for _ in range(5):
            assert conn.execute(text("SELECT second_factor(:c)"), {"c": wrong}).scalar() is None
            conn.rollback()
        # The sixth try, with the RIGHT code (next step): refused, the role is locked.
        right = _code(secret, 1)
        assert conn.execute(text("SELECT second_factor(:c)"), {"c": right}).scalar() is None
        conn.commit()
    engine.dispose()
    monkeypatch.setenv("PGOPTIONS", f"-c dc.session_ticket={ticket}")
    with Store(url, migrate=False) as store:  # the lock ends the verified session too
        assert not store.has_incident("inc-1")
    # Nothing of the rolled-back guesses is in the log, but the committed sixth try is, and the
    # server's log has every one.
    log = (cluster.folder / "server.log").read_text(errors="replace")
    assert log.count("wrong or reused one-time code") >= 5
    seen = [action for _, action, _ in _audits(owner_url, name)]
    assert seen[-1] == "sign_in_failed"
    # The administrator unlocks it (an audit event by the command line); a new code works.
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert main(["users", "unlock", name, "--db", owner_url]) == 0
    assert second_factor(url, _code(secret, 1)) is not None
    seen_after = _audits(owner_url, name)
    unlocked = [a for a, action, _ in seen_after if action == "unlocked"]
    assert (
        unlocked and unlocked[0].kind is ev.ActorKind.SYSTEM and unlocked[0].name.startswith("cli:")
    )
    assert seen_after[-1][1] == "signed_in"


def test_five_committed_failures_are_a_locked_out_event(
    scram: tuple[PrivateCluster, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster, owner_url = scram
    name = "Officer Five"
    secret = create_login(owner_url, name, "observer", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    wrong = "000000" if _code(secret) != "000000" else "111111"
    for _ in range(5):
        assert second_factor(url, wrong) is None
    assert second_factor(url, _code(secret)) is None  # locked
    seen = _audits(owner_url, name)
    actions = [action for _, action, _ in seen]
    assert actions == ["sign_in_failed"] * 5 + ["locked_out", "sign_in_failed"]
    lock_actor = seen[5][0]
    assert lock_actor == ev.Actor(ev.ActorKind.SYSTEM, "second factor")
    assert "account locked" in (seen[6][2] or "")
    # A lost phone: a new secret (shown once as a QR code); the old one no longer works.
    assert main(["users", "unlock", name, "--db", owner_url]) == 0
    assert main(["users", "new-code", name, "--db", owner_url]) == 0
    printed = capsys.readouterr().out
    assert "█" in printed
    fresh = printed.split("or enter the secret by hand: ")[1].split()[0]
    assert second_factor(url, _code(secret, 1)) is None
    assert second_factor(url, _code(fresh)) is not None
    with Store(owner_url, migrate=False) as store:
        assert verify_chain(store).ok


def test_the_console_s_sign_in_dialog_asks_for_the_code_on_postgresql(
    scram: tuple[PrivateCluster, str], monkeypatch: pytest.MonkeyPatch, qtbot: QtBot
) -> None:
    import os

    from dispatch_console.ui.shell.sign_in import SignInDialog

    cluster, owner_url = scram
    name = "Lt. Dialog"
    secret = create_login(owner_url, name, "incident commander", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    dialog = SignInDialog(url, name, postgres_role=(name, "incident commander"))
    qtbot.addWidget(dialog)
    assert dialog.name.isReadOnly() and dialog.name.text() == name
    assert dialog.password.isHidden()  # the server checked it at connecting (SCRAM)
    dialog.code.setText("000000" if _code(secret) != "000000" else "111111")
    dialog.try_sign_in()
    qtbot.waitUntil(lambda: "NOT SIGNED IN" in dialog.message.text(), timeout=20_000)
    assert dialog.account is None and "PGOPTIONS" not in os.environ
    dialog.code.setText(_code(secret))
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):  # type: ignore[attr-defined]
        dialog.try_sign_in()
    assert dialog.account is not None and dialog.account.role == "incident commander"
    # Every connection the console opens now carries the database's ticket.
    assert "dc.session_ticket=" in os.environ["PGOPTIONS"]
    with Store(url, migrate=False) as store:
        assert store.has_incident("inc-1")
        store.append(_ack(name))


def test_a_revoked_ticket_no_longer_reads_or_appends_until_the_code_again(
    scram: tuple[PrivateCluster, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch_console.store.pgroles import carry_ticket, end_session

    cluster, owner_url = scram
    name = "Lt. Revoked"
    secret = create_login(owner_url, name, "incident commander", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    ticket = second_factor(url, _code(secret))
    assert ticket is not None
    carry_ticket(ticket)
    with Store(url, migrate=False) as store:  # a console's connection, opened before the lock
        assert store.has_incident("inc-1")
        store.append(_ack(name))
        # The idle lock: the ticket is revoked in the database; the open connection that
        # carries it reads nothing and appends nothing from now on.
        assert end_session(url, "session_locked")
        assert not store.has_incident("inc-1")
        with pytest.raises(DBAPIError, match="row-level security"):
            store.append(_ack(name))
        assert not end_session(url, "session_locked")  # nothing left to revoke
        # Unlocking: the password (a new SCRAM exchange) and a new code issue the same ticket
        # again, so the console's open connections work again.
        assert second_factor(url, _code(secret, 1)) == ticket
        assert store.has_incident("inc-1")
        store.append(_ack(name))
        # Another login role cannot revoke this one's ticket, nor take it over.
        other_secret = create_login(owner_url, "Dispatcher Other", "dispatcher", PASSWORD)
        other = url_as(cluster, "Dispatcher Other", PASSWORD, "dispatch")
        assert not end_session(other, "signed_out")
        taken = second_factor(other, _code(other_secret))  # carrying this role's ticket
        assert taken is not None and taken != ticket
        assert store.has_incident("inc-1")
        # Sign-out (the console closed): revoked again.
        assert end_session(url, "signed_out")
        assert not store.has_incident("inc-1")
    actions = [action for _, action, _ in _audits(owner_url, name)]
    assert actions == ["signed_in", "session_locked", "signed_in", "signed_out"]
    details = [detail for _, action, detail in _audits(owner_url, name) if action == "signed_in"]
    assert "locked session resumed" in (details[1] or "")
    with Store(owner_url, migrate=False) as store:
        assert verify_chain(store).ok


def test_a_ticket_is_a_15_minute_lease_renewed_up_to_the_shift(
    scram: tuple[PrivateCluster, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed console's ticket must not outlive it by 12 hours: issued for 15 minutes,
    renewed by the running console, never past 12 hours; an expired, revoked or foreign ticket
    cannot be renewed."""
    from dispatch_console.store.pgroles import carry_ticket, end_session, renew_session

    cluster, owner_url = scram
    name = "Sgt. Lease"
    secret = create_login(owner_url, name, "dispatcher", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert renew_session(url) is None  # no ticket carried: nothing to renew
    ticket = second_factor(url, _code(secret))
    assert ticket is not None
    carry_ticket(ticket)
    [(expires_s, shift_s)] = ticket_times(owner_url, name)
    assert 14 * 60 < expires_s <= 15 * 60, expires_s
    assert 11.9 * 3600 < shift_s <= 12 * 3600, shift_s
    # Renewed: 15 minutes from now again (a minute is taken off first, to see it move).
    as_owner(
        owner_url,
        "UPDATE dc_private.session_tickets SET expires_at = expires_at - interval '60 seconds' "
        "WHERE role_name = :n",
        n=name,
    )
    [(shortened_s, _)] = ticket_times(owner_url, name)
    until = renew_session(url)
    assert until is not None
    [(renewed_s, _)] = ticket_times(owner_url, name)
    assert renewed_s > shortened_s + 50 and renewed_s <= 15 * 60, (shortened_s, renewed_s)
    with Store(url, migrate=False) as store:
        assert store.has_incident("inc-1")
        # Near the end of the shift a renewal stops at the shift's end.
        as_owner(
            owner_url,
            "UPDATE dc_private.session_tickets SET renewable_until = clock_timestamp() "
            "+ interval '90 seconds' WHERE role_name = :n",
            n=name,
        )
        assert renew_session(url) is not None
        [(capped_s, shift_s)] = ticket_times(owner_url, name)
        assert abs(capped_s - shift_s) < 0.1 and shift_s <= 90, (capped_s, shift_s)
        # The console died: nobody renews, the lease runs out (here: set in the past), and the
        # connection that carries the ticket reads nothing; the ticket cannot be renewed back.
        as_owner(
            owner_url,
            "UPDATE dc_private.session_tickets SET expires_at = clock_timestamp() "
            "- interval '1 second' WHERE role_name = :n",
            n=name,
        )
        assert not store.has_incident("inc-1")
        assert renew_session(url) is None
        assert not store.has_incident("inc-1")
        # The password and a new code issue it again (a fresh lease, a fresh shift).
        assert second_factor(url, _code(secret, 1)) == ticket
        assert store.has_incident("inc-1")
        [(expires_s, shift_s)] = ticket_times(owner_url, name)
        assert 14 * 60 < expires_s <= 15 * 60 and shift_s > 11.9 * 3600
        # Another login role carrying this ticket cannot renew it.
        create_login(owner_url, "Dispatcher Lease Other", "dispatcher", PASSWORD)
        other = url_as(cluster, "Dispatcher Lease Other", PASSWORD, "dispatch")
        assert renew_session(other) is None
        # Revoked (sign-out): nothing to renew.
        assert end_session(url, "signed_out")
        assert renew_session(url) is None
        assert not store.has_incident("inc-1")
