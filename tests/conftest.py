"""Fixtures shared by every test folder: real databases and the shared real-world data."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

# No screen here or in CI: Qt renders offscreen unless the caller chose a platform (xvfb).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dispatch_console.store import Store
from dispatch_console.store.chain import SIGNING_KEY_ENV
from tests.availability import require_shared_data, unavailable
from tests.builders import IC
from tests.pgcluster import PrivateCluster

PG_URL = os.environ.get("DISPATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project root (real public files to import)."""
    return require_shared_data(SHARED_DATA, os.environ)


class PostgresDatabases:
    """Creates a throw-away database per test on the local server, from a migrated template."""

    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base_url = make_url(admin_url)
        self.template = f"dc_template_{secrets.token_hex(4)}"
        self.created: list[str] = []
        self._execute(f'CREATE DATABASE "{self.template}"')
        Store(self.url_of(self.template)).close()  # run the migrations once

    def url_of(self, name: str) -> str:
        return self.base_url.set(database=name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def new(self) -> str:
        name = f"dc_test_{secrets.token_hex(6)}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url_of(name)

    def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    probe = create_engine(PG_URL)
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        unavailable(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}", os.environ)
    finally:
        probe.dispose()
    databases = PostgresDatabases(PG_URL)
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster, running, for tests that stop and start it (a test that
    stops it starts it again before it ends)."""
    private = PrivateCluster()
    try:
        private.start()
        yield private
    finally:
        private.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database URL: a SQLite file, then a PostgreSQL database; the
    builders' incident commander is a registered console user in it (the store refuses incident
    events of console users who are not, or who only watch)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres")
        url = databases.new()
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened


@pytest.fixture(autouse=True)
def _centre_signing_key_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The centre's signing key (issue 16) of each test: a file of the test's own, never the
    user's (gateways and exports sign with it; processes a test starts inherit it)."""
    monkeypatch.setenv(SIGNING_KEY_ENV, str(tmp_path / "centre-signing.key"))
