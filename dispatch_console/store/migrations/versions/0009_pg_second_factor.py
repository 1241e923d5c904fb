"""PostgreSQL console logins: a second factor and a lock-out the DATABASE enforces (issue 16).

Only on PostgreSQL (SQLite's accounts have their own, ``store/accounts.py``). Everything secret
lives in the schema ``dc_private``, on which no runtime role has any privilege:

- ``dc_private.second_factor``: each console login role's TOTP key (RFC 6238, HMAC-SHA1, 30 s,
  6 digits), the last time step used (a code is accepted once), the lock-out;
- ``dc_private.session_tickets``: SHA-256 of each ticket a passed second factor issued, its
  role and expiry (12 hours: a shift);
- one sequence per login role counting its code attempts. A sequence is not rolled back with
  its transaction, so a client that calls :func:`second_factor` inside a transaction and rolls
  back cannot undo a failed attempt: the sixth attempt after five failures is refused whatever
  the client does.

Two functions in ``public`` are the only way in (``SECURITY DEFINER``, owned by the owner):

- ``second_factor(code)`` checks ``code`` for the session's login role (``session_user``: the
  role the server authenticated with SCRAM, not anything the client says); on success it issues
  a ticket, sets it on this session (``dc.session_ticket``) and returns it, so that the
  console's other connections carry it too (``PGOPTIONS=-c dc.session_ticket=...``); on failure
  it returns NULL. Every success, failure and lock-out is a ``console_user_audit`` event,
  appended to the hash chain by the function itself (a client that skips the console still
  leaves it), and a ``LOG`` line in the server's log (which a rolled-back transaction cannot
  take back).
- ``second_factor_verified()``: whether this session carries a live ticket of its login role
  whose role is not locked. The row-level security policies of the console roles
  (``store/pgroles.py``) require it to read or append events and snapshots.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: The advisory lock of the store's appends (store.py's ``_PG_APPEND_LOCK``).
_APPEND_LOCK = 0x4449535041544348 & 0x7FFFFFFFFFFFFFFF
MAX_FAILURES = 5
TICKET_HOURS = 12


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE SCHEMA IF NOT EXISTS dc_private")
    op.execute("REVOKE ALL ON SCHEMA dc_private FROM PUBLIC")
    op.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA dc_private")
    crypto = bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pgcrypto'"
    ).scalar()
    crypto = '"' + str(crypto).replace('"', '""') + '"'
    op.execute(
        "CREATE TABLE dc_private.second_factor ("
        " role_name text PRIMARY KEY, secret bytea NOT NULL, last_step bigint,"
        " attempts_seq text NOT NULL, attempts_at_success bigint NOT NULL DEFAULT 0,"
        " locked_at timestamptz)"
    )
    op.execute(
        "CREATE TABLE dc_private.session_tickets ("
        " ticket_hash bytea PRIMARY KEY, role_name text NOT NULL,"
        " issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)"
    )
    op.execute(
        "CREATE FUNCTION dc_private.totp(secret bytea, step bigint) RETURNS text "
        "LANGUAGE plpgsql IMMUTABLE STRICT AS $$\n"
        "DECLARE d bytea; o int; n bigint;\n"
        "BEGIN\n"
        f"  d := {crypto}.hmac(int8send(step), secret, 'sha1');\n"
        "  o := get_byte(d, 19) & 15;\n"
        "  n := ((get_byte(d, o) & 127)::bigint << 24) | (get_byte(d, o + 1)::bigint << 16)\n"
        "       | (get_byte(d, o + 2)::bigint << 8) | get_byte(d, o + 3)::bigint;\n"
        "  RETURN lpad((n % 1000000)::text, 6, '0');\n"
        "END $$"
    )
    # The events' hash chain, in SQL: SHA-256 of the previous hash and the row's fixed encoding
    # (store/chain.py's row_bytes: a JSON array, no spaces, strings escaped as JSON does).
    op.execute(
        "CREATE FUNCTION dc_private.audit(action text, who text, actor_kind text, "
        "actor_name text, detail text) RETURNS void LANGUAGE plpgsql AS $$\n"
        "DECLARE last record; s bigint; recv bigint; payload text; prev bytea; row_text text;\n"
        "BEGIN\n"
        f"  PERFORM pg_advisory_xact_lock({_APPEND_LOCK});\n"
        "  SELECT seq, received_at_us, chain_hash INTO last FROM public.events\n"
        "    ORDER BY seq DESC LIMIT 1;\n"
        "  s := coalesce(last.seq, 0) + 1;\n"
        "  recv := greatest((extract(epoch FROM clock_timestamp()) * 1000000)::bigint,\n"
        "                   coalesce(last.received_at_us, 0));\n"
        "  prev := coalesce(last.chain_hash, '\\x0000000000000000000000000000000000000000"
        "000000000000000000000000'::bytea);\n"
        "  payload := json_build_object('action', action, 'name', who, 'role', NULL,\n"
        "                               'detail', detail)::text;\n"
        "  row_text := '[' || s || ',null,\"console_user_audit\",' || recv || ',' || recv || ','\n"
        "    || to_json(actor_kind)::text || ',' || to_json(actor_name)::text\n"
        "    || ',\"console\",' || to_json(payload)::text || ',null]';\n"
        "  INSERT INTO public.events (seq, incident_id, type, occurred_at_us, received_at_us,\n"
        "    actor_kind, actor_name, source, payload, idempotency_key, chain_hash)\n"
        "  VALUES (s, NULL, 'console_user_audit', recv, recv, actor_kind, actor_name, 'console',\n"
        "    payload, NULL, sha256(prev || convert_to(row_text, 'UTF8')));\n"
        "  RAISE LOG 'dispatch-console second factor: % % (%)', action, who, detail;\n"
        "END $$"
    )
    op.execute(
        "CREATE FUNCTION public.second_factor(code text) RETURNS text LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$\n"
        "DECLARE who text := session_user; r record; tries bigint; step bigint;\n"
        "  matched bigint; c bigint; ticket text;\n"
        "BEGIN\n"
        "  SELECT * INTO r FROM dc_private.second_factor WHERE role_name = who FOR UPDATE;\n"
        "  IF NOT FOUND THEN\n"
        "    PERFORM dc_private.audit('sign_in_failed', who, 'console_user', who,\n"
        "      'PostgreSQL: no second factor enrolled for this login role');\n"
        "    RETURN NULL;\n"
        "  END IF;\n"
        "  tries := nextval(r.attempts_seq::regclass);  -- not rolled back, ever\n"
        f"  IF r.locked_at IS NOT NULL OR tries - r.attempts_at_success - 1 >= {MAX_FAILURES}"
        " THEN\n"
        "    UPDATE dc_private.second_factor\n"
        "      SET locked_at = coalesce(locked_at, clock_timestamp())\n"
        "      WHERE role_name = who;\n"
        "    PERFORM dc_private.audit('sign_in_failed', who, 'console_user', who,\n"
        "      'PostgreSQL: account locked');\n"
        "    RETURN NULL;\n"
        "  END IF;\n"
        "  step := floor(extract(epoch FROM clock_timestamp()) / 30)::bigint;\n"
        "  IF code ~ '^[0-9]{6}$' THEN\n"
        "    FOREACH c IN ARRAY ARRAY[step, step - 1, step + 1] LOOP\n"
        "      IF dc_private.totp(r.secret, c) = code\n"
        "         AND (r.last_step IS NULL OR c > r.last_step) THEN\n"
        "        matched := c; EXIT;\n"
        "      END IF;\n"
        "    END LOOP;\n"
        "  END IF;\n"
        "  IF matched IS NULL THEN\n"
        "    PERFORM dc_private.audit('sign_in_failed', who, 'console_user', who,\n"
        "      'PostgreSQL: wrong or reused one-time code');\n"
        f"    IF tries - r.attempts_at_success >= {MAX_FAILURES} THEN\n"
        "      UPDATE dc_private.second_factor SET locked_at = clock_timestamp()\n"
        "        WHERE role_name = who;\n"
        "      DELETE FROM dc_private.session_tickets WHERE role_name = who;\n"
        "      PERFORM dc_private.audit('locked_out', who, 'system', 'second factor',\n"
        f"        'PostgreSQL: {MAX_FAILURES} failed one-time codes');\n"
        "    END IF;\n"
        "    RETURN NULL;\n"
        "  END IF;\n"
        "  UPDATE dc_private.second_factor SET last_step = matched, attempts_at_success = tries\n"
        "    WHERE role_name = who;\n"
        f"  ticket := encode({crypto}.gen_random_bytes(32), 'hex');\n"
        "  DELETE FROM dc_private.session_tickets WHERE expires_at < clock_timestamp();\n"
        "  INSERT INTO dc_private.session_tickets VALUES (sha256(convert_to(ticket, 'UTF8')),\n"
        f"    who, clock_timestamp(), clock_timestamp() + interval '{TICKET_HOURS} hours');\n"
        "  PERFORM set_config('dc.session_ticket', ticket, false);\n"
        "  PERFORM dc_private.audit('signed_in', who, 'console_user', who,\n"
        "    'PostgreSQL: password (SCRAM-SHA-256) and one-time code');\n"
        "  RETURN ticket;\n"
        "END $$"
    )
    op.execute(
        "CREATE FUNCTION public.second_factor_verified() RETURNS boolean LANGUAGE sql STABLE "
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$\n"
        "  SELECT EXISTS (\n"
        "    SELECT 1 FROM dc_private.session_tickets t\n"
        "    JOIN dc_private.second_factor f ON f.role_name = t.role_name\n"
        "    JOIN pg_sequences q ON q.schemaname = 'dc_private'\n"
        "      AND q.sequencename = split_part(f.attempts_seq, '.', 2)\n"
        "    WHERE t.ticket_hash = sha256(convert_to(\n"
        "            nullif(current_setting('dc.session_ticket', true), ''), 'UTF8'))\n"
        "      AND t.role_name = session_user AND t.expires_at > clock_timestamp()\n"
        "      AND f.locked_at IS NULL\n"
        f"      AND coalesce(q.last_value, 0) - f.attempts_at_success < {MAX_FAILURES})\n"
        "$$"
    )
    op.execute("REVOKE ALL ON FUNCTION dc_private.totp(bytea, bigint) FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION dc_private.audit(text, text, text, text, text) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS public.second_factor_verified()")
    op.execute("DROP FUNCTION IF EXISTS public.second_factor(text)")
    op.execute("DROP SCHEMA IF EXISTS dc_private CASCADE")
