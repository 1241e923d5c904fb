"""The demo's scripted incident commander builds what the console's own actions build, and the
rules accept it: check-in of those a roster vouches for, release of everyone at the end."""

from __future__ import annotations

from dispatch_console.app.demo_ic import UNVERIFIED_REASON, act_payloads
from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.sim.scenario import ScriptedAct
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
