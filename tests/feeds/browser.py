"""A real Chromium (Debian's ``chromium`` and ``chromium-driver``) on a phone viewport, driven
by selenium through /usr/bin/chromedriver (never Selenium Manager), with its network requests
logged so a test can check the page asked no other host."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CERTUTIL = "/usr/bin/certutil"
PHONE = {"width": 360, "height": 800, "pixelRatio": 2.0}
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0 Mobile Safari/537.36"
)


def require_chromium() -> None:
    """Skip (with the reason) where Chromium is not installed; fail in CI, which installs it
    (the Makefile's DEBS)."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    reason = "Debian's chromium and chromium-driver are not installed (make system-deps)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def trusting_home(ca_pem: str) -> str:
    """A home folder whose NSS database (``.pki/nssdb``, where Chromium on Linux keeps the
    authorities a user installed) trusts ``ca_pem`` to identify web servers: what a phone has
    after installing the centre's authority. Needs NSS's certutil (libnss3-tools)."""
    import subprocess

    if not os.path.exists(CERTUTIL):
        reason = "NSS's certutil is not installed (libnss3-tools; make system-deps)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    home = tempfile.mkdtemp(prefix="responder-home-")
    nss = os.path.join(home, ".pki", "nssdb")
    os.makedirs(nss)
    for command in (
        ["-N", "--empty-password"],
        ["-A", "-n", "dispatch-console authority", "-t", "C,,", "-i", ca_pem],
    ):
        subprocess.run([CERTUTIL, "-d", f"sql:{nss}", *command], check=True, capture_output=True)
    return home


@dataclass
class Phone:
    driver: Any
    profile_dir: str
    seen_hosts: set[str] = field(default_factory=set)
    home: str | None = None

    def requested_hosts(self) -> set[str]:
        """Hosts of every request the page made so far (from Chromium's performance log)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                # data: and blob: stay in the page; chrome:// is the browser's own (its error
                # page resources), never the network
                if not url.startswith(("data:", "blob:", "about:", "chrome:")):
                    self.seen_hosts.add(urlsplit(url).hostname or url)
        return self.seen_hosts

    def locate(self, lat: float, lon: float, accuracy: float = 8.0) -> None:
        self.driver.execute_cdp_cmd(
            "Emulation.setGeolocationOverride",
            {"latitude": lat, "longitude": lon, "accuracy": accuracy},
        )

    def offline(self, cut: bool) -> None:
        self.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": cut, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )

    def wait(
        self,
        condition: Callable[[], Any],
        timeout_s: float = 15.0,
        what: str | Callable[[], str] = "",
    ) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = condition()
            except Exception:  # an element not there yet, a page still loading
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                said = what() if callable(what) else what
                raise AssertionError(f"timed out waiting for {said or condition}")
            time.sleep(0.05)

    def text(self, element_id: str) -> str:
        return str(self.driver.find_element("id", element_id).text)

    def visible(self, element_id: str) -> bool:
        return bool(self.driver.find_element("id", element_id).is_displayed())

    def click(self, element_id: str) -> None:
        self.tap(self.driver.find_element("id", element_id))

    def tap(self, element: Any) -> None:
        """A click as a thumb does it: the element scrolled to the middle of the screen first
        (the fixed status bar at the bottom must not be what is hit)."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def use(self, origin: str) -> None:
        """Reuse this browser for another gateway (each test's own origin, so its own storage
        and key): geolocation allowed there, network on, the hosts seen so far forgotten."""
        self.driver.get("about:blank")
        self.offline(False)
        self.driver.execute_cdp_cmd(
            "Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]}
        )
        self.requested_hosts()
        self.seen_hosts.clear()

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile_dir, ignore_errors=True)
            if self.home is not None:
                shutil.rmtree(self.home, ignore_errors=True)


def open_phone(
    origin: str | None, extra_args: tuple[str, ...] = (), home: str | None = None
) -> Phone:
    """A fresh Chromium (its own profile folder) that may use geolocation on ``origin`` (None:
    on none yet, see :meth:`Phone.use`); ``extra_args``: more command-line switches (a host
    resolver rule); ``home``: its home folder (its trust store, see :func:`trusting_home`;
    removed when the phone quits)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile_dir = tempfile.mkdtemp(prefix="responder-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile_dir}",
        *extra_args,
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": PHONE, "userAgent": PHONE_UA}
    )
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    env = None if home is None else {**os.environ, "HOME": home}
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, env=env))
    driver.execute_cdp_cmd("Network.enable", {})
    phone = Phone(driver, profile_dir, home=home)
    if origin is not None:
        phone.use(origin)
    return phone
