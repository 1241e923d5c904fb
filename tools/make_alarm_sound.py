#!/usr/bin/env python3
"""Write the console's alarm sound: a hi-lo two-tone siren, 1.2 s, looped by the console.

    .venv/bin/python tools/make_alarm_sound.py                 # into resources/sounds/alarm.wav
    .venv/bin/python tools/make_alarm_sound.py --out /tmp/alarm.wav

Four 0.3 s notes alternating 960 Hz and 770 Hz (the European "hi-lo" two-tone, recognisable
as an alarm and unlike any phone ring), each with a 12 ms raised-cosine attack and decay so
neither the note changes nor the loop point click. A quieter third harmonic makes it carry on
small laptop speakers. 16-bit signed mono PCM at 22,050 Hz, written with the standard library
only: the same bytes on every run.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from dispatch_console.resources import resources_dir  # noqa: E402

RATE = 22_050
HIGH_HZ = 960.0
LOW_HZ = 770.0
NOTE_S = 0.3
NOTES = (HIGH_HZ, LOW_HZ, HIGH_HZ, LOW_HZ)
RAMP_S = 0.012
#: Peak level (of full scale): loud enough to be heard, with headroom against clipping.
LEVEL = 0.7
THIRD_HARMONIC = 0.18


def note_samples(frequency: float) -> list[int]:
    """One note: a sine plus a quiet third harmonic, faded in and out (no click)."""
    count = round(NOTE_S * RATE)
    ramp = round(RAMP_S * RATE)
    scale = LEVEL * 32767 / (1 + THIRD_HARMONIC)
    samples = []
    for n in range(count):
        phase = 2 * math.pi * frequency * n / RATE
        value = math.sin(phase) + THIRD_HARMONIC * math.sin(3 * phase)
        edge = min(n, count - 1 - n)
        if edge < ramp:
            value *= 0.5 - 0.5 * math.cos(math.pi * edge / ramp)
        samples.append(round(value * scale))
    return samples


def alarm_frames() -> bytes:
    samples = [s for frequency in NOTES for s in note_samples(frequency)]
    return struct.pack(f"<{len(samples)}h", *samples)


def write_alarm(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(alarm_frames())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=resources_dir() / "sounds" / "alarm.wav",
        help="default %(default)s",
    )
    args = parser.parse_args(argv)
    path = write_alarm(args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(NOTES) * NOTE_S:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
