"""The one place that finds files in ``resources/`` (a checkout, or an installed copy)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    candidates = (
        Path(__file__).resolve().parent.parent / "resources",  # a checkout or editable install
        Path(sys.prefix) / "share" / "dispatch-console" / "resources",  # an installed wheel
    )
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("resources/ not found beside the package or under sys.prefix/share")


def resource(*parts: str) -> Path:
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"missing resource {'/'.join(parts)} in {resources_dir()}")
    return path
