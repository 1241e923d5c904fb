"""Cursor-on-Target parse benchmark: parse_cot on a typical ATAK PLI vs raw lxml, same run.

Run: ``.venv/bin/python benchmarks/bench_cot.py [--messages 20000] [--runs 7]``.
Prints msgs/s (median of the runs) and ratios to a hardened ``lxml.etree.fromstring`` measured
in the same process, since absolute figures on a shared machine are noisy (see
../shared/design/baselines.md). Asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from dispatch_console.feeds.cot import CotStreamSplitter, parse_cot, parse_message
from dispatch_console.feeds.cot.proto import takproto_available

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' samples
from tests.feeds.cot.samples import PLI

HARDENED = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def raw_lxml() -> None:
    etree.fromstring(PLI, HARDENED)


def find_nine_fields() -> None:
    """The baselines.md method: parse, then 9 fields with ``.find()``, no validation."""
    root = etree.fromstring(PLI, HARDENED)
    point = root.find("point")
    contact = root.find("detail/contact")
    track = root.find("detail/track")
    assert point is not None and contact is not None and track is not None
    (root.get("uid"), root.get("type"), root.get("time"), root.get("stale"))
    (point.get("lat"), point.get("lon"), point.get("ce"))
    (contact.get("callsign"), track.get("speed"))


def cot_parse() -> None:
    parse_cot(PLI)


def rate(function: Callable[[], object], messages: int, runs: int) -> float:
    """Median messages per second over ``runs`` timed runs (after one warm-up run)."""
    for _ in range(messages // 10):
        function()
    figures = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        for _ in range(messages):
            function()
        figures.append(messages / (time.perf_counter() - started))
    return statistics.median(figures)


def stream_rate(messages: int, runs: int) -> float:
    """Splitter + parse_message over one stream of back-to-back PLIs fed in 1,448-byte chunks."""
    data = (PLI + b"\n") * messages
    chunks = [data[i : i + 1448] for i in range(0, len(data), 1448)]
    figures = []
    for _ in range(runs):
        gc.collect()
        splitter = CotStreamSplitter()
        started = time.perf_counter()
        count = 0
        for chunk in chunks:
            for item in splitter.feed(chunk):
                if isinstance(item, bytes):
                    parse_message(item)
                    count += 1
        figures.append(count / (time.perf_counter() - started))
    return statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    n, runs = args.messages, args.runs

    print(f"CoT PLI of {len(PLI)} bytes; {n} messages x {runs} runs; median msgs/s")
    base = rate(raw_lxml, n, runs)
    rows = [
        ("lxml.etree.fromstring, hardened parser (parse only)", base),
        (
            "lxml parse + 9 fields with .find() (baselines.md method)",
            rate(find_nine_fields, n, runs),
        ),
        ("parse_cot: checks + parse + validate + 26 fields", rate(cot_parse, n, runs)),
        ("CotStreamSplitter + parse_message, 1448-byte chunks", stream_rate(n, runs)),
    ]
    if takproto_available():
        import takproto

        mesh = bytes(takproto.xml2proto(PLI, takproto.TAKProtoVer.MESH))
        rows.append(
            (
                "parse_message on the same PLI as TAK protobuf (mesh)",
                rate(lambda: parse_message(mesh), n, runs),
            )
        )
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"  {name:<{width}}  {figure:>9,.0f}/s  {figure / base:5.2f} x raw lxml")


if __name__ == "__main__":
    main()
