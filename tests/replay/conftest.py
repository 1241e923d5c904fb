"""The simulator's embedded gateway (tests/sim) for the replay tests."""

from pathlib import Path

import pytest

from dispatch_console.store.chain import SIGNING_KEY_ENV
from tests.sim.conftest import SimGateway, scenario_path, sim_gateway

__all__ = ["SimGateway", "scenario_path", "sim_gateway"]


@pytest.fixture(autouse=True)
def _centre_key_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The centre's signing key of these tests: a file of the test's own, never the user's."""
    monkeypatch.setenv(SIGNING_KEY_ENV, str(tmp_path / "centre-signing.key"))
