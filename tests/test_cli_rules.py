"""`dispatch-console rules load|show` and `gate release`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_console.cli import main
from dispatch_console.county.generate import RULE_FILES
from dispatch_console.store import Store

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def test_rules_load_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "rules.sqlite3")
    assert main(["rules", "show", "--db", db]) == 0
    told = capsys.readouterr().out
    assert told.startswith("DEFAULT RULE in force: no agency rules are loaded\n"), told
    assert "never unverified app users" in told and "staging only, never the school" in told
    for name in RULE_FILES:
        assert main(["rules", "load", str(DEMO / name), "--db", db]) == 0
    assert main(["rules", "load", str(DEMO / RULE_FILES[0]), "--db", db]) == 0
    assert "already loaded: Carverton Police Department rules version 1" in capsys.readouterr().out
    assert main(["rules", "show", "--db", db]) == 0
    shown = capsys.readouterr().out
    assert "DEFAULT RULE" not in shown  # the agencies' own rules replace it
    assert "Harlan Valley County Sheriff's Office, rules version 1" in shown
    assert "Dispatcher gate for off duty and retired: released automatically after 90 s" in shown
    assert "Kentucky State Police Post 17, rules version 1\n  Alerted: on duty;" in shown
    with Store(db) as store:
        assert len(store.agency_rules()) == 3


def test_a_changed_file_with_the_same_version_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "rules.sqlite3")
    first = DEMO / RULE_FILES[2]
    assert main(["rules", "load", str(first), "--db", db]) == 0
    changed = tmp_path / "changed.toml"
    changed.write_text(first.read_text().replace("off_duty = false", "off_duty = true"))
    assert main(["rules", "load", str(changed), "--db", db]) == 1
    assert "give the changed rules a version above it" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('agency = "X"\nversion = 1\n[gate]\nauto_release_s = "soon"\n')
    assert main(["rules", "load", str(bad), "--db", db]) == 1
    assert "auto_release_s" in capsys.readouterr().err


def test_releasing_a_gate_that_is_not_held_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "gate.sqlite3")
    assert main(["example", "--db", db]) == 0
    capsys.readouterr()
    with Store(db) as store:
        incident_id = store.incidents()[0].incident_id
        store.set_user("D. Reyes", "dispatcher")
    assert (
        main(["gate", "release", incident_id, "Georgetown PD", "--by", "D. Reyes", "--db", db]) == 1
    )
    assert "NO_OPEN_GATE" in capsys.readouterr().err
