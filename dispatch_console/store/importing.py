"""Storing a whole incident brought from another database (portable incident files).

:func:`append_incident` appends the events of one incident *as they were*: the same order, the
same event and received times, actors, sources, payloads and idempotency keys; only the
sequence numbers are new (after every event already stored, contiguous). It is append-only
like every other write: nothing stored is changed, and the incident must not exist yet.

Received times are the original ones, so the imported incident folds to exactly the state it
had (the fold caps a device clock by the received time) and ``Store.state_at(incident, t)``
answers for the original instants. Within the incident they never go backwards in sequence
order, as in any incident; across incidents, the imported block carries older received times
than events stored before it. ``Store.read(incident_id, until_received_us=...)`` (per incident)
stays exact; only a read of *all* incidents cut by received time would stop at the import.

Everything happens in one transaction under the store's write lock (:meth:`Store.writing`):
all the events and the school, or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import School
from dispatch_console.store import schema
from dispatch_console.store.store import Store, StoreError, school_row

__all__ = ["AppendedIncident", "append_incident", "incident_rows"]

_CHUNK = 5_000
_KEY_CHUNK = 500
#: Column limits (schema.events).
_LIMITS = {"incident id": 64, "actor name": 200, "idempotency key": 300}


@dataclass(frozen=True)
class AppendedIncident:
    incident_id: str
    first_seq: int
    last_seq: int
    #: The school was not in this database and was added with the events.
    school_added: bool


Row = tuple[str, int, int, str, str, str, str, str | None]


def incident_rows(events: Sequence[ev.Event]) -> list[Row]:
    """What identifies stored events apart from their sequence numbers: ``(type, occurred,
    received, actor kind, actor name, source, payload JSON, key)``, in order (two imports of
    the same file, or a file and its incident, compare equal this way)."""
    return [
        (
            e.type,
            e.occurred_at_us,
            e.received_at_us,
            e.actor.kind.value,
            e.actor.name,
            e.source.value,
            ev.encode_payload(e.payload).decode(),
            e.idempotency_key,
        )
        for e in events
    ]


def append_incident(
    store: Store,
    incident_id: str,
    events: Sequence[ev.Event],
    school: School | None = None,
    mark: ev.IncidentImported | None = None,
) -> AppendedIncident:
    """Append ``events`` (one incident's, in their order) as incident ``incident_id``, and the
    school if this database has none of that id; then ``mark`` if given (by the system, its
    event time now, its received time the last event's, so a replay of the incident ends where
    the incident did). Refused with :class:`StoreError` (nothing
    stored) if the incident exists, an idempotency key is stored already, or an identifier is
    longer than its column."""
    if not events:
        raise StoreError(f"incident {incident_id}: no events to import")
    _check_limits(incident_id, events)
    rows = incident_rows(events)
    if mark is not None:
        now = store._clock()
        rows.append(
            (
                mark.TYPE,
                now,
                events[-1].received_at_us,
                ev.ActorKind.SYSTEM.value,
                "import",
                ev.Source.IMPORT.value,
                ev.encode_payload(mark).decode(),
                None,
            )
        )
    table = schema.events
    with store.writing() as tx:
        conn = tx.conn
        exists = conn.execute(
            select(table.c.seq).where(table.c.incident_id == incident_id).limit(1)
        ).first()
        if exists is not None:
            raise StoreError(f"incident {incident_id} exists in this database already")
        keys = [e.idempotency_key for e in events if e.idempotency_key is not None]
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start : start + _KEY_CHUNK]
            clash = conn.execute(
                select(table.c.idempotency_key, table.c.incident_id)
                .where(table.c.idempotency_key.in_(chunk))
                .limit(1)
            ).first()
            if clash is not None:
                raise StoreError(
                    f"event key {clash[0]!r} is stored already here (incident "
                    f"{clash[1] or 'reference data'}): this file cannot be imported here"
                )
        last = tx._next_seq()[0]
        school_added = False
        if school is not None:
            known = conn.execute(
                select(schema.schools.c.school_id).where(
                    schema.schools.c.school_id == school.school_id
                )
            ).first()
            if known is None:
                conn.execute(_insert(store, schema.schools), [school_row(school, store._clock())])
                school_added = True
        values: list[tuple[Any, ...]] = []
        for seq, row in enumerate(rows, last + 1):
            values.append((seq, incident_id, *row[:3], *row[3:]))
            if len(values) >= _CHUNK:
                conn.exec_driver_sql(store._insert_sql, tx.chained(values))
                values = []
        if values:
            conn.exec_driver_sql(store._insert_sql, tx.chained(values))
    return AppendedIncident(incident_id, last + 1, last + len(rows), school_added)


def _check_limits(incident_id: str, events: Sequence[ev.Event]) -> None:
    if len(incident_id) > _LIMITS["incident id"]:
        raise StoreError(f"incident id longer than {_LIMITS['incident id']} characters")
    for e in events:
        if len(e.actor.name) > _LIMITS["actor name"]:
            raise StoreError(f"actor name longer than {_LIMITS['actor name']} characters")
        key = e.idempotency_key
        if key is not None and len(key) > _LIMITS["idempotency key"]:
            raise StoreError(f"idempotency key longer than {_LIMITS['idempotency key']} characters")


def _insert(store: Store, table: Any) -> Any:
    insert = pg_dialect.insert if store.dialect == "postgresql" else sqlite_dialect.insert
    return insert(table).on_conflict_do_nothing()
