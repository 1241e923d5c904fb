"""Responder web page benchmarks (issue 17): activation -> alert shown on an open page (p99 over
50 activations, in Debian's Chromium on a phone viewport), the page's transfer size, and the
gateway's figures with 500 pages connected (their pushed streams open).

- Alert shown: the page notes when each incident's alert first reached the screen
  (``alertShownAt``, ms since the epoch); each activation is timed from just before its POST.
  Between activations a console closes the incident (all clear), so each opens a new one.
- Transfer: the page itself (``GET /r/``, the whole of it: nothing else is loaded) and the
  map data of an incident near the demo county's roads.
- 500 pages: 500 signed event streams held open by one client process; then the activation's
  202 latency, the time until all 500 streams have the alert, and signed position batches'
  latency, each beside the same figures with no page connected.

Run: ``.venv/bin/python benchmarks/bench_responder_page.py [--db URL] [--activations 50]
[--pages 500]`` (default: a temporary SQLite file). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_gateway import post, setup  # noqa: E402
from dispatch_console.domain import events as ev  # noqa: E402
from dispatch_console.feeds.auth import sign  # noqa: E402
from dispatch_console.feeds.server import GatewayThread, Listen, RateLimiter  # noqa: E402
from dispatch_console.feeds.web.routes import new_invite_token, token_hash  # noqa: E402
from dispatch_console.service import IncidentService  # noqa: E402
from dispatch_console.store import Store  # noqa: E402

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Bench IC")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def activation(n: int, listed: list[str] | None = None) -> dict[str, object]:
    extra = {"notified_device_ids": listed} if listed is not None else {}
    return {
        **extra,
        "id": f"bench-{n}-{time.time_ns()}",
        "school_id": "lincoln-hs",
        "type": "active_shooter",
        "activated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "location_detail": "Gym, building C",
    }


GATEWAY: list[GatewayThread] = []


def close(store: Store, incident_id: str) -> None:
    """A console closes the incident; waits until the gateway has read that (so the next
    activation opens a new incident instead of joining this one)."""
    IncidentService(store).execute(
        incident_id,
        [ev.IncidentStatusChanged("all_clear")],
        actor=IC,
        source=ev.Source.CONSOLE,
    )
    core = GATEWAY[0].gateway.core
    assert core is not None
    deadline = time.monotonic() + 10
    while any(s.incident_id == incident_id and not s.closed for s in core.service.live_incidents()):
        assert time.monotonic() < deadline, "the gateway did not read the close"
        time.sleep(0.02)


def bench_alert_shown(base: str, url: str, keys: dict[str, tuple[str, str]], count: int) -> None:
    from tests.feeds.browser import open_phone, require_chromium

    try:
        require_chromium()
    except BaseException as skipped:  # pytest's Skipped
        print(f"activation -> alert shown: not measured ({skipped})")
        return
    store = Store(url)
    token = new_invite_token()
    store.add_invite("dev-0", token_hash(token), int(time.time() + 3600) * 10**6)
    phone = open_phone(base)
    latencies = []
    try:
        phone.locate(38.225, -84.54)
        phone.driver.get(f"{base}/r/#invite={token}")
        phone.wait(lambda: phone.visible("screen-profile"))
        phone.js("localStorage.setItem('rsp.profile', JSON.stringify({name: 'Bench'}))")
        phone.driver.get(f"{base}/r/")
        phone.wait(lambda: phone.text("link") == "live")
        for n in range(count):
            started = time.time()
            # The school's system alerted 50 officers (the page's phone among them).
            listed = [f"dev-{i}" for i in range(50)]
            status, answer = post(base, "/v1/activations", activation(n, listed), keys["school"])
            assert status == 202, answer
            incident_id = answer["incident_id"]
            shown = phone.wait(
                lambda i=incident_id: phone.js("return alertShownAt[arguments[0]]", i),
                timeout_s=30,
                what=lambda i=incident_id: f"the alert of {i} on the page",
            )
            latencies.append(shown / 1000 - started)
            phone.click("btn-not-responding")
            close(store, incident_id)
            phone.wait(lambda: not phone.visible("alert"))
        hosts = phone.requested_hosts()
    finally:
        phone.quit()
        store.close()
    print(
        f"activation -> alert shown on an open page ({count} activations, Chromium 360x800): "
        f"median {statistics.median(latencies) * 1000:.0f} ms, p99 {p99(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms (target p99 <= 1000 ms); hosts asked: "
        f"{', '.join(sorted(hosts))}"
    )


def signed_get(base: str, path: str, key: tuple[str, str]) -> bytes:
    request = urllib.request.Request(
        base + path,
        headers={
            "X-Dispatch-Key-Id": key[0],
            "X-Dispatch-Signature": sign(key[1].encode(), int(time.time()), b""),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def bench_transfer(base: str, keys: dict[str, tuple[str, str]], url: str) -> None:
    page = urllib.request.urlopen(base + "/r/", timeout=30).read()
    _, answer = post(base, "/v1/activations", activation(999), keys["school"])
    incident_id = answer["incident_id"]
    map_data = signed_get(base, f"/v1/devices/dev-1/map/{incident_id}", keys["dev-1"])
    with Store(url) as store:
        close(store, incident_id)
    print(
        f"page transfer: the page {len(page) / 1024:.1f} KB (everything it loads), its map "
        f"data {len(map_data) / 1024:.1f} KB; total {(len(page) + len(map_data)) / 1024:.1f} KB "
        "uncompressed (target <= 300 KB)"
    )


async def _streams(base: str, keys: dict[str, tuple[str, str]], pages: int, url: str) -> None:
    import aiohttp

    def headers(device: str) -> dict[str, str]:
        key = keys[device]
        return {
            "X-Dispatch-Key-Id": key[0],
            "X-Dispatch-Signature": sign(key[1].encode(), int(time.time()), b""),
        }

    async def figures(label: str, expect: int, got: dict[str, float]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        _, answer = await loop.run_in_executor(
            None, post, base, "/v1/activations", activation(5000), keys["school"]
        )
        accepted = time.perf_counter() - started
        incident_id = answer["incident_id"]
        if expect:
            while len(got) < expect and time.perf_counter() - started < 30:
                await asyncio.sleep(0.01)
            pushed = f", all {len(got)} streams had the alert after " + (
                f"{(max(got.values()) - started) * 1000:.0f} ms"
            )
        else:
            pushed = ""
        lat = []
        for n in range(40):
            device = f"dev-{n % 50}"
            body = {
                "messages": [
                    {
                        "id": f"p{expect}-{n}",
                        "kind": "position",
                        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "lat": 38.225,
                        "lon": -84.54,
                    }
                ]
            }
            t = time.perf_counter()
            await loop.run_in_executor(
                None, post, base, f"/v1/devices/{device}/messages", body, keys[device]
            )
            lat.append(time.perf_counter() - t)
        with Store(url) as store:
            close(store, incident_id)
        print(
            f"{label}: activation answered in {accepted * 1000:.0f} ms (notified "
            f"{answer.get('notified')}){pushed}; position batch p99 {p99(lat) * 1000:.0f} ms"
        )

    connector = aiohttp.TCPConnector(limit=0)  # one connection per page, all at once
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:
        await figures("0 pages connected", 0, {})
        got: dict[str, float] = {}
        ready = 0

        async def page(device: str) -> None:
            nonlocal ready
            async with session.get(
                f"{base}/v1/devices/{device}/stream", headers=headers(device)
            ) as r:
                assert r.status == 200, r.status
                ready += 1
                async for line in r.content:
                    if line.startswith(b"data: ") and b'"kind": "alert"' in line:
                        got.setdefault(device, time.perf_counter())
                        return

        tasks = [asyncio.create_task(page(f"dev-{i}")) for i in range(pages)]
        while ready < pages:
            await asyncio.sleep(0.05)
        await figures(f"{pages} pages connected", pages, got)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--activations", type=int, default=50)
    parser.add_argument("--pages", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dc-page-bench-") as tmp:
        folder = Path(tmp)
        url = args.db or f"sqlite:///{folder / 'page.sqlite3'}"
        box, keys = setup(url, folder, max(args.pages, 50))
        with Store(url) as store:
            store.set_user(IC.name, "incident commander")
        gateway = GatewayThread(url, Listen("127.0.0.1", 0, 0, 0), box=box)
        gateway.start_and_wait()
        GATEWAY.append(gateway)
        gateway.gateway.key_limiter = RateLimiter(1e9, 1e9)
        gateway.gateway.peer_limiter = RateLimiter(1e9, 1e9)
        base = f"http://127.0.0.1:{gateway.gateway.ports['http']}"
        try:
            bench_transfer(base, keys, url)
            asyncio.run(_streams(base, keys, args.pages, url))
            bench_alert_shown(base, url, keys, args.activations)
        finally:
            gateway.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
