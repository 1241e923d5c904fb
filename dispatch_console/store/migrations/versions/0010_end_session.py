"""PostgreSQL console sessions end in the database (issue 16): sign-out, closing the console and
the idle session lock revoke the session's ticket.

- ``end_session(reason)`` deletes the ticket this session carries (``dc.session_ticket``) of
  its own login role (``session_user``): from then on every connection that carries it reads
  no incident and appends nothing (the row-level security policies require
  ``second_factor_verified()``). ``reason`` is ``signed_out`` or ``session_locked``; the end is a
  ``console_user_audit`` event appended by the function itself (a watching role, which may
  append nothing, still leaves it). Returns whether a live ticket was revoked.
- ``second_factor(code)`` again (0009's), with one change: a session that already carries a
  well-formed ticket (64 hex digits: a locked console's, whose connections all carry it) has
  *that* ticket issued again when the code passes, so unlocking a console needs its password
  (a new SCRAM exchange) and a one-time code, and then every connection of the console works
  again without being reopened. The ticket is bound to the login role as before: a session
  that carries another role's ticket gets a new one (that role's ticket is left as it is).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MAX_FAILURES = 5
TICKET_HOURS = 12


def _crypto() -> str:
    crypto = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pgcrypto'"
        )
        .scalar()
    )
    return '"' + str(crypto).replace('"', '""') + '"'


def _second_factor(resume: bool) -> str:
    crypto = _crypto()
    if resume:
        issue = (
            "  ticket := current_setting('dc.session_ticket', true);\n"
            "  IF ticket IS NULL OR ticket !~ '^[0-9a-f]{64}$' OR EXISTS (\n"
            "      SELECT 1 FROM dc_private.session_tickets\n"
            "      WHERE ticket_hash = sha256(convert_to(ticket, 'UTF8')) AND role_name <> who)\n"
            "  THEN  -- none, or another role's: a new one\n"
            f"    ticket := encode({crypto}.gen_random_bytes(32), 'hex');\n"
            "  ELSE\n"
            "    resumed := true;\n"
            "    DELETE FROM dc_private.session_tickets\n"
            "      WHERE ticket_hash = sha256(convert_to(ticket, 'UTF8')) AND role_name = who;\n"
            "  END IF;\n"
        )
    else:
        issue = f"  ticket := encode({crypto}.gen_random_bytes(32), 'hex');\n"
    return (
        "CREATE OR REPLACE FUNCTION public.second_factor(code text) RETURNS text "
        "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$\n"
        "DECLARE who text := session_user; r record; tries bigint; step bigint;\n"
        "  matched bigint; c bigint; ticket text; resumed boolean := false;\n"
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
        "  DELETE FROM dc_private.session_tickets WHERE expires_at < clock_timestamp();\n"
        + issue
        + "  INSERT INTO dc_private.session_tickets VALUES (sha256(convert_to(ticket, 'UTF8')),\n"
        f"    who, clock_timestamp(), clock_timestamp() + interval '{TICKET_HOURS} hours');\n"
        "  PERFORM set_config('dc.session_ticket', ticket, false);\n"
        "  PERFORM dc_private.audit('signed_in', who, 'console_user', who,\n"
        "    CASE WHEN resumed THEN 'PostgreSQL: password (SCRAM-SHA-256) and one-time code, "
        "locked session resumed'\n"
        "    ELSE 'PostgreSQL: password (SCRAM-SHA-256) and one-time code' END);\n"
        "  RETURN ticket;\n"
        "END $$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_second_factor(resume=True))
    op.execute(
        "CREATE FUNCTION public.end_session(reason text) RETURNS boolean LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$\n"
        "DECLARE who text := session_user; ended int; what text;\n"
        "BEGIN\n"
        "  what := CASE WHEN reason = 'session_locked' THEN 'session_locked'\n"
        "               ELSE 'signed_out' END;\n"
        "  DELETE FROM dc_private.session_tickets\n"
        "    WHERE role_name = who AND ticket_hash = sha256(convert_to(\n"
        "      nullif(current_setting('dc.session_ticket', true), ''), 'UTF8'));\n"
        "  GET DIAGNOSTICS ended = ROW_COUNT;\n"
        "  IF ended = 0 THEN\n"
        "    RETURN false;\n"
        "  END IF;\n"
        "  PERFORM dc_private.audit(what, who, 'console_user', who,\n"
        "    'PostgreSQL: session ticket revoked');\n"
        "  RETURN true;\n"
        "END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS public.end_session(text)")
    op.execute(_second_factor(resume=False))
