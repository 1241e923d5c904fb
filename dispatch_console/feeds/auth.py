"""HMAC request signatures of the feed contract.

``X-Dispatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``;
refused when the key is unknown or revoked, the signature is wrong, or ``t`` is more than
:data:`SKEW_S` seconds from the gateway's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SKEW_S = 300
_SECONDS = re.compile(r"[0-9]{1,12}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class AuthError(Exception):
    """Why a signature was refused (logged and kept in the rejection log; the sender only
    learns that it was refused)."""


def sign(secret: bytes, t: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def parse_signature(header: str | None) -> tuple[int, str]:
    if not header:
        raise AuthError("missing X-Dispatch-Signature")
    parts: dict[str, str] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts[name] = value
    t_text, mac = parts.get("t", ""), parts.get("v1", "")
    if not _SECONDS.fullmatch(t_text):  # ASCII digits only ("²".isdigit() is True)
        raise AuthError("signature without a valid t=")
    if not _HEX64.fullmatch(mac):
        raise AuthError("signature without a valid v1=")
    return int(t_text), mac.lower()


def verify(secret: bytes, header: str | None, body: bytes, now_s: float) -> None:
    t, mac = parse_signature(header)
    if abs(now_s - t) > SKEW_S:
        raise AuthError(f"signature time {t} is {now_s - t:+.0f} s from the gateway clock")
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise AuthError("bad signature")
