"""Devices that prove who they are (issue 16): CoT over TLS with a client certificate per device,
issued by the console's own certificate authority (``devices enroll``), as TAK Server does.

pytak connects with exactly the ``.p12`` that ATAK would import and gets its alert; a device
without a certificate, with a revoked one, or with another device's, is refused and logged; a
stranger on plain CoT with an enrolled officer's uid is refused, and the officer keeps its
directives."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytak
import pytest

from dispatch_console import cli
from dispatch_console.feeds import server
from dispatch_console.feeds.cot.parse import parse_cot
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.feeds.gateway_fixture import TAK_UID, RunningGateway, start_gateway
from tests.feeds.test_contract import example
from tests.feeds.test_gateway_hardening import _pli, _rows, _wait
from tests.feeds.test_tak_interop import Collect

#: pytak sets ssl.OP_NO_TLSv1 itself (deprecated since Python 3.10): its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.OP_NO_SSL:DeprecationWarning")


@dataclass
class Enrolled:
    p12: Path
    password: str
    key_id: str
    output: str


def _tls_gateway(url: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> RunningGateway:
    monkeypatch.setenv("DISPATCH_CONSOLE_MASTER_KEY_FILE", str(folder / "master.key"))
    return start_gateway(url, folder, ca_dir=str(folder / "ca"), cot_tls_port=0)


@pytest.fixture
def tls_gateway(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningGateway]:
    running = _tls_gateway(store_url, tmp_path, monkeypatch)
    yield running
    running.stop()


@pytest.fixture
def sqlite_tls_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    """(The refusals do not depend on the database: SQLite only, to keep the suite fast.)"""
    running = _tls_gateway(f"sqlite:///{tmp_path / 'gw.sqlite3'}", tmp_path, monkeypatch)
    yield running
    running.stop()


def _enroll(
    gateway: RunningGateway, tmp_path: Path, device_id: str, capsys: pytest.CaptureFixture[str]
) -> Enrolled:
    folder = tmp_path / "enrolled"
    capsys.readouterr()
    code = cli.main(
        ["devices", "enroll", device_id, "--host", "127.0.0.1", "--port",
         str(gateway.ports["tls"]), "-o", str(folder), "--ca-dir", str(tmp_path / "ca"),
         "--db", gateway.store_url]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    password = out.split("(shown once): ")[1].split()[0]
    key_id = out.split("keys revoke ")[1].split()[0]
    return Enrolled(folder / f"{device_id}.p12", password, key_id, out)


async def _tls_session(
    port: int, ca: Path, device: Enrolled, send: list[bytes], expect: int
) -> list[bytes]:
    """A TAK client as pytak makes one, with the device's .p12 (as ATAK imports it)."""
    config = {
        "COT_URL": f"tls://127.0.0.1:{port}",
        "PYTAK_TLS_CLIENT_CERT": str(device.p12),
        "PYTAK_TLS_CLIENT_PASSWORD": device.password,
        "PYTAK_TLS_CLIENT_CAFILE": str(ca),
    }
    reader, writer = await pytak.protocol_factory(config)
    tx = pytak.TXWorker(asyncio.Queue(), config, writer)
    rx = Collect(asyncio.Queue(), config, reader)
    for data in send:
        await tx.send_data(data)
    deadline = time.monotonic() + 15
    while len(rx.received) < expect and time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(rx.readcot(), timeout=1.0)
        except TimeoutError:
            continue
        if data:
            rx.received.append(data)
    writer.close()
    with contextlib.suppress(Exception):  # (TLS closes with a handshake of its own)
        await asyncio.wait_for(writer.wait_closed(), 5)
    return rx.received


def _read_reference_now(gateway: RunningGateway) -> None:
    """An enrolment takes effect on plain CoT when the gateway next reads its devices (within
    10 s, REFERENCE_TTL_S): done now, on its writer thread, rather than waiting."""
    core = gateway.thread.gateway.core
    assert core is not None
    gateway.thread.gateway._writer.submit(core.remember_reference).result()


def _chen_lat(gateway: RunningGateway, incident_id: str) -> float | None:
    position = IncidentService(gateway.store).state(incident_id).responders["dev-chen"].position
    return position.lat if position is not None else None


def test_an_enrolled_device_connects_with_its_certificate_and_strangers_are_refused(
    tls_gateway: RunningGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = tls_gateway
    ca = tmp_path / "ca" / "ca.pem"
    chen = _enroll(gateway, tmp_path, "dev-chen", capsys)
    # What ATAK imports: the .p12 files, a data package with its manifest, a QR code.
    with zipfile.ZipFile(tmp_path / "enrolled" / "dev-chen-dp.zip") as package:
        names = set(package.namelist())
        pref = package.read("certs/config.pref").decode()
    assert {"MANIFEST/manifest.xml", "certs/dev-chen.p12", "certs/truststore.p12"} <= names
    assert f"127.0.0.1:{gateway.ports['tls']}:ssl" in pref
    assert (tmp_path / "enrolled" / "dev-chen-connection.png").read_bytes()[:4] == b"\x89PNG"
    assert oct(chen.p12.stat().st_mode & 0o777) == "0o600"

    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    incident_id = opened["incident_id"]
    _read_reference_now(gateway)

    # The stranger first, on plain CoT with Chen's uid: refused, nothing sent back, not moved.
    with socket.create_connection(("127.0.0.1", gateway.ports["tcp"])) as stranger:
        stranger.sendall(_pli(TAK_UID, "GPD-212", lat=38.2001, lon=-84.5001))
        stranger.settimeout(1.5)
        with pytest.raises(TimeoutError):
            assert stranger.recv(65536) == b"", "the stranger was sent something"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(_pli(TAK_UID, lat=38.2002, lon=-84.5002), ("127.0.0.1", gateway.ports["udp"]))
    _wait(lambda: sum(r.transport in ("tcp", "udp") for r in _rows(gateway, "enrolled")) >= 2)
    assert _chen_lat(gateway, incident_id) is None

    # Chen, over TLS with its certificate: gets its alert at once, and its position is stored.
    received = asyncio.run(
        _tls_session(gateway.ports["tls"], ca, chen, [_pli(TAK_UID, lat=38.2480)], expect=3)
    )
    kinds = {parse_cot(data).type for data in received}
    assert "b-t-f" in kinds, kinds
    chat = next(parse_cot(d) for d in received if parse_cot(d).type == "b-t-f")
    assert chat.remarks is not None and "Lincoln High School" in chat.remarks
    _wait(lambda: _chen_lat(gateway, incident_id) == pytest.approx(38.2480))
    state = IncidentService(gateway.store).state(incident_id)
    alert = next(d for d in state.directives.values() if d.device_id == "dev-chen")
    assert alert.delivered_via == "cot"


def test_no_certificate_another_devices_or_a_revoked_one_is_refused_and_logged(
    sqlite_tls_gateway: RunningGateway,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = sqlite_tls_gateway
    ca = tmp_path / "ca" / "ca.pem"
    gateway.store.add_device("dev-other", tak_uid="ANDROID-other", home=(-84.58, 38.248))
    _enroll(gateway, tmp_path, "dev-chen", capsys)
    other = _enroll(gateway, tmp_path, "dev-other", capsys)
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    incident_id = opened["incident_id"]
    port = gateway.ports["tls"]

    async def without_certificate() -> bytes:
        context = ssl.create_default_context(cafile=str(ca))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        try:
            writer.write(_pli(TAK_UID))
            await writer.drain()
            return await asyncio.wait_for(reader.read(65536), 10)
        except (ssl.SSLError, ConnectionError):
            return b""
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 5)

    assert asyncio.run(without_certificate()) == b""
    _wait(lambda: _rows(gateway, "TLS handshake refused"))
    assert _rows(gateway, "TLS handshake refused")[0].sender.startswith("127.0.0.1:")

    # Another device's certificate cannot speak for Chen.
    received = asyncio.run(_tls_session(port, ca, other, [_pli(TAK_UID, lat=38.2470)], expect=0))
    assert not [d for d in received if b"Lincoln" in d]
    _wait(lambda: _rows(gateway, "the certificate of dev-other does not speak for uid"))
    assert _chen_lat(gateway, incident_id) is None

    # Revoked while connected (a lost device): its open connection is closed; and a new one is
    # refused at the handshake's end, before anything is heard.
    monkeypatch.setattr(server, "CERT_RECHECK_S", 0.2)

    async def revoked_while_connected() -> bytes:
        config = {
            "COT_URL": f"tls://127.0.0.1:{port}",
            "PYTAK_TLS_CLIENT_CERT": str(other.p12),
            "PYTAK_TLS_CLIENT_PASSWORD": other.password,
            "PYTAK_TLS_CLIENT_CAFILE": str(ca),
        }
        reader, writer = await pytak.protocol_factory(config)
        try:
            assert cli.main(["keys", "revoke", other.key_id, "--db", gateway.store_url]) == 0
            try:
                return await asyncio.wait_for(reader.read(65536), 10)
            except ConnectionError:
                return b""
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 5)

    assert asyncio.run(revoked_while_connected()) == b""
    _wait(lambda: _rows(gateway, "is revoked: connection closed"))
    asyncio.run(_tls_session(port, ca, other, [_pli("ANDROID-other")], expect=0))
    _wait(lambda: [r for r in _rows(gateway, "is revoked") if "closed" not in r.reason])


def test_enroll_refuses_a_device_without_a_tak_uid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "enroll.sqlite3")
    with Store(db) as store:
        store.add_device("dev-ruiz")
    code = cli.main(
        ["devices", "enroll", "dev-ruiz", "--host", "127.0.0.1", "-o", str(tmp_path / "x"),
         "--ca-dir", str(tmp_path / "ca"), "--db", db]
    )  # fmt: skip
    assert code == cli.EXIT_ERROR
    assert "has no TAK uid" in capsys.readouterr().err
