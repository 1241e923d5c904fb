"""Load benchmark (issue 14): the gateway at a real incident's scale, on SQLite and PostgreSQL.

The gateway runs as deployed (``dispatch-console gateway``, a process of its own). N simulated
phones, each with its own device and key, all alerted by one activation, send from a load
generator in ANOTHER process (aiohttp client, kept-alive connections): first an
acknowledgement (responding), then one signed position every 5 s, and half-way an "on scene"
status, open loop (a phone sends on its schedule whether or not its last request was answered).
A 503 or 429 is backed off as its Retry-After says, and sent again (counted under ``resent``).
With PostgreSQL, one real console (offscreen, LISTEN/NOTIFY) is attached throughout.

Printed per N: offered and answered requests a second, latency p50/p99/max, the answer codes,
how many were sent again, and the gateway process's CPU seconds per answered request. With
``--overload X``, a last step offers X times the load of the largest N (each phone sends every
5/X s): every request should still be answered within 1 s (stored, or 503 with Retry-After).

Run: ``.venv/bin/python benchmarks/bench_load.py [--db sqlite|postgresql|both] [--phones
100,400,1000,2000] [--seconds 20] [--overload 5]``. PostgreSQL: a fresh database on
$DISPATCH_TEST_PG_URL (default the local test server), dropped at the end. The machine is
shared: say how loaded it was (``uptime``) with the figures. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
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


async def _generate(args: argparse.Namespace) -> dict[str, Any]:
    import resource

    import aiohttp

    from dispatch_console.feeds.auth import sign

    keys: dict[str, list[str]] = json.loads(Path(args.keys).read_text())
    phones = [f"dev-{i}" for i in range(args.phones) if i % args.generators == args.part]
    base = f"http://127.0.0.1:{args.port}"
    interval = args.interval
    started = time.monotonic()
    window = (started + args.warmup, started + args.warmup + args.seconds)
    end = window[1]
    latencies: list[float] = []
    codes: Counter[int] = Counter()
    counts = Counter[str]()
    refused_latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=args.connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(device: str, message: dict[str, Any]) -> None:
            key_id, secret = keys[device]
            path = f"/v1/devices/{device}/messages"
            first = time.monotonic()
            measured = window[0] <= first < window[1]
            if measured:
                counts["offered"] += 1
            for attempt in range(10):
                raw = json.dumps({"messages": [message]}, separators=(",", ":")).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Dispatch-Key-Id": key_id,
                    "X-Dispatch-Signature": sign(secret.encode(), int(time.time()), raw),
                }
                sent = time.monotonic()
                try:
                    async with session.post(base + path, data=raw, headers=headers) as response:
                        await response.read()
                        status = response.status
                        retry_after = response.headers.get("Retry-After")
                except (aiohttp.ClientError, TimeoutError):
                    status, retry_after = 599, "1"
                took = time.monotonic() - sent
                if measured:
                    codes[status] += 1
                    latencies.append(took)
                    if status in (429, 503):
                        refused_latencies.append(took)
                    elif 200 <= status < 300 and sent < window[1]:
                        counts["answered"] += 1
                if status not in (429, 503, 599):
                    if not 200 <= status < 300:
                        counts["failed"] += 1
                    return
                if measured:
                    counts["resent"] += 1
                wait = float(retry_after or 1) * (1 + attempt / 4) * random.uniform(0.5, 1.0)
                await asyncio.sleep(min(wait, 5.0))
            counts["lost"] += 1

        async def phone(n: int, device: str) -> None:
            lon, lat = phone_home(n)
            await asyncio.sleep(random.uniform(0, interval))
            tick = 0
            ack = {"id": f"ack-{device}", "kind": "ack", "at": _iso(time.time()),
                   "incident_id": args.incident, "responding": True}  # fmt: skip
            message: dict[str, Any] = ack
            next_at = time.monotonic()
            while next_at < end:
                task = asyncio.create_task(send(device, message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                tick += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                now = time.time()
                if tick == int(args.seconds / interval / 2) + 1:
                    message = {"id": f"scene-{device}", "kind": "status", "at": _iso(now),
                               "incident_id": args.incident, "status": "en_route"}  # fmt: skip
                else:
                    lat += random.uniform(-2e-5, 2e-5)
                    lon += random.uniform(-2e-5, 2e-5)
                    message = {"id": f"p-{device}-{tick}", "kind": "position", "at": _iso(now),
                               "lat": round(lat, 6), "lon": round(lon, 6),
                               "accuracy_m": 6.0}  # fmt: skip

        print(json.dumps({"kind": "started"}), flush=True)
        await asyncio.gather(*(phone(int(d[4:]), d) for d in phones))
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
    }


def generate_main(args: argparse.Namespace) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    result = asyncio.run(_generate(args))
    print(json.dumps({"kind": "result", **result}), flush=True)


# --- the driver ------------------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` (and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12)) / ticks


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
        "generator_cpu_s": sum(part["cpu_s"] for part in parts),
    }


def run_step(
    url: str, folder: Path, phones: int, seconds: float, interval: float, label: str
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
        time.sleep(seconds)
        if profiler is not None:
            profiler.wait(30)
        cpu_after = _cpu_s(ports["pid"])
        connection = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=60)
        connection.request("GET", "/v1/health?stats")
        inside = json.loads(connection.getresponse().read())["device_messages"]
        parts = []
        for generator in generators:
            assert generator.stdout is not None
            for line in generator.stdout:
                record = json.loads(line)
                if record["kind"] == "result":
                    parts.append(record)
            generator.wait(120)
    result = _merged(parts)
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
        "codes": result["codes"],
        "resent": counts.get("resent", 0),
        "lost": counts.get("lost", 0),
        "cpu_ms_per_request": (cpu_after - cpu_before) / max(answered, 1) * 1000,
        "gateway_cpu_share": (cpu_after - cpu_before) / seconds,
        "generator_cpu_s": result["generator_cpu_s"],
        "inside": inside,
    }


def show(row: dict[str, Any]) -> None:
    print(
        f"{row['db']:<10} {row['phones']:>5} phones  offered {row['offered_rps']:6.1f}/s  "
        f"answered {row['answered_rps']:6.1f}/s  p50 {row['p50_ms']:7.1f} ms  "
        f"p99 {row['p99_ms']:7.1f} ms  max {row['max_ms']:7.1f} ms  codes {row['codes']}  "
        f"resent {row['resent']}  lost {row['lost']}  "
        f"gateway CPU {row['cpu_ms_per_request']:.2f} ms/request "
        f"({row['gateway_cpu_share']:.0%} of a core; generators {row['generator_cpu_s']:.0f} s)"
        f"\n    inside the gateway (read to answer, last 5,000): p50 "
        f"{row['inside']['recent_p50_ms']} ms, p99 {row['inside']['recent_p99_ms']} ms; "
        f"{row['inside']['grouped']} requests in {row['inside']['groups']} group commits "
        f"(each on the writer: p50 {row['inside'].get('group_p50_ms')} ms, p99 "
        f"{row['inside'].get('group_p99_ms')} ms, max {row['inside'].get('group_max_ms')} ms)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--phones", default="100,400,1000,2000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--overload", type=float, default=0.0, help="times the largest load")
    parser.add_argument("--no-console", action="store_true", help="PostgreSQL: no console")
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
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        if args.db in ("sqlite", "both"):
            for n in phones:
                url = f"sqlite:///{folder / f'sqlite-{n}.sqlite3'}"
                rows.append(run_step(url, folder, n, args.seconds, INTERVAL_S, "sqlite"))
                show(rows[-1])
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
            if args.overload:
                steps.append((max(phones), INTERVAL_S / args.overload, f"pg-x{args.overload:g}"))
            for n, interval, label in steps:
                try:
                    with ExitStack() as stack:
                        url = stack.enter_context(fresh_database(SERVER))
                        if not args.no_console:
                            name, role = USERS[0]
                            console = ConsoleProcess(url, name, role, folder / f"console-{n}.log")
                            stack.callback(console.stop)
                            console.wait_ready(timeout=120)
                        row = run_step(url, folder, n, args.seconds, interval, label)
                except Unreachable as exc:
                    print(f"PostgreSQL skipped: {exc}")
                    break
                rows.append(row)
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
