"""Load benchmark (issue 14): the gateway at a real incident's scale, on SQLite and PostgreSQL.

The gateway runs as deployed (``dispatch-console gateway``, a process of its own). N simulated
phones, each with its own device and key, all alerted by one activation, send from a load
generator in ANOTHER process (aiohttp client, kept-alive connections): first an
acknowledgement (responding), then one signed position every 5 s, and half-way an "on scene"
status, open loop (a phone sends on its schedule whether or not its last request was answered).
A 503 or 429 is backed off as its Retry-After says, and sent again (counted under ``resent``).
With PostgreSQL, one real console (offscreen, LISTEN/NOTIFY) is attached throughout.

The generator is cheap, so that it measures the gateway and not itself: every request is built
and signed before the run (a signature holds for 5 minutes), sent as raw bytes on kept-alive
connections (a phone opens another only while its last request is unanswered), and its latency
counts from when it was MEANT to be sent, so a late generator adds to the figures rather than
hiding load.

Printed per N: offered and answered requests a second, latency p50/p99/max, the answer codes,
how many were sent again, and the gateway process's CPU seconds per answered request; the
shares answered 2xx and 503 (with their p99); and, from the gateway's health stats, its own
answer times, group commit times and how late its event loop ran. With ``--overload X``, a last
step offers X times the load of the largest N (each phone sends every 5/X s): every request
should still be answered within 1 s (stored, or 503 with Retry-After). With
``--with-cot-and-activations``, an activation joins the incident every 0.5 s during the largest
N's step (phones only), and one more step at the largest N adds a burst of CoT reports over UDP
from another process (``--cot-rate`` a second for ``--cot-seconds``, default 30,000 for 6 s;
lossless? stored a second end to end and while the burst was steady, against the bare parse of
the same reports, and the CPU each process used while it was stored, in cores and per report)
with the same activations. An activation is timed to a store subscriber in this process (as a
console's feed: PostgreSQL LISTEN, SQLite looking every 5 ms), the issue's activation ->
subscriber target; also POST -> 202 (stored, published and the devices notified) and, on
PostgreSQL, until the console's window shows it. ``BENCH_PROFILE=FOLDER`` samples the gateway
with py-spy (installed by hand: ``.venv/bin/pip install py-spy``) through each measured window.

Run: ``.venv/bin/python benchmarks/bench_load.py [--db sqlite|postgresql|both] [--phones
100,400,1000,2000] [--seconds 20] [--overload 5] [--with-cot-and-activations [--cot-rate 30000]
[--cot-seconds 6]]``.
PostgreSQL: a fresh database on $DISPATCH_TEST_PG_URL (default the local test server), dropped
at the end. The machine is shared: say how loaded it was (``uptime``) with the figures. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SCHOOL = (-84.54, 38.225)
INTERVAL_S = 5.0


def phone_home(i: int) -> tuple[float, float]:
    """Spread from 1.5 to 4 km around the school (inside its radius, outside its perimeters)."""
    angle = (i * 2.399963) % (2 * math.pi)  # golden angle: evenly spread
    km = 1.5 + 2.5 * ((i * 0.618034) % 1.0)
    return SCHOOL[0] + km / 87.5 * math.cos(angle), SCHOOL[1] + km / 111.0 * math.sin(angle)


# --- the load generator (its own process) ------------------------------------------------------


def _iso(at_s: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_s)) + f".{int(at_s * 1000) % 1000:03d}Z"
    )


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection of the generator: a raw request written, the status
    and ``Retry-After`` of its answer read (no HTTP client library: at 5x load the generator
    must cost far less than the gateway it measures)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[tuple[int, str | None]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self.buffer[:head_end].decode("latin-1").split("\r\n")
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields.get("content-length", "0"))
        if len(self.buffer) < head_end + 4 + length:
            return
        self.buffer = self.buffer[head_end + 4 + length :]
        if fields.get("connection", "").lower() == "close":
            self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((int(head[0].split()[1]), fields.get("retry-after")))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def request(self, raw: bytes) -> tuple[int, str | None]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _messages(args: argparse.Namespace, n: int, device: str, first_at: float) -> list[bytes]:
    """Every message body phone ``n`` sends, in order: an acknowledgement, then a position
    every ``interval`` (a short random walk), and one "en route" status half-way."""
    lon, lat = phone_home(n)
    rng = random.Random(n)
    ticks = int((args.warmup + args.seconds) / args.interval) + 2
    bodies = []
    for tick in range(ticks):
        at = _iso(first_at + tick * args.interval)
        if tick == 0:
            message: dict[str, Any] = {
                "id": f"ack-{device}", "kind": "ack", "at": at, "incident_id": args.incident,
                "responding": True,
            }  # fmt: skip
        elif tick == int(args.seconds / args.interval / 2) + 1:
            message = {"id": f"scene-{device}", "kind": "status", "at": at,
                       "incident_id": args.incident, "status": "en_route"}  # fmt: skip
        else:
            lat += rng.uniform(-2e-5, 2e-5)
            lon += rng.uniform(-2e-5, 2e-5)
            message = {"id": f"p-{device}-{tick}", "kind": "position", "at": at,
                       "lat": round(lat, 6), "lon": round(lon, 6), "accuracy_m": 6.0}  # fmt: skip
        bodies.append(json.dumps({"messages": [message]}, separators=(",", ":")).encode())
    return bodies


async def _generate(args: argparse.Namespace) -> dict[str, Any]:
    import resource

    from dispatch_console.feeds.auth import sign

    keys: dict[str, list[str]] = json.loads(Path(args.keys).read_text())
    phones = [f"dev-{i}" for i in range(args.phones) if i % args.generators == args.part]
    interval = args.interval
    loop = asyncio.get_running_loop()
    # Every request is built and signed BEFORE the run (a signature holds for 5 minutes): the
    # timed part only writes bytes and reads answers.
    wall_zero = time.time()  # the messages' times and the signatures' (built ahead)
    plans: list[tuple[float, list[bytes]]] = []
    for device in phones:
        n = int(device[4:])
        offset = random.Random(n * 7919).uniform(0, interval)
        key_id, secret = keys[device]
        requests = []
        for body in _messages(args, n, device, wall_zero + offset):
            head = (
                f"POST /v1/devices/{device}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"X-Dispatch-Key-Id: {key_id}\r\n"
                f"X-Dispatch-Signature: {sign(secret.encode(), int(wall_zero), body)}\r\n\r\n"
            )
            requests.append(head.encode() + body)
        plans.append((offset, requests))
    zero = time.monotonic()  # when the first phone may send (the driver is told now)
    window = (zero + args.warmup, zero + args.warmup + args.seconds)
    end = window[1]
    latencies: list[float] = []
    refused_latencies: list[float] = []
    stored_latencies: list[float] = []
    codes: Counter[int] = Counter()
    counts = Counter[str]()
    tasks: set[asyncio.Task[None]] = set()

    async def send(idle: list[tuple[_Connection, float]], raw: bytes, meant: float) -> None:
        """One request, meant to go at ``meant`` (monotonic): its latency is counted from then,
        so a generator or a loop running late adds to it rather than hiding it."""
        measured = window[0] <= meant < window[1]
        if measured:
            counts["offered"] += 1
        first = meant
        for attempt in range(10):
            connection = None
            while idle and connection is None:
                # As HTTP clients do, a connection idle longer than the server keeps one
                # (10 s) is not reused.
                candidate, since = idle.pop()
                if candidate.closed or time.monotonic() - since > IDLE_REUSE_S:
                    if candidate.transport is not None:
                        candidate.transport.close()
                else:
                    connection = candidate
            try:
                if connection is None:
                    _, connection = await loop.create_connection(
                        _Connection, "127.0.0.1", args.port
                    )
                status, retry_after = await asyncio.wait_for(connection.request(raw), 60)
                if not connection.closed:
                    idle.append((connection, time.monotonic()))
            except (OSError, ConnectionError, TimeoutError):
                if connection is not None and connection.transport is not None:
                    connection.transport.close()
                status, retry_after = 599, "1"
            took = time.monotonic() - meant
            if measured:
                codes[status] += 1
                latencies.append(took)
                if status in (429, 503):
                    refused_latencies.append(took)
                elif 200 <= status < 300:
                    stored_latencies.append(took)
                    counts["answered"] += 1
                    if attempt:
                        counts["stored_after_resend"] += 1
            if status not in (429, 503, 599):
                if not 200 <= status < 300:
                    counts["failed"] += 1
                elif measured:
                    counts["end_to_end_ms_sum"] += int((time.monotonic() - first) * 1000)
                return
            if measured:
                counts["resent"] += 1
            wait = float(retry_after or 1) * (1 + attempt / 4) * random.uniform(0.5, 1.0)
            wait = min(wait, 5.0)
            meant = time.monotonic() + wait
            await asyncio.sleep(wait)
        counts["lost"] += 1

    async def phone(offset: float, requests: list[bytes]) -> None:
        idle: list[tuple[_Connection, float]] = []
        for tick, raw in enumerate(requests):
            meant = zero + offset + tick * interval
            if meant >= end:
                break
            await asyncio.sleep(max(0.0, meant - time.monotonic()))
            task = asyncio.create_task(send(idle, raw, meant))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    print(json.dumps({"kind": "started"}), flush=True)
    await asyncio.gather(*(phone(offset, requests) for offset, requests in plans))
    if tasks:
        await asyncio.wait(tasks, timeout=70)
    for task in list(tasks):  # still unanswered after 70 s: counted as lost
        counts["lost"] += 1
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "window_s": args.seconds,
        "counts": dict(counts),
        "codes": {str(k): v for k, v in sorted(codes.items())},
        "latencies": latencies,
        "refused_latencies": refused_latencies,
        "stored_latencies": stored_latencies,
    }


def generate_main(args: argparse.Namespace) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    result = asyncio.run(_generate(args))
    print(json.dumps({"kind": "result", **result}), flush=True)


# --- the driver ------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state, parent, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_of(fields: list[str]) -> float:
    """User and system CPU seconds in :func:`_proc_stat`'s fields."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of process ``pid``."""
    return _cpu_of(_proc_stat(pid))


class CpuSampler:
    """The CPU of every process on the machine, by who it is, sampled every ``every`` s in a
    thread: what each participant of a CoT burst costs, per stored report and in cores (the
    two cores are shared by all of them). A process's CPU after its last sample is not
    counted (at most ``every`` s of it)."""

    def __init__(self, gateway_pid: int, every: float = 0.2) -> None:
        self.gateway_pid = gateway_pid
        self.every = every
        self.samples: list[tuple[float, dict[int, float]]] = []
        self.roles: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _role(self, pid: int, parent: int, argv: list[str]) -> str:
        command = " ".join(argv)
        if pid == self.gateway_pid:
            return "gateway"
        if parent == self.gateway_pid:
            return "UDP worker"
        if pid == os.getpid():
            return "this driver"
        if argv and Path(argv[0].split(" ")[0]).name.startswith("postgres"):
            return "PostgreSQL"
        if "--send-udp" in command:
            return "CoT sender"
        if "console_process" in command:
            return "console"
        if "--generate" in command:
            return "phones' generators"
        return "other"

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            cpu: dict[int, float] = {}
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                pid = int(entry.name)
                try:
                    fields = _proc_stat(pid)
                    if pid not in self.roles:
                        argv = (
                            Path(f"/proc/{pid}/cmdline")
                            .read_bytes()
                            .decode(errors="replace")
                            .split("\0")
                        )
                        self.roles[pid] = self._role(pid, int(fields[1]), argv)
                except (OSError, IndexError, ValueError):
                    continue
                cpu[pid] = _cpu_of(fields)
            self.samples.append((now, cpu))
            self._stop.wait(self.every)

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds of each role from ``start`` to ``end`` (wall clock)."""
        used: dict[str, float] = {}
        window = [(t, cpu) for t, cpu in self.samples if start <= t <= end]
        for (_, before), (_, after) in itertools.pairwise(window):
            for pid, seconds in after.items():
                if pid in before:
                    role = self.roles.get(pid, "other")
                    used[role] = used.get(role, 0.0) + seconds - before[pid]
        return used


def _profile(pid: int, seconds: float, name: str) -> subprocess.Popen[bytes] | None:
    """With $BENCH_PROFILE set to a folder, py-spy (installed by hand, not a dependency)
    samples the gateway process through the measured window into ``FOLDER/NAME.txt``
    (collapsed stacks), for finding where its time goes."""
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return None
    out = Path(folder) / f"{name}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "--nonblocking",
         "-f", "raw", "-o", str(out), "--threads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


#: A kept-alive connection idle longer than this is not reused (the gateway closes them at 10 s).
IDLE_REUSE_S = 8.0
#: Load generator processes (each sends for its share of the phones).
GENERATORS = 2


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for part in parts:
        counts.update(part["counts"])
        codes.update(part["codes"])
    return {
        "counts": dict(counts),
        "codes": dict(sorted(codes.items())),
        "latencies": [t for part in parts for t in part["latencies"]],
        "refused_latencies": [t for part in parts for t in part["refused_latencies"]],
        "stored_latencies": [t for part in parts for t in part["stored_latencies"]],
        "generator_cpu_s": sum(part["cpu_s"] for part in parts),
    }


class Subscriber:
    """A store subscriber in a process of its own (this one), as a console's feed is: on
    PostgreSQL it LISTENs for the store's notifications and reads what is new on each; on SQLite
    (no notifications across processes) it looks every :data:`SUBSCRIBER_POLL_S`. It notes when
    it first saw each ``alert_received`` of ``key_id`` (activation -> subscriber latency)."""

    def __init__(self, url: str, key_id: str) -> None:
        self.url, self.key_id = url, key_id
        self.seen: dict[str, float] = {}  # alert id -> when first seen (time.time())
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="subscriber", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)

    def _run(self) -> None:
        from sqlalchemy import text

        from dispatch_console.store import Store

        listener = None
        with Store(self.url) as store, store._reader.connect() as conn:
            if not self.url.startswith("sqlite"):
                import psycopg
                from sqlalchemy.engine import make_url

                parsed = make_url(self.url)
                listener = psycopg.connect(
                    host=parsed.host, port=parsed.port, user=parsed.username,
                    password=parsed.password, dbname=parsed.database, autocommit=True,
                )  # fmt: skip
                listener.execute("LISTEN dispatch_events")
            last = conn.execute(text("SELECT coalesce(max(seq), 0) FROM events")).scalar_one()
            conn.commit()
            self._ready.set()
            prefix = f"{self.key_id}/"
            try:
                while not self._stopping.is_set():
                    if listener is None:
                        time.sleep(SUBSCRIBER_POLL_S)
                    elif not any(True for _ in listener.notifies(timeout=0.1, stop_after=1)):
                        continue
                    top = conn.execute(
                        text("SELECT coalesce(max(seq), 0) FROM events")
                    ).scalar_one()
                    if top > last:
                        rows = conn.execute(
                            text(
                                "SELECT idempotency_key FROM events WHERE seq > :a AND seq <= :b "
                                "AND type = 'alert_received'"
                            ),
                            {"a": last, "b": top},
                        ).all()
                        stamp = time.time()
                        for (key,) in rows:
                            if key and key.startswith(prefix):
                                self.seen.setdefault(key[len(prefix) :], stamp)
                        last = top
                    conn.commit()  # the next read sees what was committed since
            finally:
                if listener is not None:
                    listener.close()


#: How often the SQLite subscriber looks for new events (its figures are this coarse).
SUBSCRIBER_POLL_S = 0.005


_CEILING: list[float] = []


def parse_ceiling_quiet() -> float:
    """A hardened lxml parse of the burst's reports, messages a second: the best of three, on
    the machine before any gateway, phone or sender runs (measured beside the phones, it read
    as low as 99,000/s instead of ~190,000/s, and flattered the ratio). Measured once."""
    from bench_gateway import parse_ceiling, udp_messages

    if not _CEILING:
        sample = udp_messages(COT_DEVICES, 20_000)
        _CEILING.append(max(parse_ceiling(sample) for _ in range(3)))
    return _CEILING[0]


class Extras:
    """``--with-cot-and-activations``: while the phones send, a burst of CoT position reports
    over UDP (another process; :data:`COT_RATE` a second for :data:`COT_SECONDS`) and an
    activation joining the open incident every :data:`ACTIVATION_EVERY_S`."""

    def __init__(
        self,
        url: str,
        port: int,
        udp_port: int,
        key: tuple[str, str],
        *,
        cot: bool = True,
        cot_rate: int = 0,
        cot_seconds: float = 0.0,
    ) -> None:
        self.url, self.port, self.udp_port, self.key, self.cot = url, port, udp_port, key, cot
        self.cot_rate = cot_rate or COT_RATE
        self.cot_seconds = cot_seconds or COT_SECONDS
        # The bare parse of the same reports (the ratio's base), measured once at the start,
        # before any gateway or phone runs (see :func:`parse_ceiling_quiet`).
        self.ceiling = parse_ceiling_quiet() if cot else 0.0
        self.subscriber = Subscriber(url, key[0])
        self.activations: list[tuple[str, float, float]] = []  # (alert id, sent, answered)
        self.cot_first_send = 0.0
        self.cot_offered = 0
        self.cot_send_s = 0.0
        self._threads: list[threading.Thread] = []

    def start(self, measured_from: float) -> None:
        self._threads = [
            threading.Thread(target=self._activate, args=(measured_from,), daemon=True)
        ]
        if self.cot:
            self._threads.append(
                threading.Thread(target=self._cot, args=(measured_from + 3.0,), daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(120)
        time.sleep(1.0)  # the last activation reaches the subscriber
        self.subscriber.stop()
        if self.cot:
            self._drained()

    def _drained(self, quiet_s: float = 3.0, at_most_s: float = 120.0) -> None:
        """Wait until the gateway has stored what it received of the burst (nothing more stored
        for ``quiet_s``): the gateway stops after the step, and what it still held then would
        count as lost though it was only late (its rate is measured end to end)."""
        from sqlalchemy import text

        from dispatch_console.store import Store

        query = text(f"SELECT count(*) FROM events WHERE {COT_STORED}")
        last, since, started = -1, time.monotonic(), time.monotonic()
        with Store(self.url) as store:
            while time.monotonic() - started < at_most_s:
                with store._reader.connect() as conn:
                    count = int(conn.execute(query).scalar() or 0)
                if count >= self.cot_offered:
                    return
                if count != last:
                    last, since = count, time.monotonic()
                elif time.monotonic() - since >= quiet_s:
                    return
                time.sleep(0.5)

    def _cot(self, at: float) -> None:
        time.sleep(max(0.0, at - time.time()))
        sender = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("bench_gateway.py")), "--send-udp",
             str(self.udp_port), "--udp-rate", str(self.cot_rate), "--udp-seconds",
             str(self.cot_seconds), "--devices", str(COT_DEVICES)],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        first, took = sender.stdout.split()
        self.cot_first_send, self.cot_send_s = float(first), float(took)
        self.cot_offered = int(self.cot_rate * self.cot_seconds)

    def _activate(self, start: float) -> None:
        import http.client

        from dispatch_console.domain.timeutil import iso
        from dispatch_console.feeds.auth import sign

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        n = 0
        while time.time() < start + ACTIVATION_SECONDS:
            alert_id = f"join-{n}"
            body = json.dumps({"id": alert_id, "school_id": "lincoln-hs", "type": "lockdown",
                               "activated_at": iso(time.time_ns() // 1000)}).encode()  # fmt: skip
            headers = {
                "X-Dispatch-Key-Id": self.key[0],
                "X-Dispatch-Signature": sign(self.key[1].encode(), int(time.time()), body),
            }
            sent = time.time()
            connection.request("POST", "/v1/activations", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                self.activations.append((alert_id, sent, time.time()))
            n += 1
            time.sleep(max(0.0, sent + ACTIVATION_EVERY_S - time.time()))

    def figures(self, console: Any = None, sampler: CpuSampler | None = None) -> dict[str, Any]:
        """What the extras measured (after the run)."""
        from sqlalchemy import text

        from dispatch_console.store import Store

        with Store(self.url) as store, store._reader.connect() as conn:
            count, _, last = conn.execute(
                text(
                    "SELECT count(*), min(received_at_us), max(received_at_us) FROM events "
                    f"WHERE {COT_STORED}"
                )
            ).one()
            seqs = dict(
                conn.execute(
                    text(
                        "SELECT idempotency_key, seq FROM events WHERE type = 'alert_received' "
                        "AND idempotency_key LIKE :key"
                    ),
                    {"key": f"{self.key[0]}/join-%"},
                ).all()
            )
            # Stored while the burst was steady: from its first second (the pipeline filled)
            # to its end; what the pipeline still held at the end is left out.
            steady_from = self.cot_first_send + 1.0
            steady_to = self.cot_first_send + self.cot_seconds
            steady = conn.execute(
                text(
                    f"SELECT count(*) FROM events WHERE {COT_STORED} "
                    "AND received_at_us > :a AND received_at_us <= :b"
                ),
                {"a": int(steady_from * 1e6), "b": int(steady_to * 1e6)},
            ).scalar()
        stored = int(count or 0)
        steady_rate = int(steady or 0) / (steady_to - steady_from)
        span = (last / 1e6 - self.cot_first_send) if stored else float("nan")
        cpu = (
            sampler.between(self.cot_first_send, last / 1e6)
            if sampler is not None and stored
            else {}
        )
        rate = stored / span if stored and span > 0 else float("nan")
        answered = [(b - a) * 1000 for _, a, b in self.activations]
        heard = [
            (self.subscriber.seen[alert_id] - sent) * 1000
            for alert_id, sent, _ in self.activations
            if alert_id in self.subscriber.seen
        ]
        shown = []
        if console is not None:
            for alert_id, sent, _ in self.activations:
                seq = seqs.get(f"{self.key[0]}/{alert_id}")
                if seq is not None and seq in console.seen_us:
                    shown.append(console.seen_us[seq] / 1000 - sent * 1000)
        return {
            "cot": self.cot,
            "cot_offered": self.cot_offered,
            "cot_offered_rate": self.cot_offered / self.cot_send_s if self.cot_send_s else 0,
            "cot_stored": stored,
            "cot_rate": rate,
            "cot_ratio": rate / self.ceiling if self.ceiling else float("nan"),
            "cot_cpu_s": cpu,
            "cot_steady_rate": steady_rate,
            "cot_span_s": span,
            "ceiling": self.ceiling,
            "activations": len(self.activations),
            "activation_p50_ms": _percentile(answered, 50),
            "activation_p99_ms": _percentile(answered, 99),
            "activation_max_ms": max(answered, default=float("nan")),
            "heard": len(heard),
            "heard_p50_ms": _percentile(heard, 50),
            "heard_p99_ms": _percentile(heard, 99),
            "heard_max_ms": max(heard, default=float("nan")),
            "shown": len(shown),
            "shown_p99_ms": _percentile(shown, 99),
            "shown_max_ms": max(shown, default=float("nan")),
        }


#: CoT reports a second, for how long, from how many TAK uids (``--with-cot-and-activations``).
COT_RATE = 30_000
COT_SECONDS = 6.0
#: The events the CoT burst stored (a CoT report's idempotency key).
COT_STORED = "idempotency_key LIKE 'cot:%'"
COT_DEVICES = 200
#: An activation every this many seconds for this long (``--with-cot-and-activations``).
ACTIVATION_EVERY_S = 0.5
ACTIVATION_SECONDS = 15.0


def run_step(
    url: str,
    folder: Path,
    phones: int,
    seconds: float,
    interval: float,
    label: str,
    *,
    extras: str = "",
    console: Any = None,
    cot_rate: int = 0,
    cot_seconds: float = 0.0,
) -> dict[str, Any]:
    from bench_gateway import setup
    from bench_propagation import gateway_process

    from dispatch_console.domain.timeutil import iso
    from dispatch_console.feeds.auth import sign

    step = folder / f"{label}-{phones}"
    step.mkdir()
    _, keys = setup(url, step, phones, home=phone_home)
    (step / "keys.json").write_text(json.dumps(keys))
    with gateway_process(url, step) as ports:
        import http.client

        body = {
            "id": f"act-{label}-{phones}",
            "school_id": "lincoln-hs",
            "type": "active_shooter",
            "activated_at": iso(int(time.time()) * 1_000_000),
            "notified_device_ids": [f"dev-{i}" for i in range(phones)],
        }
        raw = json.dumps(body).encode()
        connection = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=120)
        key = keys["school"]
        signature = sign(key[1].encode(), int(time.time()), raw)
        headers = {"X-Dispatch-Key-Id": key[0], "X-Dispatch-Signature": signature}
        connection.request("POST", "/v1/activations", raw, headers)
        answer = json.loads(connection.getresponse().read())
        incident = answer["incident_id"]
        warmup = interval * 1.2
        generators = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--generate",
                    "--port",
                    str(ports["http"]),
                    "--keys",
                    str(step / "keys.json"),
                    "--phones",
                    str(phones),
                    "--incident",
                    incident,
                    "--seconds",
                    str(seconds),
                    "--warmup",
                    str(warmup),
                    "--interval",
                    str(interval),
                    "--connections",
                    str(phones),  # one connection per phone at most, as real phones
                    "--generators",
                    str(GENERATORS),
                    "--part",
                    str(part),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for part in range(GENERATORS)
        ]
        for generator in generators:
            assert generator.stdout is not None
            line = generator.stdout.readline()
            assert json.loads(line)["kind"] == "started", line
        time.sleep(warmup)
        cpu_before = _cpu_s(ports["pid"])
        profiler = _profile(ports["pid"], seconds, f"{label}-{phones}")
        more = (
            Extras(
                url,
                ports["http"],
                ports["udp"],
                key,
                cot=extras == "cot",
                cot_rate=cot_rate,
                cot_seconds=cot_seconds,
            )
            if extras
            else None
        )
        sampler = CpuSampler(ports["pid"]) if more is not None and more.cot else None
        if sampler is not None:
            sampler.start()
        if more is not None:
            more.start(time.time())
        time.sleep(seconds)
        if profiler is not None:
            profiler.wait(30)
        if more is not None:
            more.join()
        if sampler is not None:
            sampler.stop()
        cpu_after = _cpu_s(ports["pid"])
        connection = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=60)
        connection.request("GET", "/v1/health?stats")
        health = json.loads(connection.getresponse().read())
        inside = health["device_messages"]
        cot_udp = health.get("cot_udp", {})
        parts = []
        for generator in generators:
            assert generator.stdout is not None
            for line in generator.stdout:
                record = json.loads(line)
                if record["kind"] == "result":
                    parts.append(record)
            generator.wait(120)
    result = _merged(parts)
    extra = more.figures(console, sampler) if more is not None else None
    if extra is not None:
        extra["cot_udp"] = cot_udp
    counts = result["counts"]
    latencies = result["latencies"]
    answered = counts.get("answered", 0)
    return {
        "db": label,
        "phones": phones,
        "offered_rps": counts.get("offered", 0) / seconds,
        "answered_rps": answered / seconds,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "refused_max_ms": max(result["refused_latencies"], default=0.0) * 1000,
        "refused_p99_ms": _percentile(result["refused_latencies"], 99) * 1000,
        "stored_p99_ms": _percentile(result["stored_latencies"], 99) * 1000,
        "stored_max_ms": max(result["stored_latencies"], default=float("nan")) * 1000,
        "attempts": len(latencies),
        "attempts_2xx": len(result["stored_latencies"]),
        "attempts_refused": len(result["refused_latencies"]),
        "over_1s": sum(1 for t in latencies if t > 1.0),
        "stored_after_resend": counts.get("stored_after_resend", 0),
        "codes": result["codes"],
        "resent": counts.get("resent", 0),
        "lost": counts.get("lost", 0),
        "cpu_ms_per_request": (cpu_after - cpu_before) / max(answered, 1) * 1000,
        "gateway_cpu_share": (cpu_after - cpu_before) / seconds,
        "generator_cpu_s": result["generator_cpu_s"],
        "inside": inside,
        "extras": extra,
    }


def show_extras(extra: dict[str, Any]) -> None:
    lines = []
    if extra["cot"]:
        lines.append(
            f"    while they sent: CoT over UDP, {extra['cot_offered']:,} reports offered at "
            f"{extra['cot_offered_rate']:,.0f}/s: {extra['cot_stored']:,} stored "
            f"({extra['cot_offered'] - extra['cot_stored']:,} lost), {extra['cot_rate']:,.0f} "
            f"stored/s end to end, {extra['cot_ratio']:.2f} of the bare parse "
            f"({extra['ceiling']:,.0f}/s)   (targets: >= 20,000/s lossless, >= 0.3)"
            f"\n      received by the gateway {extra['cot_udp'].get('received', 0):,} (the rest "
            f"dropped before it), not stored by it {extra['cot_udp'].get('not_stored', 0):,}"
            f"\n      stored while the burst was steady (after its first second): "
            f"{extra['cot_steady_rate']:,.0f}/s, "
            f"{extra['cot_steady_rate'] / extra['ceiling']:.2f} of the bare parse"
        )
        cpu, span, stored = extra["cot_cpu_s"], extra["cot_span_s"], extra["cot_stored"]
        if cpu and span > 0:
            order = sorted(cpu.items(), key=lambda item: -item[1])
            lines.append(
                f"      CPU while the burst was stored ({span:.1f} s), in cores: "
                + ", ".join(f"{role} {seconds / span:.2f}" for role, seconds in order)
                + f"; {sum(cpu.values()) / span:.2f} of {os.cpu_count()} in all"
            )
            lines.append(
                "      per stored report: "
                + ", ".join(
                    f"{role} {seconds / stored * 1e6:.1f} us"
                    for role, seconds in order
                    if role not in ("phones' generators", "this driver", "other")
                )
                + " (the gateway's figure includes answering the phones meanwhile)"
            )
    during = "during the CoT burst" if extra["cot"] else "phones only, no CoT"
    lines.append(
        f"    activations joining the incident ({during}): {extra['activations']}; "
        f"activation -> a store subscriber in another process (PostgreSQL LISTEN; SQLite looks "
        f"every {SUBSCRIBER_POLL_S * 1000:.0f} ms): {extra['heard']} seen, p50 "
        f"{extra['heard_p50_ms']:.0f} ms, p99 {extra['heard_p99_ms']:.0f} ms, max "
        f"{extra['heard_max_ms']:.0f} ms   (target p99 <= 100 ms)"
    )
    lines.append(
        f"      POST -> 202 (stored, published, devices notified) p50 "
        f"{extra['activation_p50_ms']:.0f} ms, p99 {extra['activation_p99_ms']:.0f} ms, max "
        f"{extra['activation_max_ms']:.0f} ms"
        + (
            f"; shown in the console's window: {extra['shown']}, p99 {extra['shown_p99_ms']:.0f}"
            f" ms, max {extra['shown_max_ms']:.0f} ms"
            if extra["shown"]
            else ""
        )
    )
    print("\n".join(lines), flush=True)


def show(row: dict[str, Any]) -> None:
    print(
        f"{row['db']:<10} {row['phones']:>5} phones  offered {row['offered_rps']:6.1f}/s  "
        f"answered {row['answered_rps']:6.1f}/s  p50 {row['p50_ms']:7.1f} ms  "
        f"p99 {row['p99_ms']:7.1f} ms  max {row['max_ms']:7.1f} ms  codes {row['codes']}  "
        f"resent {row['resent']}  lost {row['lost']}  "
        f"gateway CPU {row['cpu_ms_per_request']:.2f} ms/request "
        f"({row['gateway_cpu_share']:.0%} of a core; generators {row['generator_cpu_s']:.0f} s)"
        f"\n    of {row['attempts']} requests sent (resends included): "
        f"{row['attempts_2xx'] / max(row['attempts'], 1):.0%} answered 2xx (p99 "
        f"{row['stored_p99_ms']:.0f} ms, max {row['stored_max_ms']:.0f} ms), "
        f"{row['attempts_refused'] / max(row['attempts'], 1):.0%} refused 503/429 (p99 "
        f"{row['refused_p99_ms']:.0f} ms, max {row['refused_max_ms']:.0f} ms); answered after "
        f"more than 1 s: {row['over_1s']}; stored after a resend: {row['stored_after_resend']}"
        f"\n    inside the gateway (read to answer, last 5,000): p50 "
        f"{row['inside']['recent_p50_ms']} ms, p99 {row['inside']['recent_p99_ms']} ms; "
        f"{row['inside']['grouped']} requests in {row['inside']['groups']} group commits "
        f"(each on the writer: p50 {row['inside'].get('group_p50_ms')} ms, p99 "
        f"{row['inside'].get('group_p99_ms')} ms, max {row['inside'].get('group_max_ms')} ms); "
        f"event loop late by p99 {row['inside'].get('loop_lag_p99_ms')} ms, max "
        f"{row['inside'].get('loop_lag_max_ms')} ms (last 30 s)",
        flush=True,
    )
    if row.get("extras"):
        show_extras(row["extras"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--phones", default="100,400,1000,2000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--overload", type=float, default=0.0, help="times the largest load")
    parser.add_argument("--no-console", action="store_true", help="PostgreSQL: no console")
    parser.add_argument(
        "--with-cot-and-activations",
        action="store_true",
        help="one more step at the largest N: a CoT burst and activations while phones send",
    )
    parser.add_argument(
        "--cot-rate",
        type=int,
        default=COT_RATE,
        help="CoT reports a second offered in that burst",
    )
    parser.add_argument(
        "--cot-seconds",
        type=float,
        default=COT_SECONDS,
        help="how long the CoT burst lasts (the steady rate leaves out its first second)",
    )
    # The load generator's own arguments (run by the driver in another process).
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    parser.add_argument("--incident", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=6.0, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--generators", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        args.phones = int(args.phones)
        generate_main(args)
        return
    phones = [int(n) for n in args.phones.split(",")]
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    if args.with_cot_and_activations:
        print(f"bare hardened parse of the CoT reports, before anything runs: "
              f"{parse_ceiling_quiet():,.0f}/s", flush=True)  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        if args.db in ("sqlite", "both"):
            for n in phones:
                url = f"sqlite:///{folder / f'sqlite-{n}.sqlite3'}"
                activations = args.with_cot_and_activations and n == max(phones)
                rows.append(run_step(url, folder, n, args.seconds, INTERVAL_S, "sqlite",
                                     extras="activations" if activations else ""))  # fmt: skip
                show(rows[-1])
            if args.with_cot_and_activations:
                n = max(phones)
                url = f"sqlite:///{folder / 'sqlite-cot.sqlite3'}"
                row = run_step(url, folder, n, args.seconds, INTERVAL_S, "sqlite+cot",
                               extras="cot", cot_rate=args.cot_rate,
                               cot_seconds=args.cot_seconds)  # fmt: skip
                show(row)
            if args.overload:
                n = max(phones)
                url = f"sqlite:///{folder / 'sqlite-overload.sqlite3'}"
                row = run_step(url, folder, n, args.seconds, INTERVAL_S / args.overload,
                               "sqlite-x" + f"{args.overload:g}")  # fmt: skip
                rows.append(row)
                show(row)
                print(f"  refusals answered within {row['refused_max_ms']:.0f} ms at most")
        if args.db in ("postgresql", "both"):
            from bench_propagation import SERVER, USERS, Unreachable, fresh_database

            from tests.deploy.consoles import ConsoleProcess

            steps = [(n, INTERVAL_S, "postgresql") for n in phones]
            if args.with_cot_and_activations:
                steps.append((max(phones), INTERVAL_S, "pg+cot"))
            if args.overload:
                steps.append((max(phones), INTERVAL_S / args.overload, f"pg-x{args.overload:g}"))
            for n, interval, label in steps:
                try:
                    with ExitStack() as stack:
                        url = stack.enter_context(fresh_database(SERVER))
                        console = None
                        if not args.no_console:
                            name, role = USERS[0]
                            console = ConsoleProcess(url, name, role, folder / f"console-{n}.log")
                            stack.callback(console.stop)
                            console.wait_ready(timeout=120)
                        extras = "cot" if label == "pg+cot" else ""
                        if args.with_cot_and_activations and label == "postgresql":
                            extras = "activations" if n == max(phones) else ""
                        row = run_step(url, folder, n, args.seconds, interval, label,
                                       extras=extras, console=console,
                                       cot_rate=args.cot_rate,
                                       cot_seconds=args.cot_seconds)  # fmt: skip
                except Unreachable as exc:
                    print(f"PostgreSQL skipped: {exc}")
                    break
                if not (row.get("extras") or {}).get("cot"):
                    rows.append(row)  # (the CPU ratio compares steps without a CoT burst)
                show(row)
                if interval < INTERVAL_S:
                    print(f"  refusals answered within {row['refused_max_ms']:.0f} ms at most")
        by_db: dict[str, dict[int, float]] = {}
        for row in rows:
            by_db.setdefault(row["db"], {})[row["phones"]] = row["cpu_ms_per_request"]
        for db, cpu in by_db.items():
            if len(cpu) > 1:
                low, high = min(cpu), max(cpu)
                print(
                    f"{db}: CPU per request at {high} phones / at {low}: {cpu[high] / cpu[low]:.2f}"
                )
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
