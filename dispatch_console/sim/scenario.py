"""Scenario files (TOML, ``resources/scenarios/``): see ``docs/scenarios.md``.

:func:`load_scenario` reads one and checks every field; a bad file is a :class:`ScenarioError`
naming the file, the field (a dotted path such as ``officers[3].attire.top_color``) and why.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from dispatch_console.county.load import DemoDevice, demo_directory, read_devices
from dispatch_console.domain.events import AlertType

__all__ = [
    "ALERT_TYPES",
    "BEHAVIOURS",
    "Activation",
    "Officer",
    "Population",
    "Scenario",
    "ScenarioError",
    "SuspectRevision",
    "load_scenario",
]

Behaviour = Literal[
    "self_dispatch_to_school",
    "go_to_staging_when_directed",
    "ignore_directive_go_to_school",
    "decline",
    "ignore",
    "lose_gps",
    "arrive_never_check_in",
]
BEHAVIOURS: tuple[str, ...] = get_args(Behaviour)
ALERT_TYPES: tuple[str, ...] = get_args(AlertType)
VISIBLE_IDS = ("raid_jacket", "vest", "badge_on_belt", "none")
ATTIRE_FIELDS = ("top_color", "top_type", "bottom_color", "headwear", "visible_id")
SUSPECT_FIELDS = (
    "sex", "race", "age_range", "height", "build", "hair", "top_color", "top_type",
    "bottom_color", "bottom_type", "headwear", "weapon", "free_text",
)  # fmt: skip


class ScenarioError(ValueError):
    """A scenario that cannot be run: ``file``, ``field`` (dotted path) and ``reason``."""

    def __init__(self, file: str, field_path: str, reason: str) -> None:
        super().__init__(f"{file}: {field_path}: {reason}")
        self.file = file
        self.field = field_path
        self.reason = reason


@dataclass(frozen=True)
class SuspectRevision:
    at_s: float
    description: dict[str, str]


#: What the simulated incident commander can do (``[[command]]``), in the order an incident
#: ends: take command, say the threat is stopped, stand everyone down, check in at staging
#: those who arrived, declare the all clear (which closes the incident), release everyone.
COMMAND_ACTS = (
    "establish", "threat_stopped", "stand_down", "check_in", "all_clear", "release",
)  # fmt: skip
CommandAct = Literal[
    "establish", "threat_stopped", "stand_down", "check_in", "all_clear", "release"
]


@dataclass(frozen=True)
class ScriptedAct:
    """One of the incident commander's console acts, at a simulated second (``[[command]]``)."""

    at_s: float
    act: CommandAct
    #: ``establish``: who takes command, and the command post.
    commander: str | None = None
    command_post: str | None = None
    #: ``threat_stopped``, ``all_clear``: the words sent or recorded.
    text: str | None = None


@dataclass(frozen=True)
class Activation:
    school_id: str
    type: str
    at_s: float
    location_detail: str | None
    message: str | None
    activated_by_name: str | None
    activated_by_role: str | None
    suspect: tuple[SuspectRevision, ...]


@dataclass(frozen=True)
class Officer:
    device_id: str
    tak_uid: str | None
    start: tuple[float, float]  # lon, lat
    start_kind: Literal["home", "patrol"]
    name: str | None
    agency: str | None
    badge: str | None
    callsign: str | None
    duty: Literal["on", "off"]
    attire: dict[str, Any]
    has_radio: bool
    behaviour: Behaviour
    ack_delay_s: float
    report_interval_s: float
    lose_gps: tuple[float, float] | None
    tak_transport: Literal["udp", "tcp"]

    @property
    def is_tak(self) -> bool:
        return self.tak_uid is not None


@dataclass(frozen=True)
class Population:
    count: int
    seed: int
    behaviours: dict[str, float]
    plainclothes_share: float
    on_duty_share: float
    radio_share: float


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    seed: int
    duration_s: float
    activation: Activation
    officers: tuple[Officer, ...]
    population: Population | None = None
    devices: dict[str, DemoDevice] = field(default_factory=dict)
    #: The incident commander's acts, in time order.
    command: tuple[ScriptedAct, ...] = ()


class _Reader:
    """Typed access to a TOML table with errors that name the field."""

    def __init__(self, file: str, table: dict[str, Any], path: str) -> None:
        self.file, self.table, self.path = file, table, path

    def fail(self, name: str, reason: str) -> ScenarioError:
        where = f"{self.path}.{name}" if self.path else name
        return ScenarioError(self.file, where, reason)

    def child(self, name: str, value: Any) -> _Reader:
        where = f"{self.path}.{name}" if self.path else name
        if not isinstance(value, dict):
            raise ScenarioError(self.file, where, "must be a table")
        return _Reader(self.file, value, where)

    def unknown(self, allowed: tuple[str, ...]) -> None:
        for name in self.table:
            if name not in allowed:
                raise self.fail(name, f"unknown field (allowed: {', '.join(allowed)})")

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.table.get(name, default)
        if value is None:
            if required:
                raise self.fail(name, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty string")
        return value

    def number(self, name: str, default: float | None, lo: float = 0.0, hi: float = 1e9) -> float:
        value = self.table.get(name, default)
        if value is None:
            raise self.fail(name, "is required")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, "must be a number")
        if not lo <= float(value) <= hi:
            raise self.fail(name, f"must be between {lo:g} and {hi:g}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(name, default, required=True)
        if value not in options:
            raise self.fail(name, f"{value!r} is not one of {', '.join(options)}")
        assert value is not None
        return value


def load_scenario(path: str | Path, *, devices_csv: str | Path | None = None) -> Scenario:
    """Read and check a scenario file. Device ids must be in ``devices_csv`` (default: the demo
    county's ``devices.csv``)."""
    file = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(file, "(file)", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(file, "(file)", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, "(file)", f"not valid TOML: {exc}") from None
    csv_path = devices_csv if devices_csv is not None else demo_directory() / "devices.csv"
    devices = {d.device_id: d for d in read_devices(csv_path)}
    names = _roster_names(Path(csv_path).with_name("roster.csv"))
    top = _Reader(file, raw, "")
    top.unknown(("name", "seed", "duration_s", "activation", "officers", "population", "command"))
    name = top.text("name", Path(path).stem)
    assert name is not None
    seed = int(top.number("seed", 1, 0, 2**63))
    duration = top.number("duration_s", 300, 1, 86_400)
    if "activation" not in raw:
        raise top.fail("activation", "is required")
    activation = _activation(top.child("activation", raw["activation"]))
    officers_raw = raw.get("officers", [])
    if not isinstance(officers_raw, list):
        raise top.fail("officers", "must be an array of tables ([[officers]])")
    officers: list[Officer] = []
    seen: set[str] = set()
    for index, item in enumerate(officers_raw):
        reader = top.child(f"officers[{index}]", item)
        officer = _officer(reader, devices, names)
        if officer.device_id in seen:
            raise reader.fail("device_id", f"{officer.device_id} is listed twice")
        seen.add(officer.device_id)
        officers.append(officer)
    population = None
    if "population" in raw:
        population = _population(top.child("population", raw["population"]))
        officers.extend(_generate(population, devices, seen, top, names))
    if not officers:
        raise top.fail("officers", "a scenario needs at least one officer (or a [population])")
    acts = _command(top, raw.get("command", []))
    return Scenario(
        name, file, seed, duration, activation, tuple(officers), population, devices, acts
    )


def _command(top: _Reader, raw: Any) -> tuple[ScriptedAct, ...]:
    if not isinstance(raw, list):
        raise top.fail("command", "must be an array of tables ([[command]])")
    acts: list[ScriptedAct] = []
    for index, item in enumerate(raw):
        r = top.child(f"command[{index}]", item)
        r.unknown(("at_s", "act", "commander", "command_post", "text"))
        act = cast(CommandAct, r.choice("act", COMMAND_ACTS))
        commander = r.text("commander")
        if act == "establish" and not (commander or "").strip():
            raise r.fail("commander", "is required to establish command")
        acts.append(
            ScriptedAct(
                r.number("at_s", None), act, commander, r.text("command_post"), r.text("text"),
            )
        )  # fmt: skip
    return tuple(sorted(acts, key=lambda a: a.at_s))


def _activation(r: _Reader) -> Activation:
    r.unknown(
        ("school_id", "type", "at_s", "location_detail", "message", "activated_by", "suspect")
    )
    by_name = by_role = None
    if "activated_by" in r.table:
        by = r.child("activated_by", r.table["activated_by"])
        by.unknown(("name", "role"))
        by_name, by_role = by.text("name"), by.text("role")
    revisions: list[SuspectRevision] = []
    suspect = r.table.get("suspect", [])
    if not isinstance(suspect, list):
        raise r.fail("suspect", "must be an array of tables ([[activation.suspect]])")
    for index, item in enumerate(suspect):
        s = r.child(f"suspect[{index}]", item)
        s.unknown(("at_s", *SUSPECT_FIELDS))
        description = {k: v for k in SUSPECT_FIELDS if (v := s.text(k)) is not None}
        if not description:
            raise s.fail("(table)", "a suspect revision needs at least one description field")
        revisions.append(SuspectRevision(s.number("at_s", None), description))
    school_id = r.text("school_id", required=True)
    assert school_id is not None
    return Activation(
        school_id,
        r.choice("type", ALERT_TYPES),
        r.number("at_s", 0),
        r.text("location_detail"),
        r.text("message"),
        by_name,
        by_role,
        tuple(sorted(revisions, key=lambda v: v.at_s)),
    )


OFFICER_FIELDS = (
    "device_id", "start", "lat", "lon", "name", "agency", "badge", "callsign", "duty", "attire",
    "has_radio", "behaviour", "ack_delay_s", "report_interval_s", "lose_gps", "tak_transport",
)  # fmt: skip


def _roster_names(path: Path) -> dict[str, str]:
    """Device id -> the name of the officer the roster gives it (none if no roster file)."""
    if not path.exists():
        return {}
    from dispatch_console.importers.roster_csv import load_roster

    return {d: e.name for e in load_roster(path).imported for d in e.device_ids}


def _officer(r: _Reader, devices: dict[str, DemoDevice], names: dict[str, str]) -> Officer:
    r.unknown(OFFICER_FIELDS)
    device_id = r.text("device_id", required=True)
    assert device_id is not None
    device = devices.get(device_id)
    if device is None:
        raise r.fail("device_id", f"{device_id} is not in devices.csv")
    start_kind = r.choice("start", ("home", "patrol"), "home")
    if start_kind == "patrol":
        lat, lon = r.number("lat", None, -90, 90), r.number("lon", None, -180, 180)
        start = (lon, lat)
    else:
        if "lat" in r.table or "lon" in r.table:
            raise r.fail("lat", 'only with start = "patrol" (home comes from devices.csv)')
        start = device.home
    behaviour = r.choice("behaviour", BEHAVIOURS)
    tak = device.tak_uid is not None
    interval = r.number("report_interval_s", 5.0, 2.0 if tak else 1.0, 20.0 if tak else 60.0)
    lose_gps: tuple[float, float] | None = None
    if "lose_gps" in r.table:
        g = r.child("lose_gps", r.table["lose_gps"])
        g.unknown(("from_s", "to_s"))
        lose_gps = (g.number("from_s", None), g.number("to_s", None))
        if lose_gps[1] <= lose_gps[0]:
            raise g.fail("to_s", "must be after from_s")
    elif behaviour == "lose_gps":
        raise r.fail("lose_gps", 'behaviour "lose_gps" needs lose_gps = {from_s = .., to_s = ..}')
    return Officer(
        device_id=device_id,
        tak_uid=device.tak_uid,
        start=start,
        start_kind=start_kind,  # type: ignore[arg-type]
        name=r.text("name", names.get(device_id)),
        agency=r.text("agency", device.agency),
        badge=r.text("badge", device.badge),
        callsign=r.text("callsign"),
        duty=r.choice("duty", ("on", "off"), "off"),  # type: ignore[arg-type]
        attire=_attire(r),
        has_radio=r.boolean("has_radio", False),
        behaviour=behaviour,  # type: ignore[arg-type]
        ack_delay_s=r.number("ack_delay_s", 10.0, 0, 3600),
        report_interval_s=interval,
        lose_gps=lose_gps,
        tak_transport=r.choice("tak_transport", ("udp", "tcp"), "udp"),  # type: ignore[arg-type]
    )


def _attire(r: _Reader) -> dict[str, Any]:
    if "attire" not in r.table:
        return {"uniform": True}
    a = r.child("attire", r.table["attire"])
    a.unknown(("uniform", *ATTIRE_FIELDS))
    uniform = a.boolean("uniform", True)
    if uniform:
        extra = [k for k in ATTIRE_FIELDS if k in a.table]
        if extra:
            raise a.fail(extra[0], "only for plainclothes (uniform = false)")
        return {"uniform": True}
    attire: dict[str, Any] = {"uniform": False}
    for key in ATTIRE_FIELDS[:-1]:
        value = a.text(key)
        if value is not None:
            attire[key] = value
    attire["visible_id"] = a.choice("visible_id", VISIBLE_IDS, "none")
    return attire


def _population(r: _Reader) -> Population:
    r.unknown(("count", "seed", "behaviours", "plainclothes_share", "on_duty_share", "radio_share"))
    weights: dict[str, float] = {"self_dispatch_to_school": 1.0}
    if "behaviours" in r.table:
        b = r.child("behaviours", r.table["behaviours"])
        b.unknown(tuple(x for x in BEHAVIOURS if x != "lose_gps"))
        weights = {k: b.number(k, None, 0, 1e6) for k in b.table}
        if sum(weights.values()) <= 0:
            raise r.fail("behaviours", "the weights must not all be zero")
    return Population(
        count=int(r.number("count", None, 1, 10_000)),
        seed=int(r.number("seed", 1, 0, 2**63)),
        behaviours=weights,
        plainclothes_share=r.number("plainclothes_share", 0.3, 0, 1),
        on_duty_share=r.number("on_duty_share", 0.2, 0, 1),
        radio_share=r.number("radio_share", 0.3, 0, 1),
    )


_COLOURS = ("black", "grey", "navy", "white", "red", "green", "tan", "blue")
_TOPS = ("t-shirt", "hoodie", "polo", "jacket", "flannel shirt")


def _generate(
    p: Population,
    devices: dict[str, DemoDevice],
    taken: set[str],
    top: _Reader,
    roster_names: dict[str, str],
) -> list[Officer]:
    """``count`` officers drawn (seeded) from the devices not listed by hand."""
    free = sorted(d for d in devices if d not in taken)
    if p.count > len(free):
        raise top.fail("population.count", f"{p.count} officers, but only {len(free)} free devices")
    rng = random.Random(p.seed)
    chosen = rng.sample(free, p.count)
    names = sorted(p.behaviours)
    weights = [p.behaviours[n] for n in names]
    officers: list[Officer] = []
    for device_id in chosen:
        device = devices[device_id]
        on_duty = rng.random() < p.on_duty_share
        plain = not on_duty and rng.random() < p.plainclothes_share
        attire: dict[str, Any] = {"uniform": True}
        if plain:
            attire = {
                "uniform": False,
                "top_color": rng.choice(_COLOURS),
                "top_type": rng.choice(_TOPS),
                "bottom_color": rng.choice(_COLOURS),
                "visible_id": rng.choice(("none", "none", "badge_on_belt", "raid_jacket")),
            }
        behaviour = rng.choices(names, weights)[0]
        tak = device.tak_uid is not None
        officers.append(
            Officer(
                device_id=device_id,
                tak_uid=device.tak_uid,
                start=device.home,
                start_kind="home",
                name=roster_names.get(device_id),
                agency=device.agency,
                badge=device.badge,
                callsign=None,
                duty="on" if on_duty else "off",
                attire=attire,
                has_radio=on_duty or rng.random() < p.radio_share,
                behaviour=behaviour,  # type: ignore[arg-type]
                ack_delay_s=round(rng.uniform(3, 40), 1),
                report_interval_s=float(rng.choice((2, 5, 10))) if tak else 5.0,
                lose_gps=None,
                tak_transport="udp",
            )
        )
    return officers
