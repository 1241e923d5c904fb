"""Console accounts (issue 16): Argon2id passwords, TOTP second factor (RFC 6238), lock-out
after five failures, each step an audit event; the impostor cannot sign in."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.store import Store, StoreError, schema
from dispatch_console.store import accounts as acc
from tests.builders import T0

ADMIN = ev.Actor(ev.ActorKind.SYSTEM, "cli:admin")
PASSWORD = "correct horse battery"


def test_rfc_6238_test_vectors() -> None:
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of the RFC's "12345678901234567890"
    for unix_s, code in ((59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924")):
        assert acc.totp(secret, unix_s // 30, digits=8) == code


def audit(store: Store) -> list[tuple[str, str]]:
    return [
        (e.payload.action, e.payload.name)  # type: ignore[attr-defined]
        for e in store.read(None, types=[ev.ConsoleUserAudit.TYPE])
    ]


def test_enrol_sign_in_reuse_and_lock_out(tmp_path: object) -> None:
    now = [T0]
    with Store("sqlite://", clock=lambda: now[0]) as store:
        secret = acc.enroll(store, "Lt. Hayes", "incident commander", PASSWORD, by=ADMIN)
        assert secret is not None and len(secret) == 32
        with store._reader.connect() as conn:  # only the Argon2id hash is kept
            stored = conn.execute(schema.accounts.select()).first()
        assert stored is not None and stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
        # Nobody re-registers an existing name.
        with pytest.raises(StoreError, match="exists already"):
            acc.enroll(store, "Lt. Hayes", "dispatcher", PASSWORD, by=ADMIN)
        code = acc.totp(secret, acc.totp_step(now[0]))
        signed = acc.sign_in(store, "Lt. Hayes", PASSWORD, code, console="console-2")
        assert signed.role == "incident commander"
        # The same code again (seen over a shoulder) is refused.
        with pytest.raises(acc.SignInRefused, match="not accepted"):
            acc.sign_in(store, "Lt. Hayes", PASSWORD, code)
        # The impostor: an unknown name, any role claimed, is refused in the same words.
        with pytest.raises(acc.SignInRefused, match="not accepted"):
            acc.sign_in(store, "Chief Impostor", "whatever password", "123456")
        assert store.user_role("Chief Impostor") is None
        # Wrong passwords: the fifth failure in a row locks the account (the reuse counted).
        now[0] += 60_000_000
        good = acc.totp(secret, acc.totp_step(now[0]))
        for _ in range(3):
            with pytest.raises(acc.SignInRefused, match="not accepted"):
                acc.sign_in(store, "Lt. Hayes", "wrong password!!", good)
        with pytest.raises(acc.SignInRefused, match="locked"):
            acc.sign_in(store, "Lt. Hayes", "wrong password!!", good)
        with pytest.raises(acc.SignInRefused, match="locked"):  # even with the right ones now
            acc.sign_in(store, "Lt. Hayes", PASSWORD, good)
        account = acc.account(store, "Lt. Hayes")
        assert account is not None and account.locked
        acc.unlock(store, "Lt. Hayes", by=ADMIN)
        assert acc.sign_in(store, "Lt. Hayes", PASSWORD, good).name == "Lt. Hayes"
        acc.set_role(store, "Lt. Hayes", "observer", by=ADMIN)
        assert store.user_role("Lt. Hayes") == "observer"
        assert not acc.check_password(store, "Lt. Hayes", "wrong password!!")
        assert acc.check_password(store, "Lt. Hayes", PASSWORD)
        actions = audit(store)
        assert actions[0] == ("enrolled", "Lt. Hayes")
        assert [a for a, _ in actions[1:]] == [
            "signed_in", "sign_in_failed", "sign_in_failed",  # the reuse, the impostor
            "sign_in_failed", "sign_in_failed", "sign_in_failed", "sign_in_failed",
            "locked_out", "sign_in_failed", "unlocked",
            "signed_in", "role_changed", "unlock_failed", "session_unlocked",
        ]  # fmt: skip
        assert ("sign_in_failed", "Chief Impostor") in actions


def test_a_short_password_or_unknown_role_is_refused() -> None:
    with Store("sqlite://") as store:
        with pytest.raises(StoreError, match="at least 12"):
            acc.enroll(store, "A", "dispatcher", "short", by=ADMIN)
        with pytest.raises(StoreError, match="unknown role"):
            acc.enroll(store, "A", "chief", PASSWORD, by=ADMIN)


def test_the_demo_account_signs_in_with_its_password_alone() -> None:
    with Store("sqlite://") as store:
        assert acc.enroll(store, "demo", "dispatcher", PASSWORD, by=ADMIN, demo=True) is None
        assert acc.sign_in(store, "demo", PASSWORD, "").role == "dispatcher"


def test_enrolment_draws_the_secret_as_a_qr_code() -> None:
    uri = acc.provisioning_uri("Lt. Hayes", "JBSWY3DPEHPK3PXP")
    assert uri.startswith("otpauth://totp/Dispatch%20Console%3ALt.%20Hayes?secret=JBSWY3DPEHPK3PXP")
    drawing = acc.terminal_qr(uri)
    assert drawing.count("\n") > 15 and "█" in drawing


def test_users_from_the_command_line(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from dispatch_console.cli import main

    db = f"sqlite:///{tmp_path}/users.sqlite3"  # type: ignore[str-bytes-safe]
    # No account: nobody can sign in, so the console does not open (the impostor's command).
    impostor = ["console", "--db", db, "--user", "Chief Impostor", "--role", "incident commander"]
    assert main(impostor) == 1
    assert "no console accounts" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "Lt. Hayes", "--role", "incident commander",
                 "--password-stdin", "--db", db]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "enrolled Lt. Hayes as incident commander" in out and "█" in out
    secret = out.split("or enter the secret by hand: ")[1].split()[0]
    with Store(db) as store:
        code = acc.totp(secret, acc.totp_step(store._clock()))
        assert acc.sign_in(store, "Lt. Hayes", PASSWORD, code).role == "incident commander"
    assert main(["users", "role", "Lt. Hayes", "dispatcher", "--db", db]) == 0
    assert main(["users", "list", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "Lt. Hayes" in listed and "dispatcher" in listed and "active" in listed
    with Store(db) as store:
        role_changes = [
            e for e in store.read(None, types=[ev.ConsoleUserAudit.TYPE])
            if e.payload.action == "role_changed"  # type: ignore[attr-defined]
        ]  # fmt: skip
    assert len(role_changes) == 1 and role_changes[0].actor.kind is ev.ActorKind.SYSTEM
    assert role_changes[0].actor.name.startswith("cli:")
    # A lost phone: a new secret, shown once as a QR code; the old codes stop working.
    assert main(["users", "new-code", "Lt. Hayes", "--db", db]) == 0
    out = capsys.readouterr().out
    fresh = out.split("or enter the secret by hand: ")[1].split()[0]
    assert fresh != secret and "█" in out
    with Store(db) as store:
        step = acc.totp_step(store._clock())
        with pytest.raises(acc.SignInRefused):
            acc.sign_in(store, "Lt. Hayes", PASSWORD, acc.totp(secret, step + 1))
        assert acc.sign_in(store, "Lt. Hayes", PASSWORD, acc.totp(fresh, step + 1)).name


def test_the_demo_console_enrols_the_demo_account_the_readme_gives(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch_console import cli
    from dispatch_console.launch import console

    opened: list[console.ConsoleOptions] = []
    monkeypatch.setattr(console, "run_console", lambda options: opened.append(options) or 0)
    db = f"sqlite:///{tmp_path}/demo.sqlite3"  # type: ignore[str-bytes-safe]
    assert cli.main(["console", "--demo", "--db", db]) == 0
    assert opened and opened[0].sign_in and opened[0].user is not None
    assert opened[0].user.name == "demo" == cli.DEMO_ACCOUNT
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"**`{cli.DEMO_ACCOUNT}`**, password\n**`{cli.DEMO_PASSWORD}`**" in readme
    with Store(db) as store:
        assert acc.sign_in(store, "demo", cli.DEMO_PASSWORD, "").role == "dispatcher"
