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
  the database administrator (``CREATE ROLE gateway LOGIN PASSWORD ... IN ROLE dc_gateway``);
  the gateway has not been run end to end under it yet.

Every runtime role may add snapshots (the fold's cache; not covered by the hash chain: see
the README's Security section).
A console user signs in with their own password, checked by the server with SCRAM-SHA-256
(``pg_hba.conf``: ``scram-sha-256``). Run :func:`setup_roles` as the owner after ``init``.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text

from dispatch_console.domain import events as ev
from dispatch_console.store.store import StoreError

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
            conn.execute(text("ALTER TABLE events ENABLE ROW LEVEL SECURITY"))
            for policy in ("events_read", "events_as_themselves", "events_of_feeds"):
                conn.execute(text(f"DROP POLICY IF EXISTS {policy} ON events"))
            conn.execute(
                text(f"CREATE POLICY events_read ON events FOR SELECT TO {everyone} USING (true)")
            )
            conn.execute(
                text(
                    "CREATE POLICY events_as_themselves ON events FOR INSERT "
                    f"TO {', '.join(_COMMANDING)} WITH CHECK "
                    "(actor_kind = 'console_user' AND actor_name = session_user)"
                )
            )
            conn.execute(
                text(
                    f"CREATE POLICY events_of_feeds ON events FOR INSERT TO {GATEWAY} WITH CHECK "
                    f"(actor_kind IN ('system', 'device') AND type NOT IN ({only_console}))"
                )
            )
    finally:
        engine.dispose()


def create_login(owner_url: str, name: str, role: str, password: str) -> None:
    """A login role for console user ``name`` in ``role``'s group, with ``password`` (the
    server keeps its SCRAM-SHA-256 verifier), registered as that console user."""
    group = GROUPS.get(role)
    if group is None:
        raise StoreError(f"unknown role {role!r}: one of {', '.join(GROUPS)}")
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
    finally:
        engine.dispose()
    from dispatch_console.store.store import Store

    with Store(owner_url, migrate=False) as store:
        store.set_user(name, role)
