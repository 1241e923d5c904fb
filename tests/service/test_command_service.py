"""An incident commander who acts before anyone established command is recorded as having
assumed it (an event, stored with their act); a dispatcher's act assumes nothing."""

from __future__ import annotations

from pathlib import Path

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import RuleViolation
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.ui.factory import SCHOOL_ACTOR, demo_schools

HAYES = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. J. Hayes")
MORENO = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")
ORTIZ = ev.Actor(ev.ActorKind.CONSOLE_USER, "Capt. R. Ortiz")


def _service(tmp_path: Path) -> tuple[IncidentService, str]:
    store = Store(f"sqlite:///{tmp_path / 'command.sqlite3'}")
    store.set_user(HAYES.name, "incident commander")
    store.set_user(ORTIZ.name, "incident commander")
    store.set_user(MORENO.name, "dispatcher")
    service = IncidentService(store)
    school = demo_schools()[0]
    store.upsert_schools([school])
    alert = ev.AlertReceived("act-1", school.school_id, "active_shooter", service.clock())
    incident, _ = service.open_incident(school, alert, actor=SCHOOL_ACTOR, source=ev.Source.FEED)
    return service, incident


def test_the_first_act_of_an_incident_commander_assumes_command(tmp_path: Path) -> None:
    service, incident = _service(tmp_path)
    console = ev.Source.CONSOLE
    stored = service.execute(
        incident, [ev.AlertAcknowledged("act-1", MORENO.name)], actor=MORENO, source=console
    )
    assert [e.type for e in stored] == ["alert_acknowledged"]  # a dispatcher is not the IC
    description = ev.SuspectDescription(sex="male", top_color="green")
    stored = service.execute(
        incident, [ev.SuspectDescriptionRevised(description)], actor=HAYES, source=console
    )
    assert [e.type for e in stored] == ["command_established", "suspect_description_revised"]
    assumed = stored[0]
    assert assumed.payload == ev.CommandEstablished(HAYES.name, assumed=True)
    assert (assumed.actor, assumed.occurred_at_us) == (HAYES, stored[1].occurred_at_us)
    # Once command is held, acting assumes nothing more (not even another IC's act).
    stored = service.execute(
        incident, [ev.SuspectDescriptionRevised(description)], actor=ORTIZ, source=console
    )
    assert [e.type for e in stored] == ["suspect_description_revised"]
    transfer = ev.CommandTransferred(HAYES.name, ORTIZ.name, "Engine 3", reason="relieved")
    service.execute(incident, [transfer], actor=ORTIZ, source=console)
    reread = Store(service.store.url).state_at(incident)  # the store's truth, not memory
    assert [(p.commander, p.how) for p in reread.command] == [
        (HAYES.name, "assumed"),
        (ORTIZ.name, "transferred"),
    ]
    assert reread.commander == ORTIZ.name and reread.command_post == "Engine 3"


def test_establishing_command_is_not_preceded_by_an_assumption(tmp_path: Path) -> None:
    service, incident = _service(tmp_path)
    stored = service.execute(
        incident, [ev.CommandEstablished(ORTIZ.name, "church lot")], actor=HAYES,
        source=ev.Source.CONSOLE,
    )  # fmt: skip
    assert [e.payload for e in stored] == [ev.CommandEstablished(ORTIZ.name, "church lot")]
    assert service.state(incident).commander == ORTIZ.name


def test_a_refused_act_stores_no_assumption(tmp_path: Path) -> None:
    service, incident = _service(tmp_path)
    before = service.store.last_seq()
    try:
        service.execute(
            incident, [ev.ResponderReleased("nobody")], actor=HAYES, source=ev.Source.CONSOLE
        )
    except RuleViolation:
        pass
    else:  # pragma: no cover - the rule must refuse it
        raise AssertionError("releasing an unknown responder was accepted")
    assert service.store.last_seq() == before
    assert service.state(incident).commander is None
