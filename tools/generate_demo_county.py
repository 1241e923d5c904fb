#!/usr/bin/env python3
"""Write the demo county's files (roads, schools with pre-plans, roster, devices).

    .venv/bin/python tools/generate_demo_county.py            # into resources/demo, seed 2026
    .venv/bin/python tools/generate_demo_county.py --seed 7 --out /tmp/county

The same seed always gives byte-identical files. No keys are written: the loader makes them
(``dispatch_console.county.load.load_demo_county``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from dispatch_console.county.generate import DEFAULT_SEED, write_demo_county  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default %(default)s")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "resources" / "demo", help="default %(default)s"
    )
    args = parser.parse_args(argv)
    for path in write_demo_county(args.out, args.seed).values():
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
