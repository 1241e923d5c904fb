"""Skip or fail when something a test needs is absent.

Absent in a user's own clone (no ``../shared/data``, no local PostgreSQL): the test is skipped
with the reason. Absent in CI (``CI=true``): the test fails, because CI must run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest


def unavailable(reason: str, environ: Mapping[str, str]) -> NoReturn:
    if environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(reason)


def require_shared_data(path: Path, environ: Mapping[str, str]) -> Path:
    """``path`` if it is a folder; otherwise skip the test, or fail it when ``CI=true``."""
    if path.is_dir():
        return path
    unavailable(
        f"shared real-data folder {path} not found (it lives beside the repository root)", environ
    )
