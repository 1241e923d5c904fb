"""A newcomer's paths: the commands name the database they read when they find nothing, and
point at the demo console's database (``--db demo``) where its incidents are."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_console.cli import main


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("DISPATCH_CONSOLE_DB", "")
    return tmp_path / "data" / "dispatch-console"


def test_an_empty_default_database_is_named_and_the_demo_one_pointed_at(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = data_home / "dispatch-console.sqlite3"
    assert main(["incidents"]) == 0
    out = capsys.readouterr().out
    assert out == f"no incidents in {default}\n"  # no demo run yet: nothing else to say
    for argv, what in (
        (["rejections"], "no rejected messages"),
        (["keys", "list"], "no API keys"),
        (["devices", "list"], "no registered devices"),
    ):
        assert main(argv) == 0
        assert capsys.readouterr().out == f"{what} in {default}\n", argv

    # An incident in the demo console's database (what `make run` writes).
    assert main(["example", "--db", "demo"]) == 0
    assert (data_home / "demo-console.sqlite3").exists()
    capsys.readouterr()
    assert main(["incidents"]) == 0
    out = capsys.readouterr().out
    assert f"no incidents in {default}" in out
    assert f"keeps its 1 incident in {data_home / 'demo-console.sqlite3'}" in out
    assert "--db demo" in out

    assert main(["incidents", "--db", "demo"]) == 0
    listing = capsys.readouterr().out
    assert "Lincoln High School" in listing and "make run" not in listing
    incident = listing.splitlines()[1].split()[0]

    assert main(["state", incident]) == 1
    err = capsys.readouterr().err
    assert f"no incident {incident!r} in {default}" in err
    assert "it is in the demo console's database: add --db demo" in err
    assert main(["state", incident, "--db", "demo"]) == 0
    assert "Incident commander: Lt. J. Hayes" in capsys.readouterr().out


def test_the_example_says_how_to_read_it_again(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["example"]) == 0
    out = capsys.readouterr().out
    assert "dispatch-console incidents --db example" in out
    assert main(["incidents", "--db", "example"]) == 0
    assert "Lincoln High School" in capsys.readouterr().out
