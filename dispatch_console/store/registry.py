"""Gateway registry tables: API keys (sealed secrets), registered devices, rejected messages.

Reference data, not incident state: incidents change only through events. A device's last
known position is kept here (coalesced) so the console, as the alerting service, can select who
to notify when an alert comes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from dispatch_console.store import schema

KeyKind = Literal["school", "device", "vendor", "cad", "certificate"]
#: A vendor key's schools: every school.
ALL_SCHOOLS = "*"

#: Rejections kept at most; the oldest go first (a flood must not fill the disk).
REJECTIONS_KEPT = 100_000
EXCERPT_LIMIT = 300

_json = msgspec.json.Encoder()
_profile_decoder = msgspec.json.Decoder(dict[str, Any])


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    kind: KeyKind
    scope: str
    label: str | None
    secret_sealed: bytes
    created_at_us: int
    revoked_at_us: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at_us is not None


@dataclass(frozen=True)
class Device:
    device_id: str
    tak_uid: str | None
    label: str | None
    home_lon: float | None
    home_lat: float | None
    last_lon: float | None
    last_lat: float | None
    last_at_us: int | None
    profile: dict[str, Any] | None
    registered_at_us: int

    def known_position(self) -> tuple[float, float] | None:
        """Last reported position, else the registered home or patrol area."""
        if self.last_lon is not None and self.last_lat is not None:
            return self.last_lon, self.last_lat
        if self.home_lon is not None and self.home_lat is not None:
            return self.home_lon, self.home_lat
        return None


@dataclass(frozen=True)
class Rejection:
    at_us: int
    transport: str
    sender: str
    reason: str
    excerpt: str


def excerpt_of(data: bytes | str, limit: int = EXCERPT_LIMIT) -> str:
    """A bounded, printable excerpt of a rejected message (control characters escaped)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    clipped = text[:limit]
    cleaned = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in clipped)
    return cleaned + ("…" if len(text) > limit else "")


class RegistryMixin:
    """Methods of :class:`~dispatch_console.store.Store` for the gateway's tables."""

    _writer: Engine
    _reader: Engine

    def _now(self) -> int:
        raise NotImplementedError

    # --- enrolment links of the responder web page ------------------------------------------

    def add_invite(self, device_id: str, token_hash: str, expires_at_us: int) -> None:
        if self.device(device_id) is None:
            raise RegistryError(f"no device {device_id!r}: register it first (devices add)")
        with self._writer.begin() as conn:
            conn.execute(
                schema.device_invites.insert(),
                {
                    "token_hash": token_hash,
                    "device_id": device_id,
                    "created_at_us": self._now(),
                    "expires_at_us": expires_at_us,
                    "used_at_us": None,
                },
            )

    def use_invite(self, token_hash: str, now_us: int) -> str | None:
        """The device of an unused, unexpired link, which is used up now (None: no such link,
        used already, or expired). Atomic: two phones opening one link cannot both enrol."""
        t = schema.device_invites
        with self._writer.begin() as conn:
            row = conn.execute(select(t.c.device_id).where(t.c.token_hash == token_hash)).first()
            if row is None:
                return None
            done = conn.execute(
                update(t)
                .where(t.c.token_hash == token_hash)
                .where(t.c.used_at_us.is_(None))
                .where(t.c.expires_at_us > now_us)
                .values(used_at_us=now_us)
            ).rowcount
        return str(row.device_id) if done else None

    # --- keys ---------------------------------------------------------------------------------

    def add_key(
        self, key_id: str, kind: KeyKind, scope: str, secret_sealed: bytes, label: str | None
    ) -> ApiKey:
        row = {
            "key_id": key_id,
            "kind": kind,
            "scope": scope,
            "label": label,
            "secret_sealed": secret_sealed,
            "created_at_us": self._now(),
            "revoked_at_us": None,
        }
        try:
            with self._writer.begin() as conn:
                conn.execute(schema.api_keys.insert(), row)
        except IntegrityError:
            raise RegistryError(f"key {key_id!r} exists already") from None
        return ApiKey(**row)  # type: ignore[arg-type]

    def set_vendor_schools(self, key_id: str, school_ids: Sequence[str]) -> None:
        """The schools vendor key ``key_id`` may send alerts for (``["*"]``: every school)."""
        table = schema.vendor_schools
        rows = [{"key_id": key_id, "school_id": s} for s in dict.fromkeys(school_ids)]
        with self._writer.begin() as conn:
            conn.execute(table.delete().where(table.c.key_id == key_id))
            if rows:
                conn.execute(table.insert(), rows)

    def vendor_schools(self, key_id: str) -> list[str]:
        table = schema.vendor_schools
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(table.c.school_id)
                .where(table.c.key_id == key_id)
                .order_by(table.c.school_id)
            )
            return [str(r[0]) for r in rows]

    def api_keys(self) -> list[ApiKey]:
        with self._reader.connect() as conn:
            rows = conn.execute(select(schema.api_keys).order_by(schema.api_keys.c.key_id))
            return [ApiKey(**row._mapping) for row in rows]

    def key(self, key_id: str) -> ApiKey | None:
        with self._reader.connect() as conn:
            row = conn.execute(
                select(schema.api_keys).where(schema.api_keys.c.key_id == key_id)
            ).first()
        return ApiKey(**row._mapping) if row is not None else None

    def keys(self, key_ids: Sequence[str]) -> dict[str, ApiKey]:
        """The keys of these ids that exist (one query for a whole group of requests)."""
        table = schema.api_keys
        found: dict[str, ApiKey] = {}
        wanted = list(dict.fromkeys(key_ids))
        with self._reader.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for row in conn.execute(select(table).where(table.c.key_id.in_(chunk))):
                    found[row.key_id] = ApiKey(**row._mapping)
        return found

    def revoke_key(self, key_id: str) -> None:
        table = schema.api_keys
        with self._writer.begin() as conn:
            done = conn.execute(
                update(table)
                .where(table.c.key_id == key_id, table.c.revoked_at_us.is_(None))
                .values(revoked_at_us=self._now())
            ).rowcount
        if not done:
            raise RegistryError(f"no active key {key_id!r}")

    # --- devices ----------------------------------------------------------------------------

    def add_device(
        self,
        device_id: str,
        *,
        tak_uid: str | None = None,
        label: str | None = None,
        home: tuple[float, float] | None = None,
    ) -> Device:
        table = schema.devices
        values = {
            "tak_uid": tak_uid,
            "label": label,
            "home_lon": home[0] if home else None,
            "home_lat": home[1] if home else None,
            "registered_at_us": self._now(),
            "removed_at_us": None,
        }
        try:
            with self._writer.begin() as conn:
                existing = conn.execute(
                    select(table.c.removed_at_us).where(table.c.device_id == device_id)
                ).first()
                if existing is not None and existing[0] is None:
                    raise RegistryError(f"device {device_id!r} is registered already")
                if existing is None:
                    conn.execute(table.insert(), {"device_id": device_id, **values})
                else:  # registered again after removal: nothing of its last holder carries over
                    fresh = {
                        **values,
                        "profile": None,
                        "profile_at_us": None,
                        "last_lon": None,
                        "last_lat": None,
                        "last_at_us": None,
                    }
                    conn.execute(update(table).where(table.c.device_id == device_id).values(fresh))
        except IntegrityError:
            raise RegistryError(f"TAK uid {tak_uid!r} belongs to another device") from None
        device = self.device(device_id)
        assert device is not None
        return device

    def remove_device(self, device_id: str) -> None:
        table, keys = schema.devices, schema.api_keys
        now = self._now()
        with self._writer.begin() as conn:
            done = conn.execute(
                update(table)
                .where(table.c.device_id == device_id, table.c.removed_at_us.is_(None))
                .values(removed_at_us=now, tak_uid=None)
            ).rowcount
            if done:  # its keys go with it
                conn.execute(
                    update(keys)
                    .where(
                        keys.c.kind.in_(("device", "certificate")),
                        keys.c.scope == device_id,
                        keys.c.revoked_at_us.is_(None),
                    )
                    .values(revoked_at_us=now)
                )
        if not done:
            raise RegistryError(f"no registered device {device_id!r}")

    def devices(self) -> list[Device]:
        table = schema.devices
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(table).where(table.c.removed_at_us.is_(None)).order_by(table.c.device_id)
            )
            return [_device(row._mapping) for row in rows]

    def device(self, device_id: str) -> Device | None:
        table = schema.devices
        with self._reader.connect() as conn:
            row = conn.execute(
                select(table).where(table.c.device_id == device_id, table.c.removed_at_us.is_(None))
            ).first()
        return _device(row._mapping) if row is not None else None

    def record_device_positions(self, positions: Sequence[tuple[str, float, float, int]]) -> None:
        """Last known positions ``(device_id, lon, lat, at_us)``; an older one changes nothing."""
        if positions:
            with self._writer.begin() as conn:
                write_device_positions(conn, positions)

    def record_device_profile(self, device_id: str, profile: dict[str, Any], at_us: int) -> bool:
        """Keep the profile a device claimed at ``at_us``, unless a newer one is kept already
        (a replayed or late profile must not change who the device says it is)."""
        table = schema.devices
        with self._writer.begin() as conn:
            done = conn.execute(
                update(table)
                .where(table.c.device_id == device_id)
                .where(table.c.profile_at_us.is_(None) | (table.c.profile_at_us < at_us))
                .values(profile=_json.encode(profile).decode(), profile_at_us=at_us)
            ).rowcount
        return bool(done)

    # --- rejections -------------------------------------------------------------------------

    def add_rejections(self, rejections: Iterable[Rejection]) -> None:
        rows = [
            {
                "at_us": r.at_us,
                "transport": r.transport,
                "sender": r.sender[:200],
                "reason": r.reason[:500],
                "excerpt": r.excerpt,
            }
            for r in rejections
        ]
        if not rows:
            return
        table = schema.rejections
        with self._writer.begin() as conn:
            conn.execute(table.insert(), rows)
            newest = conn.execute(select(func.max(table.c.rejection_id))).scalar() or 0
            if newest > REJECTIONS_KEPT and newest % 1000 < len(rows):
                conn.execute(table.delete().where(table.c.rejection_id <= newest - REJECTIONS_KEPT))

    def add_rejections_counted(self, rejections: list[Rejection]) -> list[int]:
        """Insert rows one by one and return their ids (for the aggregated rejection log,
        which raises a row's count later: a few rows per flush, never one per message)."""
        table = schema.rejections
        ids: list[int] = []
        with self._writer.begin() as conn:
            for r in rejections:
                result = conn.execute(
                    table.insert().returning(table.c.rejection_id),
                    {
                        "at_us": r.at_us,
                        "transport": r.transport,
                        "sender": r.sender[:200],
                        "reason": r.reason[:500],
                        "excerpt": r.excerpt,
                    },
                )
                ids.append(int(result.scalar_one()))
            newest = max(ids, default=0)
            if newest > REJECTIONS_KEPT and newest % 1000 < len(ids):
                conn.execute(table.delete().where(table.c.rejection_id <= newest - REJECTIONS_KEPT))
        return ids

    def update_rejections(self, updates: list[tuple[int, str, str]]) -> None:
        """``(rejection id, reason, sender)``: an aggregated row's count went up."""
        table = schema.rejections
        with self._writer.begin() as conn:
            for rejection_id, reason, sender in updates:
                conn.execute(
                    update(table)
                    .where(table.c.rejection_id == rejection_id)
                    .values(reason=reason[:500], sender=sender[:200])
                )

    def rejections(self, limit: int = 100) -> list[Rejection]:
        table = schema.rejections
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(
                    table.c.at_us,
                    table.c.transport,
                    table.c.sender,
                    table.c.reason,
                    table.c.excerpt,
                )
                .order_by(table.c.rejection_id.desc())
                .limit(limit)
            ).all()
        return [Rejection(*row) for row in rows]


def _param(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def _device(row: Any) -> Device:
    return Device(
        device_id=row["device_id"],
        tak_uid=row["tak_uid"],
        label=row["label"],
        home_lon=row["home_lon"],
        home_lat=row["home_lat"],
        last_lon=row["last_lon"],
        last_lat=row["last_lat"],
        last_at_us=row["last_at_us"],
        profile=_profile_decoder.decode(row["profile"]) if row["profile"] else None,
        registered_at_us=row["registered_at_us"],
    )


_PG_UPDATE_POSITIONS = (
    "UPDATE devices AS d SET last_lon = u.x, last_lat = u.y, last_at_us = u.t "
    "FROM (SELECT e->>0 AS id, (e->>1)::float8 AS x, (e->>2)::float8 AS y, "
    "(e->>3)::bigint AS t FROM jsonb_array_elements(%s::jsonb) AS e) AS u "
    "WHERE d.device_id = u.id AND (d.last_at_us IS NULL OR d.last_at_us < u.t)"
)


def write_device_positions(
    conn: Connection, positions: Sequence[tuple[str, float, float, int]]
) -> None:
    """Last known positions ``(device_id, lon, lat, at_us)`` in ``conn``'s transaction; an
    older one changes nothing."""
    if not positions:
        return
    if conn.dialect.name == "postgresql" and len(positions) > 1:
        # One statement for the batch (not one per device): the newest position per device.
        newest: dict[str, tuple[str, float, float, int]] = {}
        for position in positions:
            kept = newest.get(position[0])
            if kept is None or kept[3] < position[3]:
                newest[position[0]] = position
        rows = msgspec.json.encode(list(newest.values())).decode()
        conn.exec_driver_sql(_PG_UPDATE_POSITIONS, (rows,))
        return
    table = schema.devices
    statement = (
        update(table)
        .where(table.c.device_id == _param("d"))
        .where((table.c.last_at_us.is_(None)) | (table.c.last_at_us < _param("t")))
        .values(last_lon=_param("x"), last_lat=_param("y"), last_at_us=_param("t"))
    )
    conn.execute(
        statement, [{"d": d, "x": lon, "y": lat, "t": at} for d, lon, lat, at in positions]
    )
