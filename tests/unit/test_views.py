from __future__ import annotations

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.views import responder_rows
from tests.builders import T0, Recorder, S


def test_rows_show_distance_eta_age_and_staleness_at_the_instant() -> None:
    rec = Recorder().opened().notified("r1", "r2")
    rec.add(
        ev.ResponderProfileReported(
            "r1", name="Det. Ruiz", duty="off", attire=ev.Attire(False, "black", "t-shirt")
        ),
        2,
    )
    rec.add(ev.ResponderRosterChecked("r1", "sworn_active", "M. Ruiz"), 3)
    rec.add(ev.ResponderEnRoute("r1"), 4)
    rec.position("r1", 38.234, -84.54, at_s=10, stale_s=30)  # 1 km north of the school
    rows = {row.responder_id: row for row in responder_rows(rec.state(), T0 + 20 * S)}
    ruiz = rows["r1"]
    assert ruiz.name == "Det. Ruiz" and ruiz.duty == "OFF duty" and ruiz.plainclothes
    assert ruiz.distance_m == pytest.approx(1000, rel=0.01)
    assert ruiz.eta_s == pytest.approx(1000 / 12.0, rel=0.01)  # its own speed, 12 m/s
    assert ruiz.position_age_s == pytest.approx(10)
    assert not ruiz.stale and ruiz.self_dispatched and not ruiz.unverified
    assert rows["r2"].distance_m is None and rows["r2"].unverified
    later = {row.responder_id: row for row in responder_rows(rec.state(), T0 + 41 * S)}
    assert later["r1"].stale
