"""A private PostgreSQL cluster for fault tests: made with the installed ``initdb`` in a
temporary folder, on a free port, so that stopping it never disturbs the shared server.

PostgreSQL refuses to run as root: when the tests run as root, its programs run as the
``postgres`` user (``runuser``), and the folder is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.availability import unavailable
from tests.ports import free_port


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PrivateCluster:
    """``start``, ``stop`` (fast: the server ends its sessions, as in a restart) and
    ``remove``; ``url`` for the store."""

    def __init__(self) -> None:
        initdb, pg_ctl = _program("initdb"), _program("pg_ctl")
        if initdb is None or pg_ctl is None:
            unavailable("PostgreSQL's initdb and pg_ctl are not installed", os.environ)
        self.pg_ctl = pg_ctl
        self.prefix: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no postgres user", os.environ)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="dc-pgcluster-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        try:
            if owner is not None:
                os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "--no-sync", "-E", "UTF8")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self.prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c max_connections=50 -c shared_buffers=32MB"
        )
        log = self.folder / "server.log"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(log), "-w", "start")
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        engine = create_engine(self.url)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            engine.dispose()

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def new_database(self) -> str:
        """A fresh database in the cluster; its URL."""
        name = f"dc_{secrets.token_hex(5)}"
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def remove(self) -> None:
        if self.running:
            subprocess.run(
                [*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.folder, ignore_errors=True)
