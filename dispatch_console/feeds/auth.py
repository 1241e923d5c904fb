"""Request signatures of the feed contract.

``X-Dispatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``;
refused when the key is unknown or revoked, the signature is wrong, or ``t`` is more than
:data:`SKEW_S` seconds from the gateway's clock.

A browser cannot keep a shared secret it never reveals, so a device enrolled from the
responder web page holds an ECDSA P-256 key pair made inside the browser (WebCrypto, not
extractable) and registers only its public key: its "secret" is ``ecdsa-p256:<base64 SPKI>``,
and it signs ``t=<t>,e1=<hex r||s of ECDSA-P256-SHA256 over "<t>.<raw body>">`` (WebCrypto's
signature format: 64 bytes, r then s).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

SKEW_S = 300
_SECONDS = re.compile(r"[0-9]{1,12}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX128 = re.compile(r"[0-9a-fA-F]{128}")
#: The sealed "secret" of a device key that is an ECDSA P-256 public key.
ECDSA_PREFIX = b"ecdsa-p256:"


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


def ecdsa_public_key(spki_b64: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a base64 SubjectPublicKeyInfo (WebCrypto's ``spki`` export);
    :class:`AuthError` for anything else."""
    try:
        key = load_der_public_key(base64.b64decode(spki_b64, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise AuthError("not a public key (base64 SPKI)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise AuthError("not an ECDSA P-256 public key")
    return key


def _verify_ecdsa(secret: bytes, header: str | None, body: bytes, now_s: float) -> None:
    if not header:
        raise AuthError("missing X-Dispatch-Signature")
    parts = dict(item.strip().partition("=")[::2] for item in header.split(","))
    t_text, raw = parts.get("t", ""), parts.get("e1", "")
    if not _SECONDS.fullmatch(t_text):
        raise AuthError("signature without a valid t=")
    if not _HEX128.fullmatch(raw):
        raise AuthError("signature without a valid e1=")
    t = int(t_text)
    if abs(now_s - t) > SKEW_S:
        raise AuthError(f"signature time {t} is {now_s - t:+.0f} s from the gateway clock")
    key = ecdsa_public_key(secret[len(ECDSA_PREFIX) :].decode("ascii", "replace"))
    r, s = int(raw[:64], 16), int(raw[64:], 16)
    try:
        key.verify(encode_dss_signature(r, s), f"{t}.".encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AuthError("bad signature") from None


def verify(secret: bytes, header: str | None, body: bytes, now_s: float) -> None:
    if secret.startswith(ECDSA_PREFIX):
        _verify_ecdsa(secret, header, body, now_s)
        return
    t, mac = parse_signature(header)
    if abs(now_s - t) > SKEW_S:
        raise AuthError(f"signature time {t} is {now_s - t:+.0f} s from the gateway clock")
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise AuthError("bad signature")
