"""The tamper-evident log: a hash chain over every stored event, anchored by signed checkpoints.

**The chain.** Every event row carries ``chain_hash``: SHA-256 of the previous event's
``chain_hash`` (32 zero bytes before the first event) followed by the event's stored columns
in a fixed encoding (:func:`row_bytes`: sequence number, incident, type, event and received
times, actor kind and name, source, the payload's stored JSON text, idempotency key). One chain
per store, in sequence order. It is computed where the sequence numbers are handed out, under the
store's one write lock (``BEGIN IMMEDIATE`` on SQLite, the advisory lock on PostgreSQL), so any
number of consoles and gateways writing to one PostgreSQL database still form one chain.

Changing, removing, inserting or reordering any stored event breaks the chain at that event
(:func:`verify_chain` names it). Someone able to write the database could rewrite the whole
chain from the changed event on; that is what the **checkpoints** catch: now and then the
holder of the centre's signing key (the gateway, or ``dispatch-console checkpoint``) signs
``(seq, chain_hash)`` of the newest event with the centre's Ed25519 key
(:class:`CentreKey`). Verification checks each checkpoint's signature against the keys the
centre trusts and that the chain still passes through it: a rewritten chain does not, and
without the private key no new checkpoint can be made for it.

**Snapshots** (the fold's cache, ``state_at`` starts from the newest) are outside the chain;
each names the last event it folded (its ``seq``), so :func:`verify_chain` folds every
incident's events again from the start and compares the state at that event with the stored
snapshot: an altered snapshot (a state the events never produced) is reported, naming the
incident and the event.

**Witnesses.** Someone who owns the database can delete the newest events *together with* the
checkpoints that signed them; what remains is a shorter, consistent chain. So every gateway and
console keeps the newest checkpoint it has seen (sequence, hash, key, signature) in a small
**witness file** outside the database (:class:`Witness`, :func:`witness_path`): ``verify
--witness FILE`` and the console's periodic verification report a store whose chain no longer
reaches a witnessed checkpoint, or passes through it with another hash, naming it.

The signing key lives outside the database, in a file readable only by its owner
(``$DISPATCH_CONSOLE_SIGNING_KEY_FILE``, else ``<user config dir>/centre-signing.key``); only
its public half is stored (``trusted_keys``). The same key signs exported incident files
(:mod:`dispatch_console.replay.portable`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from platformdirs import user_config_path, user_state_path
from sqlalchemy import Connection, select

from dispatch_console.store import schema

if TYPE_CHECKING:
    from dispatch_console.store.store import Store

log = logging.getLogger(__name__)

SIGNING_KEY_ENV = "DISPATCH_CONSOLE_SIGNING_KEY_FILE"
#: The hash before the first event.
GENESIS = bytes(32)
#: A checkpoint is signed at least every this many events by a store that holds the key.
CHECKPOINT_EVERY = 10_000
_CHECKPOINT_CONTEXT = b"dispatch-console chain checkpoint v1\n"

_row_encoder = msgspec.json.Encoder()


def row_bytes(row: Sequence[Any]) -> bytes:
    """The fixed encoding of an event row's ten stored columns (``seq, incident_id, type,
    occurred_at_us, received_at_us, actor_kind, actor_name, source, payload, key``)."""
    return _row_encoder.encode(row)


def chain_rows(previous: bytes, rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], bytes]:
    """``rows`` each with its chain hash appended, and the last hash."""
    sha = hashlib.sha256
    encode = _row_encoder.encode
    out: list[tuple[Any, ...]] = []
    append = out.append
    for row in rows:
        previous = sha(previous + encode(row)).digest()
        append((*row, previous))
    return out, previous


# --- the centre's signing key ---------------------------------------------------------------------


def signing_key_path() -> Path:
    configured = os.environ.get(SIGNING_KEY_ENV)
    if configured:
        return Path(configured).expanduser()
    return user_config_path("dispatch-console", appauthor=False) / "centre-signing.key"


def key_id(public: Ed25519PublicKey) -> str:
    """A public key's short name: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(public_bytes(public)).hexdigest()[:16]


def public_bytes(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_text(public: Ed25519PublicKey) -> str:
    """The public key as one line to hand to another centre (``trust add``)."""
    return "ed25519:" + public_bytes(public).hex()


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key from :func:`public_text`'s form (or 64 hex digits); ValueError if not."""
    value = text.strip()
    if value.startswith("ed25519:"):
        value = value[len("ed25519:") :]
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"not a public key: {text[:80]!r}") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (64 hex digits)")
    return Ed25519PublicKey.from_public_bytes(raw)


class CentreKey:
    """The centre's Ed25519 signing key, from a file (created on first use, mode 0600)."""

    def __init__(self, path: Path | None = None, *, create: bool = True) -> None:
        self.path = path or signing_key_path()
        self._private = self._load(create)
        self.public = self._private.public_key()
        self.key_id = key_id(self.public)

    def _load(self, create: bool) -> Ed25519PrivateKey:
        try:
            return _private_from(self.path.read_bytes(), self.path)
        except FileNotFoundError:
            if not create:
                raise
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:  # O_EXCL: two processes starting at once must not each write a different key
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _private_from(self.path.read_bytes(), self.path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        return private

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def _private_from(data: bytes, path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a signing key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 key")
    return key


def checkpoint_message(seq: int, chain_hash: bytes) -> bytes:
    return _CHECKPOINT_CONTEXT + struct.pack(">Q", seq) + chain_hash


def write_checkpoint(
    conn: Connection, key: CentreKey, seq: int, chain_hash: bytes, now_us: int
) -> None:
    """Sign ``(seq, chain_hash)`` and store it (in the caller's transaction); the key's public
    half is added to the trusted keys if it is not there yet."""
    conn.execute(
        schema.chain_checkpoints.insert(),
        {
            "seq": seq,
            "chain_hash": chain_hash,
            "key_id": key.key_id,
            "signed_at_us": now_us,
            "signature": key.sign(checkpoint_message(seq, chain_hash)),
        },
    )
    trust(conn, key.public, "this centre", now_us)


# --- trusted keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public: Ed25519PublicKey
    label: str
    added_at_us: int


def trust(conn: Connection, public: Ed25519PublicKey, label: str, now_us: int) -> bool:
    """Add ``public`` to the keys this centre trusts; False if it was trusted already."""
    table = schema.trusted_keys
    kid = key_id(public)
    known = conn.execute(select(table.c.key_id).where(table.c.key_id == kid)).first()
    if known is not None:
        return False
    conn.execute(
        table.insert(),
        {"key_id": kid, "public_key": public_bytes(public), "label": label, "added_at_us": now_us},
    )
    return True


def trusted_keys(conn: Connection) -> dict[str, TrustedKey]:
    table = schema.trusted_keys
    found: dict[str, TrustedKey] = {}
    for kid, raw, label, added in conn.execute(
        select(table.c.key_id, table.c.public_key, table.c.label, table.c.added_at_us)
    ):
        public = Ed25519PublicKey.from_public_bytes(bytes(raw))
        if key_id(public) == kid:  # a row whose id does not match its key is ignored
            found[kid] = TrustedKey(kid, public, label or "", added)
    return found


def signature_valid(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """Where the chain breaks: the first event that does not follow from what precedes it."""

    seq: int
    incident_id: str | None
    type: str
    why: str
    #: A span of events rewritten together (found by a checkpoint): it may hold any incident.
    span: bool = False

    def describe(self) -> str:
        where = f"incident {self.incident_id}" if self.incident_id else "reference data"
        return f"event {self.seq} ({self.type}, {where}): {self.why}"


@dataclass
class Verification:
    events: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    #: The newest event a valid signed checkpoint covers (0: none).
    anchored_seq: int = 0
    breaks: list[Break] = field(default_factory=list)
    #: Problems that are not a broken event (bad or unknown checkpoint signatures).
    problems: list[str] = field(default_factory=list)
    #: Events stored before the chain existed (no hash): not covered.
    unchained: int = 0
    #: Snapshots recomputed from the events and found equal.
    snapshots: int = 0

    @property
    def ok(self) -> bool:
        return not self.breaks and not self.problems

    def first_break(self, incident_id: str | None = None) -> Break | None:
        for b in self.breaks:
            if incident_id is None or b.incident_id == incident_id or b.span:
                return b
        return None


_VERIFY_COLUMNS = (*schema.EVENT_COLUMNS, schema.events.c.chain_hash)


def verify_chain(
    store: Store,
    max_breaks: int = 20,
    pause_s: float = 0.0,
    *,
    snapshots: bool = True,
    witness: Witness | None = None,
) -> Verification:
    """Recompute the whole chain and check every checkpoint and (``snapshots``) every stored
    snapshot; see :class:`Verification`.

    After a break the walk goes on from the stored hash, so each further tampered place is
    reported too (up to ``max_breaks``). ``pause_s``: a pause every 5,000 events (a console's
    background check leaves the GUI thread its share of the interpreter). ``witness``: a
    checkpoint seen earlier outside the database, which the chain must still pass through."""
    result = Verification()
    with store._reader.connect() as conn:
        keys = trusted_keys(conn)
        checkpoints: dict[int, tuple[bytes, str, bytes]] = {
            int(seq): (bytes(h), kid, bytes(sig))
            for seq, h, kid, sig in conn.execute(
                select(
                    schema.chain_checkpoints.c.seq,
                    schema.chain_checkpoints.c.chain_hash,
                    schema.chain_checkpoints.c.key_id,
                    schema.chain_checkpoints.c.signature,
                ).order_by(schema.chain_checkpoints.c.seq)
            )
        }
        valid_checkpoints: dict[int, bytes] = {}
        for seq, (h, kid, sig) in checkpoints.items():
            known = keys.get(kid)
            if known is None:
                result.problems.append(f"checkpoint at event {seq}: signed by unknown key {kid}")
            elif not signature_valid(known.public, sig, checkpoint_message(seq, h)):
                result.problems.append(f"checkpoint at event {seq}: signature does not verify")
            else:
                valid_checkpoints[seq] = h
        result.checkpoints = len(valid_checkpoints)
        previous: bytes | None = None
        expected_seq: int | None = None
        last_anchor = 0
        sha = hashlib.sha256
        encode = _row_encoder.encode
        rows = conn.execution_options(stream_results=True, yield_per=5000).execute(
            select(*_VERIFY_COLUMNS).order_by(schema.events.c.seq)
        )
        for row in rows:
            seq = row[0]
            stored = row[10]
            result.events += 1
            if pause_s and result.events % 5000 == 0:
                time.sleep(pause_s)
            result.last_seq = seq
            if stored is None:
                if previous is not None:
                    _add(result, Break(seq, row[1], row[2], "no chain hash after chained events"))
                else:
                    result.unchained += 1
                continue
            stored = bytes(stored)
            if previous is None:  # the first chained event: from genesis, or after the unchained
                previous = GENESIS if result.unchained == 0 else None
            if expected_seq is not None and seq != expected_seq:
                _add(
                    result,
                    Break(seq, row[1], row[2], f"events {expected_seq}..{seq - 1} are missing"),
                )
            computed = sha((previous or b"") + encode(tuple(row[:10]))).digest()
            if previous is not None and computed != stored:
                _add(
                    result,
                    Break(
                        seq,
                        row[1],
                        row[2],
                        "its content or position was changed (hash does not match)",
                    ),
                )
            previous = stored  # go on from what is stored: later breaks are found too
            expected_seq = seq + 1
            if witness is not None and seq == witness.seq and stored != witness.chain_hash:
                result.problems.append(
                    f"{witness.describe()} is not in this store's chain: the event log was "
                    f"rewritten up to event {seq}"
                )
            anchor = valid_checkpoints.get(seq)
            if anchor is not None:
                if anchor != stored:
                    _add(
                        result,
                        Break(
                            last_anchor + 1,
                            None,
                            "?",
                            f"events {last_anchor + 1}..{seq} were rewritten: the chain no "
                            f"longer passes through the signed checkpoint at event {seq}",
                            span=True,
                        ),
                    )
                elif not result.breaks:
                    result.anchored_seq = seq
                last_anchor = seq
            if len(result.breaks) >= max_breaks:
                break
        rows.close()
        missing_anchors = [s for s in valid_checkpoints if s > result.last_seq]
        if missing_anchors and len(result.breaks) < max_breaks:
            result.problems.append(
                f"a signed checkpoint names event {missing_anchors[0]}, which is not stored: "
                "events were removed from the end"
            )
    result.breaks.sort(key=lambda b: b.seq)
    if witness is not None and witness.seq > result.last_seq:
        result.problems.append(
            f"the chain ends at event {result.last_seq}, short of {witness.describe()}: events "
            f"{result.last_seq + 1}..{witness.seq} were removed with their checkpoints"
        )
    if snapshots:
        verify_snapshots(store, result, pause_s)
    return result


def verify_snapshots(store: Store, result: Verification, pause_s: float = 0.0) -> None:
    """Fold each incident that has snapshots from its first event and compare the state at
    each snapshot's event with the snapshot (of the current state format); a snapshot that
    differs, cannot be read, or names no event of its incident is a problem."""
    from dispatch_console.domain.fold import fold
    from dispatch_console.domain.state import STATE_FORMAT, IncidentState

    table = schema.snapshots
    with store._reader.connect() as conn:
        incidents = [
            r[0]
            for r in conn.execute(
                select(table.c.incident_id).where(table.c.format == STATE_FORMAT).distinct()
            )
        ]
    for incident_id in sorted(incidents):
        with store._reader.connect() as conn:
            snaps = conn.execute(
                select(table.c.seq, table.c.state)
                .where(table.c.incident_id == incident_id, table.c.format == STATE_FORMAT)
                .order_by(table.c.seq)
            ).all()
        state = IncidentState(incident_id=incident_id)
        pending = list(snaps)
        events = store.read(incident_id, until_seq=int(pending[-1][0]))
        for event in events:
            fold([event], state)
            while pending and int(pending[0][0]) <= event.seq:
                seq, blob = pending.pop(0)
                _compare_snapshot(result, incident_id, int(seq), bytes(blob), state, event.seq)
            if pause_s and state.event_count % 5000 == 0:
                time.sleep(pause_s)
        events.close()
        for seq, _ in pending:
            result.problems.append(
                f"snapshot of incident {incident_id} at event {seq}: no such event of the "
                "incident (the snapshot was added or the events removed)"
            )


def _compare_snapshot(
    result: Verification, incident_id: str, seq: int, blob: bytes, state: Any, at_seq: int
) -> None:
    import zlib

    from dispatch_console.domain.state import decode_state

    where = f"snapshot of incident {incident_id} at event {seq}"
    if seq != at_seq:
        result.problems.append(f"{where}: no such event of the incident")
        return
    try:
        stored = decode_state(blob)
    except (msgspec.DecodeError, msgspec.ValidationError, zlib.error):
        result.problems.append(f"{where}: unreadable (altered)")
        return
    if stored != state:
        result.problems.append(
            f"{where}: differs from the state its events produce (the snapshot was altered)"
        )
        return
    result.snapshots += 1


def _add(result: Verification, found: Break) -> None:
    result.breaks.append(found)


# --- witnesses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Witness:
    """The newest signed checkpoint a gateway or console has seen, kept outside the database."""

    seq: int
    chain_hash: bytes
    key_id: str
    signature: bytes
    signed_at_us: int

    def describe(self) -> str:
        from dispatch_console.domain.timeutil import iso

        return (
            f"the witnessed checkpoint at event {self.seq} (signed {iso(self.signed_at_us)} "
            f"by key {self.key_id}, hash {self.chain_hash.hex()[:16]}…)"
        )


def witness_path(store_url: str, who: str) -> Path:
    """The default witness file of ``who`` ("gateway", "console") for a store, in the user's
    state directory (outside the database)."""
    from dispatch_console.store.urls import redact

    digest = hashlib.sha256(redact(store_url).encode()).hexdigest()[:16]
    return user_state_path("dispatch-console", appauthor=False) / f"witness-{who}-{digest}.json"


def read_witness(path: Path) -> Witness | None:
    """The witness in ``path`` (None if there is none yet); ValueError if unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a witness file ({exc})") from None
    try:
        return Witness(
            int(data["seq"]),
            bytes.fromhex(data["chain_hash"]),
            str(data["key_id"]),
            bytes.fromhex(data["signature"]),
            int(data["signed_at_us"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a witness file ({exc})") from None


def newest_checkpoint(store: Store) -> Witness | None:
    """The store's newest checkpoint whose signature verifies with a trusted key."""
    table = schema.chain_checkpoints
    with store._reader.connect() as conn:
        keys = trusted_keys(conn)
        rows = conn.execute(
            select(
                table.c.seq, table.c.chain_hash, table.c.key_id, table.c.signature,
                table.c.signed_at_us,
            ).order_by(table.c.seq.desc()).limit(20)
        ).all()  # fmt: skip
    for seq, h, kid, sig, at in rows:
        known = keys.get(kid)
        message = checkpoint_message(int(seq), bytes(h))
        if known is not None and signature_valid(known.public, bytes(sig), message):
            return Witness(int(seq), bytes(h), kid, bytes(sig), int(at))
    return None


def witness_problem(store: Store, path: Path | None) -> str | None:
    """Whether the store's chain still passes through the checkpoint witnessed in ``path``
    (one query; :func:`verify_chain` is the full check); why not, or None."""
    witness = read_witness(path) if path is not None else None
    if witness is None:
        return None
    events = schema.events
    with store._reader.connect() as conn:
        stored = conn.execute(
            select(events.c.chain_hash).where(events.c.seq == witness.seq)
        ).scalar()
    if stored is None:
        return f"event {witness.seq} is missing: the log is short of {witness.describe()}"
    if bytes(stored) != witness.chain_hash:
        return f"the chain no longer passes through {witness.describe()}"
    return None


def advance_witness(path: Path, store: Store, seen: Witness | None = None) -> Witness | None:
    """Keep the store's newest valid checkpoint in ``path`` if it is newer than the one there
    (written atomically, mode 0600); the witness now in the file."""
    current = read_witness(path)
    newest = seen if seen is not None else newest_checkpoint(store)
    if newest is None or (current is not None and newest.seq <= current.seq):
        return current
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {
            "seq": newest.seq,
            "chain_hash": newest.chain_hash.hex(),
            "key_id": newest.key_id,
            "signature": newest.signature.hex(),
            "signed_at_us": newest.signed_at_us,
        }
    )
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return newest


# --- signing checkpoints as the log grows -------------------------------------------------


class Checkpointer:
    """Signs a checkpoint of the chain every ``every_s`` seconds when events were appended
    since the last one, and once more on :meth:`stop` (run where the centre's key is: the
    gateway). A store that cannot be reached is tried again next time."""

    def __init__(
        self,
        store_url: str | None,
        key: CentreKey,
        every_s: float = 60.0,
        witness: Path | None = None,
    ) -> None:
        self.store_url = store_url
        #: Where the newest checkpoint signed here is witnessed, outside the database.
        self.witness = witness
        self.key = key
        self.every_s = every_s
        self.signed_seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sign_now()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sign_now()

    def sign_now(self) -> int:
        from dispatch_console.store.store import Store

        try:
            with Store(self.store_url, signing_key=self.key, migrate=False) as store:
                problem = witness_problem(store, self.witness)
                if problem is not None:  # never sign over a log cut short or rewritten
                    log.error("chain checkpoint NOT signed: %s", problem)
                    return self.signed_seq
                if store.last_seq() > self.signed_seq:
                    self.signed_seq = store.sign_checkpoint()
                if self.witness is not None:
                    advance_witness(self.witness, store)
        except Exception as exc:  # the store is away: next time
            log.warning("chain checkpoint not signed: %s: %s", type(exc).__name__, exc)
        return self.signed_seq
