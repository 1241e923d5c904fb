"""Several consoles, one incident (issue 9), as deployed: a gateway and two console processes
(the real console, offscreen) on one PostgreSQL database. Each console is woken by the store's
NOTIFY, so the gateway's and the other console's events show in both; two consoles directing one
responder at once both get an answer, one stored and one refused with what changed; no event is
stored twice, none is shown twice, none is missed, and each console shows them in sequence order.

These tests assert delivery, order and no duplicates, with waits generous enough for a loaded CI
machine (:data:`DELIVERY_TIMEOUT_S`). How fast events propagate (the 1 s target) is a speed
figure: ``benchmarks/bench_propagation.py`` measures it; no test here times the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import replay
from dispatch_console.domain.timeutil import iso
from dispatch_console.store import Store
from tests.conftest import PostgresDatabases
from tests.deploy.consoles import ConsoleProcess
from tests.feeds.gateway_fixture import RunningGateway, start_gateway

pytestmark = pytest.mark.postgres

#: How long a test waits for a console to show an event (delivery, not speed: a loaded machine).
DELIVERY_TIMEOUT_S = 60.0
HAYES = ("Lt. J. Hayes", "incident commander")
MORENO = ("A. Moreno", "dispatcher")


@dataclass
class Deployment:
    url: str
    gateway: RunningGateway
    a: ConsoleProcess
    b: ConsoleProcess
    incident: str
    #: The events the activation stored.
    activation: list[ev.Event]

    @property
    def consoles(self) -> tuple[ConsoleProcess, ConsoleProcess]:
        return self.a, self.b

    def events(self, **kwargs: object) -> list[ev.Event]:
        with Store(self.url) as store:
            return list(store.read(self.incident, **kwargs))  # type: ignore[arg-type]


def _shown_once_in_order(console: ConsoleProcess, events: list[ev.Event]) -> None:
    """``console`` showed every one of ``events`` (waiting for them, generously), each once, and
    in sequence order."""
    seqs = sorted(e.seq for e in events)
    console.wait_seen(set(seqs), timeout=DELIVERY_TIMEOUT_S)
    twice = {seq: console.times_seen[seq] for seq in seqs if console.times_seen[seq] != 1}
    assert twice == {}, f"{console} showed these events more than once: {twice}"
    wanted = set(seqs)
    assert [seq for seq in console.order if seq in wanted] == seqs, console


@pytest.fixture(scope="module")
def deployment(
    postgres: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One database, one gateway, two consoles (both loaded, with no incident yet), then an
    activation over signed HTTP that both consoles have shown. Stopped (killed if need be)
    however the tests went."""
    url = postgres.new()
    folder = tmp_path_factory.mktemp("deploy")
    gateway = start_gateway(url, folder)  # schools, devices and keys, then the gateway
    consoles: list[ConsoleProcess] = []
    try:
        for name, role in (HAYES, MORENO):  # both start at once: they load in parallel
            consoles.append(ConsoleProcess(url, name, role, folder / f"{role}.log"))
        for console in consoles:
            console.wait_ready(timeout=90)
        activation = {
            "id": "act-deploy-1",
            "school_id": "lincoln-hs",
            "type": "active_shooter",
            "activated_at": iso(time.time_ns() // 1000),
            "activated_by": {"name": "J. Ortiz", "role": "front office"},
            "location_detail": "Gym, building C",
        }
        status, answer = gateway.post("/v1/activations", activation, "school")
        assert status == 202, answer
        incident = answer["incident_id"]
        with Store(url) as store:
            stored = list(store.read(incident))
        for console in consoles:
            console.wait_seen({e.seq for e in stored}, timeout=DELIVERY_TIMEOUT_S)
        a, b = consoles
        yield Deployment(url, gateway, a, b, incident, stored)
    finally:
        for console in consoles:
            console.stop()
        gateway.stop()


def test_an_activation_sent_to_the_gateway_shows_in_both_consoles_once_and_in_order(
    deployment: Deployment,
) -> None:
    stored = deployment.activation
    assert {e.type for e in stored} >= {"incident_opened", "alert_received", "responder_notified"}
    notified = [e.payload for e in stored if isinstance(e.payload, ev.ResponderNotified)]
    responders = {p.responder_id for p in notified}
    assert responders == {"dev-ruiz", "dev-chen", "dev-walker"}
    for console in deployment.consoles:
        _shown_once_in_order(console, stored)
        state = console.state(deployment.incident)
        assert state["last_seq"] >= stored[-1].seq
        assert set(state["directed_to"]) == responders
        assert {"staging-a", "staging-b"} <= set(state["staging_areas"])  # the pre-plan's


def test_a_staging_area_and_a_directive_from_one_console_show_in_the_other(
    deployment: Deployment,
) -> None:
    a, b, incident = deployment.a, deployment.b, deployment.incident
    mark = a.mark()
    a.send(op="stage", incident=incident, name="Staging C (fire station 2)",
           lon=-84.5300, lat=38.2300, radius_m=50.0)  # fmt: skip
    done = a.wait_for("command_done", after=mark)
    assert done["ok"], done
    (created,) = [
        e
        for e in deployment.events(types=[ev.StagingAreaSet.TYPE])
        if isinstance(e.payload, ev.StagingAreaSet) and e.payload.name.startswith("Staging C")
    ]
    assert created.actor == ev.Actor(ev.ActorKind.CONSOLE_USER, a.user)
    area = created.payload.staging_area_id  # type: ignore[attr-defined]
    b.wait_seen({created.seq}, timeout=DELIVERY_TIMEOUT_S)

    mark = a.mark()
    a.send(op="direct", incident=incident, responder="dev-ruiz", area=area)
    done = a.wait_for("command_done", after=mark)
    assert done["ok"], done
    assert done["description"] == "direct 1 to Staging C (fire station 2)"
    directed = [
        e for e in deployment.events(types=[ev.ResponderDirected.TYPE, ev.DirectiveQueued.TYPE])
        if getattr(e.payload, "responder_id", None) == "dev-ruiz"
        and getattr(e.payload, "staging_area_id", None) == area
    ]  # fmt: skip
    assert [e.type for e in directed] == ["responder_directed", "directive_queued"]
    _shown_once_in_order(b, [created, *directed])
    _shown_once_in_order(a, [created, *directed])
    assert b.state(incident)["directed_to"]["dev-ruiz"] == area


def test_two_consoles_directing_one_responder_at_once_both_get_an_answer_one_is_refused(
    deployment: Deployment,
) -> None:
    a, b, incident = deployment.a, deployment.b, deployment.incident
    rid = "dev-walker"
    plan = {a: "staging-a", b: "staging-b"}
    # Both consoles at the same version: the store's last event of the incident.
    last = deployment.events()[-1].seq
    for console in (a, b):
        console.wait_seen({last}, timeout=DELIVERY_TIMEOUT_S)
        assert console.state(incident)["last_seq"] == last
    names = a.state(incident)["staging_areas"]
    marks = {console: console.mark() for console in (a, b)}
    for console, area in plan.items():  # back to back: neither has seen the other's yet
        console.send(op="direct", incident=incident, responder=rid, area=area)
    done = {c: c.wait_for("command_done", after=marks[c]) for c in (a, b)}
    submitted = {c: c.wait_for("submitted", after=marks[c]) for c in (a, b)}
    assert submitted[a]["version"] == submitted[b]["version"] == last

    assert sorted(d["ok"] for d in done.values()) == [False, True], done
    winner = next(c for c in (a, b) if done[c]["ok"])
    loser = b if winner is a else a
    refusal = done[loser]["message"]
    assert refusal.startswith("CONFLICT: "), refusal
    assert f"since you looked, {winner.user} directed {rid} to {names[plan[winner]]} (at " in (
        refusal
    )

    # One responder_directed and one go-to-staging directive: the winner's. No lost update,
    # no duplicate.
    stored = [
        e
        for e in deployment.events(types=[ev.ResponderDirected.TYPE, ev.DirectiveQueued.TYPE])
        if getattr(e.payload, "responder_id", None) == rid
        and getattr(e.payload, "kind", "go_to_staging") == "go_to_staging"
    ]
    assert [e.type for e in stored] == ["responder_directed", "directive_queued"], stored
    assert all(e.actor == ev.Actor(ev.ActorKind.CONSOLE_USER, winner.user) for e in stored)
    assert all(e.payload.staging_area_id == plan[winner] for e in stored)  # type: ignore[attr-defined]
    for console in (a, b):
        _shown_once_in_order(console, stored)
        assert console.state(incident)["directed_to"][rid] == plan[winner]


def test_with_three_writers_at_once_each_console_shows_every_event_once_and_in_order(
    deployment: Deployment,
) -> None:
    """The gateway (a device's positions over signed HTTP) and both consoles (new staging
    areas) store at the same time; then every event since each console loaded was shown by
    it exactly once, in sequence order, and the consoles stayed live."""
    incident, gateway = deployment.incident, deployment.gateway
    failures: list[object] = []

    def positions() -> None:
        for n in range(30):
            at = iso(time.time_ns() // 1000)
            body = {"messages": [{"id": f"pos-{n}", "kind": "position", "at": at,
                                  "lat": 38.2480 + n * 1e-5, "lon": -84.5800}]}  # fmt: skip
            status, answer = gateway.post("/v1/devices/dev-chen/messages", body, "dev-chen")
            if status != 202 or answer["results"][0]["result"] != "stored":
                failures.append(answer)
            time.sleep(0.01)

    sender = threading.Thread(target=positions)
    marks = {c: c.mark() for c in deployment.consoles}
    sender.start()
    for n in range(5):
        for k, console in enumerate(deployment.consoles):
            console.send(op="stage", incident=incident, name=f"Staging {k}-{n}",
                         lon=-84.52 - n * 1e-3, lat=38.23 + k * 1e-3, radius_m=40.0)  # fmt: skip
    sender.join(60)
    assert failures == []
    for console in deployment.consoles:
        console.wait_until(
            lambda c=console: (
                sum(  # type: ignore[misc]
                    r["kind"] == "command_done" for r in c.records[marks[c] :]
                )
                == 5
            ),
            DELIVERY_TIMEOUT_S,
            "5 command answers",
        )
        answers = [r for r in console.records[marks[console] :] if r["kind"] == "command_done"]
        assert all(r["ok"] for r in answers), answers

    with Store(deployment.url) as store:
        last = store.last_seq()
        everything = [e.seq for e in store.read(all_incidents=True)]
    for console in deployment.consoles:
        console.wait_seen({last}, timeout=DELIVERY_TIMEOUT_S)
        loaded_at = console.wait_ready()["last_seq"]
        expected = [seq for seq in everything if seq > loaded_at]
        twice = {seq: n for seq, n in console.times_seen.items() if n > 1}
        assert twice == {}, f"{console} got these events more than once"
        assert console.order[: len(expected)] == expected, console  # all of them, in order
        assert not [r for r in console.records if r["kind"] == "health" and not r["live"]]
        assert not [r for r in console.records if r["kind"] in ("error", "unparsed")]
        # What the console shows is what the store holds (at the same point): nothing lost,
        # nothing applied twice.
        shown = console.state(incident)
        truth = replay(incident, deployment.events(until_seq=shown["last_seq"]))
        assert shown["last_seq"] == truth.last_seq
        assert shown["directed_to"] == {r: s.directed_to for r, s in truth.responders.items()}
        assert shown["staging_areas"] == {a: s.name for a, s in truth.staging_areas.items()}
