"""Network faults for the store's tests: a database that stops answering, a host that is lost.

- :class:`FreezingProxy`: a TCP proxy on 127.0.0.1 in front of PostgreSQL. ``freeze()`` stops
  forwarding without closing anything: the server seems to accept a query and never answer
  (this machine's kernel still acknowledges every packet, so keepalives do not help: the
  gateway's health reports ``writer_stuck_s``).
- :class:`LostHostCluster`: a private PostgreSQL cluster (:class:`PrivateCluster`) in its own
  network namespace, reached over a veth pair. ``lose()`` takes the server's end of the link
  down: packets vanish as when a host loses power or its network (no reset, no FIN, no
  acknowledgement), which only TCP keepalives and ``tcp_user_timeout`` notice. Needs root (or
  ``CAP_NET_ADMIN``) and ``ip``; otherwise the test is skipped, or fails in CI.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import socket
import subprocess
import threading

from tests.availability import unavailable
from tests.pgcluster import PrivateCluster


class FreezingProxy:
    """Forwards 127.0.0.1:``port`` to ``target``, one thread per connection, until frozen."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, daemon=True, name="proxy")]
        self._threads[0].start()

    def freeze(self) -> None:
        """Stop forwarding in both directions; connections stay open, unanswered."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)  # so that close() ends this loop at once
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            pipe = threading.Thread(target=self._pipe, args=(client, server), daemon=True)
            self._threads.append(pipe)
            pipe.start()

    def _pipe(self, client: socket.socket, server: socket.socket) -> None:
        peer = {client: server, server: client}
        try:
            while not self._closed.is_set():
                self._flowing.wait()
                readable, _, _ = select.select([client, server], [], [], 0.1)
                for sock in readable:
                    if not self._flowing.is_set():
                        break  # frozen meanwhile: leave the bytes where they are
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
        except (OSError, ValueError):  # closed by the other side, or by close()
            return
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


class LostHostCluster(PrivateCluster):
    """A private cluster listening on a veth address in a network namespace of its own."""

    def __init__(self) -> None:
        if shutil.which("ip") is None:
            unavailable("the `ip` command (iproute2) is not installed", os.environ)
        tag = secrets.token_hex(3)
        self.namespace = f"dc-lost-{tag}"
        self.host_link, self.server_link = f"dcl{tag}h", f"dcl{tag}s"
        x = int(tag, 16)  # a /30 in 10.200-249.x.x, unlikely to clash with anything
        net = f"10.{200 + x % 50}.{(x >> 6) % 256}"
        last = 4 * ((x >> 14) % 60)
        self.host_ip, self.server_ip = f"{net}.{last + 1}", f"{net}.{last + 2}"
        try:
            _ip("netns", "add", self.namespace)
        except (subprocess.CalledProcessError, OSError) as exc:
            unavailable(f"cannot make a network namespace (needs root): {exc}", os.environ)
        try:
            _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.server_link)
            _ip("link", "set", self.server_link, "netns", self.namespace)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_link)
            _ip("link", "set", self.host_link, "up")
            self._in_namespace("addr", "add", f"{self.server_ip}/30", "dev", self.server_link)
            self._in_namespace("link", "set", self.server_link, "up")
            self._in_namespace("link", "set", "lo", "up")
            super().__init__()
        except BaseException:
            self._remove_network()
            raise
        self.prefix = ["ip", "netns", "exec", self.namespace, *self.prefix]
        self.url = f"postgresql+psycopg://postgres@{self.server_ip}:{self.port}/postgres"

    def _in_namespace(self, *args: str) -> None:
        _ip("netns", "exec", self.namespace, "ip", *args)

    def start(self) -> None:
        hba = self.data / "pg_hba.conf"
        line = f"host all all {self.host_ip}/32 trust\n"
        if line not in hba.read_text():
            with hba.open("a") as out:
                out.write(line)
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses={self.server_ip} "
            "-c max_connections=20 -c shared_buffers=16MB"
        )
        log = self.folder / "server.log"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(log), "-w", "start")
        self.wait_ready()

    def lose(self) -> None:
        """The host is gone: its link goes down, every packet to it and from it vanishes."""
        self._in_namespace("link", "set", self.server_link, "down")

    def restore(self) -> None:
        self._in_namespace("link", "set", self.server_link, "up")

    def remove(self) -> None:
        try:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.restore()
            super().remove()
        finally:
            self._remove_network()

    def _remove_network(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            _ip("link", "del", self.host_link)
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            _ip("netns", "del", self.namespace)
