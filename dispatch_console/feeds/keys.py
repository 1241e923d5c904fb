"""API keys: secrets made once, shown once, sealed at rest.

HMAC verification needs the secret itself, so it cannot be stored as a one-way hash: it is
sealed (Fernet: AES-128-CBC + HMAC-SHA256) with a master key that lives outside the database,
in a file readable only by its owner (``$DISPATCH_CONSOLE_MASTER_KEY_FILE``, else
``<user config dir>/master.key``, created on first use with mode 0600). A stolen database alone
yields no secret. Every gateway and console that verifies signatures needs the same master key
file.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from platformdirs import user_config_path

from dispatch_console.store import StoreUnreachable, unreachable
from dispatch_console.store.registry import ApiKey, KeyKind

MASTER_KEY_ENV = "DISPATCH_CONSOLE_MASTER_KEY_FILE"


class KeyProblem(Exception):
    """A key problem told in one line (unknown, revoked, unsealable)."""


def master_key_path() -> Path:
    configured = os.environ.get(MASTER_KEY_ENV)
    if configured:
        return Path(configured).expanduser()
    return user_config_path("dispatch-console", appauthor=False) / "master.key"


class SecretBox:
    """Seals and opens key secrets with the master key."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or master_key_path()
        self._fernet = Fernet(self._load_or_create())

    def _load_or_create(self) -> bytes:
        try:
            return self.path.read_bytes().strip()
        except FileNotFoundError:
            pass
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        return key

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise KeyProblem(
                f"a key secret cannot be opened with the master key {self.path} "
                "(a different master key sealed it)"
            ) from None


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str  # shown to the operator once, never stored in the clear, never logged


def new_key_material(kind: KeyKind) -> NewKey:
    prefix = {"school": "sk", "device": "dk", "vendor": "vk", "cad": "ck"}[kind]
    return NewKey(f"{prefix}_{secrets.token_hex(6)}", secrets.token_urlsafe(32))


@dataclass(frozen=True)
class OpenKey:
    key_id: str
    kind: KeyKind
    scope: str
    secret: bytes


#: The kinds of key that send alerts (a school's system, a vendor's CAP, a CAD's EIDO).
ALERTING_KINDS: frozenset[str] = frozenset({"school", "vendor", "cad"})


class KeyRing:
    """Opened keys for signature checks, cached briefly so a revocation takes effect within
    ``ttl_s`` seconds without opening the seal on every request."""

    def __init__(
        self, lookup: Callable[[str], ApiKey | None], box: SecretBox, ttl_s: float = 5.0
    ) -> None:
        self._lookup = lookup
        self._box = box
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, OpenKey | None]] = {}
        self._lock = threading.Lock()
        #: Every key as last read (sealed): what signs while the store is unreachable.
        self._known: dict[str, ApiKey] = {}
        #: The sealed secret each cached key was opened from (not opened again if unchanged).
        self._sealed: dict[str, Any] = {}

    def _open(self, record: ApiKey) -> OpenKey:
        secret = self._box.open(record.secret_sealed).encode()
        return OpenKey(record.key_id, record.kind, record.scope, secret)

    def remember(self, records: list[ApiKey]) -> None:
        """Keep a copy of every key (``Store.api_keys()``, read now and then): while the store
        is down, a device that never sent before can still be checked."""
        known = {record.key_id: record for record in records}
        with self._lock:
            self._known = known

    def refresh_ageing(self, lookup_many: Callable[[list[str]], dict[str, ApiKey]]) -> None:
        """Read again, in one query, every cached key past half its time to live (called a
        couple of times a second, off the requests' path): a phone that sends every few
        seconds then finds its key fresh, and a revocation still counts within ``ttl_s``."""
        now = time.monotonic()
        with self._lock:
            ageing = [k for k, c in self._cache.items() if now - c[0] >= self._ttl / 2]
        if ageing:
            self.prefetch(ageing, lookup_many, older_than_s=self._ttl / 2)

    def prefetch(
        self,
        key_ids: Sequence[str],
        lookup_many: Callable[[list[str]], dict[str, ApiKey]],
        *,
        older_than_s: float | None = None,
    ) -> None:
        """Read the keys of a group of requests whose cached copy is old in ONE query (a phone
        sends every few seconds: one query per request would be most of a request's cost).
        A key whose sealed secret did not change is not opened again. A store that does not
        answer is left to :meth:`get` (the outage rules)."""
        now = time.monotonic()
        older_than = self._ttl if older_than_s is None else older_than_s
        with self._lock:
            stale = [
                k for k in dict.fromkeys(key_ids)
                if (c := self._cache.get(k)) is None or now - c[0] >= older_than
            ]  # fmt: skip
        if not stale:
            return
        try:
            records = lookup_many(stale)
        except Exception as exc:
            if not unreachable(exc):
                raise
            return
        with self._lock:
            if len(self._cache) + len(stale) > 10_000:
                self._cache.clear()
            for key_id in stale:
                record = records.get(key_id)
                opened = None
                if record is not None and not record.revoked:
                    previous = self._sealed.get(key_id)
                    cached = self._cache.get(key_id)
                    if previous == record.secret_sealed and cached is not None and cached[1]:
                        opened = cached[1]
                    else:
                        opened = self._open(record)
                        self._sealed[key_id] = record.secret_sealed
                self._cache[key_id] = (now, opened)

    def known(self, key_id: str) -> OpenKey | None:
        """The key as the gateway holds it already, opened, without asking the store: opened
        within the last ``ttl_s``, else from the copy of every key read last (:meth:`remember`,
        at most a minute old). None: not held, or revoked. For deciding a request's priority
        only; :meth:`get` still decides whether it is let in."""
        with self._lock:
            cached = self._cache.get(key_id)
            record = self._known.get(key_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        if record is None or record.revoked:
            return None
        return self._open(record)

    def get(self, key_id: str, *, offline: bool = False) -> OpenKey | None:
        """The opened key (None: unknown or revoked). ``offline``: the store is known to be
        down, so it is not asked: the copy of every key read last (:meth:`remember`) decides,
        then a key opened before; a key never seen cannot be checked (``StoreUnreachable``)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
            if not offline and cached is not None and now - cached[0] < self._ttl:
                return cached[1]
        try:
            if offline:
                raise StoreUnreachable("the store is down")
            record = self._lookup(key_id)
        except Exception as exc:
            if not unreachable(exc):
                raise
            with self._lock:
                record = self._known.get(key_id)
            if record is None:  # never read: only a key opened before can be checked
                if cached is None:
                    raise
                return cached[1]
            if record.revoked:
                return None
            return cached[1] if cached is not None and cached[1] is not None else self._open(record)
        opened = None
        if record is not None and not record.revoked:
            opened = self._open(record)
        with self._lock:
            if len(self._cache) > 10_000:  # unknown ids from a flood must not grow it forever
                self._cache.clear()
            self._cache[key_id] = (now, opened)
        return opened
