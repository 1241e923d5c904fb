"""The responder page as a phone opens it: at the gateway's LAN name, not 127.0.0.1.

Chromium treats http://127.0.0.1 as a secure context, so the page's other browser tests never
meet what a real phone meets at ``http://responders.county.test``: no WebCrypto, no Geolocation,
no service workers. Here Chromium resolves ``responders.county.test`` to 127.0.0.1 (a host
resolver rule: the origin, and so the secure-context decision, is the name) and

- over HTTPS, with a server certificate the console's own authority issued for that name,
  runs invite -> enrol (non-extractable key) -> alert -> respond -> position stored;
- over plain HTTP at the same name, the page cannot enrol and says so to the officer, and the
  link is not spent.

How Chromium trusts the certificate: as a phone does once it installed the centre's
authority. The authority's ``ca.pem`` is added, as a trust anchor for web servers, to the NSS
database of the test browser's own home folder (``.pki/nssdb``, where Chromium on Linux keeps
the authorities a user installed). Chromium then verifies the chain and the name itself:
neither ``--ignore-certificate-errors`` (a blanket ignore, which could not fail) nor an SPKI
pin (``--ignore-certificate-errors-spki-list``, which skips the name check) is used. So a
certificate for another name, or from an authority the phone never installed, is refused
(tested), as on the phone.

``devices invite`` is tested beside it: https:// when the gateway serves TLS, a non-loopback
http:// link refused (or printed with a loud warning under ``--insecure``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import io
import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from selenium.common.exceptions import InvalidArgumentException

from dispatch_console.cli import main
from dispatch_console.feeds.ca import CertificateAuthority
from dispatch_console.feeds.keys import SecretBox
from dispatch_console.feeds.server import GatewayThread, Listen
from dispatch_console.service import IncidentService
from tests.feeds.browser import Phone, open_phone, require_chromium, trusting_home
from tests.feeds.gateway_fixture import RunningGateway, start_gateway
from tests.feeds.test_contract import example

pytestmark = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
NAME = "responders.county.test"  # what phones use; never resolvable outside the test browser
OTHER = "other.county.test"  # also 127.0.0.1 in the test browser, but not in the certificate
HOME = (38.2355, -84.5611)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateAuthority, Path, Path]:
    """The centre's authority and the web server certificate it issued for NAME only."""
    folder = tmp_path_factory.mktemp("centre-ca")
    ca = CertificateAuthority(folder / "ca")
    cert, key = ca.issue_web_server((NAME,), folder)
    return ca, cert, key


@pytest.fixture(scope="module")
def browser(authority: tuple[CertificateAuthority, Path, Path]) -> Iterator[Phone]:
    require_chromium()
    ca, _, _ = authority
    home = trusting_home(str(ca.ca_pem))  # the centre's authority installed, nothing else
    rule = f"--host-resolver-rules=MAP {NAME} 127.0.0.1, MAP {OTHER} 127.0.0.1"
    opened = open_phone(None, (rule,), home=home)
    yield opened
    opened.quit()


@pytest.fixture
def tls_gateway(
    store_url: str, tmp_path: Path, authority: tuple[CertificateAuthority, Path, Path]
) -> Iterator[RunningGateway]:
    ca, cert, key = authority
    running = start_gateway(store_url, tmp_path, certfile=str(cert), keyfile=str(key))
    # The test's own requests go to 127.0.0.1, a name the certificate does not carry: the
    # chain is still verified against the authority (the name is checked in the test).
    trust = ssl.create_default_context(cafile=str(ca.ca_pem))
    trust.check_hostname = False
    running.tls = trust
    yield running
    # The HTTPS connections Chromium keeps open idle (keep-alive) are closed by the stopping
    # gateway, not left to the garbage collector (a TLS close waits for the peer's answer).
    _stop_with_no_socket_left_open(running)


def _stop_with_no_socket_left_open(running: RunningGateway | GatewayThread) -> None:
    """Stop the gateway; fail on a socket or transport left open, whether it is finalised as
    the gateway's loop ends or when the garbage collector runs after."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        running.stop()
        gc.collect()
    left = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not [m for m in left if "socket" in m or "transport" in m], left


def _invite(gateway: RunningGateway, url: str, *extra: str) -> tuple[int, str, str]:
    """``devices invite dev-ruiz --url URL``: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            ["devices", "invite", "dev-ruiz", "--db", gateway.store_url, "--url", url, *extra]
        )
    return code, out.getvalue(), err.getvalue()


def _link(stdout: str) -> str:
    lines = stdout.splitlines()
    assert lines[0].startswith("one-time enrolment link for dev-ruiz"), stdout
    return lines[1]


def _state(gateway: RunningGateway, incident_id: str):  # type: ignore[no-untyped-def]
    return IncidentService(gateway.store).state(incident_id)


def test_the_certificate_is_what_a_phone_with_the_centres_authority_accepts(
    tls_gateway: RunningGateway, authority: tuple[CertificateAuthority, Path, Path]
) -> None:
    ca, _, _ = authority
    port = tls_gateway.ports["http"]
    phone_trust = ssl.create_default_context(cafile=str(ca.ca_pem))  # name checked, chain too
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        phone_trust.wrap_socket(raw, server_hostname=NAME) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # Another name is refused: the certificate is for the name phones use, nothing more.
    with (
        pytest.raises(ssl.SSLCertVerificationError, match="mismatch"),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        phone_trust.wrap_socket(raw, server_hostname="other.county.test"),
    ):
        pass
    # And without the centre's authority installed, nothing trusts it.
    with (
        pytest.raises(ssl.SSLCertVerificationError, match=r"self-signed|unable to get local"),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ssl.create_default_context().wrap_socket(raw, server_hostname=NAME),
    ):
        pass


def test_enrol_alert_respond_over_https_at_the_gateways_name(
    tls_gateway: RunningGateway, browser: Phone
) -> None:
    port = tls_gateway.ports["http"]
    origin = f"https://{NAME}:{port}"
    browser.use(origin)
    browser.locate(*HOME)
    phone = browser
    try:
        code, stdout, _ = _invite(tls_gateway, origin)
        assert code == 0
        link = _link(stdout)
        assert link.startswith(f"{origin}/r/#invite=")
        phone.driver.get(link)
        phone.wait(lambda: phone.visible("screen-profile"), what="the profile form")
        secure = phone.js(
            "return [location.origin, window.isSecureContext, typeof crypto.subtle,"
            " 'geolocation' in navigator, 'serviceWorker' in navigator]"
        )
        assert secure == [origin, True, "object", True, True]
        # A service worker may be registered here: its script is fetched over this connection
        # (none exists, so 404; a certificate Chromium did not accept fails differently).
        registered = phone.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.serviceWorker.register('/r/no-such-worker.js')"
            ".then(() => done('registered'), e => done(e.message));"
        )
        assert "bad HTTP response code (404)" in registered, registered
        # The key made at enrolment is in the browser's key store and cannot be exported.
        stored = phone.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "keyGet().then(k => crypto.subtle.exportKey('pkcs8', k)"
            ".then(() => done(['exported', k.extractable]),"
            " e => done([e.name, k.extractable, k.type, k.algorithm.name])));"
        )
        assert stored == ["InvalidAccessError", False, "private", "ECDSA"]
        key_id = str(phone.js("return JSON.parse(localStorage.getItem('rsp.device')).key_id"))
        keys = {k.key_id: k for k in tls_gateway.store.api_keys()}
        assert keys[key_id].scope == "dev-ruiz" and keys[key_id].label == "web page"

        for element_id, value in {
            "p-name": "Det. M. Ruiz", "p-agency": "Georgetown PD", "p-badge": "4411",
            "p-top-color": "black",
        }.items():  # fmt: skip
            phone.driver.find_element("id", element_id).send_keys(value)
        phone.click("btn-profile")
        phone.wait(lambda: phone.visible("screen-home"), what="the home screen")
        phone.wait(lambda: phone.text("link") == "live", what="the stream over HTTPS")

        status, opened = tls_gateway.post("/v1/activations", example("activation"), "school")
        assert status == 202, opened
        incident_id = opened["incident_id"]
        phone.wait(lambda: phone.visible("alert"), what="the alert", timeout_s=5)
        assert phone.text("a-school") == "Lincoln High School"
        assert phone.text("a-instruction").startswith("Go to Staging A")

        phone.click("btn-responding")
        phone.wait(lambda: phone.visible("attire-confirm"), what="the attire question")
        phone.click("btn-attire-ok")
        phone.wait(lambda: phone.text("sharing") == "SHARING LOCATION", what="sharing")

        def stored_position() -> bool:
            ruiz = _state(tls_gateway, incident_id).responders["dev-ruiz"]
            return ruiz.position is not None and ruiz.status.value == "en_route"

        phone.wait(stored_position, what="en route with the phone's position stored")
        ruiz = _state(tls_gateway, incident_id).responders["dev-ruiz"]
        assert ruiz.position is not None
        assert abs(ruiz.position.lat - HOME[0]) < 1e-6
        assert abs(ruiz.position.lon - HOME[1]) < 1e-6
        assert phone.text("outbox") == "all delivered"
        assert phone.requested_hosts() == {NAME}  # only the gateway, by the name phones use
    finally:
        phone.driver.get("about:blank")  # the page's stream closed before its gateway stops


def test_plain_http_at_the_gateways_name_cannot_enrol_and_says_so(
    gateway: RunningGateway, browser: Phone
) -> None:
    port = gateway.ports["http"]
    origin = f"http://{NAME}:{port}"
    phone = browser
    phone.use(f"https://{NAME}:{port}")  # fresh: network on, hosts seen so far forgotten
    # Chromium itself will not let this origin have the phone's location.
    with pytest.raises(InvalidArgumentException, match="insecure context"):
        phone.driver.execute_cdp_cmd(
            "Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]}
        )
    try:
        code, stdout, stderr = _invite(gateway, origin)
        assert code != 0 and stdout == ""
        assert "refusing" in stderr and "https://" in stderr
        code, stdout, stderr = _invite(gateway, origin, "--insecure")
        assert code == 0 and "WARNING" in stderr
        link = _link(stdout)
        assert link.startswith(f"{origin}/r/#invite=")

        phone.driver.get(link)
        message = "This page must be opened over https:// — ask dispatch for the right link."
        phone.wait(
            lambda: phone.text("enrol-status") == message,
            what=lambda: f"the refusal (the page says {phone.text('enrol-status')!r})",
        )
        assert phone.visible("enrol-status") and phone.visible("screen-enrol")
        assert not phone.visible("screen-profile")
        assert "has not been used" in phone.text("insecure-why")
        assert phone.text("link") == "not connected: needs https://"
        assert origin in phone.text("insecure-why")
        # Why: this is not a secure context, so the key store does not exist here.
        assert phone.js("return [window.isSecureContext, typeof crypto.subtle]") == [
            False,
            "undefined",
        ]
        assert phone.js("return localStorage.getItem('rsp.device')") is None
        big = phone.js(
            "return parseFloat(getComputedStyle(document.getElementById('enrol-status')).fontSize)"
        )
        assert big >= 22  # read at arm's length, not a footnote
        assert phone.requested_hosts() == {NAME}
        # Nothing was spent: the same link enrols where the browser does give WebCrypto
        # (127.0.0.1, the secure context of the other tests).
        token = link.split("#invite=", 1)[1]
        phone.use(gateway.url)
        phone.driver.get(f"{gateway.url}/r/#invite={token}")
        phone.wait(lambda: phone.visible("screen-profile"), what="enrolled with the same link")
    finally:
        phone.driver.get("about:blank")


def test_invite_says_https_when_the_gateway_serves_tls(tls_gateway: RunningGateway) -> None:
    port = tls_gateway.ports["http"]
    # Asked for http:// at the gateway's own address, the link says https://.
    code, stdout, stderr = _invite(tls_gateway, f"http://127.0.0.1:{port}", "--no-qr")
    assert code == 0
    assert _link(stdout).startswith(f"https://127.0.0.1:{port}/r/#invite=")
    assert "serves HTTPS" in stderr
    # Given https:// (the name phones use), it is kept as given.
    code, stdout, _ = _invite(tls_gateway, f"https://{NAME}:{port}/", "--no-qr")
    assert code == 0 and _link(stdout).startswith(f"https://{NAME}:{port}/r/#invite=")
    # Given the page's own address (…/r/), the link does not repeat it.
    code, stdout, _ = _invite(tls_gateway, f"https://{NAME}:{port}/r/", "--no-qr")
    assert code == 0 and _link(stdout).startswith(f"https://{NAME}:{port}/r/#invite=")


def test_invite_refuses_a_plain_http_link_beyond_loopback(gateway: RunningGateway) -> None:
    port = gateway.ports["http"]
    before = len(gateway.store.rejections(50))
    # Loopback over plain HTTP: printed, with a note that a phone needs https.
    code, stdout, stderr = _invite(gateway, f"http://127.0.0.1:{port}", "--no-qr")
    assert code == 0 and _link(stdout).startswith(f"http://127.0.0.1:{port}/r/#invite=")
    assert "a phone needs --url https://" in stderr
    # Given https:// where the gateway answers plain HTTP: printed (the gateway may be about to
    # restart with TLS), with a warning that it will not open yet.
    code, stdout, stderr = _invite(gateway, f"https://127.0.0.1:{port}", "--no-qr")
    assert code == 0 and _link(stdout).startswith(f"https://127.0.0.1:{port}/r/#invite=")
    assert stderr.startswith("WARNING: ") and "answers plain HTTP" in stderr
    # The probe was an ordinary request: the plain gateway logged nothing malformed.
    assert len(gateway.store.rejections(50)) == before
    for url in (f"http://{NAME}:{port}", "http://gateway.invalid:8470"):
        code, stdout, stderr = _invite(gateway, url, "--no-qr")
        assert code != 0 and stdout == "", url
        assert "refusing" in stderr and "cannot enrol" in stderr, stderr
        code, stdout, stderr = _invite(gateway, url, "--no-qr", "--insecure")
        assert code == 0 and _link(stdout).startswith(url)
        assert stderr.startswith("WARNING: ") and "plain HTTP" in stderr
    for bad in ("ftp://gateway.county.test", "gateway.county.test:8470", "https://"):
        code, stdout, stderr = _invite(gateway, bad, "--no-qr")
        assert code != 0 and stdout == "" and "expected https://NAME:PORT" in stderr, bad


def test_devices_web_cert_makes_the_certificate_the_gateway_serves(
    store_url: str, tmp_path: Path
) -> None:
    ca_dir, out_dir = tmp_path / "ca", tmp_path / "web"
    args = ["devices", "web-cert", NAME, "10.20.0.5", "-o", str(out_dir), "--ca-dir", str(ca_dir)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([*args, "--db", store_url]) == 0
    cert, key = out_dir / "web-gateway.pem", out_dir / "web-gateway.key"
    assert key.stat().st_mode & 0o077 == 0  # the key is the owner's only
    said = printed.getvalue()
    assert f"--tls-cert {cert} --tls-key {key}" in said
    assert str(ca_dir / "ca.pem") in said
    leaf = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [NAME]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.20.0.5"]
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=826)
    # The gateway serves it, and a client trusting the console's authority accepts it by name.
    running = start_gateway(store_url, tmp_path, certfile=str(cert), keyfile=str(key))
    try:
        trust = ssl.create_default_context(cafile=str(ca_dir / "ca.pem"))
        with (
            socket.create_connection(("127.0.0.1", running.ports["http"]), timeout=10) as raw,
            trust.wrap_socket(raw, server_hostname=NAME) as tls,
        ):
            tls.sendall(f"GET /r/ HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n".encode())
            assert tls.recv(12) == b"HTTP/1.1 200"
    finally:
        running.stop()
    # Over 825 days (iOS's limit for a user-installed authority) or a bad name: refused.
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([*args, "--days", "900", "--db", store_url]) != 0
        assert main(["devices", "web-cert", "bad name", "--db", store_url]) != 0
    assert "825 days" in err.getvalue() and "spaces" in err.getvalue()


def test_the_browser_refuses_another_name_and_another_authority(
    tls_gateway: RunningGateway, store_url: str, tmp_path: Path, browser: Phone
) -> None:
    """The browser's trust is the installed authority, checked by Chromium: the gateway's
    certificate at a name it does not carry is refused, and so is a certificate for the right
    name from an authority the phone never installed."""
    port = tls_gateway.ports["http"]
    browser.use(f"https://{NAME}:{port}")

    def refused(url: str) -> str:
        browser.driver.get(url)
        browser.wait(lambda: browser.js("return document.readyState") == "complete")
        assert not browser.driver.find_elements("id", "screen-enrol"), url  # no page
        return str(browser.js("return document.body.innerText"))

    assert "ERR_CERT_COMMON_NAME_INVALID" in refused(f"https://{OTHER}:{port}/r/")
    stranger = CertificateAuthority(tmp_path / "stranger-ca")
    cert, key = stranger.issue_web_server((NAME,), tmp_path)
    listen = Listen("127.0.0.1", 0, 0, 0, str(cert), str(key), udp_worker=False)
    running = GatewayThread(store_url, listen, box=SecretBox(tmp_path / "master.key"))
    running.start_and_wait()
    try:
        shown = refused(f"https://{NAME}:{running.gateway.ports['http']}/r/")
        assert "ERR_CERT_AUTHORITY_INVALID" in shown
    finally:
        browser.driver.get("about:blank")
        _stop_with_no_socket_left_open(running)
