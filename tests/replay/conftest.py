"""The simulator's embedded gateway (tests/sim) for the replay tests."""

from tests.sim.conftest import SimGateway, scenario_path, sim_gateway

__all__ = ["SimGateway", "scenario_path", "sim_gateway"]
