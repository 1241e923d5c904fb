from __future__ import annotations

from pathlib import Path

import pytest

from tests.availability import require_shared_data


def test_shared_data_present_is_returned(tmp_path: Path) -> None:
    assert require_shared_data(tmp_path, {"CI": "true"}) == tmp_path


def test_shared_data_missing_skips_outside_ci(tmp_path: Path) -> None:
    missing = tmp_path / "shared" / "data"
    with pytest.raises(pytest.skip.Exception, match="not found"):
        require_shared_data(missing, {})
    with pytest.raises(pytest.skip.Exception):
        require_shared_data(missing, {"CI": "1"})


def test_shared_data_missing_fails_under_ci(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_shared_data(tmp_path / "absent", {"CI": "true"})
