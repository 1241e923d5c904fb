"""Small text helpers shared by the importers: decoding, null-ish values, keys, slugs."""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

from dispatch_console.importers.report import ImportFileError

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: Binary formats people hand to a text importer, by their first bytes.
_BINARY_FORMATS = (
    (b"PK\x03\x04", "a ZIP archive (a zipped shapefile?)"),
    (b"\x00\x00\x27\x0a", "an ESRI shapefile (.shp)"),
    (b"SQLite format 3\x00", "an SQLite database (GeoPackage or MBTiles?)"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office file"),
)


def read_file(path: str | Path) -> bytes:
    """A file's bytes; an unreadable file is one :class:`ImportFileError` naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read the file: {exc.strerror or exc}", str(path)) from None


def decode_text(data: bytes | str, source: str) -> str:
    """UTF-8 text from bytes or str; a UTF-8 byte-order mark is dropped."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    for magic, what in _BINARY_FORMATS:
        if data.startswith(magic):
            raise ImportFileError(
                f"this is {what}, not text; convert it first (e.g. ogr2ogr -f GeoJSON -t_srs "
                "EPSG:4326 out.geojson in.shp, or save the sheet as CSV)",
                source,
            )
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    elif data.startswith(_UTF16_BOMS):
        raise ImportFileError("the file is UTF-16 text; save it as UTF-8", source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", source
        ) from None


_KEY_SEPARATORS = re.compile(r"[\s\-:.]+")


def normalize_key(key: str) -> str:
    """``"School Name"``, ``"school-name"``, ``"SCHOOL_NAME"`` -> ``"school_name"``."""
    return _KEY_SEPARATORS.sub("_", key.strip().lower())


_NULL_TEXTS = frozenset({"<null>"})


def clean_text(value: object) -> str | None:
    """A property value as trimmed text, or ``None`` for null-ish values.

    ``None``, ``""``, whitespace and the ESRI export's ``"<Null>"`` are null. Integers and finite
    floats become text (a whole float without its ``.0``). Anything else (a list, an object, a
    boolean, NaN) is not text: ``None``.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text or text.lower() in _NULL_TEXTS:
            return None
        return text
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return None


def fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name, for comparisons."""
    return " ".join(text.casefold().split())


_NOT_WORD = re.compile(r"[\W_]+")


def slug(text: str, fallback: str = "item") -> str:
    """``"St. John's Catholic School"`` -> ``"st-john-s-catholic-school"``; letters in other
    scripts are kept, accents are dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    result = _NOT_WORD.sub("-", plain.casefold()).strip("-")
    return result or fallback


def fmt_number(value: float) -> str:
    """A coordinate for a message: at most 6 decimals, no trailing zeros."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1e15:
        return f"{value:.6g}"
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
