"""PostgreSQL console session tickets are leases (issue 16, follow-up): a ticket lives
15 minutes unless the console that carries it renews it, up to the 12 hours of a shift.

Before, a ticket lived 12 hours whatever happened to its console: one killed with ``kill -9``
(no sign-out ran) left a ticket that kept passing the row-level security policies for the rest
of the 12 hours, for anyone who held a copy and the login's password. Now:

- ``dc_private.session_tickets.renewable_until``: the end of the shift (issued + 12 hours, what
  ``expires_at`` used to be). A trigger on the private table turns every ticket written, by
  ``second_factor`` whatever its version or by a renewal, into a lease: ``expires_at`` is at
  most 15 minutes from the moment it is written, and never past ``renewable_until``.
- ``renew_session()`` (``SECURITY DEFINER``, granted to the console roles): for the session's
  login role and the ticket it carries, if that ticket is still live and passes
  ``second_factor_verified()`` (the role not locked), moves ``expires_at`` to 15 minutes from
  now, never past ``renewable_until``; returns the new expiry, or NULL if there was nothing to
  renew (expired, revoked by sign-out or the idle lock, the role locked, no ticket, another
  role's ticket). A running console renews every minute; a ticket nobody renews dies within
  15 minutes (someone holding a copy and the login's password can renew it as they can use it,
  up to the end of the shift), and a store outage of up to 15 minutes costs nothing.

Tickets live when this revision runs keep their expiry and are renewable until it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

LEASE_MINUTES = 15
#: The console group roles (store/pgroles.py GROUPS), granted the function if they exist.
_CONSOLE_GROUPS = ("dc_dispatcher", "dc_incident_commander", "dc_observer", "dc_trainer")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE dc_private.session_tickets ADD COLUMN renewable_until timestamptz")
    op.execute("UPDATE dc_private.session_tickets SET renewable_until = expires_at")
    op.execute("ALTER TABLE dc_private.session_tickets ALTER COLUMN renewable_until SET NOT NULL")
    op.execute(
        "CREATE FUNCTION dc_private.ticket_lease() RETURNS trigger LANGUAGE plpgsql "
        "SET search_path = pg_catalog, pg_temp AS $$\n"
        "BEGIN\n"
        "  NEW.renewable_until := coalesce(NEW.renewable_until, NEW.expires_at);\n"
        "  NEW.expires_at := least(NEW.expires_at,\n"
        f"    clock_timestamp() + interval '{LEASE_MINUTES} minutes', NEW.renewable_until);\n"
        "  RETURN NEW;\n"
        "END $$"
    )
    op.execute(
        "CREATE TRIGGER session_tickets_lease BEFORE INSERT OR UPDATE ON "
        "dc_private.session_tickets FOR EACH ROW EXECUTE FUNCTION dc_private.ticket_lease()"
    )
    op.execute(
        "CREATE FUNCTION public.renew_session() RETURNS timestamptz LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$\n"
        "DECLARE until timestamptz;\n"
        "BEGIN\n"
        "  IF NOT public.second_factor_verified() THEN\n"
        "    RETURN NULL;\n"
        "  END IF;\n"
        "  UPDATE dc_private.session_tickets t\n"
        f"    SET expires_at = least(clock_timestamp() + interval '{LEASE_MINUTES} minutes',\n"
        "                           t.renewable_until)\n"
        "    WHERE t.role_name = session_user AND t.expires_at > clock_timestamp()\n"
        "      AND t.ticket_hash = sha256(convert_to(\n"
        "            nullif(current_setting('dc.session_ticket', true), ''), 'UTF8'))\n"
        "    RETURNING t.expires_at INTO until;\n"
        "  RETURN until;\n"
        "END $$"
    )
    op.execute("REVOKE ALL ON FUNCTION public.renew_session() FROM PUBLIC")
    existing = [
        str(name)
        for (name,) in bind.exec_driver_sql(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%(names)s)",
            {"names": list(_CONSOLE_GROUPS)},
        )
    ]
    if existing:
        op.execute(f"GRANT EXECUTE ON FUNCTION public.renew_session() TO {', '.join(existing)}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS public.renew_session()")
    op.execute("DROP TRIGGER IF EXISTS session_tickets_lease ON dc_private.session_tickets")
    op.execute("DROP FUNCTION IF EXISTS dc_private.ticket_lease()")
    # An expired lease stays expired (the shift's end would revive it without a code).
    op.execute("DELETE FROM dc_private.session_tickets WHERE expires_at <= clock_timestamp()")
    op.execute("UPDATE dc_private.session_tickets SET expires_at = renewable_until")
    op.execute("ALTER TABLE dc_private.session_tickets DROP COLUMN renewable_until")
