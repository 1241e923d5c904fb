"""Store benchmarks (issue 3): append rate vs raw sqlite3, fold rate, state_at on a long incident.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_store.py [--events 1000000]``.
Prints figures and ratios; asserts nothing (targets are compared in the output).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import replay
from dispatch_console.store import Store

T0 = 1_795_000_000_000_000
S = 1_000_000
LON, LAT = -84.54, 38.225


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * 4096 / 2**20


def peak_rss_mib() -> float:
    """High-water mark of this process's resident memory (VmHWM: unlike ru_maxrss, it does
    not carry over the parent's peak into a child started with fork and exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def incident_drafts(total: int, responders: int = 2000) -> list[ev.EventDraft]:
    """An incident of ``total`` events: open, notify ``responders``, then positions."""
    gw = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
    opened = ev.IncidentOpened("s", "School", "active_shooter", LON, LAT)
    drafts = [ev.EventDraft("bench", T0, gw, ev.Source.FEED, opened)]
    for i in range(responders):
        drafts.append(
            ev.EventDraft("bench", T0, gw, ev.Source.FEED, ev.ResponderNotified(f"r{i}", f"d{i}"))
        )
    rng = random.Random(7)
    actors = [ev.Actor(ev.ActorKind.DEVICE, f"d{i}") for i in range(responders)]
    remaining = total - len(drafts)
    for n in range(remaining):
        i = n % responders
        at = T0 + (n * 7200 * S) // remaining  # spread over two hours
        lat, lon = LAT + rng.uniform(-0.1, 0.1), LON + rng.uniform(-0.1, 0.1)
        payload = ev.ResponderPosition(f"r{i}", lat, lon, at, at + 30 * S, 8.0, 12.5, 270.0)
        drafts.append(ev.EventDraft("bench", at, actors[i], ev.Source.FEED, payload, f"d{i}/{n}"))
    return drafts


def bench_append(folder: Path, count: int, batch: int) -> None:
    drafts = incident_drafts(count)
    url = f"sqlite:///{folder / 'append.sqlite3'}"
    # Raw sqlite3: the same rows, same schema and pragmas, same batch size.
    raw_path = folder / "raw.sqlite3"
    Store(f"sqlite:///{raw_path}").close()
    rows = [
        (
            n + 1,
            d.incident_id,
            d.type,
            d.occurred_at_us,
            T0,
            d.actor.kind.value,
            d.actor.name,
            d.source.value,
            ev.encode_payload(d.payload).decode(),
            d.idempotency_key,
            # The chain hash column (issue 16), stored as is: computing it is Store.append's
            # cost, not the raw insert's.
            hashlib.sha256(n.to_bytes(8, "big")).digest(),
        )
        for n, d in enumerate(drafts)
    ]
    conn = sqlite3.connect(raw_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    sql = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[start : start + batch])
        conn.execute("COMMIT")
    raw_rate = len(rows) / (time.perf_counter() - started)
    conn.close()

    with Store(url) as store:
        started = time.perf_counter()
        for start in range(0, len(drafts), batch):
            store.append(drafts[start : start + batch])
        rate = len(drafts) / (time.perf_counter() - started)
    unchained = append_without_chain(f"sqlite:///{folder / 'unchained.sqlite3'}", drafts, batch)
    hashing = chain_hashing_rate(rows)
    print(f"append, SQLite WAL synchronous=FULL, {batch}/transaction, {len(drafts):,} events:")
    print(f"  Store.append        {rate:>10,.0f} events/s   (target >= 50,000)")
    print(f"  raw executemany     {raw_rate:>10,.0f} rows/s")
    print(f"  ratio               {rate / raw_rate:>10.2f}            (target >= 0.50)")
    print_chain_cost(rate, unchained, hashing)


def append_without_chain(url: str, drafts: list[ev.EventDraft], batch: int) -> float:
    """Store.append with the hash chain's computation replaced by a constant (what the chain
    costs on top of everything else the store does)."""
    from dispatch_console.store import store as store_module

    real = store_module.chain_rows

    def unchained(previous: bytes, rows: list[tuple[object, ...]]):  # type: ignore[no-untyped-def]
        return [(*row, previous) for row in rows], previous

    store_module.chain_rows = unchained  # type: ignore[assignment]
    try:
        with Store(url) as store:
            started = time.perf_counter()
            for start in range(0, len(drafts), batch):
                store.append(drafts[start : start + batch])
            return len(drafts) / (time.perf_counter() - started)
    finally:
        store_module.chain_rows = real


def chain_hashing_rate(rows: list[tuple[object, ...]]) -> float:
    """The chain's hashing alone (SHA-256 of the previous hash and the row's encoding)."""
    from dispatch_console.store.chain import GENESIS, chain_rows

    plain = [row[:10] for row in rows]
    started = time.perf_counter()
    chain_rows(GENESIS, plain)
    return len(plain) / (time.perf_counter() - started)


def print_chain_cost(rate: float, unchained: float, hashing: float) -> None:
    print(f"  Store.append without the chain {unchained:>10,.0f} events/s")
    print(f"  the chain's hashing alone      {hashing:>10,.0f} events/s")
    print(
        f"  the chain costs {1 / rate - 1 / unchained:+.2e} s/event "
        f"({(1 - rate / unchained) * 100:.0f}% of the unchained rate; hashing "
        f"{1 / hashing:.2e} s/event)"
    )


def bench_pg_append(url: str, count: int, batch: int) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS dc_bench WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE dc_bench"))
    bench_url = url.rsplit("/", 1)[0] + "/dc_bench"
    drafts = incident_drafts(count)
    try:
        with Store(bench_url) as store:
            started = time.perf_counter()
            for start in range(0, len(drafts), batch):
                store.append(drafts[start : start + batch])
            rate = len(drafts) / (time.perf_counter() - started)
        raw_rate = pg_raw_rate(admin, bench_url, drafts, batch)
        unchained = pg_unchained_rate(admin, bench_url, drafts, batch)
        rows = [(n + 1, d.incident_id, d.type, d.occurred_at_us, T0, d.actor.kind.value,
                 d.actor.name, d.source.value, ev.encode_payload(d.payload).decode(),
                 d.idempotency_key) for n, d in enumerate(drafts)]  # fmt: skip
        hashing = chain_hashing_rate(rows)  # type: ignore[arg-type]
        print(f"append, PostgreSQL, {batch}/transaction, {len(drafts):,} events:")
        print(f"  Store.append        {rate:>10,.0f} events/s")
        print(f"  raw executemany     {raw_rate:>10,.0f} rows/s")
        print(f"  ratio               {rate / raw_rate:>10.2f}            (target >= 0.50)")
        print_chain_cost(rate, unchained, hashing)
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS dc_bench WITH (FORCE)"))
        admin.dispose()


def _fresh(admin: object, name: str) -> None:
    from sqlalchemy import text

    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))


def pg_raw_rate(admin: object, bench_url: str, drafts: list[ev.EventDraft], batch: int) -> float:
    """psycopg executemany of the same rows (hash column included, precomputed), one
    transaction per batch, synchronous_commit on: what the store's append is compared with."""
    import psycopg

    raw_url = bench_url + "_raw"
    name = raw_url.rsplit("/", 1)[1]
    _fresh(admin, name)
    Store(raw_url).close()  # the same schema and triggers
    rows = [
        (n + 1, d.incident_id, d.type, d.occurred_at_us, T0, d.actor.kind.value, d.actor.name,
         d.source.value, ev.encode_payload(d.payload).decode(), d.idempotency_key,
         hashlib.sha256(n.to_bytes(8, "big")).digest())
        for n, d in enumerate(drafts)
    ]  # fmt: skip
    conninfo = raw_url.replace("postgresql+psycopg://", "postgresql://")
    sql = "INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    try:
        with psycopg.connect(conninfo) as conn:
            conn.execute("SET synchronous_commit = on")
            conn.commit()
            started = time.perf_counter()
            for start in range(0, len(rows), batch):
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(sql, rows[start : start + batch])
            return len(rows) / (time.perf_counter() - started)
    finally:
        with admin.connect() as c:  # type: ignore[attr-defined]
            from sqlalchemy import text

            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def pg_unchained_rate(
    admin: object, bench_url: str, drafts: list[ev.EventDraft], batch: int
) -> float:
    url = bench_url + "_nochain"
    name = url.rsplit("/", 1)[1]
    _fresh(admin, name)
    try:
        return append_without_chain(url, drafts, batch)
    finally:
        with admin.connect() as c:  # type: ignore[attr-defined]
            from sqlalchemy import text

            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def bench_fold_and_state_at(folder: Path, count: int, samples: int) -> None:
    url = f"sqlite:///{folder / 'long.sqlite3'}"
    drafts = incident_drafts(count)
    # Received times spread over two hours, as in a real incident: one append per second.
    clock_now = [T0]
    with Store(url, clock=lambda: clock_now[0]) as store:
        per_second = max(1, len(drafts) // 7200)
        started = time.perf_counter()
        for start in range(0, len(drafts), per_second):
            clock_now[0] = drafts[start].occurred_at_us
            store.append(drafts[start : start + per_second])
        print(
            f"\nlong incident: {len(drafts):,} events over 2 h appended in "
            f"{time.perf_counter() - started:.1f} s"
        )

        events = list(store.read("bench"))
        gc.collect()
        started = time.perf_counter()
        replay("bench", events)
        fold_s = time.perf_counter() - started
        print(
            f"fold (decoded events)         {len(events) / fold_s:>12,.0f} events/s"
            "   (target >= 200,000)"
        )
        started = time.perf_counter()
        replay("bench", store.read("bench"))
        read_fold_s = time.perf_counter() - started
        print(f"read + decode + fold          {len(events) / read_fold_s:>12,.0f} events/s")
        del events
        gc.collect()

        started = time.perf_counter()
        store.checkpoint("bench")
        print(
            f"first full fold writing snapshots: {time.perf_counter() - started:.1f} s"
            " (once per incident)"
        )
        sys.stdout.flush()
    # Measured in a fresh process that only opens the store: its memory is what a console
    # or a replay pays for state_at, not what building a million test events cost here.
    subprocess.run(
        [sys.executable, __file__, "--measure-state-at", url, "--samples", str(samples)],
        check=True,
    )
    size = sum(p.stat().st_size for p in folder.glob("long.sqlite3*"))
    print(f"  database size {size / 2**20:.0f} MiB")


def measure_state_at(url: str, samples: int) -> None:
    with Store(url) as store:
        rss_open = rss_mib()
        end = store.state_at("bench").last_received_at_us
        rng = random.Random(11)
        timings = []
        for _ in range(samples):
            at = rng.randint(T0, end)
            started = time.perf_counter()
            store.state_at("bench", at)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(f"state_at at {samples} random instants of the incident (fresh process):")
    print(
        f"  median {statistics.median(timings):.1f} ms, p95 "
        f"{timings[int(0.95 * len(timings)) - 1]:.1f} ms, max {timings[-1]:.1f} ms"
        "   (target <= 100 ms)"
    )
    print(
        f"  process memory: {rss_open:.0f} MiB after opening the store, {rss_mib():.0f} MiB "
        f"after the samples, peak {peak_rss_mib():.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="size of the long incident")
    parser.add_argument("--append-events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--pg-url", default=None, help="also measure PostgreSQL appends")
    parser.add_argument(
        "--append-only", action="store_true", help="only the append benchmarks (no fold)"
    )
    parser.add_argument("--measure-state-at", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_state_at:
        measure_state_at(args.measure_state_at, args.samples)
        return 0
    with tempfile.TemporaryDirectory(prefix="dc-bench-") as tmp:
        folder = Path(tmp)
        bench_append(folder, args.append_events, args.batch)
        if args.pg_url:
            bench_pg_append(args.pg_url, args.append_events, args.batch)
        if not args.append_only:
            bench_fold_and_state_at(folder, args.events, args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
