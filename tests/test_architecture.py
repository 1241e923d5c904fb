"""Every package is covered by the import-linter contracts that keep Qt out of the core.

``lint-imports`` (run by ``make lint`` in CI) checks the contracts; this test checks that a new
package cannot slip past them by not being listed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_ALLOWED = {"app", "ui", "launch"}  # the only places Qt may be imported


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_every_package_outside_app_and_ui_is_forbidden_to_import_qt() -> None:
    packages = {
        p.name for p in (ROOT / "dispatch_console").iterdir() if (p / "__init__.py").exists()
    }
    forbidden = next(c for c in _contracts() if c["type"] == "forbidden")
    sources = {str(m).removeprefix("dispatch_console.") for m in forbidden["source_modules"]}  # type: ignore[attr-defined]
    assert packages - QT_ALLOWED == sources
    assert {"PySide6", "pyqtgraph", "shiboken6"} <= set(forbidden["forbidden_modules"])  # type: ignore[arg-type]


def test_every_package_has_a_place_in_the_layers() -> None:
    packages = {
        p.name for p in (ROOT / "dispatch_console").iterdir() if (p / "__init__.py").exists()
    }
    layers = next(c for c in _contracts() if c["type"] == "layers")
    named = {
        part.strip().removeprefix("dispatch_console.")
        for layer in layers["layers"]  # type: ignore[attr-defined]
        for part in str(layer).replace(":", "|").split("|")
    }
    assert packages <= named
