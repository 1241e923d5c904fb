"""load_demo_county into a SQLite store: everything in, keys made once, twice is once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_console.county.load import demo_directory, load_demo_county, read_devices
from dispatch_console.domain.reference import RosterEntry, School
from dispatch_console.feeds.keys import SecretBox
from dispatch_console.importers import ImportFileError
from dispatch_console.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'store.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def box(tmp_path: Path) -> SecretBox:
    return SecretBox(tmp_path / "master.key")


def test_load_everything(store: Store, box: SecretBox) -> None:
    county = load_demo_county(store, box)

    assert county.directory == demo_directory()
    assert county.added == {"schools": 10, "roster": 150, "devices": 147, "keys": 157}
    assert {s.school_id for s in store.schools()} == {s.school_id for s in county.schools}
    assert store.school("lincoln-hs") == next(
        s for s in county.schools if s.school_id == "lincoln-hs"
    )
    assert len(store.roster()) == 150

    devices = {d.device_id: d for d in store.devices()}
    assert len(devices) == 147
    for device in county.devices:
        stored = devices[device.device_id]
        assert stored.tak_uid == device.tak_uid
        assert (stored.home_lon, stored.home_lat) == device.home
    tak = [d for d in county.devices if d.tak_uid]
    assert tak and all(d.tak_uid.startswith("ANDROID-") for d in tak if d.tak_uid)
    officer = next(e for e in county.roster if e.device_ids)
    assert devices[officer.device_ids[0]].label == officer.name
    assert sum(d.label == "not on a roster" for d in devices.values()) == 6

    keys = {k.key_id: k for k in store.api_keys()}
    assert len(keys) == 157
    for school_id, key in county.school_keys.items():
        record = keys[key.key_id]
        assert (record.kind, record.scope) == ("school", school_id)
        assert key.key_id.startswith("sk_")
        assert box.open(record.secret_sealed) == key.secret
        assert key.secret.encode() not in record.secret_sealed
    for device_id, key in county.device_keys.items():
        record = keys[key.key_id]
        assert (record.kind, record.scope) == ("device", device_id)
        assert box.open(record.secret_sealed) == key.secret
    assert set(county.device_keys) == set(devices)
    assert keys[county.school_keys["lincoln-hs"].key_id].label == "demo: Lincoln High School"


def test_loading_twice_adds_nothing_and_returns_the_same_keys(store: Store, box: SecretBox) -> None:
    first = load_demo_county(store, box)
    second = load_demo_county(store, box)

    assert second.added == {"schools": 0, "roster": 0, "devices": 0, "keys": 0}
    assert second.school_keys == first.school_keys
    assert second.device_keys == first.device_keys
    assert len(store.api_keys()) == 157
    assert len(store.devices()) == 147
    assert len(store.roster()) == 150


def test_what_exists_is_kept(store: Store, box: SecretBox) -> None:
    # A school edited by the incident commander, and an agency's roster imported before.
    store.upsert_schools([School("lincoln-hs", "Lincoln High (edited)", -84.54, 38.225)])
    own = RosterEntry("Carverton Police Department", "1", "Chief Pat Doe", "active")
    store.replace_roster([own])
    first_device = read_devices(demo_directory() / "devices.csv")[0].device_id
    store.add_device(first_device, label="registered by hand", home=(-84.5, 38.2))

    county = load_demo_county(store, box)

    school = store.school("lincoln-hs")
    assert school is not None and school.name == "Lincoln High (edited)"
    assert [e for e in store.roster() if e.agency == own.agency] == [own]
    assert county.added["schools"] == 9
    assert county.added["devices"] == 146
    device = store.device(first_device)
    assert device is not None and device.label == "registered by hand"
    assert first_device in county.device_keys  # a key is made for it all the same
    assert county.added["roster"] == 150 - sum(e.agency == own.agency for e in county.roster)


def test_a_damaged_file_stops_the_load_before_anything_is_written(
    store: Store, box: SecretBox, tmp_path: Path
) -> None:
    folder = tmp_path / "demo"
    shutil.copytree(demo_directory(), folder)
    roster = folder / "roster.csv"
    roster.write_text(roster.read_text() + "Nowhere PD,,Nobody,active,\n")

    with pytest.raises(ImportFileError, match="does not import cleanly: line 152"):
        load_demo_county(store, box, folder)
    assert store.schools() == [] and store.api_keys() == []


def test_read_devices_refuses_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "devices.csv"
    header = "device_id,tak_uid,home_lat,home_lon,agency,badge\n"
    path.write_text(header + "ios-1,,38.2,-84.5,,\n")
    assert read_devices(path)[0].home == (-84.5, 38.2)
    path.write_text(header + "ios-1,,95.0,-84.5,,\n")
    with pytest.raises(ImportFileError, match=r"line 2: latitude 95\.0 is outside"):
        read_devices(path)
    path.write_text("device_id,home_lat\n")
    with pytest.raises(ImportFileError, match="missing column"):
        read_devices(path)
