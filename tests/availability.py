"""Skip or fail when something a test needs is absent.

Absent in a user's own clone (no ``../shared/data``, no local PostgreSQL): the test is skipped
with the reason. Absent in CI: the test fails, because CI must run it. CI is any non-empty
``CI`` other than ``false`` or ``0`` (``CI=true``, ``CI=1``, ``CI=yes``...), as CI services set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest


def in_ci(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` says CI: ``CI`` set, non-empty, and not ``false`` or ``0``."""
    value = environ.get("CI", "").strip()
    return value != "" and value.lower() not in ("false", "0")


def unavailable(reason: str, environ: Mapping[str, str]) -> NoReturn:
    if in_ci(environ):
        ci = environ["CI"]
        pytest.fail(f"{reason}; CI={ci}, so this is a failure, not a skip", pytrace=False)
    pytest.skip(reason)


def require_shared_data(path: Path, environ: Mapping[str, str]) -> Path:
    """``path`` if it is a folder; otherwise skip the test, or fail it in CI (:func:`in_ci`)."""
    if path.is_dir():
        return path
    unavailable(
        f"shared real-data folder {path} not found (it lives beside the repository root)", environ
    )
