"""The console's own small certificate authority: CoT over TLS with a certificate per device.

As TAK Server does (port 8089), a TAK device proves who it is with a client certificate: the
gateway accepts a TLS connection only with a certificate this authority issued, still active
(not revoked, its device not removed), and hears on it only that device's TAK uid.

The authority lives in a folder beside the master key (``ca/``, or ``$DISPATCH_CONSOLE_CA_DIR``):
``ca.key`` (mode 0600; whoever holds it can make devices) and ``ca.pem``; ``gateway.key`` and
``gateway.pem`` are the gateway's own server certificate, issued by it. Keys are RSA 2048
(what ATAK and TAK Server use). Each device certificate is recorded in the store as a key of
kind ``certificate`` (key id ``ct_<serial>``, scope the device id): ``keys revoke`` revokes it,
and removing the device revokes it too.

``devices enroll DEVICE`` writes what ATAK imports: ``DEVICE.p12`` (its certificate and key,
with a one-time password), ``truststore.p12`` (this authority, to trust the gateway) and a data
package ``DEVICE-dp.zip`` (both, and a connection preference file) plus a QR code of the
connection (``host,port,ssl``: ATAK's quick-connect text).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import ssl
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DIR_ENV: Final = "DISPATCH_CONSOLE_CA_DIR"
#: The port TAK clients use for CoT over TLS (TAK Server's streaming port).
COT_TLS_PORT: Final = 8089
DEVICE_DAYS: Final = 365
CA_DAYS: Final = 3650
#: The longest a server certificate from a user-installed authority may be valid on iOS.
WEB_SERVER_DAYS: Final = 825
#: The key id of a device certificate's record: ``ct_`` and its serial number in hex.
CERT_KEY_PREFIX: Final = "ct_"


class CaError(Exception):
    """A certificate authority problem told in one line."""


def default_ca_dir() -> Path:
    configured = os.environ.get(CA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    from dispatch_console.feeds.keys import master_key_path

    return master_key_path().parent / "ca"


def cert_key_id(serial: int) -> str:
    return f"{CERT_KEY_PREFIX}{serial:x}"


@dataclass(frozen=True)
class Issued:
    device_id: str
    serial: int
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def key_id(self) -> str:
        return cert_key_id(self.serial)

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class Enrolment:
    """The files written for one device."""

    p12: Path
    truststore: Path
    data_package: Path
    qr_png: Path
    password: str
    connection: str


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_ca_dir()

    @property
    def ca_pem(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def exists(self) -> bool:
        return self.ca_pem.exists() and (self.folder / "ca.key").exists()

    def ensure(self) -> None:
        """Create the authority if there is none yet."""
        if self.exists:
            return
        key = _new_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "School Alert Dispatch Console"),
                x509.NameAttribute(NameOID.COMMON_NAME, "dispatch-console device CA"),
            ]
        )
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.folder / "ca.key", _pem_key(key))
        self.ca_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def _ca(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        if not self.exists:
            raise CaError(f"no certificate authority in {self.folder}")
        certificate = x509.load_pem_x509_certificate(self.ca_pem.read_bytes())
        key = serialization.load_pem_private_key((self.folder / "ca.key").read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CaError(f"{self.folder / 'ca.key'} is not an RSA key")
        return certificate, key

    def _issue(
        self, common_name: str, *, client: bool, hosts: tuple[str, ...] = (), days: int
    ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        ca_cert, ca_key = self._ca()
        key = _new_key()
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
        )
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    def issue_device(self, device_id: str, days: int = DEVICE_DAYS) -> Issued:
        certificate, key = self._issue(device_id, client=True, days=days)
        return Issued(device_id, certificate.serial_number, certificate, key)

    def issue_web_server(
        self, hosts: tuple[str, ...], folder: Path, days: int = WEB_SERVER_DAYS
    ) -> tuple[Path, Path]:
        """A server certificate for the gateway's HTTPS (``gateway --tls-cert/--tls-key``) under
        the names phones use (``hosts``: DNS names or addresses), issued by this authority:
        ``web-gateway.pem`` (the certificate, then this authority's) and ``web-gateway.key``
        (mode 0600) in ``folder``. A phone that installed ``ca.pem`` trusts it; at most 825
        days, as iOS requires of a certificate from a user-installed authority."""
        if not hosts:
            raise CaError("a web server certificate needs at least one name")
        if not 1 <= days <= WEB_SERVER_DAYS:
            raise CaError(f"a web server certificate is valid 1 to {WEB_SERVER_DAYS} days")
        self.ensure()
        certificate, key = self._issue(hosts[0], client=False, hosts=hosts, days=days)
        cert_path, key_path = folder / "web-gateway.pem", folder / "web-gateway.key"
        _write_private(key_path, _pem_key(key))
        chain = certificate.public_bytes(serialization.Encoding.PEM) + self.ca_pem.read_bytes()
        cert_path.write_bytes(chain)
        return cert_path, key_path

    def server_context(self, host: str) -> ssl.SSLContext:
        """The gateway's TLS context for CoT: its own certificate (issued for ``host``,
        localhost and 127.0.0.1; made on first use), and a client certificate from this
        authority required of every connection."""
        self.ensure()
        cert_path, key_path = self.folder / "gateway.pem", self.folder / "gateway.key"
        hosts = tuple(dict.fromkeys((host, "localhost", "127.0.0.1")))
        if not cert_path.exists() or not key_path.exists() or not _covers(cert_path, hosts):
            certificate, key = self._issue("dispatch-gateway", client=False, hosts=hosts, days=825)
            _write_private(key_path, _pem_key(key))
            cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        context.load_verify_locations(cafile=str(self.ca_pem))
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def enrol(self, issued: Issued, host: str, port: int, folder: Path) -> Enrolment:
        """Write what ATAK imports for ``issued`` into ``folder`` (see the module's doc)."""
        import segno

        ca_cert, _ = self._ca()
        folder.mkdir(parents=True, exist_ok=True)
        device = issued.device_id
        password = secrets.token_urlsafe(12)
        client_p12 = pkcs12.serialize_key_and_certificates(
            device.encode(), issued.key, issued.certificate, [ca_cert], _p12_encryption(password)
        )
        trust_p12 = pkcs12.serialize_key_and_certificates(
            b"dispatch-console-ca", None, None, [ca_cert], _p12_encryption(password)
        )
        p12_path = folder / f"{device}.p12"
        trust_path = folder / "truststore.p12"
        _write_private(p12_path, client_p12)
        _write_private(trust_path, trust_p12)
        connection = f"{host}:{port}:ssl"
        pref = _pref(escape(device), escape(connection), escape(password))
        manifest = _manifest(escape(device))
        package = folder / f"{device}-dp.zip"
        fd = os.open(package, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            archive.writestr("MANIFEST/manifest.xml", manifest)
            archive.writestr("certs/config.pref", pref)
            archive.writestr(f"certs/{device}.p12", client_p12)
            archive.writestr("certs/truststore.p12", trust_p12)
        quick_connect = f"dispatch-console,{host},{port},ssl"
        qr_path = folder / f"{device}-connection.png"
        segno.make(quick_connect, error="m").save(str(qr_path), scale=8)
        return Enrolment(p12_path, trust_path, package, qr_path, password, quick_connect)


def _covers(cert_path: Path, hosts: tuple[str, ...]) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    present = {str(v) for v in names.get_values_for_type(x509.IPAddress)}
    present |= set(names.get_values_for_type(x509.DNSName))
    if certificate.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=30):
        return False
    return all(h in present for h in hosts)


def _p12_encryption(password: str) -> serialization.KeySerializationEncryption:
    """The PKCS#12 encryption Android's keystore (and so ATAK) reads: PBES1 3DES, SHA-1 MAC."""
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50000)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(password.encode())
    )


def _pref(device: str, connection: str, password: str) -> str:
    return f"""<?xml version='1.0' standalone='yes'?>
<preferences>
  <preference version="1" name="cot_streams">
    <entry key="count" class="class java.lang.Integer">1</entry>
    <entry key="description0" class="class java.lang.String">dispatch-console</entry>
    <entry key="enabled0" class="class java.lang.Boolean">true</entry>
    <entry key="connectString0" class="class java.lang.String">{connection}</entry>
  </preference>
  <preference version="1" name="com.atakmap.app_preferences">
    <entry key="displayServerConnectionWidget" class="class java.lang.Boolean">true</entry>
    <entry key="caLocation" class="class java.lang.String">cert/truststore.p12</entry>
    <entry key="caPassword" class="class java.lang.String">{password}</entry>
    <entry key="certificateLocation" class="class java.lang.String">cert/{device}.p12</entry>
    <entry key="clientPassword" class="class java.lang.String">{password}</entry>
  </preference>
</preferences>
"""


def _manifest(device: str) -> str:
    uid = secrets.token_hex(16)
    return f"""<MissionPackageManifest version="2">
  <Configuration>
    <Parameter name="uid" value="{uid}"/>
    <Parameter name="name" value="dispatch-console {device}"/>
    <Parameter name="onReceiveDelete" value="true"/>
  </Configuration>
  <Contents>
    <Content ignore="false" zipEntry="certs/config.pref"/>
    <Content ignore="false" zipEntry="certs/{device}.p12"/>
    <Content ignore="false" zipEntry="certs/truststore.p12"/>
  </Contents>
</MissionPackageManifest>
"""


def peer_serial(der: bytes) -> tuple[int, str]:
    """The serial number and common name of a peer's certificate (DER)."""
    certificate = x509.load_der_x509_certificate(der)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    return certificate.serial_number, common_name


__all__ = [
    "CA_DIR_ENV",
    "COT_TLS_PORT",
    "WEB_SERVER_DAYS",
    "CaError",
    "CertificateAuthority",
    "Enrolment",
    "Issued",
    "cert_key_id",
    "default_ca_dir",
    "peer_serial",
]
