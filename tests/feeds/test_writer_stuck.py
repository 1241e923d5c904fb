"""The README's promise: a server that accepts the connection but stops answering mid-query holds
the gateway's writer, and ``GET /v1/health`` then reports ``writer_stuck_s`` (and ``degraded``);
when the server answers again, the health is ``ok`` again. The server is PostgreSQL behind a TCP
proxy on 127.0.0.1 that stops forwarding without closing anything (``tests/netfault.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from dispatch_console.feeds.server import WRITER_STUCK_S
from tests.conftest import PostgresDatabases
from tests.feeds.gateway_fixture import RunningGateway, start_gateway
from tests.netfault import FreezingProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied_gateway(
    postgres: PostgresDatabases, tmp_path: Path
) -> Iterator[tuple[RunningGateway, FreezingProxy]]:
    direct = make_url(postgres.new())
    proxy = FreezingProxy((direct.host or "127.0.0.1", direct.port or 5432))
    gateway = None
    try:
        url = direct.set(port=proxy.port).render_as_string(hide_password=False)
        gateway = start_gateway(url, tmp_path)
        yield gateway, proxy
    finally:
        proxy.thaw()
        if gateway is not None:
            gateway.stop()
        proxy.close()


def _health_until(
    gateway: RunningGateway, condition: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, health = gateway.get("/v1/health", None)
        assert status == 200, health
        if condition(health):
            return health
        assert time.monotonic() < deadline, f"health still {health} after {timeout} s"
        time.sleep(0.2)


def test_health_reports_writer_stuck_s_while_the_database_stops_answering(
    proxied_gateway: tuple[RunningGateway, FreezingProxy],
) -> None:
    gateway, proxy = proxied_gateway
    assert _health_until(gateway, lambda h: h["status"] == "ok", 30) == {
        "status": "ok",
        "store": "reachable",
        "journaled": 0,
    }
    proxy.freeze()  # the writer's next read of the store is never answered
    frozen_at = time.monotonic()
    health = _health_until(gateway, lambda h: "writer_stuck_s" in h, WRITER_STUCK_S + 30)
    assert health["status"] == "degraded", health
    assert WRITER_STUCK_S <= health["writer_stuck_s"] <= time.monotonic() - frozen_at + 1.0
    later = _health_until(gateway, lambda h: h["writer_stuck_s"] > health["writer_stuck_s"], 30)
    assert later["status"] == "degraded"  # still stuck, and counting

    proxy.thaw()  # the server answers again: the writer goes on, the health is ok again
    assert _health_until(gateway, lambda h: "writer_stuck_s" not in h, 60)["status"] in (
        "ok",
        "degraded",  # only while a journal is forwarded; none here
    )
    _health_until(gateway, lambda h: h["status"] == "ok", 60)
