"""Run a scenario against a gateway: :func:`run_scenario`, and :func:`main` for a future
``dispatch-console simulate SCENARIO [--db URL | --gateway URL] [--speed X] [--seed N]``.

App devices speak signed HTTP (feed contract); TAK devices send Cursor-on-Target over UDP or a
TCP stream. Suspect revisions are console actions, not feed messages: they are written through
an :class:`~dispatch_console.service.IncidentService` when a store URL is given (``store_url``,
or ``--db``), and skipped otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dispatch_console.county.roads import load_road_graph
from dispatch_console.domain import events as ev
from dispatch_console.feeds.auth import sign
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.sim.engine import JSON, Engine, SimCounts
from dispatch_console.sim.scenario import Officer, ScenarioError, ScriptedAct, load_scenario

__all__ = ["ActPayloads", "GatewayError", "HttpCotTransport", "SimResult", "main", "run_scenario"]

log = logging.getLogger(__name__)

SIM_ACTOR = ev.Actor(ev.ActorKind.CONSOLE_USER, "simulator (incident commander)")


#: Turns one of the incident commander's scripted acts into the payloads the console would store
#: for it, given the incident's state (the console's own builders, ``app.demo_ic``: the
#: simulator sits below the app layer, so it is handed them).
ActPayloads = Callable[[ScriptedAct, Any], list[ev.Payload]]


class KeyPair(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def secret(self) -> str: ...


class GatewayError(RuntimeError):
    """The gateway refused a request (not a per-message refusal, which is counted)."""


@dataclass
class SimResult:
    """What a run did: the officers' own counts, the incident, and the log digest."""

    incident_id: str | None
    counts: SimCounts
    digest: str
    sent: list[str]
    first_on_scene: str | None
    start_us: int

    @property
    def notified(self) -> int:
        return self.counts.notified

    @property
    def acknowledged(self) -> int:
        return self.counts.acknowledged

    @property
    def self_dispatched(self) -> int:
        return self.counts.self_dispatched

    @property
    def arrived_school(self) -> int:
        return self.counts.arrived_school

    @property
    def arrived_staging(self) -> int:
        return self.counts.arrived_staging


class HttpCotTransport:
    """Signed HTTP to ``gateway_url``; CoT to ``udp`` or a TCP stream per device to ``tcp``."""

    def __init__(
        self,
        gateway_url: str,
        keys: Mapping[str, KeyPair],
        *,
        school_id: str,
        udp: tuple[str, int] | None = None,
        tcp: tuple[str, int] | None = None,
        store_url: str | None = None,
        timeout_s: float = 30.0,
        max_rps: float = 150.0,
        acts: ActPayloads | None = None,
        signing_clock: Callable[[], float] | None = None,
    ) -> None:
        self.acts = acts
        self.url = gateway_url.rstrip("/")
        #: The devices' clock their signatures carry (unix seconds): the wall clock, or the
        #: simulated one when the gateway runs on simulated time (a fast run starting in the
        #: past would otherwise sign more than five minutes away from the gateway's clock).
        self.signing_clock = signing_clock or time.time
        self.keys = keys
        self.school_id = school_id
        self.udp, self.tcp = udp, tcp
        self.timeout_s = timeout_s
        #: Every simulated device sends from this one address: paced, so that a run's burst
        #: (an activation alerting every device) does not meet the gateway's 503 at capacity.
        self._gap_s = 1.0 / max_rps
        self._next_send = 0.0
        self.store_url = store_url
        self._udp_socket: socket.socket | None = None
        self._streams: dict[str, socket.socket] = {}
        self._service: Any = None
        self._store: Any = None

    def close(self) -> None:
        for stream in self._streams.values():
            with contextlib.suppress(OSError):
                stream.close()
        self._streams.clear()
        if self._udp_socket is not None:
            self._udp_socket.close()
            self._udp_socket = None
        if self._store is not None:
            self._store.close()
            self._store = self._service = None

    def _key(self, name: str) -> KeyPair:
        key = self.keys.get(name)
        if key is None:
            raise GatewayError(f"no key for {name}")
        return key

    def _request(self, method: str, path: str, key: KeyPair, body: JSON | None) -> JSON:
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        for _attempt in range(20):
            wait = self._next_send - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._next_send = max(self._next_send, time.monotonic()) + self._gap_s
            headers = {
                "Content-Type": "application/json",
                "X-Dispatch-Key-Id": key.key_id,
                "X-Dispatch-Signature": sign(key.secret.encode(), int(self.signing_clock()), raw),
            }
            request = urllib.request.Request(
                self.url + path,
                data=raw if method == "POST" else None,
                headers=headers,
                method=method,
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    answer: JSON = json.loads(response.read() or b"{}")
                    return answer
            except urllib.error.HTTPError as failed:
                with failed:
                    text = failed.read().decode("utf-8", "replace")
                    if failed.code in (429, 503):  # limited; at capacity; the store briefly down
                        # Backs off as asked, longer each time, with jitter: simulated phones
                        # refused together must not all come back in the same instant.
                        asked = float(failed.headers.get("Retry-After") or 1)
                        time.sleep(min(5.0, asked * (1 + _attempt / 4)) * random.uniform(0.5, 1.0))
                        continue
                    raise GatewayError(f"{method} {path}: {failed.code} {text}") from None
        raise GatewayError(f"{method} {path}: still refused (429/503) after 20 tries")

    def activation(self, body: JSON) -> JSON:
        return self._request("POST", "/v1/activations", self._key(self.school_id), body)

    def device_messages(self, device_id: str, messages: list[JSON]) -> JSON:
        path = f"/v1/devices/{device_id}/messages"
        return self._request("POST", path, self._key(device_id), {"messages": messages})

    def directives(self, device_id: str) -> list[JSON]:
        answer = self._request(
            "GET", f"/v1/devices/{device_id}/directives", self._key(device_id), None
        )
        return list(answer.get("directives", []))

    def cot(self, officer: Officer, data: bytes) -> None:
        if officer.tak_transport == "tcp" and self.tcp is not None:
            stream = self._streams.get(officer.device_id)
            if stream is None:
                stream = socket.create_connection(self.tcp, timeout=self.timeout_s)
                stream.setblocking(False)
                self._streams[officer.device_id] = stream
            self._drain(stream)
            stream.setblocking(True)
            stream.sendall(data)
            stream.setblocking(False)
        elif self.udp is not None:
            if self._udp_socket is None:
                self._udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp_socket.sendto(data, self.udp)

    @staticmethod
    def _drain(stream: socket.socket) -> None:
        """Read (and drop) the CoT the gateway pushed: alert markers and chat lines."""
        with contextlib.suppress(BlockingIOError, OSError):
            while stream.recv(65536):
                pass

    def _console(self) -> Any:
        """The incident service the simulated incident commander acts through."""
        if self._service is None:
            from dispatch_console.service import IncidentService
            from dispatch_console.store import Store

            self._store = Store(self.store_url)
            # The simulator plays the incident commander: registered as one, or refused.
            self._store.set_user(SIM_ACTOR.name, "incident commander")
            self._service = IncidentService(self._store)
        return self._service

    def suspect(self, incident_id: str, description: dict[str, str], at_us: int) -> bool:
        if self.store_url is None:
            return False
        payload = ev.SuspectDescriptionRevised(ev.SuspectDescription(**description))
        self._console().execute(
            incident_id,
            [payload],
            actor=SIM_ACTOR,
            source=ev.Source.SIMULATOR,
            occurred_at_us=at_us,
        )
        return True

    def command(self, incident_id: str, act: ScriptedAct, at_us: int) -> bool:
        """Carry out one of the incident commander's acts on the store's current state; what
        the rules refuse (a responder whose status changed meanwhile) is logged and skipped."""
        if self.store_url is None or self.acts is None:
            return False
        from dispatch_console.service.incidents import Command

        service = self._console()
        state = self._store.state_at(incident_id)  # fresh: devices moved through the gateway
        payloads = self.acts(act, state)
        if not payloads:
            return True
        commands = [
            Command(incident_id, p, SIM_ACTOR, ev.Source.SIMULATOR, at_us) for p in payloads
        ]
        outcome = service.execute_batch(commands)
        for index, why in outcome.refused.items():
            log.info("simulated IC %s: %s refused: %s", act.act, payloads[index].TYPE, why)
        return True


def run_scenario(
    path: str | Path,
    *,
    gateway_url: str,
    udp: tuple[str, int] | None = None,
    tcp: tuple[str, int] | None = None,
    keys: Mapping[str, KeyPair],
    speed: float | None = None,
    seed: int | None = None,
    until_s: float | None = None,
    start_us: int | None = None,
    store_url: str | None = None,
    county: str | Path | None = None,
    stop: threading.Event | None = None,
    on_time: Callable[[int], None] | None = None,
    exercise: bool = False,
    acts: ActPayloads | None = None,
) -> SimResult:
    """Run the scenario at ``path`` against the gateway; ``keys`` maps school and device ids to
    their keys (as :func:`~dispatch_console.county.load.load_demo_county` hands them back).

    ``speed``: simulated seconds per wall second (``None``: as fast as possible). ``until_s``:
    stop there (default: the scenario's ``duration_s``). ``start_us``: the wall time simulated
    second 0 maps onto (default: now); the gateway refuses times more than 5 minutes ahead of
    its clock, so a fast run of a long scenario needs a ``start_us`` in the past. ``stop``: set
    it to end the run early (the console does when it closes). ``on_time``: told each simulated
    instant (a gateway running on simulated time follows it). ``exercise``: the activation
    opens the incident as an exercise (feed contract: kept apart from live incidents).
    ``acts``: builds the payloads of the scenario's ``[[command]]`` acts (with a store URL);
    without it they are skipped.
    """
    from dispatch_console.county.load import demo_directory

    folder = Path(county) if county is not None else demo_directory()
    scenario = load_scenario(path, devices_csv=folder / "devices.csv")
    schools = {s.school_id: s for s in load_schools(folder / "schools.geojson").imported}
    graph = load_road_graph(folder / "roads.geojson")
    told = _SimulatedNow(on_time) if on_time is not None else None
    transport = HttpCotTransport(
        gateway_url,
        keys,
        school_id=scenario.activation.school_id,
        udp=udp,
        tcp=tcp,
        store_url=store_url,
        acts=acts,
        signing_clock=told.seconds if told is not None else None,
    )
    engine = Engine(
        scenario,
        transport,
        graph,
        schools,
        seed=seed,
        start_us=start_us,
        speed=speed,
        on_time=told,
        exercise=exercise,
    )
    try:
        counts = engine.run(until_s, stop=stop)
    finally:
        transport.close()
    return SimResult(
        engine.incident_id,
        counts,
        engine.digest(),
        engine.sent,
        engine.first_on_scene,
        engine.start_us,
    )


class _SimulatedNow:
    """Passes each simulated instant on, and remembers it: a gateway on simulated time checks
    signatures against it, so the devices sign with it."""

    def __init__(self, on_time: Callable[[int], None]) -> None:
        self.on_time = on_time
        self.now_us: int | None = None

    def __call__(self, now_us: int) -> None:
        self.now_us = now_us
        self.on_time(now_us)

    def seconds(self) -> float:
        return time.time() if self.now_us is None else self.now_us / 1_000_000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dispatch-console simulate", description="run a responder scenario against a gateway"
    )
    p.add_argument("scenario", help="a scenario file (TOML), e.g. resources/scenarios/*.toml")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="start an embedded gateway on this store (demo county loaded)")
    where.add_argument("--gateway", help="a running gateway's URL (keys: --keys FILE)")
    p.add_argument("--keys", help="JSON {id: {key_id, secret}} for --gateway")
    p.add_argument("--udp", help="CoT UDP host:port (with --gateway)")
    p.add_argument("--tcp", help="CoT TCP host:port (with --gateway)")
    p.add_argument(
        "--speed", type=float, default=None, help="simulated s per wall s (default: max)"
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--until", type=float, default=None, help="stop at this simulated second")
    p.add_argument("--master-key", help="master key file (with --db)")
    p.add_argument(
        "--exercise",
        action="store_true",
        help="run as an exercise: the incident opens flagged EXERCISE, kept apart from live ones",
    )
    return p


def _host_port(text: str | None) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


@dataclass(frozen=True)
class _Key:
    key_id: str
    secret: str


def main(argv: Sequence[str] | None = None, *, acts: ActPayloads | None = None) -> int:
    args = _parser().parse_args(argv)
    args.acts = acts
    try:
        load_scenario(args.scenario)  # a bad file is reported before any gateway is involved
        if args.db:
            result = _run_embedded(args)
        else:
            if not args.keys:
                print("--gateway needs --keys FILE", file=sys.stderr)
                return 2
            keys = _read_keys(args.keys)
            result = run_scenario(
                args.scenario,
                gateway_url=args.gateway,
                udp=_host_port(args.udp),
                tcp=_host_port(args.tcp),
                keys=keys,
                speed=args.speed,
                seed=args.seed,
                until_s=args.until,
                exercise=args.exercise,
            )
    except (ScenarioError, GatewayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    c = result.counts
    print(f"incident {result.incident_id}" + (" [EXERCISE]" if args.exercise else ""))
    print(
        f"notified {c.notified}, answered {c.answered}, acknowledged {c.acknowledged}, "
        f"declined {c.declined}, self-dispatched {c.self_dispatched}, "
        f"arrived at school {c.arrived_school}, at staging {c.arrived_staging}, "
        f"TAK moving {c.tak_moving}"
    )
    print(
        f"messages {c.messages_sent} (refused {c.refused}), CoT {c.cot_sent}, "
        f"digest {result.digest}"
    )
    return 0


def _read_keys(path: str) -> dict[str, KeyPair]:
    """``{"lincoln-hs": {"key_id": "sk_…", "secret": "…"}, "ios-…": {…}}``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {name: _Key(str(v["key_id"]), str(v["secret"])) for name, v in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GatewayError(f"--keys {path}: not a key file ({type(exc).__name__}: {exc})") from None


def _run_embedded(args: argparse.Namespace) -> SimResult:
    from dispatch_console.county.load import load_demo_county
    from dispatch_console.feeds.keys import SecretBox
    from dispatch_console.feeds.server import GatewayThread, Listen
    from dispatch_console.store import Store

    box = SecretBox(Path(args.master_key)) if args.master_key else SecretBox()
    store = Store(args.db)
    try:
        county = load_demo_county(store, box, rules=True)  # as `make run` plays it
    finally:
        store.close()
    keys: dict[str, KeyPair] = {**county.school_keys, **county.device_keys}
    thread = GatewayThread(args.db, Listen("127.0.0.1", 0, 0, 0, udp_worker=False), box=box)
    thread.start_and_wait()
    try:
        ports = thread.gateway.ports
        return run_scenario(
            args.scenario,
            gateway_url=f"http://127.0.0.1:{ports['http']}",
            udp=("127.0.0.1", ports["udp"]),
            tcp=("127.0.0.1", ports["tcp"]),
            keys=keys,
            speed=args.speed,
            seed=args.seed,
            until_s=args.until,
            store_url=args.db,
            exercise=args.exercise,
            acts=args.acts,
        )
    finally:
        thread.stop()


if __name__ == "__main__":
    raise SystemExit(main())
