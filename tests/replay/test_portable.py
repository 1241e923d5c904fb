"""Portable incident files: export, import into a fresh store (SQLite and PostgreSQL), replay
with identical metrics; a hostile, malformed or truncated file is refused, nothing stored."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import RosterEntry
from dispatch_console.replay import portable
from dispatch_console.replay.metrics import compute
from dispatch_console.replay.portable import (
    PortableError,
    export_incident,
    import_file,
    import_incident,
    read_incident_file,
)
from dispatch_console.replay.timeline import Timeline
from dispatch_console.store import Store
from dispatch_console.store.chain import CentreKey
from tests.builders import IC, T0, Recorder, S
from tests.replay.scripted import run_live
from tests.sim.conftest import SimGateway
from tests.users import register


def comparable(state: object) -> object:
    """A state without what depends on where it is stored (sequence numbers)."""
    document = msgspec.to_builtins(state)
    document.pop("last_seq")
    return document


def test_an_imported_incident_replays_with_identical_states_and_metrics(
    sim_gateway: Callable[..., SimGateway], store_url: str, tmp_path: Path
) -> None:
    gateway = sim_gateway()
    live = run_live(gateway, "black_shirt")  # closed with an all clear at the end
    path = tmp_path / "incident.jsonl.gz"
    key = CentreKey(tmp_path / "centre.key")
    exported = export_incident(gateway.store, live.incident_id, path, signing_key=key)
    assert exported.events == len(live.seen) and not exported.exercise
    incident = live.incident_id
    original = Timeline.load(gateway.store, incident)
    with Store(store_url) as target:
        assert target.incidents() == [] and target.school("lincoln-hs") is None
        target.trust_key(key.public, "the exporting centre")
        result = import_file(target, path)
        assert result.signer == "the exporting centre"
        assert result.incident_id == incident and result.stored == len(original)
        assert result.school_added and not result.already_imported
        assert target.school("lincoln-hs") == gateway.store.school("lincoln-hs")
        assert target.roster() == []  # the excerpt never changes this database's roster
        imported = Timeline.load(target, incident)
        mark = imported.events.pop()  # the import's own last event: where it came from
        assert isinstance(mark.payload, ev.IncidentImported) and mark.payload.trusted
        assert compute(imported.events) == compute(original.events)
        assert (imported.start_us, imported.end_us) == (original.start_us, original.end_us)
        for fraction in (0.0, 0.2, 0.5, 0.8, 1.0):
            t = original.start_us + int(fraction * (original.end_us - original.start_us))
            assert comparable(imported.state_at(t)) == comparable(original.state_at(t))
        # Events keep their times, actors, sources, payloads, keys and order; not their seq.
        assert [msgspec.structs.replace(e, seq=0) for e in imported.events] == [
            msgspec.structs.replace(e, seq=0) for e in original.events
        ]
        # The store's own state_at (by received time) works on the imported incident too.
        # (Counting the import's mark, one event more.)
        final = msgspec.structs.replace(
            original.final_state, event_count=original.final_state.event_count + 1
        )
        assert comparable(target.state_at(incident)) == comparable(final)
        # Importing the same file again changes nothing.
        before = target.last_seq()
        again = import_file(target, path)
        assert again.already_imported and again.stored == 0 and target.last_seq() == before
        # Exported from here, the file holds the same events.
        second = tmp_path / "again.jsonl.gz"
        export_incident(target, incident, second)
        assert [
            msgspec.structs.replace(e, seq=0) for e in read_incident_file(second).events[:-1]
        ] == [msgspec.structs.replace(e, seq=0) for e in original.events]
    excerpt = read_incident_file(path).roster
    assert excerpt and all(isinstance(r, RosterEntry) for r in excerpt)
    full = {(r.agency, r.badge): r for r in gateway.store.roster()}
    for entry in excerpt:
        known = full[(entry.agency, entry.badge)]
        assert (entry.name, entry.status) == (known.name, known.status)
        assert set(entry.device_ids) <= set(known.device_ids)
    assert any(entry.device_ids for entry in excerpt)


# --- a small incident in a SQLite store, exported, then spoiled in every way ------------------


def small_store(tmp_path: Path, *, close: bool = True, exercise: bool = False) -> Store:
    rec = Recorder("20261119-0900-lincoln-hs-0001")
    rec.add(ev.IncidentOpened("lincoln-hs", "Lincoln HS", "active_shooter", -84.54, 38.225,
                              exercise))  # fmt: skip
    rec.add(ev.PerimeterSet("inner", "inner", {"type": "Point", "coordinates": [-84.54, 38.225]},
                            radius_m=120))  # fmt: skip
    rec.notified("r1")
    rec.position("r1", 38.225, -84.54, at_s=10)
    rec.add(ev.PerimeterEntered("r1", "inner", "inner"), 10)
    if close:
        rec.add(ev.IncidentStatusChanged("all_clear"), 60)
    store = Store(f"sqlite:///{tmp_path / 'small.sqlite3'}", clock=lambda: T0 + 3600 * S)
    register(store, IC)
    store.append(rec.drafts())
    return store


@pytest.fixture
def small_file(tmp_path: Path) -> Iterator[Path]:
    with small_store(tmp_path) as store:
        path = tmp_path / "small.jsonl.gz"
        export_incident(store, "20261119-0900-lincoln-hs-0001", path)
    yield path


def lines_of(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes], *, fix_checksum: bool = True) -> Path:
    if fix_checksum:
        events = lines[1:-1]
        trailer = json.loads(lines[-1])
        trailer["sha256"] = hashlib.sha256(b"".join(events)).hexdigest()
        trailer["event_count"] = len(events)
        header = json.loads(lines[0])
        header["event_count"] = len(events)
        lines = [
            json.dumps(header).encode() + b"\n",
            *events,
            json.dumps(trailer).encode() + b"\n",
        ]
    out = path.with_name("spoiled.jsonl.gz")
    out.write_bytes(gzip.compress(b"".join(lines)))
    return out


def edit_event(line: bytes, **changes: object) -> bytes:
    record = json.loads(line)
    for key, value in changes.items():
        if key.startswith("payload."):
            record["payload"][key.removeprefix("payload.")] = value
        else:
            record[key] = value
    return json.dumps(record).encode() + b"\n"


def spoil(path: Path, how: str) -> Path:
    lines = lines_of(path)
    raw = gzip.decompress(path.read_bytes())
    if how == "not gzip":
        out = path.with_name("plain.txt")
        out.write_bytes(raw)
        return out
    if how == "truncated":
        out = path.with_name("cut.jsonl.gz")
        out.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
        return out
    if how == "no end line":
        return write_lines(path, lines[:-1], fix_checksum=False)
    if how == "cut at a line":
        return write_lines(path, [*lines[:-2], lines[-1]], fix_checksum=False)
    if how == "checksum":
        spoiled = edit_event(lines[5], occurred_at_us=T0 + 11 * S)
        return write_lines(path, [*lines[:5], spoiled, *lines[6:]], fix_checksum=False)
    if how == "other format":
        return write_lines(path, [b'{"format": "geojson"}\n', *lines[1:]], fix_checksum=False)
    if how == "newer version":
        header = json.loads(lines[0])
        header["version"] = 2
        return write_lines(path, [json.dumps(header).encode() + b"\n", *lines[1:]])
    if how == "unknown header field":
        header = json.loads(lines[0])
        header["extra"] = 1
        return write_lines(path, [json.dumps(header).encode() + b"\n", *lines[1:]])
    if how == "unknown type":
        return write_lines(path, [*lines[:2], edit_event(lines[2], type="drop_table"), *lines[3:]])
    if how == "unknown payload field":
        spoiled = edit_event(lines[3], **{"payload.sql": "DROP TABLE events"})
        return write_lines(path, [*lines[:3], spoiled, *lines[4:]])
    if how == "bad coordinates":
        position = next(i for i, line in enumerate(lines) if b"responder_position" in line)
        spoiled = edit_event(lines[position], **{"payload.lat": 123.0})
        return write_lines(path, [*lines[:position], spoiled, *lines[position + 1 :]])
    if how == "infinite radius":
        spoiled = lines[2].replace(b'"radius_m":120.0', b'"radius_m":1e999')
        assert spoiled != lines[2]
        return write_lines(path, [*lines[:2], spoiled, *lines[3:]])
    if how == "bad geometry":
        spoiled = edit_event(
            lines[2], **{"payload.geometry": {"type": "Polygon", "coordinates": 7}}
        )
        return write_lines(path, [*lines[:2], spoiled, *lines[3:]])
    if how == "out of order":
        return write_lines(path, [lines[0], lines[1], lines[3], lines[2], *lines[4:]])
    if how == "received goes back":
        spoiled = edit_event(lines[4], received_at_us=T0 - S)
        return write_lines(path, [*lines[:4], spoiled, *lines[5:]])
    if how == "not opened first":
        return write_lines(path, [lines[0], *lines[2:]])
    if how == "data after the end":
        return write_lines(path, [*lines, lines[1]], fix_checksum=False)
    if how == "incident id with a space":
        header = json.loads(lines[0])
        header["incident_id"] = "a b"
        return write_lines(path, [json.dumps(header).encode() + b"\n", *lines[1:]])
    if how == "huge time":
        return write_lines(path, [lines[0], edit_event(lines[1], occurred_at_us=2**63 - 1),
                                  *lines[2:]])  # fmt: skip
    if how == "exercise flag lies":
        header = json.loads(lines[0])
        header["exercise"] = True
        return write_lines(path, [json.dumps(header).encode() + b"\n", *lines[1:]])
    if how == "school far away":
        header = json.loads(lines[0])
        header["school"] = {"school_id": "x", "name": "X", "lon": 500.0, "lat": 0.0}
        return write_lines(path, [json.dumps(header).encode() + b"\n", *lines[1:]])
    if how == "from the future":
        tomorrow = int(time.time()) * S + 86_400 * S
        spoiled = edit_event(lines[6], occurred_at_us=tomorrow, received_at_us=tomorrow)
        return write_lines(path, [*lines[:6], spoiled, *lines[7:]])
    if how == "empty":
        out = path.with_name("empty.jsonl.gz")
        out.write_bytes(gzip.compress(b""))
        return out
    raise AssertionError(how)


SPOILS = [
    "not gzip", "truncated", "no end line", "cut at a line", "checksum", "other format",
    "newer version", "unknown header field", "unknown type", "unknown payload field",
    "bad coordinates", "infinite radius", "bad geometry", "out of order", "received goes back",
    "not opened first", "data after the end", "incident id with a space", "huge time",
    "exercise flag lies", "school far away", "empty", "from the future",
]  # fmt: skip


@pytest.mark.parametrize("how", SPOILS)
def test_a_spoiled_file_is_refused_in_one_line_and_nothing_is_stored(
    small_file: Path, tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = spoil(small_file, how)
    target = tmp_path / "target.sqlite3"
    with Store(f"sqlite:///{target}") as store:
        with pytest.raises(PortableError) as refused:
            import_incident(store, bad, untrusted=True)
        assert "\n" not in str(refused.value) and str(bad) in str(refused.value)
        assert store.last_seq() == 0 and store.schools() == []
    capsys.readouterr()
    assert main(["import-incident", str(bad), "--db", str(target), "--untrusted"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dispatch-console: error: "), err
    with Store(f"sqlite:///{target}") as store:
        assert store.last_seq() == 0


def test_the_unspoiled_file_imports(small_file: Path, tmp_path: Path) -> None:
    """The spoiling helpers themselves leave a good file good (so each refusal above is for
    the one thing spoiled)."""
    rewritten = write_lines(small_file, lines_of(small_file))
    with Store(f"sqlite:///{tmp_path / 't.sqlite3'}") as store:
        assert import_incident(store, rewritten, untrusted=True) == "20261119-0900-lincoln-hs-0001"
        assert len(list(store.read("20261119-0900-lincoln-hs-0001"))) == 6 + 1  # + the mark


def test_a_line_longer_than_the_limit_is_refused(
    small_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(portable, "MAX_LINE_BYTES", 200)
    with pytest.raises(PortableError, match="longer than 200 bytes"):
        read_incident_file(small_file)


def test_an_incident_of_the_same_id_with_other_events_is_refused(
    small_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with small_store(other, close=False) as store:  # same id, not closed: other events
        before = store.last_seq()
        with pytest.raises(PortableError, match="exists in this database with other events"):
            import_incident(store, small_file, untrusted=True)
        assert store.last_seq() == before


def test_a_key_stored_already_refuses_the_whole_import(small_file: Path, tmp_path: Path) -> None:
    lines = lines_of(small_file)
    keyed = edit_event(lines[3], idempotency_key="sk_1/m-1")
    spoiled = write_lines(small_file, [*lines[:3], keyed, *lines[4:]])
    with Store(f"sqlite:///{tmp_path / 'k.sqlite3'}") as store:
        rec = Recorder("inc-other").opened()
        rec.add(ev.ResponderNotified("x", "x"), 1, key="sk_1/m-1")
        register(store, IC)
        store.append(rec.drafts())
        before = store.last_seq()
        with pytest.raises(PortableError, match="sk_1/m-1"):
            import_incident(store, spoiled, untrusted=True)
        assert store.last_seq() == before and not store.has_incident(
            "20261119-0900-lincoln-hs-0001"
        )


def test_a_live_incident_still_active_is_neither_exported_nor_imported(tmp_path: Path) -> None:
    with small_store(tmp_path, close=False) as store:
        with pytest.raises(PortableError, match="still active"):
            export_incident(store, "20261119-0900-lincoln-hs-0001", tmp_path / "x.jsonl.gz")
        assert not (tmp_path / "x.jsonl.gz").exists()
    # A file made by hand (or by another tool) is refused on import as well.
    closed = tmp_path / "closed"
    closed.mkdir()
    with small_store(closed) as store:
        good = closed / "good.jsonl.gz"
        export_incident(store, "20261119-0900-lincoln-hs-0001", good)
    lines = lines_of(good)
    header = json.loads(lines[0])
    header["status"] = "active"
    active = write_lines(good, [json.dumps(header).encode() + b"\n", *lines[1:-2], lines[-1]])
    with Store(f"sqlite:///{tmp_path / 'target.sqlite3'}") as target:
        with pytest.raises(PortableError, match="still active"):
            import_incident(target, active, untrusted=True)
        assert target.last_seq() == 0


def test_an_active_exercise_travels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with small_store(tmp_path, close=False, exercise=True) as store:
        path = tmp_path / "drill.jsonl.gz"
        result = export_incident(store, "20261119-0900-lincoln-hs-0001", path)
        assert result.exercise and result.status == "active"
    target = str(tmp_path / "target.sqlite3")
    assert main(["import-incident", str(path), "--db", target]) == 1  # unsigned: refused
    assert "not signed" in capsys.readouterr().err
    assert main(["import-incident", str(path), "--db", target, "--untrusted"]) == 0
    out = capsys.readouterr().out
    assert "imported incident 20261119-0900-lincoln-hs-0001 [EXERCISE]: 5 events" in out
    assert "UNTRUSTED" in out
    assert main(["incidents", "--db", target]) == 0
    listed = capsys.readouterr().out
    assert "[EXERCISE]" in listed and "[UNTRUSTED IMPORT]" in listed


def test_export_and_import_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_store(tmp_path).close()
    source = str(tmp_path / "small.sqlite3")
    path = tmp_path / "out.jsonl.gz"
    capsys.readouterr()
    assert main(["export-incident", "20261119-0900-lincoln-hs-0001", "-o", str(path),
                 "--db", source]) == 0  # fmt: skip
    assert "6 events, all clear" in capsys.readouterr().out
    target = str(tmp_path / "target.sqlite3")
    assert main(["import-incident", str(path), "--db", target]) == 0
    assert "imported incident 20261119-0900-lincoln-hs-0001: 6 events" in capsys.readouterr().out
    assert main(["import-incident", str(path), "--db", target]) == 0
    assert "here already" in capsys.readouterr().out
    assert main(["export-incident", "nope", "-o", str(path), "--db", source]) == 1
    assert "no incident 'nope'" in capsys.readouterr().err


# --- signed files (issue 16) ----------------------------------------------------------------------


def test_a_forged_or_unsigned_file_is_refused_unless_imported_as_untrusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's attack: a file whose actors were rewritten and whose SHA-256 was
    recomputed. The checksum has no key; the signature has, and no longer verifies."""
    key = CentreKey(tmp_path / "sender.key")
    with small_store(tmp_path) as store:
        signed = tmp_path / "signed.jsonl.gz"
        export_incident(store, "20261119-0900-lincoln-hs-0001", signed, signing_key=key)
    lines = lines_of(signed)
    assert json.loads(lines[-1])["key_id"] == key.key_id
    forged_lines = [
        edit_event(line, actor={"kind": "console_user", "name": "Chief Impostor"})
        if b'"console_user"' in line
        else line
        for line in lines[1:-1]
    ]
    trailer = json.loads(lines[-1])
    trailer["sha256"] = hashlib.sha256(b"".join(forged_lines)).hexdigest()
    forged = tmp_path / "forged.jsonl.gz"
    forged.write_bytes(
        gzip.compress(b"".join([lines[0], *forged_lines, json.dumps(trailer).encode() + b"\n"]))
    )
    unsigned = write_lines(signed, lines)  # rewritten: the signature is dropped below
    trailer_unsigned = json.loads(lines_of(unsigned)[-1])
    trailer_unsigned.pop("key_id"), trailer_unsigned.pop("signature")
    unsigned.write_bytes(
        gzip.compress(
            b"".join([*lines_of(unsigned)[:-1], json.dumps(trailer_unsigned).encode() + b"\n"])
        )
    )
    target = tmp_path / "target.sqlite3"
    with Store(f"sqlite:///{target}") as receiving:
        receiving.trust_key(key.public, "Fayette County ECC")
        with pytest.raises(PortableError, match="does not verify: forged"):
            import_file(receiving, forged)
        with pytest.raises(PortableError, match="not signed"):
            import_file(receiving, unsigned)
        assert receiving.last_seq() == 0
        # A key this centre does not trust is refused too.
        other = tmp_path / "other.sqlite3"
        with Store(f"sqlite:///{other}") as stranger, pytest.raises(PortableError, match="trust"):
            import_file(stranger, signed)
        # The genuine file imports, signed.
        assert import_file(receiving, signed).signer == "Fayette County ECC"
    # Told to, the forged file imports as untrusted, and is marked so.
    forged_target = str(tmp_path / "forged-target.sqlite3")
    capsys.readouterr()
    assert main(["import-incident", str(forged), "--db", forged_target]) == 1
    assert "--untrusted" in capsys.readouterr().err
    assert main(["import-incident", str(forged), "--db", forged_target, "--untrusted"]) == 0
    assert "UNTRUSTED" in capsys.readouterr().out
    assert main(["incidents", "--db", forged_target]) == 0
    assert "[UNTRUSTED IMPORT]" in capsys.readouterr().out
    with Store(f"sqlite:///{forged_target}") as store:
        assert (
            "does not trust" in portable.untrusted_incidents(store)["20261119-0900-lincoln-hs-0001"]
        )
        # The replay window's title and the report's summary read the mark from the events.
        why = ev.untrusted_import(store.read("20261119-0900-lincoln-hs-0001"))
        assert why is not None and "does not trust" in why
        # Exported again, from here and signed here, the mark travels with the events.
        again = tmp_path / "again.jsonl.gz"
        export_incident(store, "20261119-0900-lincoln-hs-0001", again, signing_key=key)
    with Store(f"sqlite:///{tmp_path / 'third.sqlite3'}") as third:
        third.trust_key(key.public, "Fayette County ECC")
        import_file(third, again)
        assert "20261119-0900-lincoln-hs-0001" in portable.untrusted_incidents(third)
