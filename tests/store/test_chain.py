"""The tamper-evident log (issue 16): the hash chain, signed checkpoints, ``verify``; the
rewrites of the issue refused where the engine allows and always detected."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dispatch_console.cli import EXIT_TAMPERED, main
from dispatch_console.domain import events as ev
from dispatch_console.store import Store, StoreError
from dispatch_console.store.chain import (
    GENESIS,
    CentreKey,
    Checkpointer,
    chain_rows,
    checkpoint_message,
    public_text,
    verify_chain,
)
from tests.builders import IC, T0, Recorder, S

DEVICE = ev.Actor(ev.ActorKind.DEVICE, "dev-1")


def incident(store: Store, incident_id: str = "inc-1", positions: int = 20) -> None:
    rec = Recorder(incident_id).opened()
    rec.add(ev.AlertReceived("a1", "lincoln-hs", "active_shooter", T0), 1, actor=DEVICE)
    rec.notified("r1")
    for n in range(positions):
        rec.position("r1", 38.225 + n * 1e-5, -84.54, at_s=10 + n)
    store.append(rec.drafts())


def _checkpoint_rows(store: Store) -> list[tuple[int, ...]]:
    with store._reader.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT seq FROM chain_checkpoints"))]


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chain.sqlite3'}"


def seq_of(store: Store, type_: str) -> int:
    return next(e.seq for e in store.read(all_incidents=True) if e.type == type_)


def test_an_untouched_log_verifies_and_each_event_follows_from_the_one_before(
    store: Store,
) -> None:
    incident(store, "inc-1")
    incident(store, "inc-2")
    result = verify_chain(store)
    assert result.ok and result.events == store.last_seq() and result.breaks == []
    # The stored hashes are the chain of the stored rows, from the genesis hash.
    with store._reader.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, incident_id, type, occurred_at_us, received_at_us, actor_kind, "
                "actor_name, source, payload, idempotency_key, chain_hash FROM events ORDER BY seq"
            )
        ).all()
    chained, _ = chain_rows(GENESIS, [tuple(r[:10]) for r in rows])
    assert [c[10] for c in chained] == [bytes(r[10]) for r in rows]


def test_sqlite_refuses_replace_update_and_delete(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    with Store(url, signing_key=CentreKey(tmp_path / "centre.key")) as store:
        store.set_user(IC.name, "incident commander")
        incident(store)
        store.sign_checkpoint()
        target = seq_of(store, ev.AlertReceived.TYPE)
    conn = sqlite3.connect(tmp_path / "chain.sqlite3")
    for attack in (
        # The issue's: a statement that replaces an existing row (its delete fires no trigger).
        "INSERT OR REPLACE INTO events SELECT seq, incident_id, 'incident_status_changed', "
        "occurred_at_us, received_at_us, actor_kind, actor_name, source, payload, "
        f"idempotency_key, chain_hash FROM events WHERE seq = {target}",
        f"UPDATE events SET actor_name = 'someone' WHERE seq = {target}",
        f"DELETE FROM events WHERE seq = {target}",
        "DELETE FROM chain_checkpoints",
        "UPDATE trusted_keys SET label = 'x'",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(attack)
    conn.close()
    with Store(url) as store:
        assert verify_chain(store).ok


def rewrite_sqlite(path: Path, *statements: str) -> None:
    """What someone with the file can do: drop the triggers, then rewrite."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    conn.execute("DROP TRIGGER events_no_replace")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_verify_names_the_first_changed_or_missing_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path)
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
        incident(store, "inc-1")
        incident(store, "inc-2")
        alert = seq_of(store, ev.AlertReceived.TYPE)
        last = store.last_seq()
    assert main(["verify", "--db", url]) == 0
    assert "OK:" in capsys.readouterr().out
    # The activation's type changed (the attack), and an event of inc-2 removed.
    rewrite_sqlite(
        tmp_path / "chain.sqlite3",
        "UPDATE events SET payload = replace(payload, 'active_shooter', 'medical') "
        f"WHERE seq = {alert}",
        f"DELETE FROM events WHERE seq = {last - 3}",
    )
    with Store(url) as store:
        result = verify_chain(store)
    assert not result.ok
    first = result.first_break()
    assert first is not None and first.seq == alert and first.incident_id == "inc-1"
    assert "changed" in first.why
    gap = result.first_break("inc-2")
    assert gap is not None and gap.seq == last - 2 and "missing" in gap.why
    assert main(["verify", "--db", url]) == EXIT_TAMPERED
    out = capsys.readouterr().out
    assert f"TAMPERED: the event log breaks at event {alert} (alert_received, incident inc-1)" in (
        out
    )
    assert main(["verify", "inc-2", "--db", url]) == EXIT_TAMPERED
    assert f"event {last - 2} (" in capsys.readouterr().out


def test_a_rewritten_whole_chain_is_caught_by_the_signed_checkpoint(tmp_path: Path) -> None:
    """Someone who recomputes every hash after the changed event makes a consistent chain;
    the checkpoint signed with the centre's key no longer matches it, and cannot be re-signed
    without the key."""
    url = sqlite_url(tmp_path)
    key = CentreKey(tmp_path / "centre.key")
    with Store(url, signing_key=key) as store:
        store.set_user(IC.name, "incident commander")
        incident(store, "inc-1")
        assert store.sign_checkpoint() == store.last_seq()
        alert = seq_of(store, ev.AlertReceived.TYPE)
        signed = store.last_seq()
        incident(store, "inc-2")
    rewrite_sqlite(
        tmp_path / "chain.sqlite3",
        "UPDATE events SET actor_name = 'Chief Impostor' WHERE seq = " + str(alert),
    )
    # Recompute the whole chain from the start, as an attacker would.
    conn = sqlite3.connect(tmp_path / "chain.sqlite3")
    rows = conn.execute(
        "SELECT seq, incident_id, type, occurred_at_us, received_at_us, actor_kind, actor_name, "
        "source, payload, idempotency_key FROM events ORDER BY seq"
    ).fetchall()
    for row in chain_rows(GENESIS, rows)[0]:
        conn.execute("UPDATE events SET chain_hash = ? WHERE seq = ?", (row[10], row[0]))
    conn.commit()
    conn.close()
    with Store(url) as store:
        result = verify_chain(store)
    assert not result.ok
    first = result.first_break("inc-1")
    assert first is not None and first.span and f"signed checkpoint at event {signed}" in first.why
    # Without the checkpoint the same rewrite would pass the chain check alone: the checkpoint
    # is what catches it (and verify says when there is none).
    assert result.checkpoints == 1


def test_a_checkpoint_with_a_forged_signature_or_unknown_key_is_reported(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    with Store(url, signing_key=CentreKey(tmp_path / "a.key")) as store:
        store.set_user(IC.name, "incident commander")
        incident(store)
        store.sign_checkpoint()
    # A checkpoint signed by a key the centre never trusted (added straight into the table).
    other = CentreKey(tmp_path / "other.key")
    with Store(url) as store:
        with store._writer.begin() as conn:
            conn.execute(
                text("INSERT INTO chain_checkpoints VALUES (:s, :h, :k, :t, :sig)").bindparams(
                    s=1,
                    h=b"x" * 32,
                    k=other.key_id,
                    t=T0,
                    sig=other.sign(checkpoint_message(1, b"x" * 32)),
                )
            )
        result = verify_chain(store)
    assert not result.ok and any("unknown key" in p for p in result.problems)


def test_checkpoints_are_signed_as_events_are_appended(tmp_path: Path) -> None:
    key = CentreKey(tmp_path / "centre.key")
    with Store(sqlite_url(tmp_path), signing_key=key, checkpoint_every=10) as store:
        store.set_user(IC.name, "incident commander")
        incident(store, positions=30)
        incident(store, "inc-2", positions=30)
        result = verify_chain(store)
        assert result.ok and result.checkpoints == 2 and result.anchored_seq > 30


@pytest.mark.postgres
def test_postgres_owner_disabling_the_trigger_and_deleting_is_detected(
    postgres: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's PostgreSQL rewrite: the role that owns the tables disables the trigger,
    deletes an event and enables it again. Nothing refuses that role; verify catches it."""
    url = postgres.new()  # type: ignore[attr-defined]
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
        incident(store)
        alert = seq_of(store, ev.AlertReceived.TYPE)
    engine = create_engine(url)
    with engine.begin() as conn:
        with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
            conn.execute(text(f"DELETE FROM events WHERE seq = {alert}"))
        conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_no_change"))
        conn.execute(text(f"DELETE FROM events WHERE seq = {alert}"))
        conn.execute(text("ALTER TABLE events ENABLE TRIGGER events_no_change"))
    engine.dispose()
    assert main(["verify", "--db", url]) == EXIT_TAMPERED
    out = capsys.readouterr().out
    assert f"event {alert + 1} (" in out and f"events {alert}..{alert} are missing" in out


@pytest.mark.postgres
def test_concurrent_writers_on_postgres_form_one_chain(postgres: object) -> None:
    """Two consoles and a gateway (three stores, each with its own connections) appending at
    once still form one valid chain: the hash is computed under the append lock."""
    url = postgres.new()  # type: ignore[attr-defined]
    with Store(url) as first:
        first.set_user(IC.name, "incident commander")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with Store(url, migrate=False) as store:
                for batch in range(15):
                    rec = Recorder(f"inc-{n}-{batch}").opened()
                    rec.notified("r1")
                    store.append(rec.drafts())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(url) as store:
        result = verify_chain(store)
        assert result.ok and result.events == store.last_seq() == 3 * 15 * 4


def test_verify_over_a_long_incident(tmp_path: Path) -> None:
    """CI runs verify over a long incident (60,000 events); a change deep in it is named."""
    url = sqlite_url(tmp_path)
    with Store(url, write_snapshots=False) as store:
        store.set_user(IC.name, "incident commander")
        rec = Recorder("long").opened()
        rec.notified("r1")
        first = store.append(rec.drafts()).stored[-1].seq
        drafts = [
            ev.EventDraft(
                "long",
                T0 + n * S // 10,
                DEVICE,
                ev.Source.FEED,
                ev.ResponderPosition(
                    "r1", 38.2 + n * 1e-7, -84.5, T0 + n * S // 10, T0 + n * S // 10 + 30 * S
                ),
                f"dev-1/{n}",
            )
            for n in range(60_000)
        ]
        for start in range(0, len(drafts), 5000):
            store.append(drafts[start : start + 5000])
        total = store.last_seq()
        assert verify_chain(store).ok
    deep = first + 45_000
    rewrite_sqlite(
        tmp_path / "chain.sqlite3",
        f"UPDATE events SET payload = replace(payload, '-84.5', '-84.6') WHERE seq = {deep}",
    )
    with Store(url) as store:
        result = verify_chain(store)
    assert result.events == total
    found = result.first_break("long")
    assert found is not None and found.seq == deep


def test_an_append_after_a_refused_duplicate_still_chains(store: Store) -> None:
    incident(store)
    rec = Recorder("inc-1")
    rec.add(ev.ResponderNotified("r9", "d9"), 5, actor=DEVICE, key="k-1")
    store.append(rec.drafts())
    store.append(rec.drafts())  # a duplicate: nothing stored
    with pytest.raises(StoreError):
        store.append(
            [ev.EventDraft("x" * 65, T0, DEVICE, ev.Source.FEED, ev.ResponderNotified("a", "b"))]
        )
    incident(store, "inc-3")
    assert verify_chain(store).ok


def test_the_command_line_signs_trusts_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path)
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
        incident(store)
        last = store.last_seq()
    assert main(["verify", "--db", url]) == 0
    assert "NO signed checkpoint yet" in capsys.readouterr().out
    assert main(["signing-key"]) == 0
    public = capsys.readouterr().out.split()[0]
    assert public.startswith("ed25519:") and len(public) == len("ed25519:") + 64
    assert main(["checkpoint", "--db", url]) == 0
    assert f"signed checkpoint at event {last}" in capsys.readouterr().out
    assert main(["verify", "--db", url]) == 0
    assert f"signed checkpoints up to event {last}" in capsys.readouterr().out
    assert main(["trust", "list", "--db", url]) == 0
    assert "this centre" in capsys.readouterr().out
    other = CentreKey(tmp_path / "other.key")
    command = ["trust", "add", public_text(other.public), "--label", "Scott County"]
    assert main([*command, "--db", url]) == 0
    assert f"trusted: key {other.key_id} (Scott County)" in capsys.readouterr().out
    assert main(["trust", "add", "ed25519:zz", "--label", "x", "--db", url]) == 1
    assert "not a public key" in capsys.readouterr().err


def test_the_gateway_s_checkpointer_signs_what_was_appended(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
        incident(store)
    checkpoints = Checkpointer(url, CentreKey(tmp_path / "centre.key"), every_s=3600)
    checkpoints.start()
    with Store(url) as store:
        incident(store, "inc-2")
        last = store.last_seq()
    checkpoints.stop()  # signs what it has not signed yet
    assert checkpoints.signed_seq == last
    with Store(url) as store:
        assert verify_chain(store).anchored_seq == last


def test_events_stored_before_the_chain_are_chained_by_the_migration(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from dispatch_console.store import store as store_module

    url = sqlite_url(tmp_path)
    old = Store(url, migrate=False)
    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    with old._writer.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    old.close()
    conn = sqlite3.connect(tmp_path / "chain.sqlite3")
    for seq in range(1, 4):
        conn.execute(
            "INSERT INTO events VALUES (?, 'inc-1', 'responder_notified', ?, ?, 'system', 'gw', "
            "'feed', ?, NULL)",
            (seq, T0 + seq, T0 + seq, f'{{"responder_id": "r{seq}", "device_id": "d{seq}"}}'),
        )
    conn.commit()
    conn.close()
    with Store(url) as store:  # migrates to 0007: the three events are chained
        result = verify_chain(store)
        assert result.ok and result.events == 3 and result.unchained == 0
        store.append(
            [ev.EventDraft("inc-1", T0, DEVICE, ev.Source.FEED, ev.ResponderNotified("r9", "d9"))]
        )
        assert verify_chain(store).ok
    conn = sqlite3.connect(tmp_path / "chain.sqlite3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE events SET actor_name = 'x' WHERE seq = 1")
    conn.close()


def test_an_altered_snapshot_fails_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Snapshots are outside the chain; ``verify`` folds the events again up to each snapshot's
    event and compares: a snapshot that shows what the events never said is reported."""
    import msgspec

    from dispatch_console.domain.state import decode_state, encode_state

    url = sqlite_url(tmp_path)
    with Store(url, snapshot_interval=5) as store:
        store.set_user(IC.name, "incident commander")
        incident(store, "inc-1")
        incident(store, "inc-2")
        store.state_at("inc-1")
        store.state_at("inc-2")
        result = verify_chain(store)
        assert result.ok and result.snapshots >= 8
        with store._reader.connect() as conn:
            seq, blob = conn.execute(
                text(
                    "SELECT seq, state FROM snapshots WHERE incident_id = 'inc-1' "
                    "ORDER BY seq DESC LIMIT 1"
                )
            ).one()
    # The attack: the cached state says all clear and the responder gone.
    forged = msgspec.structs.replace(decode_state(blob), status="all_clear", responders={})
    conn2 = sqlite3.connect(tmp_path / "chain.sqlite3")
    conn2.execute(
        "UPDATE snapshots SET state = ? WHERE incident_id = 'inc-1' AND seq = ?",
        (encode_state(forged), seq),
    )
    conn2.commit()
    conn2.close()
    with Store(url) as store:
        shown = store.state_at("inc-1")
        assert shown.status == "all_clear" and not shown.responders  # what a console shows
        result = verify_chain(store)
    assert not result.ok and not result.breaks  # the events are intact; the cache is not
    assert any(f"snapshot of incident inc-1 at event {seq}" in p for p in result.problems)
    assert main(["verify", "--db", url]) == EXIT_TAMPERED
    out = capsys.readouterr().out
    assert f"PROBLEM: snapshot of incident inc-1 at event {seq}: differs" in out
    # A snapshot made up for an event the incident does not have is reported too.
    conn2 = sqlite3.connect(tmp_path / "chain.sqlite3")
    conn2.execute("DELETE FROM snapshots WHERE incident_id = 'inc-1'")
    conn2.execute(
        "INSERT INTO snapshots SELECT 'inc-1', seq, received_at_us, event_count, format, state "
        "FROM snapshots WHERE incident_id = 'inc-2' ORDER BY seq LIMIT 1"
    )
    conn2.commit()
    conn2.close()
    with Store(url) as store:
        result = verify_chain(store)
    assert any("snapshot of incident inc-1" in p for p in result.problems), result.problems


@pytest.mark.postgres
def test_the_tail_removed_with_its_checkpoints_is_caught_by_a_witness(
    postgres: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The owner deletes the newest events together with the checkpoints that signed them:
    the rest is a consistent chain and verify alone says OK. The gateway's witness file, kept
    outside the database, still names the checkpoint the chain no longer reaches."""
    from dispatch_console.store.chain import read_witness

    url = postgres.new()  # type: ignore[attr-defined]
    key = CentreKey(tmp_path / "centre.key")
    gateway_witness = tmp_path / "gateway-witness.json"
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
        incident(store, "inc-1")
    checkpoints = Checkpointer(url, key, witness=gateway_witness)
    early = checkpoints.sign_now()
    with Store(url) as store:
        incident(store, "inc-2")
    late = checkpoints.sign_now()
    witnessed = read_witness(gateway_witness)
    assert witnessed is not None and witnessed.seq == late > early
    # verify --witness keeps its own copy up to date while the log is intact.
    console_witness = tmp_path / "console-witness.json"
    assert main(["verify", "--db", url, "--witness", str(console_witness)]) == 0
    assert f"reaches the witnessed checkpoint at event {late}" in capsys.readouterr().out
    # The attack, as the owner: the tail and its checkpoint go, the triggers back on.
    engine = create_engine(url)
    with engine.begin() as conn:
        for table, trigger in (("events", "events"), ("chain_checkpoints", "chain_checkpoints")):
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}_no_change"))
        conn.execute(text(f"DELETE FROM events WHERE seq > {early}"))
        conn.execute(text(f"DELETE FROM chain_checkpoints WHERE seq > {early}"))
        for table, trigger in (("events", "events"), ("chain_checkpoints", "chain_checkpoints")):
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}_no_change"))
    engine.dispose()
    assert main(["verify", "--db", url]) == 0  # without a witness: nothing to see
    capsys.readouterr()
    for witness in (gateway_witness, console_witness):
        assert main(["verify", "--db", url, "--witness", str(witness)]) == EXIT_TAMPERED
        out = capsys.readouterr().out
        short = f"PROBLEM: the chain ends at event {early}, short of the witnessed checkpoint at "
        assert f"{short}event {late}" in out, out
        assert f"events {early + 1}..{late} were removed with their checkpoints" in out
    assert read_witness(console_witness) == witnessed  # not moved back by a tampered store
    # The gateway signs nothing over the cut log, even after a restart (new events too).
    with Store(url) as store:
        incident(store, "inc-3", positions=40)
    restarted = Checkpointer(url, key, witness=gateway_witness)
    assert restarted.sign_now() == 0
    with Store(url) as store:
        assert store.last_seq() > late
        assert max(seq for seq, *_ in _checkpoint_rows(store)) == early
    # The console's periodic verification says so too.
    from PySide6.QtCore import Qt

    from dispatch_console.app.backend import StoreFeed

    feed = StoreFeed(url, witness=console_witness, verify_every_s=3600)
    seen: list[tuple[bool, str]] = []

    def told(ok: bool, why: str) -> None:
        seen.append((ok, why))
        feed._stopping.set()  # one pass is enough: stop, and end the wait for the next pass
        feed._verify_now.set()

    feed.signals.integrity.connect(told, Qt.ConnectionType.DirectConnection)
    pass_ = threading.Thread(target=feed._verify, daemon=True)
    pass_.start()
    pass_.join(120)
    assert not pass_.is_alive(), "the console's verification pass did not end"
    assert seen and seen[0][0] is False and f"checkpoint at event {late}" in seen[0][1]
