"""Console accounts (issue 16): who may sign in at a console, proven by a password and a second
factor.

A password is kept only as an Argon2id hash (argon2-cffi's defaults: RFC 9106's second
recommended parameters); the second factor is a TOTP code (RFC 6238: HMAC-SHA1, 30-second
steps, 6 digits, one step of clock drift either way) from an authenticator app enrolled with the
secret shown once at enrolment (as a QR code in the terminal). A code is accepted once: the step
it was used in is remembered, so a code seen over a shoulder cannot be replayed.

Five failed sign-ins in a row lock the account (``dispatch-console users unlock NAME`` by an
administrator). Every enrolment, sign-in, failure, lock-out, unlock and role change is an
audit event (:class:`~dispatch_console.domain.events.ConsoleUserAudit`) in the event log.

The demo database's account has no second factor (flagged ``demo``); nothing else may.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
import urllib.parse
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update

from dispatch_console.domain import events as ev
from dispatch_console.store import schema
from dispatch_console.store.store import Store, StoreError

#: Failed sign-ins in a row that lock an account.
MAX_FAILURES = 5
TOTP_STEP_S = 30
TOTP_DIGITS = 6
MIN_PASSWORD = 12
ISSUER = "Dispatch Console"

_hasher = PasswordHasher()  # Argon2id
#: Checked against when the account does not exist, so that timing does not tell.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class SignInRefused(Exception):
    """Why a sign-in was refused, in one line (the same words for an unknown name and a wrong
    password: the screen does not tell which accounts exist)."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    failures: int
    locked: bool
    demo: bool


# --- TOTP (RFC 6238) ---------------------------------------------------------------------------


def new_totp_secret() -> str:
    """A random 160-bit secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def totp(secret: str, step: int, digits: int = TOTP_DIGITS) -> str:
    """The code of time step ``step`` (Unix time // 30) for ``secret`` (RFC 4226 truncation)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def totp_step(now_us: int) -> int:
    return now_us // 1_000_000 // TOTP_STEP_S


def matching_step(secret: str, code: str, now_us: int) -> int | None:
    """The time step (now, or one either side) whose code is ``code``, or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == TOTP_DIGITS):
        return None
    step = totp_step(now_us)
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp(secret, candidate), code):
            return candidate
    return None


def provisioning_uri(name: str, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (its QR code)."""
    label = urllib.parse.quote(f"{ISSUER}:{name}")
    issuer = urllib.parse.quote(ISSUER)
    return f"otpauth://totp/{label}?secret={secret}&issuer={issuer}&digits={TOTP_DIGITS}&period=30"


def terminal_qr(data: str) -> str:
    """``data`` as a QR code drawn with block characters, for a terminal."""
    import io

    import segno

    out = io.StringIO()
    segno.make(data, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


# --- accounts --------------------------------------------------------------------------------


def _audit(
    store: Store, action: str, name: str, actor: ev.Actor, role: str | None, detail: str | None
) -> None:
    store.append(
        [
            ev.EventDraft(
                None,
                store._clock(),
                actor,
                ev.Source.CONSOLE,
                ev.ConsoleUserAudit(action, name[:200], role, detail),
            )
        ]
    )


def check_new_password(password: str) -> None:
    """StoreError if ``password`` is too short for a new account or login role."""
    _check_password(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StoreError(f"a password needs at least {MIN_PASSWORD} characters")


def enroll(
    store: Store,
    name: str,
    role: str,
    password: str,
    *,
    by: ev.Actor,
    demo: bool = False,
) -> str | None:
    """Create the account ``name`` (refused if it exists: no re-registering someone else's
    name); returns the TOTP secret to show once (None for the demo account, which has none).
    The console user is registered in ``role`` too."""
    name = name.strip()
    if not name or len(name) > 200:
        raise StoreError("an account needs a name of 1 to 200 characters")
    if role not in ev.ROLES:
        raise StoreError(f"unknown role {role!r}: one of {', '.join(ev.ROLES)}")
    _check_password(password)
    secret = None if demo else new_totp_secret()
    table = schema.accounts
    now = store._clock()
    with store._writer.begin() as conn:
        if conn.execute(select(table.c.name).where(table.c.name == name)).first() is not None:
            raise StoreError(f"account {name!r} exists already (its role: users role)")
        conn.execute(
            table.insert(),
            {
                "name": name,
                "role": role,
                "password_hash": _hasher.hash(password),
                "totp_secret": secret,
                "totp_last_step": None,
                "failures": 0,
                "locked_at_us": None,
                "demo": demo,
                "updated_at_us": now,
            },
        )
    store.set_user(name, role)
    _audit(store, "enrolled", name, by, role, "demo account, no second factor" if demo else None)
    return secret


def account(store: Store, name: str) -> Account | None:
    table = schema.accounts
    with store._reader.connect() as conn:
        row = conn.execute(select(table).where(table.c.name == name)).first()
    if row is None:
        return None
    return Account(row.name, row.role, row.failures, row.locked_at_us is not None, bool(row.demo))


def accounts(store: Store) -> list[Account]:
    table = schema.accounts
    with store._reader.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.name)).all()
    return [
        Account(r.name, r.role, r.failures, r.locked_at_us is not None, bool(r.demo)) for r in rows
    ]


def sign_in(store: Store, name: str, password: str, code: str, *, console: str = "") -> Account:
    """The account ``name`` if ``password`` and the TOTP ``code`` prove it (the demo account:
    the password alone); :class:`SignInRefused` otherwise. Each attempt is an audit event; the
    fifth failure in a row locks the account."""
    table = schema.accounts
    now = store._clock()
    with store._writer.begin() as conn:
        row = conn.execute(select(table).where(table.c.name == name)).first()
        if row is None:
            _verify(_DUMMY_HASH, password)
            why = "unknown account"
        elif row.locked_at_us is not None:
            why = "account locked"
        elif not _verify(row.password_hash, password):
            why = "wrong password"
        elif row.totp_secret is None and not row.demo:
            why = "no second factor enrolled"
        elif row.totp_secret is not None and (
            (step := matching_step(row.totp_secret, code, now)) is None
            or (row.totp_last_step is not None and step <= row.totp_last_step)
        ):
            why = "wrong or reused one-time code"
        else:
            why = ""
            values: dict[str, object] = {"failures": 0, "updated_at_us": now}
            if row.totp_secret is not None:
                values["totp_last_step"] = step
            conn.execute(update(table).where(table.c.name == name).values(**values))
        locked_now = False
        if why and row is not None and row.locked_at_us is None:
            failures = row.failures + 1
            locked_now = failures >= MAX_FAILURES
            conn.execute(
                update(table)
                .where(table.c.name == name)
                .values(failures=failures, locked_at_us=now if locked_now else None)
            )
    system = ev.Actor(ev.ActorKind.SYSTEM, "sign-in")
    where = f"at {console}" if console else None
    if why:
        _audit(store, "sign_in_failed", name, system, None, f"{why}{' ' + where if where else ''}")
        if locked_now:
            _audit(store, "locked_out", name, system, None, f"{MAX_FAILURES} failed sign-ins")
        raise SignInRefused(
            "account locked: an administrator must unlock it"
            if why == "account locked" or locked_now
            else "name, password or one-time code not accepted"
        )
    assert row is not None
    user = ev.Actor(ev.ActorKind.CONSOLE_USER, row.name)
    store.set_user(row.name, row.role)
    _audit(store, "signed_in", row.name, user, row.role, where)
    return Account(row.name, row.role, 0, False, bool(row.demo))


def check_password(store: Store, name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s (unlocking a locked session); a wrong one counts as a
    failed sign-in (five lock the account), and each try is an audit event."""
    table = schema.accounts
    locked = False
    with store._writer.begin() as conn:
        row = conn.execute(select(table).where(table.c.name == name)).first()
        ok = row is not None and row.locked_at_us is None and _verify(row.password_hash, password)
        if ok:
            conn.execute(update(table).where(table.c.name == name).values(failures=0))
        elif row is not None and row.locked_at_us is None:
            failures = row.failures + 1
            locked = failures >= MAX_FAILURES
            conn.execute(
                update(table)
                .where(table.c.name == name)
                .values(failures=failures, locked_at_us=store._clock() if locked else None)
            )
    if ok:
        user = ev.Actor(ev.ActorKind.CONSOLE_USER, name)
        _audit(store, "session_unlocked", name, user, None, None)
        return True
    system = ev.Actor(ev.ActorKind.SYSTEM, "sign-in")
    _audit(store, "unlock_failed", name, system, None, "wrong password at a locked session")
    if locked:
        _audit(store, "locked_out", name, system, None, f"{MAX_FAILURES} failed sign-ins")
    return False


def pg_login(store_url: str) -> tuple[str, str]:
    """Connect as the URL's login role (the server checks its password: SCRAM) and return its
    name (``session_user``) and its registered console role. :class:`SignInRefused` with the
    server's reason if the server refuses the connection (this console counts nothing: the
    server logs the attempt), or if the login role is not a console user."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            name = str(conn.execute(text("SELECT session_user")).scalar())
            role = conn.execute(
                select(schema.console_users.c.role).where(schema.console_users.c.name == name)
            ).scalar()
    except OperationalError as exc:
        raise SignInRefused(
            f"the database server refused: {pg_refusal(exc)} (nothing is counted at this "
            "console; the server logs the attempt)"
        ) from None
    finally:
        engine.dispose()
    if role is None:
        raise SignInRefused(
            f"the login role {name!r} is not a console user (the owner enrols it: "
            "dispatch-console users add NAME --role ROLE)"
        )
    return name, str(role)


def pg_login_url(store_url: str, name: str, password: str) -> str:
    """``store_url`` as login role ``name`` with ``password`` (the sign-in dialog's)."""
    from sqlalchemy.engine import make_url

    from dispatch_console.store.urls import normalize_url

    login = make_url(normalize_url(store_url)).set(username=name, password=password)
    return login.render_as_string(hide_password=False)


def pg_refusal(exc: BaseException) -> str:
    """The server's reason for refusing a connection, in one line that gives nothing away (no
    host, port or user name: libpq's message has them; the log keeps the whole of it)."""
    message = str(getattr(exc, "orig", None) or exc)
    if "no password supplied" in message:
        return "no password given"
    _, fatal, reason = message.rpartition("FATAL:")
    if not fatal:
        return "the database server could not be reached"
    reason = reason.strip().splitlines()[0] if reason.strip() else "no reason given"
    return re.sub(r'\s+for user ".*"', "", reason)[:120]


def pg_no_password(exc: BaseException) -> bool:
    """Whether connecting failed only because libpq found no password (none in the URL,
    ``PGPASSWORD`` or ``~/.pgpass``) for a server that asks one: the sign-in dialog asks it."""
    return "no password supplied" in str(getattr(exc, "orig", None) or exc)


def pg_password_ok(store_url: str, password: str) -> bool:
    """Whether the server accepts ``password`` for the URL's login role (PostgreSQL: unlocking
    a locked session is a new SCRAM exchange with the server)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    engine = create_engine(make_url(store_url).set(password=password))
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def session_locked(store: Store, name: str, idle_s: float) -> None:
    actor = ev.Actor(ev.ActorKind.CONSOLE_USER, name)
    _audit(store, "session_locked", name, actor, None, f"idle {idle_s:.0f} s")


def audit_pg_login(store: Store, name: str, role: str, *, by: ev.Actor) -> None:
    """A console user's PostgreSQL login role made in ``role``'s group (its password is the
    server's, its one-time code the database's): the enrolment's audit event."""
    _audit(store, "enrolled", name, by, role, "PostgreSQL login role")


def new_second_factor(store: Store, name: str) -> str:
    """A new TOTP secret for account ``name`` (the old one stops working); to show once."""
    table = schema.accounts
    secret = new_totp_secret()
    with store._writer.begin() as conn:
        row = conn.execute(select(table.c.demo).where(table.c.name == name)).first()
        if row is None:
            raise StoreError(f"no account {name!r} (see: dispatch-console users list)")
        if row.demo:
            raise StoreError("the demo account has no second factor")
        conn.execute(
            update(table)
            .where(table.c.name == name)
            .values(totp_secret=secret, totp_last_step=None, updated_at_us=store._clock())
        )
    return secret


def audit_new_code(store: Store, name: str, *, by: ev.Actor) -> None:
    _audit(store, "enrolled", name, by, None, "new one-time-code secret")


def audit_unlocked(store: Store, name: str, *, by: ev.Actor) -> None:
    """A PostgreSQL login role's lock-out lifted (its second factor is the database's)."""
    _audit(store, "unlocked", name, by, None, "PostgreSQL login role")


def unlock(store: Store, name: str, *, by: ev.Actor) -> None:
    _change(store, name, by, "unlocked", None, values={"failures": 0, "locked_at_us": None})


def set_role(store: Store, name: str, role: str, *, by: ev.Actor) -> None:
    if role not in ev.ROLES:
        raise StoreError(f"unknown role {role!r}: one of {', '.join(ev.ROLES)}")
    _change(store, name, by, "role_changed", role, values={"role": role})
    store.set_user(name, role)


def _change(
    store: Store, name: str, by: ev.Actor, action: str, role: str | None, values: dict[str, object]
) -> None:
    table = schema.accounts
    with store._writer.begin() as conn:
        row = conn.execute(select(table).where(table.c.name == name)).first()
        if row is None:
            raise StoreError(f"no account {name!r} (see: dispatch-console users list)")
        conn.execute(
            update(table).where(table.c.name == name).values(updated_at_us=store._clock(), **values)
        )
    detail = f"was {row.role}" if action == "role_changed" else None
    _audit(store, action, name, by, role, detail)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
