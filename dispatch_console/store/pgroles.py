"""PostgreSQL: each console user is their own login role (issue 16).

A separate **owner** role owns the tables and runs the migrations, and nothing else. The
runtime roles own nothing, so they can neither alter tables nor disable triggers. Each console
role is a group role whose grants allow exactly its events:

- ``dc_dispatcher``, ``dc_incident_commander``: read everything; append events only as
  themselves: a row-level security policy checks that an event's actor is a console user whose
  name is the *session's* login role (``session_user``), whatever the client claims;
- ``dc_observer``, ``dc_trainer``: read only;
- ``dc_gateway``: appends the feeds' events (actors: the system or a device), never a console
  user's decision (:data:`~dispatch_console.domain.events.CONSOLE_ONLY_TYPES`), keeps the
  device, key and rejection tables, and appends signed checkpoints. Its login role is made by
  the owner (``users add-gateway NAME``: :func:`create_gateway_login`); the real gateway runs
  end to end under it (``tests/store/test_pg_gateway_role.py``).
Every runtime role may add snapshots (the fold's cache; ``verify`` recomputes each from the
events it folded).
A console user signs in with their own password, checked by the server with SCRAM-SHA-256
(``pg_hba.conf``: ``scram-sha-256``), **and** a one-time code (TOTP) checked by the database
itself (migration 0009: ``second_factor(code)``): the console roles' row-level security
policies let a session read or append events and snapshots only once it carries a ticket
that a passed second factor issued (``second_factor_verified()``), so a client that connects
with the password alone, skipping the console, reads and writes nothing of an incident. Five
failed codes lock the login role. Signing out, closing the console and the idle session lock
revoke the session's ticket (``end_session(reason)``, migration 0010: :func:`end_session`);
unlocking asks the password and a one-time code again, which issue the same ticket anew. A
ticket is a 15-minute lease that a running console renews every minute, up to the 12 hours of
a shift (``renew_session()``, migration 0011: :func:`renew_session`): a ticket nobody renews,
such as a killed console's, dies within 15 minutes (whoever holds a copy and the password can
renew it as they can use it, until the shift ends).
Run :func:`setup_roles` as the owner after ``init``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, create_engine, text

from dispatch_console.domain import events as ev
from dispatch_console.store.store import PG_CONNECT_ARGS, StoreError

#: The environment variable libpq reads: the console's connections carry the ticket in it.
_PGOPTIONS = "PGOPTIONS"
_TICKET_OPTION = "dc.session_ticket"

#: The group role of each console role.
GROUPS: dict[str, str] = {
    "dispatcher": "dc_dispatcher",
    "incident commander": "dc_incident_commander",
    "observer": "dc_observer",
    "trainer": "dc_trainer",
}
GATEWAY = "dc_gateway"
_COMMANDING = [GROUPS[r] for r in sorted(ev.COMMANDING_ROLES)]
_ALL = [*GROUPS.values(), GATEWAY]
_GATEWAY_TABLES = ("devices", "rejections", "api_keys")
#: The gateway holds the centre's key: it signs checkpoints (and trusts its own key).
_GATEWAY_APPENDS = ("chain_checkpoints", "trusted_keys")


def setup_roles(owner_url: str) -> None:
    """Create the group roles (if missing), their grants and the events' row-level security
    policies (idempotent). Run as the owner of the tables."""
    only_console = ", ".join(f"'{t}'" for t in sorted(ev.CONSOLE_ONLY_TYPES))
    engine = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            existing = {
                r[0]
                for r in conn.execute(
                    text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
                    {"names": _ALL},
                )
            }
            for group in _ALL:
                if group not in existing:
                    conn.execute(text(f"CREATE ROLE {group} NOLOGIN"))
            everyone = ", ".join(_ALL)
            conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {everyone}"))
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {everyone}"))
            conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {everyone}"))
            conn.execute(text(f"GRANT INSERT ON snapshots TO {everyone}"))
            writers = ", ".join([*_COMMANDING, GATEWAY])
            conn.execute(text(f"GRANT INSERT ON events TO {writers}"))
            for table in _GATEWAY_TABLES:
                conn.execute(text(f"GRANT INSERT, UPDATE ON {table} TO {GATEWAY}"))
            for table in _GATEWAY_APPENDS:
                conn.execute(text(f"GRANT INSERT ON {table} TO {GATEWAY}"))
            conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {GATEWAY}"))
            consoles = ", ".join(GROUPS.values())
            verified = "((SELECT public.second_factor_verified()))"
            conn.execute(
                text(f"GRANT EXECUTE ON FUNCTION public.second_factor(text) TO {consoles}")
            )
            conn.execute(text("REVOKE ALL ON FUNCTION public.second_factor(text) FROM PUBLIC"))
            conn.execute(text(f"GRANT EXECUTE ON FUNCTION public.end_session(text) TO {consoles}"))
            conn.execute(text("REVOKE ALL ON FUNCTION public.end_session(text) FROM PUBLIC"))
            conn.execute(text(f"GRANT EXECUTE ON FUNCTION public.renew_session() TO {consoles}"))
            conn.execute(text("REVOKE ALL ON FUNCTION public.renew_session() FROM PUBLIC"))
            for table in ("events", "snapshots"):
                conn.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
            for policy in (
                "events_read",
                "events_read_gateway",
                "events_read_verified",
                "events_as_themselves",
                "events_of_feeds",
            ):
                conn.execute(text(f"DROP POLICY IF EXISTS {policy} ON events"))
            for policy in ("snapshots_gateway", "snapshots_verified"):
                conn.execute(text(f"DROP POLICY IF EXISTS {policy} ON snapshots"))
            conn.execute(
                text(
                    f"CREATE POLICY events_read_gateway ON events FOR SELECT TO {GATEWAY} "
                    "USING (true)"
                )
            )
            # A console role reads the incidents only after its second factor.
            conn.execute(
                text(
                    f"CREATE POLICY events_read_verified ON events FOR SELECT TO {consoles} "
                    f"USING {verified}"
                )
            )
            conn.execute(
                text(
                    "CREATE POLICY events_as_themselves ON events FOR INSERT "
                    f"TO {', '.join(_COMMANDING)} WITH CHECK "
                    "(actor_kind = 'console_user' AND actor_name = session_user "
                    f"AND {verified})"
                )
            )
            conn.execute(
                text(
                    f"CREATE POLICY events_of_feeds ON events FOR INSERT TO {GATEWAY} WITH CHECK "
                    f"(actor_kind IN ('system', 'device') AND type NOT IN ({only_console}))"
                )
            )
            conn.execute(
                text(f"CREATE POLICY snapshots_gateway ON snapshots TO {GATEWAY} USING (true)")
            )
            conn.execute(
                text(
                    f"CREATE POLICY snapshots_verified ON snapshots TO {consoles} USING {verified} "
                    f"WITH CHECK {verified}"
                )
            )
    finally:
        engine.dispose()


def create_login(owner_url: str, name: str, role: str, password: str) -> str:
    """A login role for console user ``name`` in ``role``'s group, with ``password`` (the
    server keeps its SCRAM-SHA-256 verifier), registered as that console user, with a TOTP
    second factor the database checks; returns its secret (base32) to show once."""
    group = GROUPS.get(role)
    if group is None:
        raise StoreError(f"unknown role {role!r}: one of {', '.join(GROUPS)}")
    secret = _create_login_role(owner_url, name, password, group, enrol_second_factor)
    from dispatch_console.store.store import Store

    with Store(owner_url, migrate=False) as store:
        store.set_user(name, role)
    return secret


def create_gateway_login(owner_url: str, name: str, password: str) -> None:
    """A login role for a gateway in ``dc_gateway`` (SCRAM-SHA-256 password; a service, so no
    one-time code: it appends only the feeds' events, see :func:`setup_roles`)."""
    _create_login_role(owner_url, name, password, GATEWAY, lambda conn, name: "")


def _create_login_role(
    owner_url: str,
    name: str,
    password: str,
    group: str,
    then: Callable[[Connection, str], str],
) -> str:
    """``CREATE ROLE name LOGIN PASSWORD … IN ROLE group`` (SCRAM-SHA-256 verifier), then
    ``then(conn, name)`` on the owner's connection; returns what ``then`` returns."""
    if not name or len(name) > 63:
        raise StoreError("a PostgreSQL login name has 1 to 63 characters")
    from psycopg import sql

    statement = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
        sql.Identifier(name), sql.Literal(password), sql.Identifier(group)
    )
    engine = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor:  # quoted by the driver: no placeholders at all
                cursor.execute("SET password_encryption = 'scram-sha-256'")
                cursor.execute(statement)
            return then(conn, name)
    finally:
        engine.dispose()


def _attempts_sequence(name: str) -> str:
    return "dc_private.sf_" + hashlib.sha256(name.encode()).hexdigest()[:32]


def enrol_second_factor(conn: Connection, name: str) -> str:
    """A new TOTP key for login role ``name`` (replacing any), in ``dc_private`` (as the
    owner); the base32 secret for the user's authenticator app."""
    from dispatch_console.store.accounts import new_totp_secret

    secret = new_totp_secret()
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    sequence = _attempts_sequence(name)
    execute = conn.execute
    execute(text(f"CREATE SEQUENCE IF NOT EXISTS {sequence}"))
    execute(
        text(
            "INSERT INTO dc_private.second_factor (role_name, secret, attempts_seq, "
            "attempts_at_success) VALUES (:n, :s, :q, "
            "(SELECT coalesce(last_value, 0) FROM pg_sequences WHERE schemaname = 'dc_private' "
            "AND sequencename = :short)) ON CONFLICT (role_name) DO UPDATE SET secret = "
            "excluded.secret, last_step = NULL, attempts_at_success = "
            "excluded.attempts_at_success, locked_at = NULL"
        ),
        {"n": name, "s": raw, "q": sequence, "short": sequence.split(".", 1)[1]},
    )
    return secret


def new_second_factor(owner_url: str, name: str) -> str:
    """A new TOTP key for the console login role ``name`` (as the owner); its base32 secret."""
    engine = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            member = conn.execute(
                text(
                    "SELECT 1 FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid "
                    "JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = :n "
                    "AND g.rolname = ANY(:groups)"
                ),
                {"n": name, "groups": list(GROUPS.values())},
            ).first()
            if member is None:
                raise StoreError(f"{name!r} is not a console login role (see: users add)")
            return enrol_second_factor(conn, name)
    finally:
        engine.dispose()


def unlock_login(owner_url: str, name: str) -> bool:
    """Lift the lock-out of login role ``name`` (five failed codes); False if it has no second
    factor enrolled."""
    engine = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT attempts_seq FROM dc_private.second_factor WHERE role_name = :n"),
                {"n": name},
            ).first()
            if row is None:
                return False
            conn.execute(
                text(
                    "UPDATE dc_private.second_factor SET locked_at = NULL, attempts_at_success = "
                    "(SELECT coalesce(last_value, 0) FROM pg_sequences WHERE schemaname = "
                    "'dc_private' AND sequencename = :short) WHERE role_name = :n"
                ),
                {"n": name, "short": str(row[0]).split(".", 1)[1]},
            )
            conn.execute(
                text("DELETE FROM dc_private.session_tickets WHERE role_name = :n"), {"n": name}
            )
    finally:
        engine.dispose()
    return True


def second_factor(url: str, code: str) -> str | None:
    """Prove the URL's login role's one-time ``code`` to the database (a connection of its own,
    outside any transaction: the attempt is counted whatever happens); the session ticket, or
    None if refused (wrong, reused, or the role is locked)."""
    value = _call(url, "SELECT public.second_factor(:c)", {"c": code})
    return None if value is None else str(value)


def end_session(url: str, reason: str = "signed_out") -> bool:
    """Revoke the ticket this process's connections carry (``PGOPTIONS``), for the URL's login
    role: from now on they read no incident and append nothing. ``reason``: ``signed_out``
    (sign-out, the console closed) or ``session_locked`` (the idle lock); the database records
    it as an audit event. False if there was no live ticket to revoke."""
    return bool(_call(url, "SELECT public.end_session(:r)", {"r": reason}))


#: A session ticket's lease, as revision 0011 sets it: renewals failing this long mean the
#: ticket has expired.
LEASE_S = 15 * 60.0


def renew_session(url: str) -> datetime | None:
    """Renew the lease of the ticket this process's connections carry, for the URL's login
    role (migration 0011): the ticket's new expiry (15 minutes from now, never past the 12 hours
    of its shift), or None if the database holds no live ticket to renew (expired, revoked by
    a sign-out or the idle lock, the role locked). Raises if the database cannot be asked (a
    lost connection is not a refusal)."""
    # A lost or silent server must not hold the renewal (the console gives it up anyway).
    until = _call(url, "SELECT public.renew_session()", bounded=True)
    return until if isinstance(until, datetime) else None


def _call(
    url: str, statement: str, params: dict[str, str] | None = None, *, bounded: bool = False
) -> object:
    """One of the database's session functions, on a connection of its own outside any
    transaction (what it counts or records stays, whatever happens next): its value.
    ``bounded``: the connection gives up on a lost host (:data:`PG_CONNECT_ARGS`) and the
    statement after 10 s (set in the session, not with libpq's "options", which would replace
    ``PGOPTIONS``, where the ticket is)."""
    engine = create_engine(
        url, isolation_level="AUTOCOMMIT", connect_args=PG_CONNECT_ARGS if bounded else {}
    )
    try:
        with engine.connect() as conn:
            if bounded:
                conn.execute(text("SET statement_timeout = 10000"))
            return conn.execute(text(statement), params or {}).scalar()
    finally:
        engine.dispose()


#: What the server says when it refuses a login as it stands (not an outage): the role may no
#: longer log in, its password changed, it was dropped, or the address is not allowed.
_LOGIN_REFUSED = (
    "is not permitted to log in",
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE the server gave with ``exc`` (None for most connection failures)."""
    state = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


#: SQLSTATE of a function the database does not have (a schema older than revision 0011).
UNDEFINED_FUNCTION = "42883"


def login_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is the server refusing this login or this call (SQLSTATE class 28,
    insufficient privilege), rather than a server that could not be reached: asking again will
    not help."""
    state = sqlstate(exc)
    if state is not None and (state.startswith("28") or state == "42501"):
        return True
    text_ = str(exc)
    return "FATAL:" in text_ and any(phrase in text_ for phrase in _LOGIN_REFUSED)


def refusal_text(exc: BaseException) -> str:
    """What the server said when it refused (the text after ``FATAL:``), without the host,
    port or driver around it; else the error's first line."""
    found = re.search(r"FATAL:\s*([^\n]+)", str(exc))
    if found:
        return found.group(1).strip()
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def carry_ticket(ticket: str) -> None:
    """Every PostgreSQL connection this process opens from now on carries ``ticket`` (libpq's
    ``PGOPTIONS``): the console's feed, commands and checks are all of the verified session."""
    if not all(c in "0123456789abcdef" for c in ticket):
        raise ValueError("not a session ticket")
    kept = re.sub(rf"-c\s*{re.escape(_TICKET_OPTION)}=\S*", "", os.environ.get(_PGOPTIONS, ""))
    os.environ[_PGOPTIONS] = f"{kept.strip()} -c {_TICKET_OPTION}={ticket}".strip()
