"""Put the demo county (``resources/demo/``) into a store: schools, roster, devices, keys.

Keys are never in the files (secrets must not be committed): one school key per school and one
device key per device are made here, sealed with the master key into the store, and handed back
in memory for a simulator to sign its messages with. Loading twice into the same store changes
nothing the first load made: schools, agencies' rosters, devices and keys that exist are kept
(an existing key's secret is opened with the master key and returned as it is).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from dispatch_console.county.generate import DEVICE_COLUMNS
from dispatch_console.domain.events import check_lat_lon
from dispatch_console.domain.reference import RosterEntry, School
from dispatch_console.domain.roster import agency_key
from dispatch_console.feeds.keys import NewKey, SecretBox, new_key_material
from dispatch_console.importers._text import decode_text, read_file
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.importers.report import ImportFileError
from dispatch_console.importers.roster_csv import load_roster
from dispatch_console.resources import resource
from dispatch_console.store import Store
from dispatch_console.store.registry import KeyKind

__all__ = ["DemoCounty", "DemoDevice", "demo_directory", "load_demo_county", "read_devices"]

KEY_LABEL_PREFIX = "demo: "


@dataclass(frozen=True)
class DemoDevice:
    """A responder's device: on the roster (``agency`` and ``badge`` name the officer), or not
    (an unverified app, or an impostor claiming an agency and a badge nobody holds)."""

    device_id: str
    tak_uid: str | None
    home: tuple[float, float]  # lon, lat
    agency: str | None
    badge: str | None


@dataclass
class DemoCounty:
    """What :func:`load_demo_county` loaded, with every key's secret (in memory only)."""

    directory: Path
    schools: list[School]
    roster: list[RosterEntry]
    devices: list[DemoDevice]
    #: school id -> its key; device id -> its key.
    school_keys: dict[str, NewKey] = field(default_factory=dict)
    device_keys: dict[str, NewKey] = field(default_factory=dict)
    #: What this call added (the rest existed already): schools, roster, devices, keys.
    added: dict[str, int] = field(default_factory=dict)


def demo_directory() -> Path:
    """``resources/demo`` (of a checkout, or of an installed copy)."""
    return resource("demo")


def read_devices(path: str | Path) -> list[DemoDevice]:
    """``devices.csv``: one device a line. A bad line is an :class:`ImportFileError`: the file
    is generated, so a bad line means the file was damaged."""
    source = str(path)
    reader = csv.DictReader(io.StringIO(decode_text(read_file(path), source), newline=""))
    missing = [c for c in DEVICE_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ImportFileError(f"missing column(s) {', '.join(missing)}", source)
    devices: list[DemoDevice] = []
    for row in reader:
        try:
            lat, lon = float(row["home_lat"]), float(row["home_lon"])
            check_lat_lon(lat, lon)
        except ValueError as exc:
            raise ImportFileError(f"line {reader.line_num}: {exc}", source) from None
        device_id = row["device_id"].strip()
        if not device_id:
            raise ImportFileError(f"line {reader.line_num}: missing device_id", source)
        devices.append(
            DemoDevice(
                device_id,
                row["tak_uid"].strip() or None,
                (lon, lat),
                row["agency"].strip() or None,
                row["badge"].strip() or None,
            )
        )
    return devices


def load_demo_county(
    store: Store, box: SecretBox, directory: str | Path | None = None, *, rules: bool = False
) -> DemoCounty:
    """Load the county in ``directory`` (default :func:`demo_directory`) into ``store``.

    A file that does not import cleanly (a rejected school or roster line) stops the load with
    an :class:`ImportFileError` before anything is written: the demo files are generated and
    must be whole. ``rules``: also load the three agencies' response rules (then only the
    officers those rules allow are alerted).
    """
    folder = Path(directory) if directory is not None else demo_directory()
    schools_report = load_schools(folder / "schools.geojson")
    roster_report = load_roster(folder / "roster.csv")
    for report in (schools_report, roster_report):
        if report.rejected:
            raise ImportFileError(
                f"the demo file does not import cleanly: {report.lines()[0]}", report.source
            )
    devices = read_devices(folder / "devices.csv")
    county = DemoCounty(folder, schools_report.imported, roster_report.imported, devices)

    existing_schools = {s.school_id for s in store.schools()}
    new_schools = [s for s in county.schools if s.school_id not in existing_schools]
    store.upsert_schools(new_schools)

    known_agencies = {agency_key(e.agency) for e in store.roster()}
    new_entries = [e for e in county.roster if agency_key(e.agency) not in known_agencies]
    store.replace_roster(new_entries)

    names = {d: e.name for e in county.roster for d in e.device_ids}
    new_devices = 0
    for device in devices:
        if store.device(device.device_id) is None:
            store.add_device(
                device.device_id,
                tak_uid=device.tak_uid,
                label=names.get(device.device_id, "not on a roster"),
                home=device.home,
            )
            new_devices += 1

    keys = _KeyMaker(store, box)
    for school in county.schools:
        county.school_keys[school.school_id] = keys.key("school", school.school_id, school.name)
    for device in devices:
        county.device_keys[device.device_id] = keys.key(
            "device", device.device_id, names.get(device.device_id, device.device_id)
        )
    if rules:  # the three agencies' response rules (``dispatch-console init --demo``)
        from dispatch_console.county.generate import RULE_FILES
        from dispatch_console.domain.rules import parse_rules

        for name in RULE_FILES:
            text = (folder / name).read_text(encoding="utf-8")
            store.load_agency_rules(parse_rules(text, source=name), text)
    county.added = {
        "schools": len(new_schools),
        "roster": len(new_entries),
        "devices": new_devices,
        "keys": keys.created,
    }
    return county


class _KeyMaker:
    """The active key of a scope: an existing one, opened, or a new one, sealed and stored."""

    def __init__(self, store: Store, box: SecretBox) -> None:
        self.store = store
        self.box = box
        self.created = 0
        self.existing: dict[tuple[str, str], str] = {}
        for key in store.api_keys():  # ordered by key id: the first active one of a scope wins
            if not key.revoked:
                self.existing.setdefault((key.kind, key.scope), key.key_id)

    def key(self, kind: KeyKind, scope: str, name: str) -> NewKey:
        key_id = self.existing.get((kind, scope))
        if key_id is not None:
            record = self.store.key(key_id)
            assert record is not None
            return NewKey(key_id, self.box.open(record.secret_sealed))
        material = new_key_material(kind)
        self.store.add_key(
            material.key_id, kind, scope, self.box.seal(material.secret), KEY_LABEL_PREFIX + name
        )
        self.existing[(kind, scope)] = material.key_id
        self.created += 1
        return material
