"""Which CoT position reports are admitted, before they reach the position pipeline.

CoT carries no credentials: a report says which uid it is, and anyone can say any uid. So:

* a uid is an identifier: at most :data:`~dispatch_console.domain.text.MAX_ID_CHARS`
  characters, no spaces, control or bidi characters; a callsign at most
  :data:`~dispatch_console.domain.text.MAX_SHORT_CHARS` (longer: refused and logged, so a
  50,000-character uid never becomes a responder); a callsign's control and bidi characters are
  made visible (:func:`~dispatch_console.domain.text.neutralise`);
* on a TLS connection whose client certificate proves a device (``proven``), only that
  device's TAK uid is accepted: another device's certificate cannot speak for it;
* on plain CoT (UDP, the plain TCP stream), the uid of a device enrolled with a certificate
  is refused: a stranger who knows a registered officer's uid can neither move that officer
  nor take over its connection and directives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol, TypeVar

from dispatch_console.domain.text import has_unsafe, identifier_problem, neutralise, text_problem
from dispatch_console.feeds.cot.parse import CotPosition
from dispatch_console.store.registry import ApiKey, Device

#: The kind of the ``api_keys`` row that records a device's client certificate (its key id is
#: ``ct_`` and the certificate's serial number; it signs nothing).
CERTIFICATE: Final = "certificate"

Reject = Callable[[str, str, str, "bytes | str"], None]
S = TypeVar("S")


def admitted(
    positions: Sequence[tuple[CotPosition, S]],
    transport: str,
    reject: Reject,
    *,
    enrolled: Mapping[str, str],
    proven: tuple[str, str | None] | None = None,
) -> list[tuple[CotPosition, S]]:
    """The reports that may go on; the others are refused through ``reject``.

    ``enrolled``: TAK uid -> device id of every device enrolled with a certificate;
    ``proven``: ``(device id, its TAK uid)`` proven by the connection's client certificate.
    """
    kept: list[tuple[CotPosition, S]] = []
    # A device reports many times in a batch under one uid and callsign: checked once each.
    problems: dict[tuple[str, str | None], str | None] = {}
    for cot, sender in positions:
        uid = cot.uid
        named = (uid, cot.callsign)
        try:
            problem = problems[named]
        except KeyError:
            problem = problems[named] = identifier_problem(uid, "uid") or text_problem(
                cot.callsign, "callsign"
            )
        if problem is not None:
            reject(transport, str(sender), problem, f"uid {uid[:80]}")
            continue
        if proven is not None:
            device_id, proven_uid = proven
            if uid != proven_uid:
                reject(
                    transport,
                    str(sender),
                    f"the certificate of {device_id} does not speak for uid {uid}",
                    f"uid {uid}",
                )
                continue
        else:
            owner = enrolled.get(uid)
            if owner is not None:
                reject(
                    transport,
                    str(sender),
                    f"uid {uid} is {owner}'s, enrolled with a certificate: only its TLS "
                    "connection may report for it",
                    f"uid {uid}",
                )
                continue
        if cot.callsign is not None and has_unsafe(cot.callsign):
            cot = cot._replace(callsign=neutralise(cot.callsign))
        kept.append((cot, sender))
    return kept


class _Certificates(Protocol):
    """What :func:`enrolled_uids` needs of the store."""

    def api_keys(self) -> list[ApiKey]: ...


def enrolled_uids(store: _Certificates, devices: Mapping[str, Device]) -> dict[str, str]:
    """TAK uid -> device id of every registered device with an active client certificate
    (kept as a key of kind ``certificate``, see :mod:`dispatch_console.feeds.ca`)."""
    certified = {k.scope for k in store.api_keys() if k.kind == CERTIFICATE and not k.revoked}
    return {
        d.tak_uid: d.device_id for d in devices.values() if d.tak_uid and d.device_id in certified
    }


class _CertificateRecords(Protocol):
    def key(self, key_id: str) -> ApiKey | None: ...

    def device(self, device_id: str) -> Device | None: ...


def certified_device(
    store: _CertificateRecords, serial: int, common_name: str
) -> tuple[str, str | None] | str:
    """``(device id, its TAK uid)`` that a client certificate of this authority proves; or
    why it proves nothing (unknown serial, revoked, its device removed, a name that does not
    match the record), read from the store now. The authority checked the signature already
    (the TLS handshake)."""
    from dispatch_console.feeds.ca import cert_key_id

    record = store.key(cert_key_id(serial))
    if record is None or record.kind != CERTIFICATE:
        return f"certificate {serial:x} ({common_name}) was never issued to a device here"
    if record.revoked:
        return f"certificate {serial:x} of {record.scope} is revoked"
    if record.scope != common_name:
        return f"certificate {serial:x} names {common_name!r}, issued to {record.scope}"
    device = store.device(record.scope)
    if device is None:
        return f"certificate {serial:x}: device {record.scope} is not registered"
    return device.device_id, device.tak_uid


__all__ = ["CERTIFICATE", "admitted", "certified_device", "enrolled_uids"]
