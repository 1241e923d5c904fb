"""The deterministic responder simulation.

A simulated clock advances in steps of :data:`STEP_S` seconds. At each step the school's alert
system activates (once), suspect revisions fall due, and every officer (in scenario order)
fetches directives, decides, drives and reports. Everything an officer sends goes through a
:class:`Transport` (signed HTTP and CoT in :mod:`dispatch_console.sim.run`); the engine never
touches the store.

Determinism: every random draw comes from ``random.Random`` seeded with ``"<seed>:<device>"``;
message ids count per device (``<device>-<seed>-<start s>-<n>``); times are ``start_us`` plus
simulated seconds. The log of what was sent (:attr:`Engine.sent`) replaces the ids the gateway
makes up (incident ids, directive ids) with stable placeholders, so the same scenario, seed and
``start_us`` give the same log, whatever the gateway.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dispatch_console.county.roads import RoadGraph, Route
from dispatch_console.domain.reference import School
from dispatch_console.domain.timeutil import iso
from dispatch_console.feeds.cot.build import cot_time, xml_safe
from dispatch_console.sim.scenario import Officer, Scenario, ScriptedAct

__all__ = [
    "STEP_S",
    "Engine",
    "SimCounts",
    "Transport",
    "build_pli",
    "staging_point",
]

STEP_S = 1.0
ACCEL_MPS2 = 2.5
BRAKE_MPS2 = 3.5
CORNER_MPS = 7.0
CORNER_DEG = 35.0
MIN_CRAWL_MPS = 1.5
GPS_SIGMA_M = 3.0
#: A parked device still reports, inside the 30 s a position stays fresh (the app's default
#: stale time, and a TAK report's): a responder waiting at staging never looks STALE.
STATIONARY_REPORT_S = 20.0
DECIDED_POLL_S = 30.0
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQ = 111_320.0

JSON = dict[str, Any]


class Transport(Protocol):
    """How the simulation reaches the gateway (and, for suspect revisions, the console)."""

    def activation(self, body: JSON) -> JSON: ...

    def device_messages(self, device_id: str, messages: list[JSON]) -> JSON: ...

    def directives(self, device_id: str) -> list[JSON]: ...

    def cot(self, officer: Officer, data: bytes) -> None: ...

    def suspect(self, incident_id: str, description: dict[str, str], at_us: int) -> bool: ...

    def command(self, incident_id: str, act: ScriptedAct, at_us: int) -> bool:
        """The incident commander's act (a console action, like a suspect revision): True if
        it was carried out."""
        ...


@dataclass
class SimCounts:
    """What the simulated officers did, as they themselves know it."""

    notified: int = 0  # app officers that fetched an alert directive
    answered: int = 0  # sent an ack (responding or not)
    acknowledged: int = 0  # ack responding=true
    declined: int = 0
    self_dispatched: int = 0  # went en route with no go_to_staging directive in hand
    arrived_school: int = 0  # reported on_scene
    arrived_staging: int = 0  # reported at_staging
    tak_moving: int = 0  # TAK officers that drove off (they cannot report status over CoT)
    messages_sent: int = 0
    refused: int = 0  # device messages the gateway refused (per message)
    cot_sent: int = 0
    suspect_revisions: int = 0
    command_acts: int = 0  # the incident commander's scripted acts carried out


def staging_point(school: School, staging_area_id: str | None) -> tuple[str, float, float] | None:
    """``(id, lon, lat)`` of a staging area of the school's pre-plan (the first if no id)."""
    from shapely.geometry import shape

    areas = school.pre_plan.staging_areas
    for area in areas:
        if staging_area_id is None or area.area_id == staging_area_id:
            point = shape(area.geometry).representative_point()
            return area.area_id, float(point.x), float(point.y)
    return None


def build_pli(
    uid: str, callsign: str, lat: float, lon: float, at_us: int, stale_s: float, **kw: float
) -> bytes:
    """A friendly ground unit's position report, as ATAK sends it."""
    speed, course, ce = kw.get("speed", 0.0), kw.get("course", 0.0), kw.get("ce", 9999999.0)
    return (
        f'<event version="2.0" uid="{xml_safe(uid)}" type="a-f-G-U-C" how="m-g" '
        f'time="{cot_time(at_us)}" start="{cot_time(at_us)}" '
        f'stale="{cot_time(at_us + int(stale_s * 1e6))}">'
        f'<point lat="{lat:.7f}" lon="{lon:.7f}" hae="9999999.0" ce="{ce:.1f}" le="9999999.0"/>'
        f'<detail><contact callsign="{xml_safe(callsign)}"/>'
        f'<track speed="{speed:.1f}" course="{course:.1f}"/></detail></event>'
    ).encode()


def _metres(lon: float, lat: float, lon0: float, lat0: float) -> tuple[float, float]:
    return (
        (lon - lon0) * M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)),
        (lat - lat0) * M_PER_DEG_LAT,
    )


class _Drive:
    """A route driven with acceleration, braking for turns, and a stop at the end."""

    def __init__(self, route: Route) -> None:
        self.points = route.points
        self.limits = route.speeds_mps
        self.cum = [0.0]
        for length in route.lengths_m:
            self.cum.append(self.cum[-1] + length)
        self.total = self.cum[-1]
        self.slow: list[tuple[float, float]] = []  # (distance, speed to pass at)
        for k in range(1, len(self.points) - 1):
            if self._turn_deg(k) > CORNER_DEG:
                self.slow.append((self.cum[k], CORNER_MPS))
        self.slow.append((self.total, 0.0))
        self.s = 0.0
        self.v = 0.0

    def _heading(self, k: int) -> float:
        (lon1, lat1), (lon2, lat2) = self.points[k], self.points[k + 1]
        dx, dy = _metres(lon2, lat2, lon1, lat1)
        return math.degrees(math.atan2(dx, dy)) % 360.0

    def _turn_deg(self, k: int) -> float:
        turn = abs(self._heading(k) - self._heading(k - 1)) % 360.0
        return min(turn, 360.0 - turn)

    @property
    def done(self) -> bool:
        return self.s >= self.total

    def step(self, dt: float) -> None:
        if self.done:
            self.v = 0.0
            return
        segment = self._segment()
        target = self.limits[segment] if self.limits else 10.0
        for at, speed in self.slow:
            if at < self.s:
                continue
            if self.v * self.v - speed * speed >= 2 * BRAKE_MPS2 * max(at - self.s - 1.0, 0.0):
                target = min(target, speed)
            break
        if self.v < target:
            self.v = min(target, self.v + ACCEL_MPS2 * dt)
        else:
            self.v = max(target, self.v - BRAKE_MPS2 * dt)
        self.v = max(self.v, MIN_CRAWL_MPS)
        self.s = min(self.total, self.s + self.v * dt)
        if self.done:
            self.v = 0.0

    def _segment(self) -> int:
        return max(0, min(len(self.points) - 2, bisect.bisect_right(self.cum, self.s) - 1))

    def position(self) -> tuple[float, float, float]:
        """``(lon, lat, heading)`` at the distance driven."""
        if len(self.points) < 2:
            lon, lat = self.points[0]
            return lon, lat, 0.0
        k = self._segment()
        length = self.cum[k + 1] - self.cum[k]
        f = 0.0 if length <= 0 else (self.s - self.cum[k]) / length
        (lon1, lat1), (lon2, lat2) = self.points[k], self.points[k + 1]
        return lon1 + (lon2 - lon1) * f, lat1 + (lat2 - lat1) * f, self._heading(k)


@dataclass
class _OfficerState:
    officer: Officer
    rng: random.Random
    lon: float
    lat: float
    heading: float = 0.0
    counter: int = 0
    drive: _Drive | None = None
    destination: str | None = None  # "school" or a staging area id
    decided: bool = False
    decide_at: float | None = None
    alert: JSON | None = None
    go_to_staging: JSON | None = None
    seen: set[str] = field(default_factory=set)
    acks_due: list[tuple[float, str]] = field(default_factory=list)
    next_report: float = 0.0
    next_poll: float = 0.0
    en_route_sent: bool = False
    arrived: bool = False
    silent: bool = False  # arrive_never_check_in after arrival: acknowledges nothing more
    stood_down: bool = False
    tcp_ready: bool = False


class Engine:
    """One run of a scenario against a transport; see the module docstring."""

    def __init__(
        self,
        scenario: Scenario,
        transport: Transport,
        graph: RoadGraph,
        schools: dict[str, School],
        *,
        seed: int | None = None,
        start_us: int | None = None,
        speed: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_time: Callable[[int], None] | None = None,
        exercise: bool = False,
    ) -> None:
        self.scenario = scenario
        #: Run as an exercise: the activation says so, and the incident opens as one.
        self.exercise = exercise
        self.transport = transport
        self.graph = graph
        school = schools.get(scenario.activation.school_id)
        if school is None:
            raise ValueError(
                f"{scenario.path}: activation.school_id: "
                f"{scenario.activation.school_id} is not a school of the county"
            )
        self.school = school
        self.seed = scenario.seed if seed is None else seed
        self.start_us = start_us if start_us is not None else int(time.time()) * 1_000_000
        self.speed = speed
        self.sleep = sleep
        #: Told the simulated instant at each step (a gateway on simulated time follows it).
        self.on_time = on_time
        #: In every id sent: a second run on the same store is not taken for a resend.
        self.run_tag = f"{self.seed}-{self.start_us // 1_000_000}"
        self.counts = SimCounts()
        self.incident_id: str | None = None
        self.sent: list[str] = []  # canonical log (see the module docstring)
        self._ids: dict[str, str] = {}
        self._routes: dict[tuple[tuple[float, float], str], Route] = {}
        self.officers = [
            _OfficerState(o, random.Random(f"{self.seed}:{o.device_id}"), *o.start)
            for o in scenario.officers
        ]
        self._suspects = list(scenario.activation.suspect)
        self._acts = list(scenario.command)
        self.first_on_scene: str | None = None

    # --- the clock -----------------------------------------------------------------------------

    def at_us(self, t: float) -> int:
        return self.start_us + round(t * 1e6)

    def run(
        self, until_s: float | None = None, *, stop: threading.Event | None = None
    ) -> SimCounts:
        """Step until ``until_s`` (default: the scenario's duration) or until ``stop`` is set."""
        end = self.scenario.duration_s if until_s is None else until_s
        wall0 = time.monotonic()
        t = 0.0
        while t <= end + 1e-9 and not (stop is not None and stop.is_set()):
            self.step(t)
            if self.speed:
                lag = wall0 + t / self.speed - time.monotonic()
                if lag > 0:
                    self.sleep(lag)
            t += STEP_S
        return self.counts

    def digest(self) -> str:
        """SHA-256 of the canonical log of everything sent."""
        return hashlib.sha256("\n".join(self.sent).encode()).hexdigest()

    def step(self, t: float) -> None:
        if self.on_time is not None:
            self.on_time(self.at_us(t))
        activation = self.scenario.activation
        if self.incident_id is None and t >= activation.at_s:
            self._activate(t)
        while self._suspects and self.incident_id is not None and t >= self._suspects[0].at_s:
            revision = self._suspects.pop(0)
            if self.transport.suspect(self.incident_id, revision.description, self.at_us(t)):
                self.counts.suspect_revisions += 1
        while self._acts and self.incident_id is not None and t >= self._acts[0].at_s:
            act = self._acts.pop(0)
            self._log("command", act.act)
            if self.transport.command(self.incident_id, act, self.at_us(t)):
                self.counts.command_acts += 1
        for state in self.officers:
            if state.officer.is_tak:
                self._tak_step(state, t)
            else:
                self._app_step(state, t)

    # --- canonical log -------------------------------------------------------------------------

    def _canonical(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._ids.get(value, value)
        if isinstance(value, list):
            return [self._canonical(v) for v in value]
        if isinstance(value, dict):
            return {k: self._canonical(v) for k, v in value.items()}
        return value

    def _log(self, channel: str, body: Any) -> None:
        text = json.dumps(self._canonical(body), sort_keys=True, separators=(",", ":"))
        self.sent.append(f"{channel} {text}")

    # --- the school ----------------------------------------------------------------------------

    def _activate(self, t: float) -> None:
        a = self.scenario.activation
        body: JSON = {
            "id": f"act-{self.scenario.name}-{self.run_tag}",
            "school_id": a.school_id,
            "type": a.type,
            "activated_at": iso(self.at_us(t)),
        }
        if a.activated_by_name or a.activated_by_role:
            by = {"name": a.activated_by_name, "role": a.activated_by_role}
            body["activated_by"] = {k: v for k, v in by.items() if v}
        if a.location_detail:
            body["location_detail"] = a.location_detail
        if a.message:
            body["message"] = a.message
        if self.exercise:
            body["exercise"] = True
        self._log("activation", body)
        answer = self.transport.activation(body)
        self.incident_id = str(answer["incident_id"])
        self._ids[self.incident_id] = "{incident}"

    # --- officers --------------------------------------------------------------------------------

    def _message(self, state: _OfficerState, kind: str, t: float, **fields: Any) -> JSON:
        state.counter += 1
        message: JSON = {
            "id": f"{state.officer.device_id}-{self.run_tag}-{state.counter}",
            "kind": kind,
            "at": iso(self.at_us(t)),
        }
        message.update(fields)
        return message

    def _profile(self, state: _OfficerState, t: float) -> JSON:
        o = state.officer
        claimed = {
            "name": o.name,
            "agency": o.agency,
            "badge": o.badge,
            "callsign": o.callsign,
            "duty": o.duty,
            "has_radio": o.has_radio,
            "attire": o.attire,
        }
        return self._message(
            state, "profile", t, **{k: v for k, v in claimed.items() if v is not None}
        )

    def _gps_off(self, o: Officer, t: float) -> bool:
        return o.lose_gps is not None and o.lose_gps[0] <= t < o.lose_gps[1]

    def _noisy(self, state: _OfficerState) -> tuple[float, float, float]:
        rng = state.rng
        dx, dy = rng.gauss(0.0, GPS_SIGMA_M), rng.gauss(0.0, GPS_SIGMA_M)
        lat = state.lat + dy / M_PER_DEG_LAT
        lon = state.lon + dx / (M_PER_DEG_LON_EQ * math.cos(math.radians(state.lat)))
        accuracy = round(abs(rng.gauss(0.0, 2.0)) + 4.0, 1)
        return round(lon, 7), round(lat, 7), accuracy

    def _report_due(self, state: _OfficerState, t: float) -> bool:
        if t < state.next_report or self._gps_off(state.officer, t):
            return False
        moving = state.drive is not None and not state.drive.done
        interval = state.officer.report_interval_s if moving else STATIONARY_REPORT_S
        state.next_report = t + interval
        return True

    def _route_to(self, state: _OfficerState, destination: str, t: float) -> None:
        if destination == "school":
            target = (self.school.lon, self.school.lat)
        else:
            found = staging_point(self.school, destination)
            if found is None:  # a staging area the pre-plan does not have: go to the school
                destination, target = "school", (self.school.lon, self.school.lat)
            else:
                target = (found[1], found[2])
        state.drive = _Drive(self.graph.route((state.lon, state.lat), target))
        state.destination = destination
        state.arrived = False
        state.next_report = t  # report at once when setting off

    def _decide(self, state: _OfficerState, t: float, out: list[JSON]) -> None:
        """The officer's answer to the alert, per behaviour."""
        o, assert_id = state.officer, self.incident_id
        assert assert_id is not None
        state.decided = True
        behaviour = o.behaviour
        if behaviour == "ignore":
            return
        if behaviour == "decline":
            out.append(self._message(state, "ack", t, incident_id=assert_id, responding=False))
            self.counts.answered += 1
            self.counts.declined += 1
            return
        out.append(self._message(state, "ack", t, incident_id=assert_id, responding=True))
        self.counts.answered += 1
        self.counts.acknowledged += 1
        destination = self._destination(state)
        if destination is None:
            return  # waits for a go_to_staging directive
        self._set_off(state, destination, t, out)

    def _destination(self, state: _OfficerState) -> str | None:
        if state.officer.behaviour != "go_to_staging_when_directed":
            return "school"
        for directive in (state.go_to_staging, state.alert):
            if directive is not None and directive.get("staging_area_id"):
                return str(directive["staging_area_id"])
        return None

    def _set_off(self, state: _OfficerState, destination: str, t: float, out: list[JSON]) -> None:
        self._route_to(state, destination, t)
        if not state.en_route_sent:
            assert self.incident_id is not None
            state.en_route_sent = True
            out.append(
                self._message(state, "status", t, incident_id=self.incident_id, status="en_route")
            )
            if state.go_to_staging is None:
                self.counts.self_dispatched += 1

    def _poll(self, state: _OfficerState, t: float) -> None:
        if t < state.next_poll or state.silent:
            return
        waiting = not state.decided or (state.destination is None and state.alert is not None)
        state.next_poll = t + (max(5.0, state.officer.report_interval_s) if waiting else 30.0)
        device_id = state.officer.device_id
        self._log(f"get {device_id}", "directives")
        for directive in self.transport.directives(device_id):
            directive_id = str(directive["directive_id"])
            if directive_id in state.seen:
                continue
            state.seen.add(directive_id)
            self._ids.setdefault(directive_id, f"{{directive:{device_id}:{len(state.seen)}}}")
            if state.officer.behaviour != "ignore":
                state.acks_due.append((t + state.officer.ack_delay_s, directive_id))
            kind = directive.get("kind")
            if kind == "alert" and state.alert is None:
                state.alert = directive
                self.counts.notified += 1
                state.decide_at = t + state.officer.ack_delay_s
            elif kind == "go_to_staging":
                state.go_to_staging = directive
            elif kind == "stand_down":
                state.stood_down = True

    def _app_step(self, state: _OfficerState, t: float) -> None:
        o = state.officer
        out: list[JSON] = []
        if t == 0.0:
            out.append(self._profile(state, t))
        if self.incident_id is not None:
            self._poll(state, t)
        if state.decide_at is not None and not state.decided and t >= state.decide_at:
            self._decide(state, t, out)
        if (
            state.go_to_staging is not None
            and o.behaviour == "go_to_staging_when_directed"
            and state.decided
            and state.destination != state.go_to_staging.get("staging_area_id")
            and not state.stood_down
        ):
            self._set_off(state, str(state.go_to_staging.get("staging_area_id")), t, out)
        if state.stood_down and state.drive is not None and not state.drive.done:
            state.drive = None  # stand-down: pull over and stay
        while state.acks_due and state.acks_due[0][0] <= t and not state.silent:
            _, directive_id = state.acks_due.pop(0)
            out.append(self._message(state, "directive_ack", t, directive_id=directive_id))
        self._move(state)
        if state.drive is not None and state.drive.done and not state.arrived:
            state.arrived = True
            assert self.incident_id is not None
            if state.destination == "school":
                out.append(
                    self._message(
                        state, "status", t, incident_id=self.incident_id, status="on_scene"
                    )
                )
                self.counts.arrived_school += 1
                if self.first_on_scene is None:
                    self.first_on_scene = o.device_id
            else:
                out.append(
                    self._message(
                        state,
                        "status",
                        t,
                        incident_id=self.incident_id,
                        status="at_staging",
                        staging_area_id=state.destination,
                    )
                )
                self.counts.arrived_staging += 1
            if o.behaviour == "arrive_never_check_in":
                state.silent = True
                state.acks_due.clear()
        if self._report_due(state, t):
            lon, lat, accuracy = self._noisy(state)
            speed = state.drive.v if state.drive is not None else 0.0
            position: JSON = {"lat": lat, "lon": lon, "accuracy_m": accuracy}
            if speed > 0:
                position.update(speed_mps=round(speed, 1), heading_deg=round(state.heading, 1))
            out.append(self._message(state, "position", t, **position))
        if out:
            self._send(o.device_id, out)

    def _send(self, device_id: str, messages: list[JSON]) -> None:
        self._log(f"post {device_id}", {"messages": messages})
        answer = self.transport.device_messages(device_id, messages)
        self.counts.messages_sent += len(messages)
        for result in answer.get("results", []):
            if result.get("result") == "refused":
                self.counts.refused += 1

    def _move(self, state: _OfficerState) -> None:
        if state.drive is None:
            return
        state.drive.step(STEP_S)
        state.lon, state.lat, state.heading = state.drive.position()

    def _tak_step(self, state: _OfficerState, t: float) -> None:
        """A TAK device: positions only (CoT carries no acknowledgement or status); it sees the
        alert as the gateway's marker and chat line and acts on it after its delay."""
        o = state.officer
        activated_at = self.scenario.activation.at_s
        due = t >= activated_at + o.ack_delay_s
        if self.incident_id is not None and not state.decided and due:
            state.decided = True
            if o.behaviour not in ("decline", "ignore"):
                destination = "school"
                if o.behaviour == "go_to_staging_when_directed":
                    found = staging_point(self.school, None)
                    destination = found[0] if found else "school"
                self._route_to(state, destination, t)
                self.counts.tak_moving += 1
        self._move(state)
        if self._report_due(state, t):
            lon, lat, accuracy = self._noisy(state)
            speed = state.drive.v if state.drive is not None else 0.0
            data = build_pli(
                o.tak_uid or "",
                o.callsign or o.device_id,
                lat,
                lon,
                self.at_us(t),
                max(30.0, 3 * o.report_interval_s),
                speed=speed,
                course=state.heading,
                ce=accuracy,
            )
            self.sent.append(f"cot {o.device_id} {data.decode()}")
            self.transport.cot(o, data)
            self.counts.cot_sent += 1
