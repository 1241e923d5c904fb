"""An agency roster from CSV: who is a sworn active officer, who a qualified retired one (LEOSA).

Columns (any order, header names case-insensitive; spaces, underscores and hyphens in them are
ignored): ``agency``, ``badge``, ``name``, ``status`` and optionally ``device_ids``,
``training_date`` (YYYY-MM-DD of the last active-shooter training) and ``leosa_qualified``
(yes/no). The
delimiter is a comma, a semicolon or a tab, whichever the header line is written with. Each bad
row is reported with its 1-based line number; the good rows are still imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

from dispatch_console.domain.reference import RosterEntry, RosterStatus
from dispatch_console.domain.roster import agency_key, badge_key
from dispatch_console.importers._text import decode_text, read_file
from dispatch_console.importers.report import ImportFileError, ImportReport, Problem

__all__ = ["HEADER_NAMES", "STATUS_WORDS", "load_roster", "parse_roster"]

REQUIRED_COLUMNS = ("agency", "badge", "name", "status")
OPTIONAL_COLUMNS = ("device_ids", "training_date", "leosa_qualified")

#: Header text (lower case, without spaces, underscores and hyphens) -> column.
HEADER_NAMES: dict[str, str] = {
    "agency": "agency",
    "badge": "badge",
    "badgenumber": "badge",
    "badgeno": "badge",
    "name": "name",
    "status": "status",
    "deviceids": "device_ids",
    "deviceid": "device_ids",
    "devices": "device_ids",
    "trainingdate": "training_date",
    "astraining": "training_date",
    "leosaqualified": "leosa_qualified",
    "leosa": "leosa_qualified",
}

#: Yes/no words (case-insensitive) of the ``leosa_qualified`` column; empty is no.
_YES_NO: dict[str, bool] = {
    "": False,
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
}

#: Status words (case-insensitive) -> roster status.
STATUS_WORDS: dict[str, RosterStatus] = {
    "active": "active",
    "sworn": "active",
    "retired": "retired",
    "leosa": "retired",
}

_DELIMITERS = (",", ";", "\t")
_DEVICE_SEPARATORS = re.compile(r"[;|\s]+")
_HEADER_NOISE = re.compile(r"[\s_\-]+")


def load_roster(path: str | Path) -> ImportReport[RosterEntry]:
    """:func:`parse_roster` on a file; an unreadable file is an :class:`ImportFileError`."""
    return parse_roster(read_file(path), source=str(path))


def parse_roster(text: str | bytes, *, source: str = "<input>") -> ImportReport[RosterEntry]:
    """Roster entries from CSV text, in file order, with a problem for every refused row."""
    content = decode_text(text, source)
    delimiter = _sniff_delimiter(content, source)
    report: ImportReport[RosterEntry] = ImportReport(source=source, unit="line")
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)

    columns: dict[str, int] | None = None
    width = 0
    seen_badges: dict[tuple[str, str], int] = {}
    device_owner: dict[str, tuple[int, str]] = {}
    previous_end = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.rejected.append(Problem(previous_end + 1, f"unreadable row: {exc}"))
            previous_end = reader.line_num
            continue
        line = previous_end + 1
        previous_end = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue  # blank line, or a row of empty cells (spreadsheet export)
        if columns is None:
            columns = _header(cells, line, report, source)
            width = len(cells)
            continue
        entry = _row(cells, line, columns, width, delimiter, report)
        if entry is None:
            continue
        key = (agency_key(entry.agency), badge_key(entry.badge))
        if key in seen_badges:
            report.rejected.append(
                Problem(
                    line,
                    f"duplicate: agency {entry.agency!r} badge {entry.badge!r} is already on "
                    f"line {seen_badges[key]}",
                    entry.name,
                )
            )
            continue
        claimed = next((d for d in entry.device_ids if d.casefold() in device_owner), None)
        if claimed is not None:
            owner_line, owner = device_owner[claimed.casefold()]
            report.rejected.append(
                Problem(
                    line,
                    f"device id {claimed!r} already belongs to {owner} (line {owner_line})",
                    entry.name,
                )
            )
            continue
        seen_badges[key] = line
        for device in entry.device_ids:
            device_owner[device.casefold()] = (line, entry.name)
        report.imported.append(entry)
    if columns is None:
        raise ImportFileError("no header line: the file is empty", source)
    return report


def _header_key(cell: str) -> str:
    return _HEADER_NOISE.sub("", cell.lower())


def _sniff_delimiter(content: str, source: str) -> str:
    """The delimiter that splits the first non-blank line into the most known column names."""
    first = next((line for line in content.splitlines() if line.strip(" \t,;")), None)
    if first is None:
        raise ImportFileError("no header line: the file is empty", source)
    best, best_count = _DELIMITERS[0], 0
    for delimiter in _DELIMITERS:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        count = sum(_header_key(cell) in HEADER_NAMES for cell in cells)
        if count > best_count:
            best, best_count = delimiter, count
    return best


def _header(
    cells: list[str], line: int, report: ImportReport[RosterEntry], source: str
) -> dict[str, int]:
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for position, cell in enumerate(cells):
        column = HEADER_NAMES.get(_header_key(cell))
        if column is None:
            if cell:
                ignored.append(cell)
            continue
        if column in columns:
            raise ImportFileError(
                f"the header (line {line}) has two {column} columns: "
                f"{cells[columns[column]]!r} and {cell!r}",
                source,
            )
        columns[column] = position
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportFileError(
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header on line {line} has: "
            f"{', '.join(repr(c) for c in cells if c) or 'nothing'})",
            source,
        )
    if ignored:
        report.warnings.append(
            Problem(
                line,
                f"column{'s' if len(ignored) > 1 else ''} ignored: "
                + ", ".join(repr(c) for c in ignored),
            )
        )
    return columns


def _row(
    cells: list[str],
    line: int,
    columns: dict[str, int],
    width: int,
    delimiter: str,
    report: ImportReport[RosterEntry],
) -> RosterEntry | None:
    def cell(column: str) -> str:
        position = columns.get(column)
        return cells[position] if position is not None and position < len(cells) else ""

    name = cell("name") or None
    if any(cells[width:]):
        shown = "tab" if delimiter == "\t" else repr(delimiter)
        report.rejected.append(
            Problem(
                line,
                f"{len(cells)} cells but the header has {width} columns "
                f"(a value with an unquoted {shown} in it?)",
                name,
            )
        )
        return None
    missing = [c for c in ("agency", "badge", "name") if not cell(c)]
    if missing:
        report.rejected.append(Problem(line, f"missing {', '.join(missing)}", name))
        return None
    raw_status = cell("status")
    status = STATUS_WORDS.get(raw_status.casefold())
    if status is None:
        reason = (
            f"unknown status {raw_status!r}" if raw_status else "missing status"
        ) + " (expected active, sworn, retired or LEOSA)"
        report.rejected.append(Problem(line, reason, name))
        return None
    training = cell("training_date").strip() or None
    if training is not None:
        try:
            training = dt.date.fromisoformat(training).isoformat()
        except ValueError:
            report.rejected.append(
                Problem(line, f"training_date {training!r} is not a date (YYYY-MM-DD)", name)
            )
            return None
    leosa = _YES_NO.get(cell("leosa_qualified").strip().casefold())
    if leosa is None:
        report.rejected.append(
            Problem(line, f"leosa_qualified {cell('leosa_qualified')!r} is not yes or no", name)
        )
        return None
    devices: list[str] = []
    for device in _DEVICE_SEPARATORS.split(cell("device_ids")):
        if device and device.casefold() not in {d.casefold() for d in devices}:
            devices.append(device)
    return RosterEntry(
        cell("agency"), cell("badge"), cell("name"), status, tuple(devices), training, leosa
    )
