from __future__ import annotations

from pathlib import Path

import pytest

from tests.availability import in_ci, require_shared_data


def test_shared_data_present_is_returned(tmp_path: Path) -> None:
    assert require_shared_data(tmp_path, {"CI": "true"}) == tmp_path


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}, {"CI": "False"}])
def test_shared_data_missing_skips_outside_ci(tmp_path: Path, environ: dict[str, str]) -> None:
    missing = tmp_path / "shared" / "data"
    assert not in_ci(environ)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        require_shared_data(missing, environ)


@pytest.mark.parametrize("value", ["true", "1", "yes", "True", "github-actions"])
def test_shared_data_missing_fails_under_any_ci_value(tmp_path: Path, value: str) -> None:
    assert in_ci({"CI": value})
    with pytest.raises(pytest.fail.Exception, match=f"CI={value}, so this is a failure"):
        require_shared_data(tmp_path / "absent", {"CI": value})
