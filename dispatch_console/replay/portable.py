"""Portable incident files: one incident in one file, to replay on another machine.

**Format** (version 1): gzip-compressed JSON Lines, UTF-8. Line 1 is the header::

    {"format": "dispatch-console-incident", "version": 1, "incident_id": "...",
     "exported_at": "2026-11-24T10:02:00Z", "exported_at_us": ...,
     "software": "dispatch-console 0.1.0",
     "exercise": false, "status": "all_clear", "event_count": N,
     "school": {...School: location, address, campus outline, pre-plan...} | null,
     "roster": [{"agency", "badge", "name", "status"}, ...]}

then one line per event, in sequence order::

    {"seq": 812, "type": "responder_position", "occurred_at_us": ..., "received_at_us": ...,
     "actor": {"kind": "device", "name": "dev-ruiz"}, "source": "feed",
     "payload": {...}, "idempotency_key": "..." | null}

and a last line ``{"end": true, "event_count": N, "sha256": "...", "key_id": "...",
"signature": "..."}``: ``sha256`` is SHA-256 of every event line, newline included (a file cut
short or damaged is refused); ``signature`` (hex) is the exporting centre's Ed25519 signature
(``store/chain.py``) of ``"dispatch-console incident file v1\n" + SHA-256(header line) +
SHA-256(event lines)``, so neither the header nor any event can be changed, and the checksum
recomputed, without the signing key. ``key_id`` names the key.

**Trust.** An import verifies the signature against the keys this centre trusts
(``dispatch-console trust add``). A file that is unsigned, signed by a key not trusted here, or
whose signature does not verify is refused, unless imported as untrusted (``--untrusted``). Every
import appends a last event :class:`~dispatch_console.domain.events.IncidentImported` saying
where the incident came from and whether it was trusted; an incident with an untrusted import
is shown UNTRUSTED wherever it is listed, replayed or reported (:func:`untrusted_incidents`).

``seq`` is the event's number in the database it came from (for reference; an import numbers
the events anew, after everything stored there). The roster excerpt lists the roster entries of
the responders involved (matched by device or by the agency and badge they claimed); it is
informative only: an import never changes the roster of the receiving database (each
responder's verdict at the time is in the events). Roads and basemap are the replaying
machine's own.

**Import** (:func:`import_incident`) reads and checks the whole file before it stores anything:
format and version, every event's type and payload (as the store checks them), one incident
opened by its first event, sequence numbers increasing and received times never going
backwards, the count and the checksum. Then it appends the events with their original event
and received times (:func:`dispatch_console.store.importing.append_incident`: append-only, one
transaction). An incident that exists already is refused, unless it holds exactly the file's
events (then nothing is done). A *live* incident that is still active is refused: on another
machine it would pass for a live call (the gateway would join new alerts at that school to
it). Exercises may be imported while active: they never take live alerts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import replay
from dispatch_console.domain.geometry import area_problem
from dispatch_console.domain.reference import RosterEntry, School
from dispatch_console.domain.timeutil import iso
from dispatch_console.store import Store, StoreError
from dispatch_console.store.chain import CentreKey, TrustedKey, signature_valid
from dispatch_console.store.importing import append_incident, incident_rows

__all__ = [
    "FORMAT",
    "VERSION",
    "ExportResult",
    "ImportResult",
    "PortableError",
    "PortableIncident",
    "export_incident",
    "import_file",
    "import_incident",
    "read_incident_file",
]

FORMAT = "dispatch-console-incident"
VERSION = 1
#: A line longer than this is refused (a school's campus outline is the longest line expected).
MAX_LINE_BYTES = 8 * 2**20
#: An incident of more events than this is refused (a 2-hour incident has about 1,000,000).
MAX_EVENTS = 20_000_000
_MAX_TIME_US = 2**62
#: How far past this machine's clock an imported event's received time may be (two machines'
#: clocks).
FUTURE_TOLERANCE_US = 60_000_000


class PortableError(ValueError):
    """A file that cannot be exported or imported, explained in one line."""


class _Actor(msgspec.Struct, forbid_unknown_fields=True):
    kind: ev.ActorKind
    name: str


class _EventLine(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    type: str
    occurred_at_us: int
    received_at_us: int
    actor: _Actor
    source: ev.Source
    payload: msgspec.Raw
    idempotency_key: str | None = None


class _RosterLine(msgspec.Struct, forbid_unknown_fields=True):
    agency: str
    badge: str
    name: str
    status: Literal["active", "retired"]
    #: Only the devices of responders in this incident.
    device_ids: list[str] = []


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    incident_id: str
    exported_at: str
    exported_at_us: int
    software: str
    exercise: bool
    status: str
    event_count: int
    school: School | None = None
    roster: list[_RosterLine] = []


class _Trailer(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    end: bool
    event_count: int
    sha256: str
    key_id: str | None = None
    signature: str | None = None


_SIGNED_CONTEXT = b"dispatch-console incident file v1\n"


def _signed_message(header_sha256: bytes, events_sha256: bytes) -> bytes:
    return _SIGNED_CONTEXT + header_sha256 + events_sha256


class _Probe(msgspec.Struct):
    """Enough of any JSON object to tell a header from another file's first line."""

    format: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class PortableIncident:
    """A portable file's content, checked."""

    incident_id: str
    exported_at_us: int
    software: str
    exercise: bool
    status: str
    #: The events, with the sequence numbers they had where they were exported.
    events: list[ev.Event]
    school: School | None
    roster: tuple[RosterEntry, ...]
    #: The signing key's id and signature (None: unsigned), and what they sign.
    key_id: str | None = None
    signature: bytes | None = None
    signed_message: bytes = b""


@dataclass(frozen=True)
class ExportResult:
    incident_id: str
    path: Path
    events: int
    bytes: int
    exercise: bool
    status: str


@dataclass(frozen=True)
class ImportResult:
    incident_id: str
    #: Events stored now (0 when the same incident was imported before).
    stored: int
    already_imported: bool
    school_added: bool
    exercise: bool
    status: str
    #: The trusted key's label that signed the file (None: imported as untrusted).
    signer: str | None = None


_json = msgspec.json.Encoder()


def _line(value: Any) -> bytes:
    return _json.encode(value) + b"\n"


# --- export ------------------------------------------------------------------------------------


def export_incident(
    store: Store, incident_id: str, path: str | Path, signing_key: CentreKey | None = None
) -> ExportResult:
    """Write one incident to ``path`` (see the module docstring), signed with ``signing_key``
    if given (its public half is then trusted in ``store``, so this centre accepts its own
    files). Refused if the incident does not exist, cannot be read whole by this version, or is
    a live incident still active."""
    path = Path(path)
    summary = next((s for s in store.incidents() if s.incident_id == incident_id), None)
    if summary is None:
        raise PortableError(f"no incident {incident_id!r} (see: dispatch-console incidents)")
    events = list(store.read(incident_id))
    if len(events) != summary.event_count:
        raise PortableError(
            f"incident {incident_id}: {summary.event_count - len(events)} of its "
            f"{summary.event_count} events cannot be read by this version; not exported"
        )
    state = replay(incident_id, events)
    _refuse_live_active(incident_id, state.exercise, state.status)
    school = store.school(state.school_id) if state.school_id else None
    roster = _roster_excerpt(store.roster(), events)
    now = store._clock()
    from dispatch_console import __version__

    header = _Header(
        FORMAT,
        VERSION,
        incident_id,
        iso(now),
        now,
        f"dispatch-console {__version__}",
        state.exercise,
        state.status,
        len(events),
        school,
        roster,
    )
    digest = hashlib.sha256()
    header_line = _line(header)
    tmp = path.with_name(path.name + ".part")
    try:
        with gzip.open(tmp, "wb", compresslevel=6) as out:
            out.write(header_line)
            for event in events:
                line = _line(
                    {
                        "seq": event.seq,
                        "type": event.type,
                        "occurred_at_us": event.occurred_at_us,
                        "received_at_us": event.received_at_us,
                        "actor": {"kind": event.actor.kind.value, "name": event.actor.name},
                        "source": event.source.value,
                        "payload": msgspec.Raw(ev.encode_payload(event.payload)),
                        "idempotency_key": event.idempotency_key,
                    }
                )
                digest.update(line)
                out.write(line)
            key_id = signature = None
            if signing_key is not None:
                message = _signed_message(hashlib.sha256(header_line).digest(), digest.digest())
                key_id, signature = signing_key.key_id, signing_key.sign(message).hex()
                store.trust_key(signing_key.public, "this centre")
            out.write(_line(_Trailer(True, len(events), digest.hexdigest(), key_id, signature)))
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportResult(
        incident_id, path, len(events), path.stat().st_size, state.exercise, state.status
    )


def _refuse_live_active(incident_id: str, exercise: bool, status: str) -> None:
    if status == "active" and not exercise:
        raise PortableError(
            f"incident {incident_id} is still active: close it (all clear or cancelled) "
            "first; an active live incident must never pass for a live call elsewhere"
        )


def _roster_excerpt(roster: list[RosterEntry], events: list[ev.Event]) -> list[_RosterLine]:
    """Roster entries of the responders of ``events``: by device, or by the agency and badge
    claimed in a profile or found by the roster check (with only those responders' devices)."""
    devices: set[str] = set()
    claims: set[tuple[str, str]] = set()
    for e in events:
        p = e.payload
        if isinstance(p, ev.ResponderNotified):
            devices.add(p.device_id)
        elif (
            isinstance(p, ev.ResponderProfileReported | ev.ResponderRosterChecked)
            and p.agency
            and p.badge
        ):
            claims.add((p.agency.casefold(), p.badge.casefold()))
    return [
        _RosterLine(r.agency, r.badge, r.name, r.status, [d for d in r.device_ids if d in devices])
        for r in roster
        if (r.agency.casefold(), r.badge.casefold()) in claims
        or any(d in devices for d in r.device_ids)
    ]


# --- reading -------------------------------------------------------------------------------------


def read_incident_file(path: str | Path) -> PortableIncident:
    """Read and check a portable incident file whole; :class:`PortableError` (one line) if it
    is not one, is of a newer version, is cut short, or holds anything this version would not
    store."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise PortableError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with handle:
        try:
            return _read(path, handle)
        except PortableError:
            raise
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise PortableError(f"{path}: damaged or cut short ({_why(exc)})") from None
        except OSError as exc:
            raise PortableError(f"{path}: cannot read: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _lines(path: Path, handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    magic = handle.read(2)
    handle.seek(0)
    if magic != b"\x1f\x8b":
        raise PortableError(f"{path}: not a portable incident file (not gzip-compressed)")
    stream = io.BufferedReader(gzip.GzipFile(fileobj=handle, mode="rb"), 1 << 20)
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES:
            raise PortableError(f"{path}: line {number} is longer than {MAX_LINE_BYTES} bytes")
        if not line.endswith(b"\n"):
            raise PortableError(f"{path}: line {number} is cut short")
        yield number, line


_header_decoder = msgspec.json.Decoder(_Header)
_probe_decoder = msgspec.json.Decoder(_Probe)
_event_decoder = msgspec.json.Decoder(_EventLine)
_trailer_decoder = msgspec.json.Decoder(_Trailer)


def _read(path: Path, handle: IO[bytes]) -> PortableIncident:
    lines = _lines(path, handle)
    first = next(lines, None)
    if first is None:
        raise PortableError(f"{path}: empty file")
    header = _header(path, first[1])
    header_sha256 = hashlib.sha256(first[1]).digest()
    incident_id = header.incident_id
    if not 0 <= header.event_count <= MAX_EVENTS:
        raise PortableError(f"{path}: event_count {header.event_count} is out of range")
    events: list[ev.Event] = []
    digest = hashlib.sha256()
    trailer: _Trailer | None = None
    actors: dict[tuple[ev.ActorKind, str], ev.Actor] = {}
    last_seq = 0
    last_received = 0
    for number, raw in lines:
        if trailer is not None:
            raise PortableError(f"{path}: line {number}: data after the end of the file")
        if raw.startswith(b'{"end"'):
            try:
                trailer = _trailer_decoder.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise PortableError(f"{path}: line {number}: bad end line: {exc}") from None
            continue
        if len(events) >= header.event_count:
            raise PortableError(
                f"{path}: line {number}: more events than the {header.event_count} announced"
            )
        digest.update(raw)
        event = _event(path, number, raw, incident_id, actors)
        if event.seq <= last_seq:
            raise PortableError(f"{path}: line {number}: events out of sequence order")
        if event.received_at_us < last_received:
            raise PortableError(f"{path}: line {number}: received time goes backwards")
        if not events and event.type != ev.IncidentOpened.TYPE:
            raise PortableError(f"{path}: the first event does not open the incident")
        last_seq, last_received = event.seq, event.received_at_us
        events.append(event)
    if trailer is None:
        raise PortableError(f"{path}: cut short (no end line after {len(events)} events)")
    if not trailer.end or trailer.event_count != len(events) or len(events) != header.event_count:
        raise PortableError(f"{path}: holds {len(events)} events, announced {header.event_count}")
    if trailer.sha256 != digest.hexdigest():
        raise PortableError(f"{path}: checksum mismatch: the events were changed or damaged")
    signature: bytes | None = None
    if trailer.signature is not None:
        try:
            signature = bytes.fromhex(trailer.signature)
        except ValueError:
            raise PortableError(f"{path}: the signature is not hex") from None
    if not events:
        raise PortableError(f"{path}: no events")
    state = replay(incident_id, events)
    if state.exercise != header.exercise:
        raise PortableError(f"{path}: the header's exercise flag contradicts the events")
    return PortableIncident(
        incident_id,
        header.exported_at_us,
        header.software,
        header.exercise,
        state.status,
        events,
        header.school,
        tuple(
            RosterEntry(r.agency, r.badge, r.name, r.status, tuple(r.device_ids))
            for r in header.roster
        ),
        trailer.key_id,
        signature,
        _signed_message(header_sha256, digest.digest()),
    )


def _header(path: Path, raw: bytes) -> _Header:
    try:
        probe = _probe_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise PortableError(f"{path}: not a portable incident file") from None
    if probe.format != FORMAT:
        raise PortableError(f"{path}: not a portable incident file (format {probe.format!r})")
    if probe.version != VERSION:
        raise PortableError(
            f"{path}: format version {probe.version} (this version reads {VERSION} only)"
        )
    try:
        header = _header_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PortableError(f"{path}: bad header: {exc}") from None
    problem = _identifier_problem(header.incident_id, 64)
    if problem:
        raise PortableError(f"{path}: bad incident id: {problem}")
    if header.school is not None:
        problem = _school_problem(header.school)
        if problem is not None:
            raise PortableError(f"{path}: school: {problem}")
    return header


def _payload_problem(payload: ev.Payload) -> str | None:
    """What the store and the decider would refuse in ``payload`` and the fold would not
    catch: a number that is not finite (stored as JSON it would read back as null), an area
    that is not a usable polygon or circle."""
    if ev.decode_payload(payload.TYPE, ev.encode_payload(payload)) != payload:
        return "a number is not finite"
    if isinstance(payload, ev.StagingAreaSet | ev.PerimeterSet):
        problem = area_problem(payload.geometry, payload.radius_m)
        capacity = payload.capacity if isinstance(payload, ev.StagingAreaSet) else None
        if problem is None and capacity is not None and capacity <= 0:
            problem = f"capacity {capacity} is not positive"
        return problem
    if isinstance(payload, ev.CheckInPointSet):
        try:
            ev.check_lat_lon(payload.lat, payload.lon)
        except ValueError as exc:
            return str(exc)
    return None


def _school_problem(school: School) -> str | None:
    for name, value, limit in (
        ("school_id", school.school_id, 100),
        ("name", school.name, 300),
        ("address", school.address, 300),
        ("phone", school.phone, 64),
        ("classification", school.classification, 100),
    ):
        if value is not None and len(value) > limit:
            return f"{name} longer than {limit} characters"
    try:
        ev.check_lat_lon(school.lat, school.lon)
    except ValueError as exc:
        return f"location: {exc}"
    if school.campus is not None:
        problem = area_problem(school.campus, None)
        if problem is not None:
            return f"campus: {problem}"
    plan = school.pre_plan
    areas = [*plan.staging_areas, plan.inner_perimeter, plan.outer_perimeter]
    for area in areas:
        if area is not None:
            problem = area_problem(area.geometry, area.radius_m)
            if problem is not None:
                return f"pre-plan area {area.area_id}: {problem}"
    if not (math.isfinite(school.notification_radius_m) and 0 < school.notification_radius_m < 1e6):
        return "notification radius is not a positive distance"
    return None


def _identifier_problem(value: str, limit: int) -> str | None:
    if not value:
        return "empty"
    if len(value) > limit:
        return f"longer than {limit} characters"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return "holds spaces or control characters"
    return None


def _event(
    path: Path,
    number: int,
    raw: bytes,
    incident_id: str,
    actors: dict[tuple[ev.ActorKind, str], ev.Actor],
) -> ev.Event:
    where = f"{path}: line {number}"
    try:
        line = _event_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PortableError(f"{where}: not an event: {exc}") from None
    if line.type not in ev.PAYLOAD_TYPES:
        raise PortableError(f"{where}: unknown event type {line.type!r}")
    if line.type in ev.REFERENCE_DATA_TYPES:
        raise PortableError(f"{where}: {line.type} is not an incident event")
    try:
        payload = ev.decode_payload(line.type, line.payload)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        raise PortableError(f"{where}: bad {line.type} payload: {exc}") from None
    problem = _payload_problem(payload)
    if problem is not None:
        raise PortableError(f"{where}: bad {line.type} payload: {problem}")
    for name in ("seq", "occurred_at_us", "received_at_us"):
        value = getattr(line, name)
        if not 0 < value < _MAX_TIME_US:
            raise PortableError(f"{where}: {name} {value} is out of range")
    if len(line.actor.name) > 200:
        raise PortableError(f"{where}: actor name longer than 200 characters")
    key = line.idempotency_key
    if key is not None and not 0 < len(key) <= 300:
        raise PortableError(f"{where}: idempotency key empty or longer than 300 characters")
    actor = actors.get((line.actor.kind, line.actor.name))
    if actor is None:
        actor = actors[(line.actor.kind, line.actor.name)] = ev.Actor(
            line.actor.kind, line.actor.name
        )
    return ev.Event(
        line.seq,
        incident_id,
        line.type,
        line.occurred_at_us,
        line.received_at_us,
        actor,
        line.source,
        payload,
        key,
    )


# --- import --------------------------------------------------------------------------------------


def file_signer(store: Store, incident: PortableIncident) -> tuple[TrustedKey | None, str]:
    """The trusted key that signed ``incident``'s file, or None and why not."""
    if incident.signature is None or incident.key_id is None:
        return None, "the file is not signed"
    known = {k.key_id: k for k in store.trusted_keys()}.get(incident.key_id)
    if known is None:
        return None, f"signed by key {incident.key_id[:16]!r}, which this centre does not trust"
    if not signature_valid(known.public, incident.signature, incident.signed_message):
        return None, f"the signature by {known.label} ({known.key_id}) does not verify: forged"
    return known, ""


def import_file(store: Store, path: str | Path, *, untrusted: bool = False) -> ImportResult:
    """Import the incident of a portable file (module docstring); :class:`PortableError` (one
    line, nothing stored) if it cannot be, or if it is not signed by a key this centre trusts
    and ``untrusted`` is not given (then it is imported marked untrusted)."""
    incident = read_incident_file(path)
    signer, why_not = file_signer(store, incident)
    if signer is None and not untrusted:
        raise PortableError(
            f"{Path(path)}: not imported: {why_not} (trust the sender's key with "
            "dispatch-console trust add, or import it marked untrusted with --untrusted)"
        )
    incident_id = incident.incident_id
    _refuse_live_active(incident_id, incident.exercise, incident.status)
    # The store hands out received times that never go backwards after its last event: times
    # from the future would hold every live event after the import at that time.
    latest = incident.events[-1].received_at_us  # received times never go backwards
    now = store._clock()
    if latest > now + FUTURE_TOLERANCE_US:
        raise PortableError(
            f"{Path(path)}: received times up to {iso(latest)}, later than this machine's "
            f"clock ({iso(now)}): not imported"
        )
    signer_label = signer.label if signer is not None else None
    result = ImportResult(
        incident_id, 0, True, False, incident.exercise, incident.status, signer_label
    )
    mark = ev.IncidentImported(
        Path(path).name[:200],
        len(incident.events),
        signer is not None,
        incident.key_id if signer is not None else None,
        signer_label,
        None if signer is not None else why_not,
    )
    if store.has_incident(incident_id):
        stored = [e for e in store.read(incident_id) if e.type != ev.IncidentImported.TYPE]
        if incident_rows(stored) == incident_rows(
            [e for e in incident.events if e.type != ev.IncidentImported.TYPE]
        ):
            return result
        raise PortableError(
            f"incident {incident_id} exists in this database with other events: not imported"
        )
    try:
        appended = append_incident(store, incident_id, incident.events, incident.school, mark=mark)
    except StoreError as exc:
        raise PortableError(f"{Path(path)}: not imported: {exc}") from None
    return ImportResult(
        incident_id,
        len(incident.events),
        False,
        appended.school_added,
        incident.exercise,
        incident.status,
        signer_label,
    )


def untrusted_incidents(store: Store) -> dict[str, str]:
    """Incidents imported as untrusted (at any import, here or before an export): id -> why."""
    found: dict[str, str] = {}
    for event in store.read(all_incidents=True, types=[ev.IncidentImported.TYPE]):
        p = event.payload
        assert isinstance(p, ev.IncidentImported)
        if not p.trusted and event.incident_id is not None:
            found.setdefault(event.incident_id, p.why_untrusted or "not signed by a trusted key")
    return found


def import_incident(store: Store, path: str | Path, *, untrusted: bool = False) -> str:
    """Import a portable incident file; returns the incident id (see :func:`import_file`)."""
    return import_file(store, path, untrusted=untrusted).incident_id
