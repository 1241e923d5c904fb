"""Fixtures for the importer tests.

``shared_data`` is the real-data folder ``shared/data`` beside the repository root (see its
README). Tests that use it are skipped with a reason when it is absent, except under CI
(``CI=true``), where a missing folder is a failure: CI must test against the real files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


def require_shared_data(path: Path, environ: Mapping[str, str]) -> Path:
    """``path`` if it is a folder; otherwise skip the test, or fail it when ``CI=true``."""
    if path.is_dir():
        return path
    message = f"shared real-data folder {path} not found (it lives beside the repository root)"
    if environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true, so this is a failure, not a skip")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``shared/data`` folder beside the repository root, as a Path."""
    return require_shared_data(SHARED_DATA, os.environ)
