"""The ``dispatch-console`` command line, run as a user would (a real process, a real store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch_console.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(env_home),
        "XDG_DATA_HOME": str(env_home / "data"),
        "XDG_STATE_HOME": str(env_home / "state"),
        "DISPATCH_CONSOLE_DB": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "dispatch_console.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    db = str(tmp_path / "demo.sqlite3")
    assert main(["example", "--db", db]) == 0
    return db


def test_example_builds_the_example_incident_and_shows_it(tmp_path: Path) -> None:
    result = run("example", "--db", str(tmp_path / "d.sqlite3"), env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Lincoln High School · ACTIVE SHOOTER" in out
    assert "*** EXERCISE ***" in out
    assert "SUSPECT: male, white, black shirt" in out
    assert "refused, as it should be: ASSIGN_REQUIRES_IDENTIFIED" in out
    assert "Det. M. Ruiz" in out and "UNVERIFIED" in out


def test_example_without_db_uses_the_user_data_directory(tmp_path: Path) -> None:
    result = run("example", env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "dispatch-console" / "example.sqlite3").exists()


def test_incidents_events_and_state_of_the_example(
    demo_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["incidents", "--db", demo_db]) == 0
    listing = capsys.readouterr().out
    assert "[EXERCISE]" in listing and "Lincoln High School" in listing
    incident = listing.splitlines()[1].split()[0]

    assert main(["events", incident, "--db", demo_db, "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["type"] == "incident_opened"
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)
    assert {
        "seq",
        "incident_id",
        "event_time",
        "received_time",
        "actor",
        "source",
        "type",
        "payload",
    } <= set(lines[0])
    assert any(e["type"] == "responder_assigned" for e in lines)

    assert main(["events", incident, "--db", demo_db, "--type", "alert_acknowledged"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and "Dispatcher A. Moreno" in table[1]

    assert main(["state", incident, "--db", demo_db, "--at", "+240", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    ruiz = document["responders"]["dev-ruiz"]
    assert ruiz["status"] == "en_route" and ruiz["self_dispatched"] is True
    assert document["counts"]["identified"] + document["counts"]["staged"] == 1
    assert document["suspect_revisions"][0]["rev"] == 1 and len(document["suspect_revisions"]) == 1

    assert main(["state", incident, "--db", demo_db, "--at", "2026-11-24T09:21:05Z"]) == 0
    text = capsys.readouterr().out
    assert "assigned 2" in text and "(rev 2," in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["state", "no-such-incident"], "no incident 'no-such-incident'"),
        (["events", "no-such-incident"], "no incident 'no-such-incident'"),
        (["import-schools", "/nonexistent/schools.geojson"], "error:"),
        (["import-roster", "/nonexistent/roster.csv"], "error:"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = run(*args, "--db", str(tmp_path / "x.sqlite3"), env_home=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_bad_instant_is_one_clear_line(demo_db: str, tmp_path: Path) -> None:
    listing = run("incidents", "--db", demo_db, env_home=tmp_path).stdout
    incident = listing.splitlines()[1].split()[0]
    for bad in ("+soon", "2026-11-24 09:20"):
        result = run("state", incident, "--at", bad, "--db", demo_db, env_home=tmp_path)
        assert result.returncode == 1
        assert "--at" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run("incidents", "--db", "postgresql://u:hunter2@127.0.0.1:1/x", env_home=tmp_path)
    assert result.returncode == 1
    assert "cannot open postgresql+psycopg://u@127.0.0.1:1/x" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_init_creates_the_database(tmp_path: Path) -> None:
    result = run("init", "--db", str(tmp_path / "new.sqlite3"), env_home=tmp_path)
    assert result.returncode == 0 and "database ready" in result.stdout
    assert (tmp_path / "new.sqlite3").exists()


@pytest.mark.parametrize("bad", ["+inf", "+nan", "+1e30", "-5", "+-3", "9999-99-99T00:00:00Z"])
def test_out_of_range_instants_are_one_clear_line(demo_db: str, tmp_path: Path, bad: str) -> None:
    listing = run("incidents", "--db", demo_db, env_home=tmp_path).stdout
    incident = listing.splitlines()[1].split()[0]
    result = run("state", incident, f"--at={bad}", "--db", demo_db, env_home=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "--at" in result.stderr and "internal error" not in result.stderr


def test_a_malformed_database_url_is_one_clear_line(tmp_path: Path) -> None:
    result = run("incidents", "--db", "foo:://x", env_home=tmp_path)
    assert result.returncode == 1
    assert "not a database URL" in result.stderr and "internal error" not in result.stderr


def test_devices_and_keys_are_managed_and_secrets_never_shown_again(tmp_path: Path) -> None:
    db = str(tmp_path / "g.sqlite3")
    env_home = tmp_path
    school = ROOT / "resources" / "example" / "lincoln_hs.geojson"
    assert run("import-schools", str(school), "--db", db, env_home=env_home).returncode == 0
    added = run(
        "devices",
        "add",
        "dev-1",
        "--tak-uid",
        "ANDROID-1",
        "--home",
        "38.23,-84.55",
        "--db",
        db,
        env_home=env_home,
    )
    assert added.returncode == 0 and "ANDROID-1" in added.stdout
    clash = run("devices", "add", "dev-2", "--tak-uid", "ANDROID-1", "--db", db, env_home=env_home)
    assert clash.returncode == 1 and "belongs to another device" in clash.stderr
    bad_home = run("devices", "add", "dev-3", "--home", "north", "--db", db, env_home=env_home)
    assert bad_home.returncode == 1 and "--home" in bad_home.stderr
    listed = run("devices", "list", "--db", db, env_home=env_home).stdout
    assert "dev-1" in listed and "38.23000,-84.55000" in listed

    made = run("keys", "add", "device", "dev-1", "--db", db, env_home=env_home)
    assert made.returncode == 0
    secret = next(line.split()[1] for line in made.stdout.splitlines() if line.startswith("secret"))
    key_id = next(line.split()[2] for line in made.stdout.splitlines() if line.startswith("key id"))
    listed_keys = run("keys", "list", "--db", db, env_home=env_home).stdout
    assert key_id in listed_keys and secret not in listed_keys
    assert secret.encode() not in (tmp_path / "g.sqlite3").read_bytes()  # sealed at rest
    assert run("keys", "add", "school", "nowhere", "--db", db, env_home=env_home).returncode == 1
    assert run("keys", "revoke", key_id, "--db", db, env_home=env_home).returncode == 0
    key_line = run("keys", "list", "--db", db, env_home=env_home).stdout.split(key_id)[1]
    assert "active" not in key_line.splitlines()[0]
    assert run("keys", "revoke", key_id, "--db", db, env_home=env_home).returncode == 1
    assert run("devices", "remove", "dev-1", "--db", db, env_home=env_home).returncode == 0
    assert "dev-1" not in run("devices", "list", "--db", db, env_home=env_home).stdout
    assert "no rejected messages" in run("rejections", "--db", db, env_home=env_home).stdout


def test_the_gateway_logs_where_it_listens_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    ports = []
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(str(probe.getsockname()[1]))
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dispatch_console.cli",
            "gateway",
            "--db",
            str(tmp_path / "gw.sqlite3"),
            "--http-port",
            ports[0],
            "--udp-port",
            ports[1],
            "--tcp-port",
            ports[2],
            "--cot-plaintext",
            "--no-cot-tls",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    try:
        line = child.stderr.readline()
        deadline = time.monotonic() + 60
        while "gateway listening" not in line and time.monotonic() < deadline:
            line = child.stderr.readline()
        assert f"http://127.0.0.1:{ports[0]}" in line and f"CoT UDP 127.0.0.1:{ports[1]}" in line
        child.send_signal(signal.SIGTERM)
        rest = child.stderr.read()
        assert child.wait(timeout=60) == 0
        assert "gateway stopped" in rest and "Traceback" not in rest
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()


def test_init_demo_loads_the_demo_county_once(tmp_path: Path) -> None:
    db = str(tmp_path / "demo-county.sqlite3")
    first = run("init", "--demo", "--db", db, env_home=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "added 10 schools, 150 roster, 147 devices, 157 keys" in first.stdout
    again = run("init", "--demo", "--db", db, env_home=tmp_path)
    assert "added 0 schools, 0 roster, 0 devices, 0 keys" in again.stdout
    schools = run("devices", "list", "--db", db, env_home=tmp_path).stdout
    assert len(schools.splitlines()) == 148  # a header and 147 devices


def test_state_names_the_acting_incident_commander_of_an_older_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An incident recorded before command was events, where a registered incident commander
    acted: ``state`` says who acted as IC, from when to when (the report's sentence), not
    "command not established"."""
    from dispatch_console.domain.timeutil import iso
    from tests.ui.test_command_ui import store_older_record

    db = str(tmp_path / "older.sqlite3")
    incident, t1, t2 = store_older_record(f"sqlite:///{db}")
    capsys.readouterr()
    assert main(["state", incident, "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "Incident commander: Lt. J. Hayes, acting incident commander (command not formally "
        f"established): first acted {iso(t1)}, last acted {iso(t2)}"
    ) in lines
    # The JSON form names him too, with the same sentence.
    assert main(["state", incident, "--db", db, "--format", "json"]) == 0
    (acting,) = json.loads(capsys.readouterr().out)["acting_commanders"]
    assert acting["name"] == "Lt. J. Hayes" and acting["first_acted"] == iso(t1)
    assert acting["last_acted"] == iso(t2) and acting["sentence"].startswith("Lt. J. Hayes, acting")
    # The role is the store's: registered as a dispatcher, his acts make nobody IC.
    from dispatch_console.store import Store

    with Store(f"sqlite:///{db}") as store:
        store.set_user("Lt. J. Hayes", "dispatcher")
    assert main(["state", incident, "--db", db]) == 0
    assert "Incident commander: command not established" in capsys.readouterr().out.splitlines()
    assert main(["state", incident, "--db", db, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["acting_commanders"] == []
