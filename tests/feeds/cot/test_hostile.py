"""Hostile input: parse_cot raises nothing but CotRejected and never yields a bad position."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dispatch_console.domain.timeutil import parse_iso
from dispatch_console.feeds.cot import CotEvent, CotRejected, parse_cot
from dispatch_console.feeds.cot.parse import fast_time_us
from tests.feeds.cot.samples import ALERT, CHAT, PLI, event_with, outcome

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DECLARATION_REASON = "message contains a DOCTYPE or ENTITY declaration (never used in CoT)"
HEADER = (
    'uid="u-1" type="a-f-G-U-C" time="2026-11-24T09:14:05Z" start="2026-11-24T09:14:05Z" '
    'stale="2026-11-24T09:15:05Z"'
)


def _event(detail: str = "", *, callsign: str = "&lol9;") -> bytes:
    return (
        f'<event {HEADER}><point lat="1" lon="2" hae="0" ce="0" le="0"/>'
        f'<detail><contact callsign="{callsign}"/>{detail}</detail></event>'
    ).encode()


def _reason(data: bytes) -> str:
    with pytest.raises(CotRejected) as caught:
        parse_cot(data)
    return caught.value.reason


# --- random and mangled bytes -------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    outcome(data)


@FUZZ
@given(st.sampled_from([PLI, ALERT, CHAT]), st.data())
def test_truncated_events_are_rejected(sample: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(sample.rstrip()) - 1))
    result = outcome(sample[:cut])
    assert isinstance(result, str)
    assert result == "empty message" or result.startswith("not well-formed XML: ")


@FUZZ
@given(
    st.sampled_from([PLI, ALERT, CHAT]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_flipped_bytes(sample: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(sample)
    for position, value in flips:
        data[position % len(data)] = value
    outcome(bytes(data))


# --- XML bombs and external entities ------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
).encode() + _event()
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    + _event(callsign="&xxe;")
)
PARAMETER_ENTITY = (
    b'<!DOCTYPE event [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p; '
    b"<!ENTITY % q \"<!ENTITY leak 'x'>\"> %q;]>" + _event(callsign="&leak;")
)
EXTERNAL_DTD = b'<!DOCTYPE event SYSTEM "http://127.0.0.1:9/evil.dtd">' + _event(callsign="a")
QUADRATIC_BLOWUP = (
    b'<!DOCTYPE e [<!ENTITY a "' + b"x" * 30_000 + b'">]>' + _event(callsign="&a;" * 100)
)


@pytest.mark.parametrize(
    "bomb",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, EXTERNAL_DTD, QUADRATIC_BLOWUP],
    ids=["billion-laughs", "external-entity", "parameter-entity", "external-dtd", "quadratic"],
)
def test_bombs_are_rejected_before_parsing(bomb: bytes) -> None:
    assert _reason(bomb) == DECLARATION_REASON


def test_entity_reference_without_a_dtd_is_not_well_formed() -> None:
    assert _reason(_event(callsign="&xxe;")) == (
        "not well-formed XML: Entity 'xxe' not defined, line 1, column 199"
    )


@FUZZ
@given(
    st.sampled_from(["doctype", "entity"]),
    st.lists(st.booleans(), min_size=7, max_size=7),
    st.integers(min_value=0),
)
def test_declaration_in_any_case_anywhere_is_rejected(
    word: str, upper: list[bool], where: int
) -> None:
    spelled = "".join(c.upper() if up else c for c, up in zip(word, upper, strict=False))
    data = bytearray(PLI)
    at = where % (len(data) + 1)
    data[at:at] = b"<!" + spelled.encode()
    assert _reason(bytes(data)) == DECLARATION_REASON


@pytest.mark.parametrize(
    "encoded",
    [
        ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE e [<!ENTITY a "b">]>').encode("utf-16")
        + _event(callsign="&a;").decode().encode("utf-16")[2:],
        b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE e +AFs-+ADw-!ENTITY a '
        b'"b"+AD4-+AF0-+AD4-' + _event(callsign="+ACY-a+ADs-"),
        ('<?xml version="1.0" encoding="UTF-32"?>' + _event().decode()).encode("utf-32"),
    ],
    ids=["utf-16", "utf-7", "utf-32"],
)
def test_other_encodings_cannot_smuggle_a_dtd(encoded: bytes) -> None:
    assert _reason(encoded).startswith("not well-formed XML: ")


def test_xinclude_is_not_processed() -> None:
    data = _event(
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
        'parse="text"/>',
        callsign="A",
    )
    ev = parse_cot(data)
    assert ev.detail_xml is not None
    assert "root:" not in ev.detail_xml
    assert 'href="file:///etc/passwd"' in ev.detail_xml


# --- size ---------------------------------------------------------------------------------


@FUZZ
@given(st.integers(min_value=60_000, max_value=70_000))
def test_huge_attribute_values(size: int) -> None:
    data = event_with(callsign="A" * size)
    result = outcome(data)
    if len(data) <= 64 * 1024:
        assert isinstance(result, CotEvent)
        assert result.callsign == "A" * size
    else:
        assert result == f"message is {len(data)} bytes, over the 65536-byte limit"


def test_size_limit_is_the_callers() -> None:
    data = event_with(callsign="A" * 2000)
    assert parse_cot(data, max_bytes=len(data)).callsign == "A" * 2000
    with pytest.raises(CotRejected, match=r"over the 1000-byte limit"):
        parse_cot(data, max_bytes=1000)


def test_empty_message() -> None:
    assert _reason(b"") == "empty message"


def _xml_char_ok(c: str) -> bool:
    """A character XML 1.0 allows."""
    return (
        c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
    )


# --- coordinates --------------------------------------------------------------------------

number_texts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=200).map(str),
    st.sampled_from(
        [
            "nan",
            "NaN",
            "-inf",
            "Infinity",
            "1e400",
            "-1e400",
            "90.0000001",
            "-180.0000001",
            "1_0",
            " 12 ",
            "0x10",
            "",
            "1,5",
            "٣",
            "+45",
            "-0",
            "1e-400",
            "90",
            "-90",
            "180",
        ]
    ),
    st.text(max_size=6),
)


def _expected(text: str, limit: float) -> float | None:
    """What parse_cot should make of a coordinate text: the number, or None (rejected)."""
    if "_" in text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and -limit <= value <= limit else None


@FUZZ
@given(number_texts, number_texts)
@example("nan", "1")
@example("1", "inf")
@example("-105.0", "39.7")  # swapped: lat out of range
@example("91", "0")
@example("0", "-180.5")
def test_hostile_coordinates(lat: str, lon: str) -> None:
    assume('"' not in lat + lon and "<" not in lat + lon and "&" not in lat + lon)
    result = outcome(event_with(lat=lat, lon=lon))
    want_lat, want_lon = _expected(lat, 90.0), _expected(lon, 180.0)
    if not all(_xml_char_ok(c) for c in lat + lon):  # control characters: not even XML
        assert isinstance(result, str)
        assert result.startswith("not well-formed XML: ")
    elif want_lat is None or want_lon is None:
        assert isinstance(result, str)
        assert result.startswith("<point> lat ") or result.startswith("<point> lon ")
    else:
        assert isinstance(result, CotEvent)
        assert (result.lat, result.lon) == (want_lat, want_lon)


@pytest.mark.parametrize(
    ("lat", "lon", "reason"),
    [
        ("nan", "1", "<point> lat is not finite: 'nan'"),
        ("1", "-inf", "<point> lon is not finite: '-inf'"),
        ("1e400", "1", "<point> lat is not finite: '1e400'"),
        ("-105.0", "39.7", "<point> lat -105.0 is outside [-90, 90]"),
        ("1", "180.5", "<point> lon 180.5 is outside [-180, 180]"),
        ("1_0", "1", "<point> lat is not a number: '1_0'"),
        ("", "1", "<point> lat is not a number: ''"),
    ],
)
def test_coordinate_reasons(lat: str, lon: str, reason: str) -> None:
    assert _reason(event_with(lat=lat, lon=lon)) == reason


def test_measures_unknown_or_bad_are_none_and_flagged() -> None:
    data = (
        f'<event {HEADER}><point lat="1" lon="2" hae="nan" ce="-3" le="9999999"/></event>'
    ).encode()
    ev = parse_cot(data)
    assert (ev.hae, ev.ce, ev.le) == (None, None, None)
    assert ev.flags == ("hae_invalid", "ce_invalid")
    bare = parse_cot(f'<event {HEADER}><point lat="0" lon="0"/></event>'.encode())
    assert bare.flags == ("hae_missing", "ce_missing", "le_missing", "null_island")
    assert bare.detail_xml is None


# --- unicode ------------------------------------------------------------------------------


@FUZZ
@given(
    st.text(
        alphabet=st.characters(codec=None, exclude_categories=()),  # surrogates and NUL too
        max_size=40,
    )
)
@example("\x00")
@example("\ud800")
@example("\u202eevil\u202c")
@example("\t\n\r")
def test_unicode_as_character_references(text: str) -> None:
    escaped = "".join(f"&#x{ord(c):x};" for c in text)
    result = outcome(event_with(callsign=escaped))
    if all(_xml_char_ok(c) for c in text):
        assert isinstance(result, CotEvent)
        assert result.callsign == (text or None)
    else:
        assert isinstance(result, str)
        assert result.startswith("not well-formed XML: xmlParseCharRef: invalid xmlChar value")


@FUZZ
@given(st.text(max_size=40))
def test_raw_unicode_text(text: str) -> None:
    raw = text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    try:
        data = event_with(callsign=raw, detail_inner=f"<remarks>{raw}</remarks>")
    except UnicodeEncodeError:
        return  # a lone surrogate cannot even be sent as UTF-8
    result = outcome(data)
    if isinstance(result, CotEvent):
        assert result.remarks == raw.replace("&amp;", "&").replace("&lt;", "<").replace(
            "&quot;", '"'
        ).replace("\r\n", "\n").replace("\r", "\n")


def test_invalid_utf8_is_rejected() -> None:
    assert _reason(event_with(callsign="\xe9").replace(b"\xc3\xa9", b"\xe9")).startswith(
        "not well-formed XML: "
    )


# --- structure ----------------------------------------------------------------------------


@FUZZ
@given(st.integers(min_value=1, max_value=400))
def test_deeply_nested_detail(depth: int) -> None:
    result = outcome(event_with(detail_inner="<x>" * depth + "</x>" * depth))
    if depth <= 254:  # with <event> and <detail>, 256 levels: libxml2's limit
        assert isinstance(result, CotEvent)
    else:
        assert isinstance(result, str)
        assert result.startswith("not well-formed XML: Excessive depth in document: 256")


@FUZZ
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True))
def test_wrong_root(tag: str) -> None:
    assume(tag != "event" and not tag.lower().startswith("xml"))
    assert _reason(event_with(root=tag)) == f"root element is {tag!r}, not 'event'"


@FUZZ
@given(st.sets(st.sampled_from(["uid", "type", "time", "start", "stale"]), min_size=1))
def test_missing_attributes(missing: set[str]) -> None:
    attrs = {
        "uid": "u-1",
        "type": "a-f-G-U-C",
        "time": "2026-11-24T09:14:05Z",
        "start": "2026-11-24T09:14:05Z",
        "stale": "2026-11-24T09:15:05Z",
    }
    for name in missing:
        del attrs[name]
    first = next(n for n in ["uid", "type", "time", "start", "stale"] if n in missing)
    assert _reason(event_with(attrs=attrs)) == f"<event> has no {first} attribute"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (f"<event {HEADER}><detail/></event>".encode(), "no <point> element"),
        (
            f'<event {HEADER}><point lat="1" lon="1"/><point lat="2" lon="2"/></event>'.encode(),
            "more than one <point>",
        ),
        (
            event_with(attrs={"uid": " ", "type": "t", "time": "x", "start": "x", "stale": "x"}),
            "<event> has an empty uid attribute",
        ),
        (
            event_with(
                attrs={"uid": "u", "type": "t", "time": "yesterday", "start": "x", "stale": "x"}
            ),
            "time is not an ISO 8601 UTC time: 'yesterday'",
        ),
        (
            event_with(
                attrs={
                    "uid": "u",
                    "type": "t",
                    "time": "2026-11-24T09:14:05",  # no offset
                    "start": "2026-11-24T09:14:05Z",
                    "stale": "2026-11-24T09:14:05Z",
                }
            ),
            "time is not an ISO 8601 UTC time: '2026-11-24T09:14:05'",
        ),
        (
            b'<ns:event xmlns:ns="urn:x"/>',
            "root element is '{urn:x}event', not 'event'",
        ),
        (b"<event/><event/>", "not well-formed XML: Extra content at the end of the document"),
    ],
)
def test_structure_reasons(data: bytes, reason: str) -> None:
    assert _reason(data).startswith(reason)


def test_stale_before_time_is_accepted_and_flagged() -> None:
    attrs = {
        "uid": "u",
        "type": "a-f-G",
        "time": "2026-11-24T09:14:05Z",
        "start": "2026-11-24T09:14:05Z",
        "stale": "2026-11-24T09:14:04.999999Z",
    }
    ev = parse_cot(event_with(attrs=attrs))
    assert ev.stale_us == ev.time_us - 1
    assert ev.flags == ("stale_before_time",)


def test_bad_optional_detail_values_are_dropped_and_flagged() -> None:
    inner = (
        '<track speed="-1" course="400"/><link point="91,0"/><link point="1,2,3,4"/>'
        '<link point="1,2,9999999.0"/>'
    )
    ev = parse_cot(event_with(detail_inner=inner))
    assert (ev.speed_mps, ev.course_deg) == (None, None)
    assert [link.point for link in ev.links] == [None, None, (1.0, 2.0)]
    assert ev.links[2].point_hae is None
    assert ev.flags == ("track_invalid", "link_point_invalid", "link_point_invalid")
    weird = parse_cot(event_with(detail_inner='<contact endpoint="nonsense"/>'))
    assert weird.callsign == "ALPHA-1"  # the first <contact> counts
    ev2 = parse_cot(event_with(callsign='A" endpoint="*:-1:stcp'))
    assert ev2.endpoint is not None
    assert (ev2.endpoint.host, ev2.endpoint.port, ev2.endpoint.protocol) == (None, None, "stcp")


# --- the fast time path agrees with parse_iso ---------------------------------------------


@FUZZ
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=0, max_value=999_999_999),
)
def test_fast_time_matches_parse_iso(moment: datetime, digits: int, fraction: int) -> None:
    text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{fraction:09d}"[:digits]
    text += "Z"
    assert fast_time_us(text) == parse_iso(text)
    expected = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    assert fast_time_us(text) // 1_000_000 == int(expected.timestamp())


ISO_LIKE = (
    r"\d{4}-?\d\d-?\d\d([T ]\d\d(:?\d\d(:?\d\d([.,]\d{1,14})?)?)?)?"
    r"([Zz]|[+-]\d\d(:?\d\d(:?\d\d(\.\d{1,7})?)?)?)?"
)


@FUZZ
@given(
    st.from_regex(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", fullmatch=True)
    | st.from_regex(ISO_LIKE, fullmatch=True)
    | st.text(max_size=40)
)
@example(" 2026-11-24T09:14:05Z ")
@example("2020-W35-6T21:14:00Z")
@example("2026-11-24T09:14:05.5+05:30:10.5")
@example("0001-01-01T00:00:00+01:00")
@example("9999-12-31T23:59:59-01:00")
@example("2026-11-24T09:14:05.123456789012Z")
@example("2026-11-24T09:14:05")
@example("2023-02-29T00:00:00Z")
@example("2024-02-29T00:00:00Z")
@example("1900-02-29T00:00:00Z")
@example("2026-11-24T24:00:00Z")
@example("2026-11-24T23:59:60Z")
@example("0000-01-01T00:00:00Z")
def test_fast_time_agrees_on_any_digits(text: str) -> None:
    try:
        want: int | None = parse_iso(text)
    except (ValueError, OverflowError):
        want = None
    try:
        got: int | None = fast_time_us(text)
    except (ValueError, OverflowError):
        got = None
    assert got == want
