"""The gateway's fast position parser agrees with the full parser on everything it accepts or
refuses, for the real captures and for mutated and hostile input."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch_console.feeds.cot.parse import (
    CotRejected,
    is_friendly_ground,
    parse_cot,
    parse_position,
)
from dispatch_console.feeds.cot.proto import parse_position_message

PLI = (
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><event version='2.0' "
    b"uid='ANDROID-1' type='a-f-G-U-C' time='2026-11-24T09:14:05.123Z' "
    b"start='2026-11-24T09:14:05.123Z' stale='2026-11-24T09:14:35.123Z' how='m-g'>"
    b"<point lat='38.2480000' lon='-84.5800000' hae='250.0' ce='8.0' le='9999999.0'/>"
    b"<detail><contact callsign='GPD-212' endpoint='*:-1:stcp'/>"
    b"<track speed='12.5' course='270.0'/></detail></event>"
)


def _agree(data: bytes) -> None:
    try:
        full = parse_cot(data)
    except CotRejected:
        full = None
    try:
        fast = parse_position(data)
    except CotRejected:
        assert full is None, "the fast parser refused what the full parser accepts"
        return
    if full is None:
        # The fast path may accept an event whose optional parts the full parser refuses,
        # but never one with a bad position.
        assert fast is None or (-90 <= fast.lat <= 90 and -180 <= fast.lon <= 180)
        return
    if fast is None:
        assert not is_friendly_ground(full.type)
        return
    assert (
        fast.uid,
        fast.type,
        fast.time_us,
        fast.stale_us,
        fast.lat,
        fast.lon,
        fast.ce,
        fast.callsign,
        fast.speed_mps,
        fast.course_deg,
    ) == (
        full.uid,
        full.type,
        full.time_us,
        full.stale_us,
        full.lat,
        full.lon,
        full.ce,
        full.callsign,
        full.speed_mps,
        full.course_deg,
    )


def test_a_pli_is_read_alike() -> None:
    position = parse_position(PLI)
    assert position is not None and position.callsign == "GPD-212" and position.speed_mps == 12.5
    assert parse_position_message(PLI) == position
    _agree(PLI)


def test_the_real_captures_are_read_alike(shared_data: Path) -> None:
    for path in sorted((shared_data / "cot").iterdir()):
        _agree(path.read_bytes())


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, len(PLI)), flip=st.integers(0, len(PLI) - 1), value=st.integers(0, 255))
def test_truncated_and_mutated_plis_are_read_alike(cut: int, flip: int, value: int) -> None:
    mutated = bytearray(PLI)
    mutated[flip] = value
    for data in (PLI[:cut], bytes(mutated)):
        _agree(data)
        with contextlib.suppress(CotRejected):
            parse_position_message(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_a_rejection(data: bytes) -> None:
    for parse in (parse_position, parse_position_message):
        try:
            result = parse(data)
        except CotRejected:
            continue
        assert result is None or (-90 <= result.lat <= 90 and -180 <= result.lon <= 180)
