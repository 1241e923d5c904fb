from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.feeds.gateway_fixture import RunningGateway, start_gateway


@pytest.fixture
def gateway(store_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    running = start_gateway(store_url, tmp_path)
    yield running
    running.stop()


@pytest.fixture
def gateway_with_udp_worker(store_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    running = start_gateway(store_url, tmp_path, udp_worker=True)
    yield running
    running.stop()
