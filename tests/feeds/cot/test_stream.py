"""The TCP stream splitter: same messages whatever the chunking, resynchronises, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dispatch_console.feeds.cot import CotRejected, CotStreamSplitter, parse_cot, parse_message
from dispatch_console.feeds.cot.proto import encode_varint
from tests.feeds.cot.samples import ALERT, CHAT, PLI, check_event, event_with

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
Item = bytes | str  # a message, or a rejection's reason


def _items(out: list[bytes | CotRejected]) -> list[Item]:
    return [x.reason if isinstance(x, CotRejected) else x for x in out]


def _split(data: bytes, cuts: list[int] | None = None, *, cap: int = 256 * 1024) -> list[Item]:
    """Feed ``data`` cut at ``cuts`` (or whole), then finish; every output, in order."""
    splitter = CotStreamSplitter(max_bytes=cap)
    out: list[bytes | CotRejected] = []
    bounds = sorted({c % (len(data) + 1) for c in cuts or []})
    start = 0
    for end in [*bounds, len(data)]:
        out += splitter.feed(data[start:end])
        start = end
        assert splitter.buffered <= 2 * cap + 16
    out += splitter.finish()
    assert splitter.buffered == 0
    return _items(out)


def _bare(doc: bytes) -> bytes:
    """An event without its XML declaration."""
    return doc[doc.index(b"<event") :]


# --- clean streams ------------------------------------------------------------------------

STREAM = PLI + b"\n" + ALERT + CHAT + b"\r\n\t " + _bare(PLI) + _bare(ALERT) + b"  "
STREAM_DOCS = [PLI, ALERT.rstrip(b"\n"), CHAT, _bare(PLI), _bare(ALERT).rstrip(b"\n")]


def test_concatenated_events_in_one_chunk() -> None:
    assert _split(STREAM) == STREAM_DOCS
    for doc, original in zip(_split(STREAM), [PLI, ALERT, CHAT, PLI, ALERT], strict=True):
        assert isinstance(doc, bytes)
        assert parse_cot(doc) == parse_cot(original)


@FUZZ
@given(st.lists(st.integers(min_value=0), max_size=40))
def test_random_chunking_gives_the_same_events(cuts: list[int]) -> None:
    assert _split(STREAM, cuts) == STREAM_DOCS


def test_one_byte_at_a_time() -> None:
    assert _split(STREAM, list(range(len(STREAM)))) == STREAM_DOCS


@pytest.mark.shared_data
def test_real_captures_back_to_back(shared_data: Path) -> None:
    files = sorted(p for p in (shared_data / "cot").iterdir() if "BROKEN" not in p.name)
    docs = [p.read_bytes() for p in files]
    data = b"".join(docs)
    whole = _split(data)
    assert whole == [doc.strip() for doc in docs]
    assert _split(data, list(range(0, len(data), 7))) == whole
    assert [parse_cot(x) for x in whole if isinstance(x, bytes)] == [parse_cot(d) for d in docs]


@pytest.mark.shared_data
def test_broken_capture_on_a_stream(shared_data: Path) -> None:
    data = (shared_data / "cot" / "fts_wintak_pli_BROKEN_health.cot").read_bytes()
    first = data[: data.index(b"</event>") + len(b"</event>")]
    rest = len(data[len(first) :].lstrip())  # the whitespace after </event> is no garbage
    assert _split(data + CHAT) == [first, f"skipped {rest} bytes that are not CoT", CHAT]
    # On a stream the part up to </event> is a whole event: the point is recovered.
    ev = parse_cot(first)
    assert (ev.uid, ev.lat, ev.lon, ev.ce, ev.callsign) == (
        "S-1-5-21-249124979-4228309938-1977687263-1004",
        36.083744,
        -115.1180345,
        114.0,
        None,
    )


# --- garbage, truncation, oversize --------------------------------------------------------


def test_garbage_between_events_is_reported_and_skipped() -> None:
    data = b"GET / HTTP/1.1\r\n\r\n" + PLI + b"\x00\x00junk<foo/>" + CHAT + b"trailing"
    assert _split(data) == [
        "skipped 18 bytes that are not CoT",
        PLI,
        "skipped 12 bytes that are not CoT",
        CHAT,
        "skipped 8 bytes that are not CoT",
    ]


def test_truncated_event_then_a_whole_one() -> None:
    cut = PLI[:300]
    assert _split(cut + PLI + _bare(CHAT)[:50]) == [
        "incomplete event: a new event began before </event>",
        PLI,
        "stream ended inside an event (50 bytes)",
    ]
    assert _split(b'<?xml version="1.0"?>\n' + CHAT) == [b'<?xml version="1.0"?>\n' + CHAT]
    assert _split(b'<?xml version="1.0"?><?xml version="1.0"?>' + CHAT) == [
        "XML declaration with no event after it",
        b'<?xml version="1.0"?>' + CHAT,
    ]


def test_start_tag_cut_inside_a_quoted_value() -> None:
    broken = b"<event uid='abc"
    assert _split(broken + PLI) == ["incomplete event: a new event began before </event>", PLI]
    assert _split(broken + b"<b>'></event>" + CHAT) == [broken + b"<b>'></event>", CHAT]


def test_oversized_event_is_rejected_and_the_next_one_kept() -> None:
    big = event_with(callsign="A" * 300_000)
    data = CHAT + big + PLI
    assert _split(data) == [CHAT, "event is larger than the 262144-byte cap", PLI]
    assert _split(data, list(range(0, len(data), 4096))) == _split(data)


def test_comments_cdata_and_gt_in_attributes() -> None:
    doc = (
        b'<event uid="a>b" type="t" time="2026-11-24T09:14:05Z" start="2026-11-24T09:14:05Z" '
        b'stale="2026-11-24T09:15:05Z"><!-- </event> --><point lat="1" lon="2"/><detail>'
        b"<remarks><![CDATA[ <event> </event> ]]></remarks></detail></event>"
    )
    out = _split(doc + CHAT)
    assert out == [doc, CHAT]
    assert isinstance(out[0], bytes)
    assert parse_cot(out[0]).remarks == " <event> </event> "


def test_self_closing_event_and_stray_close() -> None:
    assert _split(b"<event/>" + CHAT) == [b"<event/>", CHAT]
    assert _split(b"<?xml version='1.0'?></event>" + CHAT) == [
        b"<?xml version='1.0'?></event>",
        CHAT,
    ]


def test_garbage_longer_than_the_cap_is_reported_in_cap_sized_pieces() -> None:
    data = b"x" * 2500 + CHAT
    assert _split(data, cap=1024) == [
        "skipped 1024 bytes that are not CoT",
        "skipped 1024 bytes that are not CoT",
        "skipped 452 bytes that are not CoT",
        CHAT,
    ]


# --- TAK protocol v1 stream frames --------------------------------------------------------


def _frame(payload: bytes) -> bytes:
    return b"\xbf" + encode_varint(len(payload)) + payload


def test_protobuf_frames_and_xml_on_one_stream() -> None:
    first, second = _frame(b"\x12\x03abc"), _frame(b"z" * 300)
    data = first + second + PLI + first
    assert _split(data) == [first, second, PLI, first]
    assert _split(data, list(range(len(data)))) == [first, second, PLI, first]
    assert _split(b"\xbf\x00" + first) == ["empty protobuf frame", first]
    assert _split(b"\xbf" + encode_varint(10**6) + PLI, cap=4096) == [
        "protobuf frame of 1000000 bytes is over the 4096-byte cap",
        PLI,
    ]
    assert _split(b"\xbf" + b"\xff" * 11 + PLI) == [
        "protobuf length prefix is longer than 10 bytes",
        PLI,
    ]
    assert _split(first[:3]) == ["stream ended inside a message"]
    # After garbage, 0xbf is just a byte: only XML markers resynchronise.
    assert _split(b"zz" + first + PLI) == [f"skipped {2 + len(first)} bytes that are not CoT", PLI]
    # A pure XML listener can say so: then 0xbf is never a frame.
    splitter = CotStreamSplitter(protobuf=False)
    assert _items(splitter.feed(first + PLI)) == [
        f"skipped {len(first)} bytes that are not CoT",
        PLI,
    ]


# --- any bytes at all ---------------------------------------------------------------------

pieces = st.one_of(
    st.sampled_from([PLI, ALERT, CHAT, _bare(PLI), b"\n", b"<?xml version='1.0'?>", b"<event"]),
    st.sampled_from([PLI, CHAT]).flatmap(
        lambda doc: st.integers(1, len(doc) - 1).map(lambda n: doc[:n])
    ),
    st.binary(max_size=60),
    st.sampled_from([b"<!--", b"-->", b"<![CDATA[", b"]]>", b"'", b'"', b"</event>", b"/>"]),
    st.builds(_frame, st.binary(max_size=40)),
)


@FUZZ
@given(st.lists(pieces, max_size=12), st.lists(st.integers(min_value=0), max_size=30))
@example([b"<!--", PLI, CHAT], [5, 400])
@example([PLI[:100], b"'", PLI, CHAT], [3])
def test_any_stream_same_output_whatever_the_chunking(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    whole = _split(data, cap=1024)
    assert _split(data, cuts, cap=1024) == whole
    for item in whole:
        if isinstance(item, bytes):
            assert len(item) <= 1024
            try:
                check_event(parse_message(item))
            except CotRejected as exc:
                assert exc.reason
        else:
            assert item and "\n" not in item


@FUZZ
@given(st.lists(st.sampled_from([PLI, ALERT, CHAT]), min_size=1, max_size=6), st.binary())
def test_every_whole_event_after_garbage_is_recovered(docs: list[bytes], junk: bytes) -> None:
    junk = junk.replace(b"<", b"(")  # nothing that could start markup
    junk = junk.replace(b"\xbf", b"?")  # nor a TAK protobuf frame at the stream start
    data = junk + b"".join(docs)
    events = [x for x in _split(data) if isinstance(x, bytes)]
    assert [parse_cot(x) for x in events] == [parse_cot(d) for d in docs]
