"""The demo's scripted incident commander builds what the console's own actions build, and the
rules accept it: check-in of those a roster vouches for, release of everyone at the end."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from dispatch_console.app.demo_ic import UNVERIFIED_REASON, act_payloads
from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.sim.scenario import ScriptedAct
from dispatch_console.store import Store
from tests.builders import Recorder

DEVICE = ev.Actor(ev.ActorKind.DEVICE, "dev")


def _incident() -> Recorder:
    rec = Recorder().opened().notified("sworn", "impostor", "driving", "no")
    rec.add(ev.ResponderRosterChecked("sworn", "sworn_active"), 2, DEVICE)
    rec.add(ev.ResponderRosterChecked("impostor", "not_on_roster"), 2, DEVICE)
    rec.add(ev.ResponderArrived("sworn", "staging", "staging-a"), 3, DEVICE)
    rec.add(ev.ResponderArrived("impostor", "scene"), 3, DEVICE)
    rec.add(ev.ResponderEnRoute("driving"), 3, DEVICE)
    rec.add(ev.ResponderAcknowledged("no", False), 3, DEVICE)
    return rec


def _play(rec: Recorder, act: ScriptedAct, at_s: float) -> list[ev.Payload]:
    payloads = act_payloads(act, rec.state())
    for p in payloads:
        validate(rec.state(), p)  # as the service checks each one
        rec.add(p, at_s)
    return payloads


def test_the_scripted_ending_is_accepted_by_the_rules() -> None:
    rec = _incident()
    taken = _play(rec, ScriptedAct(5, "establish", "Lt. J. Hayes", "Staging A"), 5)
    assert taken == [ev.CommandEstablished("Lt. J. Hayes", "Staging A")]
    assert _play(rec, ScriptedAct(6, "establish", "Sgt. Other"), 6) == []  # held already
    stopped = _play(rec, ScriptedAct(10, "threat_stopped"), 10)
    assert isinstance(stopped[0], ev.BroadcastSent) and stopped[0].kind == "message"
    down = _play(rec, ScriptedAct(11, "stand_down"), 11)
    assert isinstance(down[0], ev.BroadcastSent) and down[0].kind == "stand_down"
    checked = _play(rec, ScriptedAct(12, "check_in"), 12)
    assert checked == [ev.ResponderIdentified("sworn", "credentials_in_person", "Lt. J. Hayes")]
    _play(rec, ScriptedAct(13, "all_clear"), 13)
    assert rec.state().status == "all_clear"
    assert _play(rec, ScriptedAct(14, "stand_down"), 14) == []  # closed: nothing more to say
    released = _play(rec, ScriptedAct(15, "release"), 15)
    reasons = {p.responder_id: p.reason for p in released if isinstance(p, ev.ResponderReleased)}
    assert set(reasons) == {"sworn", "impostor", "driving", "no"}
    assert reasons["impostor"] == UNVERIFIED_REASON
    assert all(r.status == "released" for r in rec.state().responders.values())


def test_the_embedded_demo_says_when_it_has_finished(tmp_path: Path, qtbot: QtBot) -> None:
    from dispatch_console.app.services import DEMO_ENDED, DemoPlan, EmbeddedServices
    from dispatch_console.feeds.keys import SecretBox
    from dispatch_console.feeds.server import Listen
    from dispatch_console.resources import resource

    text = resource("scenarios", "small_lockdown.toml").read_text(encoding="utf-8")
    scenario = tmp_path / "short.toml"
    scenario.write_text(
        text.replace("duration_s = 150", "duration_s = 40")
        + '\n[[command]]\nat_s = 30\nact = "all_clear"\n'
        + '\n[[command]]\nat_s = 35\nact = "release"\n',
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    ended: list[str] = []
    services = EmbeddedServices(
        url,
        Listen("127.0.0.1", 0, 0, 0, udp_worker=False),
        box=SecretBox(tmp_path / "master.key"),
        demo=DemoPlan(scenario, delay_s=0.0, speed=None),
        on_demo_ended=ended.append,
    )
    services.start()
    try:
        qtbot.waitUntil(lambda: bool(ended), timeout=60_000)
    finally:
        services.stop()
    assert ended == [DEMO_ENDED] and services.simulator_error is None
    with Store(url) as store:
        (summary,) = store.incidents()
        state = store.state_at(summary.incident_id)
    assert state.status == "all_clear"
    assert {r.status for r in state.responders.values()} == {ResponderStatus.RELEASED}
