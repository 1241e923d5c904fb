"""Live sync over PostgreSQL (issue 9): event propagation from the gateway to the consoles.

A gateway process (``dispatch-console gateway``) and three console processes (the real console,
offscreen: ``tests/deploy/console_process.py``) share a fresh PostgreSQL database. A school's
activation opens an incident; then its 40 alerted devices report their positions, 200 reports a
second for 30 s: as TAK devices over CoT UDP (the default: the gateway stores what arrives
together in one commit, a NOTIFY each), or as phone apps over signed HTTP (``--via http``,
``--per-request`` reports in each request: each request is a commit and a NOTIFY). Each console
reports when its window got each event.

Prints the latency from stored (the event's ``received_at_us``) to shown in a console's window,
p50, p99 and max, over every event of the load and every console (target: within 1 s); the
events stored a second; and per console, events shown against events stored (none missing, none
twice). The gateway, the consoles, the sender and PostgreSQL share this machine's cores: the
figures are the machine's as much as the code's.

Run: ``.venv/bin/python benchmarks/bench_propagation.py [--server URL] [--rate 200]
[--seconds 30] [--consoles 3] [--via cot|http] [--per-request 1]``. ``--server`` (default
``$DISPATCH_TEST_PG_URL`` or ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) is where a
database ``dc_bench_<random>`` is created, and dropped at the end; with no server there, it says
so and exits. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import iso
from dispatch_console.feeds.auth import sign
from dispatch_console.store import Store
from dispatch_console.store.urls import redact

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the console processes' driver lives with the tests
from bench_gateway import setup  # noqa: E402  (beside this script)

from tests.deploy.consoles import ConsoleProcess  # noqa: E402
from tests.ports import free_port  # noqa: E402

SERVER = os.environ.get("DISPATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHOOL = (-84.54, 38.225)
USERS = [
    ("Lt. J. Hayes", "incident commander"),
    ("A. Moreno", "dispatcher"),
    ("Sgt. K. Lin", "dispatcher"),
    ("Chief W. Park", "observer"),
]
Key = tuple[str, str]


# --- the database, the gateway ---------------------------------------------------------------


class Unreachable(Exception):
    """No PostgreSQL server to run on."""


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new database on ``server``, migrated; dropped (whoever is connected) at the end."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"dc_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        raise Unreachable(f"{redact(server)}: {str(exc).splitlines()[0]}") from exc
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        Store(url).close()  # the schema
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def tak_uid(i: int) -> str:
    return f"ANDROID-{i:015d}"


def device_home(i: int) -> tuple[float, float]:
    """1.5 km or more (half a km further each 20 devices) around the school: within its
    notification radius, outside its perimeters."""
    ring, step = divmod(i, 20)
    angle = step * 2 * math.pi / 20
    km = 1.5 + 0.5 * ring
    return SCHOOL[0] + km / 87.5 * math.cos(angle), SCHOOL[1] + km / 111.0 * math.sin(angle)


@contextmanager
def gateway_process(url: str, folder: Path) -> Iterator[dict[str, int]]:
    """``dispatch-console gateway`` as deployed, in a process of its own: its ports."""
    port, udp = free_port(), free_port(socket.SOCK_DGRAM)
    env = {
        **os.environ,
        "DISPATCH_CONSOLE_MASTER_KEY_FILE": str(folder / "master.key"),
        # Anything it keeps beside the database (a journal, say) goes in the temporary folder.
        "XDG_STATE_HOME": str(folder / "state"),
        "XDG_DATA_HOME": str(folder / "data"),
    }
    log = (folder / "gateway.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "dispatch_console.cli", "gateway", "--db", url,
         "--http-port", str(port), "--udp-port", str(udp),
         "--tcp-port", str(free_port()), "--cot-plaintext", "--no-cot-tls"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/v1/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start: {(folder / 'gateway.log').read_text()}")
            time.sleep(0.1)
        yield {"http": port, "udp": udp, "pid": child.pid}
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
        log.close()


class Client:
    """Signed HTTP requests on one kept-alive connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict[str, object], key: Key) -> tuple[int, dict]:
        raw = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Dispatch-Key-Id": key[0],
            "X-Dispatch-Signature": sign(key[1].encode(), int(time.time()), raw),
        }
        for attempt in range(2):
            try:
                self.connection.request("POST", path, raw, headers)
                response = self.connection.getresponse()
                return response.status, json.loads(response.read() or b"{}")
            except (http.client.HTTPException, OSError):
                self.connection.close()  # the server closed a kept-alive connection: again
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


# --- the load ---------------------------------------------------------------------------------


def pli(uid: str, lon: float, lat: float) -> bytes:
    """A TAK position report (PLI) as ATAK sends it over UDP, timed now."""
    now_us = time.time_ns() // 1000
    t, stale = iso(now_us), iso(now_us + 30_000_000)
    return (
        f"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><event version='2.0' "
        f"uid='{uid}' type='a-f-G-U-C' time='{t}' start='{t}' stale='{stale}' how='m-g'>"
        f"<point lat='{lat:.7f}' lon='{lon:.7f}' hae='250.0' ce='8.0' le='9999999.0'/>"
        f"<detail><contact callsign='UNIT-{uid[-3:]}' endpoint='*:-1:stcp'/>"
        f"<track speed='1.2' course='90.0'/></detail></event>"
    ).encode()


class Load:
    """``rate`` position reports a second for ``seconds``, from the registered devices in turn
    (each device's reports in order): TAK reports over CoT UDP, or app reports over signed
    HTTP (``per_request`` in each request, from ``senders`` threads)."""

    senders = 4

    def __init__(self, ports: dict[str, int], keys: dict[str, Key], args: argparse.Namespace):
        self.ports, self.keys = ports, keys
        self.devices, self.rate, self.seconds = args.devices, args.rate, args.seconds
        self.via, self.per_request = args.via, args.per_request
        self.total = int(self.rate * self.seconds)
        self.answered = 0
        self.refused: dict[str, int] = {}
        self.round_trips_ms: list[float] = []
        self._lock = threading.Lock()

    def position(self, n: int) -> tuple[int, float, float]:
        """Report ``n``: its device, and where the device is (walking north from home)."""
        i = n % self.devices
        lon, lat = device_home(i)
        return i, lon, lat + (n // self.devices) * 2e-6

    def run(self) -> float:
        """Send everything; return the seconds it took."""
        started = time.perf_counter() + 0.1
        if self.via == "cot":
            self._send_cot(started)
        else:
            threads = [
                threading.Thread(target=self._send_http, args=(k, started))
                for k in range(self.senders)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return time.perf_counter() - started

    def _pace(self, started: float, n: int) -> None:
        ahead = started + n / self.rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)

    def _send_cot(self, started: float) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for n in range(self.total):
                self._pace(started, n)
                i, lon, lat = self.position(n)
                sock.sendto(pli(tak_uid(i), lon, lat), ("127.0.0.1", self.ports["udp"]))

    def _send_http(self, k: int, started: float) -> None:
        client = Client(self.ports["http"])
        per = self.per_request
        # Request r carries reports r*per .. r*per+per-1 of one device, sent at the time of its
        # first: device i's requests all go from thread i % senders.
        requests = self.total // per
        for r in range(requests):
            i = r % self.devices
            if i % self.senders != k:
                continue
            self._pace(started, r * per)
            messages = []
            for m in range(per):
                _, lon, lat = self.position(r * per + m)
                at = iso(time.time_ns() // 1000 + m * 1000)  # 1 ms apart: distinct reports
                messages.append({"id": f"p-{r}-{m}", "kind": "position", "at": at,
                                 "lat": lat, "lon": lon, "accuracy_m": 6.0})  # fmt: skip
            path, key = f"/v1/devices/dev-{i}/messages", self.keys[f"dev-{i}"]
            sent = time.perf_counter()
            while True:
                status, answer = client.post(path, {"messages": messages}, key)
                if status != 429:
                    break
                self._count("429 (sent again)")
                time.sleep(0.05)
            took = (time.perf_counter() - sent) * 1000
            with self._lock:
                self.round_trips_ms.append(took)
            results = [r["result"] for r in answer["results"]] if status == 202 else []
            for result in results or [f"HTTP {status}"]:
                if result == "stored":
                    with self._lock:
                        self.answered += 1
                else:
                    self._count(result)

    def _count(self, what: str) -> None:
        with self._lock:
            self.refused[what] = self.refused.get(what, 0) + 1


# --- figures ---------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (
        f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, "
        f"max {max(values):.1f} ms ({len(values):,} samples)"
    )


def settled(url: str, before: int, positions: int) -> list[ev.Event]:
    """Everything stored after ``before``, once ``positions`` position reports are, or nothing
    more has been for 2 s (reports lost)."""
    progress, since = -1, time.monotonic()
    with Store(url) as store:
        while True:
            stored = list(store.read(all_incidents=True, after_seq=before))
            count = sum(e.type == ev.ResponderPosition.TYPE for e in stored)
            if count > progress:
                progress, since = count, time.monotonic()
            if count >= positions or time.monotonic() - since > 2.0:
                return stored
            time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=SERVER, help="PostgreSQL server (admin) URL")
    parser.add_argument("--rate", type=int, default=200, help="position reports a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--consoles", type=int, default=3)
    parser.add_argument("--devices", type=int, default=40)
    parser.add_argument(
        "--via",
        choices=["cot", "http"],
        default="cot",
        help="TAK reports over CoT UDP (default), or app reports over signed HTTP",
    )
    parser.add_argument(
        "--per-request", type=int, default=1, help="position reports per HTTP request"
    )
    args = parser.parse_args()
    try:
        return run(args)
    except Unreachable as exc:
        print(f"PostgreSQL not reachable ({exc}): propagation benchmark skipped")
        return 0


def run(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dc-prop-")))
        url = stack.enter_context(fresh_database(args.server))
        _, keys = setup(url, folder, args.devices, home=device_home)
        ports = stack.enter_context(gateway_process(url, folder))
        consoles: list[ConsoleProcess] = []
        stack.callback(lambda: [c.stop() for c in consoles])
        started = time.perf_counter()
        for k in range(args.consoles):
            name, role = USERS[k % len(USERS)]
            consoles.append(ConsoleProcess(url, name, role, folder / f"console-{k}.log"))
        for console in consoles:
            console.wait_ready(timeout=120)
        print(
            f"{args.consoles} consoles loaded in {time.perf_counter() - started:.1f} s "
            f"({os.cpu_count()} cores on this machine)"
        )
        status, opened = Client(ports["http"]).post(
            "/v1/activations",
            {"id": "bench-1", "school_id": "lincoln-hs", "type": "active_shooter",
             "activated_at": iso(time.time_ns() // 1000)},
            keys["school"],
        )  # fmt: skip
        assert status == 202, opened
        with Store(url) as store:
            before = store.last_seq()
        for console in consoles:
            console.wait_seen({before}, timeout=60)
        print(f"incident {opened['incident_id']}: {opened['notified']} devices notified")
        time.sleep(2.0)  # the consoles have drawn the new incident

        with Store(url) as store:
            before = store.last_seq()
        load = Load(ports, keys, args)
        transport = (
            "CoT UDP" if args.via == "cot" else f"signed HTTP, {args.per_request} per request"
        )
        took = load.run()
        stored = settled(url, before, load.total)
        last = stored[-1].seq if stored else before
        for console in consoles:
            try:
                console.wait_seen({last}, timeout=60)
            except AssertionError as late:
                print(f"  {late}")

        span_s = (stored[-1].received_at_us - stored[0].received_at_us) / 1e6 if stored else 0
        positions = sum(e.type == ev.ResponderPosition.TYPE for e in stored)
        print(
            f"offered {load.total:,} position reports over {transport} in {took:.1f} s "
            f"({load.total / took:,.0f}/s)"
            + (
                f"; answered stored {load.answered:,}, other answers: {load.refused or 'none'}"
                if args.via == "http"
                else ""
            )
        )
        print(
            f"stored {len(stored):,} events ({positions:,} positions) in {span_s:.1f} s: "
            f"{len(stored) / span_s if span_s else 0:,.0f} events/s"
        )
        if args.via == "http":
            print(f"  HTTP round trip (request -> 202: stored): {summary(load.round_trips_ms)}")
        wanted = {e.seq: e.received_at_us for e in stored}
        every: list[float] = []
        for console in consoles:
            shown = {seq: console.seen_us[seq] for seq in wanted if seq in console.seen_us}
            lateness = [(shown[seq] - wanted[seq]) / 1000 for seq in shown]
            every.extend(lateness)
            twice = sum(n > 1 for n in console.times_seen.values())
            not_live = sum(r["kind"] == "health" and not r["live"] for r in console.records)
            print(
                f"  {console.user} ({console.role}): shown {len(shown):,} of {len(wanted):,} "
                f"stored, {len(wanted) - len(shown):,} missing, {twice} shown twice, "
                f"{not_live} not-live spells; stored -> shown {summary(lateness)}"
            )
        rate = len(stored) / span_s if span_s else 0
        print(
            f"event propagation gateway -> console window at {rate:,.0f} events/s stored, "
            f"{args.consoles} consoles: {summary(every)}   (target: within 1 s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
