#!/usr/bin/env python3
"""Phone screenshots of the responder web page (docs/responder-*.png), in Debian's Chromium at
360x800: the alert, responding (sharing location), a go-to-staging directive with its map, and
at staging the identified and assignment directives (team and radio channel).

    .venv/bin/python tools/responder_screenshots.py [--out docs]

A real gateway on a temporary SQLite store with the example school; the phone enrols with a
one-time link, fills its profile, gets the alert, answers, is directed to staging B, checked in
there and assigned.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dispatch_console.app import commands  # noqa: E402
from dispatch_console.domain import events as ev  # noqa: E402
from dispatch_console.feeds.web.routes import new_invite_token, token_hash  # noqa: E402
from dispatch_console.service import IncidentService  # noqa: E402
from tests.feeds.browser import open_phone  # noqa: E402
from tests.feeds.gateway_fixture import start_gateway  # noqa: E402
from tests.feeds.test_contract import example  # noqa: E402

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/store.sqlite3"
        from dispatch_console.store import Store

        with Store(url) as store:
            store.set_user(IC.name, "incident commander")
        gateway = start_gateway(url, Path(folder))
        phone = open_phone(gateway.url)
        try:
            phone.locate(38.2355, -84.5611)
            token = new_invite_token()
            gateway.store.add_invite("dev-ruiz", token_hash(token), int(time.time() + 3600) * 10**6)
            phone.driver.get(f"{gateway.url}/r/#invite={token}")
            phone.wait(lambda: phone.visible("screen-profile"))
            for element_id, value in {
                "p-name": "Det. M. Ruiz",
                "p-agency": "Georgetown PD",
                "p-badge": "4411",
                "p-top-color": "black",
                "p-bottom-color": "blue",
            }.items():
                phone.driver.find_element("id", element_id).send_keys(value)
            phone.click("btn-profile")
            phone.wait(lambda: phone.text("link") == "live")
            _, opened = gateway.post("/v1/activations", example("activation"), "school")
            incident_id = opened["incident_id"]
            service = IncidentService(gateway.store)
            suspect = ev.SuspectDescriptionRevised(
                ev.SuspectDescription(
                    sex="male", race="white", top_color="black", top_type="t-shirt",
                    bottom_color="blue", bottom_type="jeans", weapon="handgun",
                )
            )  # fmt: skip
            service.execute(incident_id, [suspect], actor=IC, source=ev.Source.CONSOLE)
            phone.wait(lambda: phone.visible("alert") and "male" in phone.text("a-suspect"))
            args.out.mkdir(parents=True, exist_ok=True)
            phone.driver.save_screenshot(str(args.out / "responder-alert.png"))
            phone.click("btn-responding")
            phone.wait(lambda: phone.visible("attire-confirm"))
            phone.driver.save_screenshot(str(args.out / "responder-attire.png"))
            phone.click("btn-attire-ok")
            phone.wait(lambda: "SHARING" in phone.text("sharing"))
            phone.wait(lambda: phone.text("outbox") == "all delivered")
            phone.wait(lambda: phone.visible("staging-map") and ":" in phone.text("map-info"))
            phone.js("window.scrollTo(0, 0)")
            phone.driver.save_screenshot(str(args.out / "responder-responding.png"))
            directive = ev.DirectiveQueued(
                "dir-b", "dev-ruiz", "dev-ruiz", "go_to_staging",
                "Go to Staging B (bus depot). Do not go to the school. "
                "Check in with Sgt. Lee.", "staging-b",
            )  # fmt: skip
            service.execute(incident_id, [directive], actor=IC, source=ev.Source.CONSOLE)
            card = "#directives .directive[data-kind=go_to_staging]"
            phone.wait(lambda: phone.driver.find_element("css selector", card).is_displayed())
            phone.wait(lambda: phone.text("map-info").startswith("Staging B"))
            phone.js("window.scrollTo(0, 0)")
            phone.driver.save_screenshot(str(args.out / "responder-directive.png"))
            # At staging B: acknowledged, checked in (team, channel, marking), then assigned.
            phone.tap(phone.driver.find_element("css selector", f"{card} .ack-btn"))
            area = service.state(incident_id).staging_areas["staging-b"]
            ring = area.geometry["coordinates"]
            if area.geometry["type"] == "Polygon":
                ring = [sum(c[i] for c in ring[0]) / len(ring[0]) for i in (0, 1)]
            phone.locate(ring[1], ring[0])  # driven there: the next report says so
            phone.wait(lambda: "you are there" in phone.text("map-info"), timeout_s=15)
            arrived = ev.ResponderArrived("dev-ruiz", "staging", "staging-b")
            service.execute(incident_id, [arrived], actor=IC, source=ev.Source.CONSOLE)
            identify = commands.identify(
                "dev-ruiz", "credentials_in_person", "Sgt. R. Lee", "R-14", "TAC 2",
                "raid_jacket", team="Team 2", state=service.state(incident_id),
            )  # fmt: skip
            service.execute(incident_id, identify, actor=IC, source=ev.Source.CONSOLE)
            identified = "#directives .directive[data-kind=identified] .ack-btn"
            phone.wait(lambda: phone.driver.find_element("css selector", identified))
            phone.js("window.scrollTo(0, 0)")
            phone.driver.save_screenshot(str(args.out / "responder-identified.png"))
            phone.tap(phone.driver.find_element("css selector", identified))
            assign = commands.assign(
                "dev-ruiz", "contact_team", "Team 2", location="East wing, building B",
                radio_channel="TAC 3", report_to="Sgt. R. Lee", state=service.state(incident_id),
            )  # fmt: skip
            service.execute(incident_id, assign, actor=IC, source=ev.Source.CONSOLE)
            assigned = "#directives .directive[data-kind=assignment] .ack-btn"
            phone.wait(lambda: phone.driver.find_element("css selector", assigned))
            phone.js("window.scrollTo(0, 0)")
            phone.driver.save_screenshot(str(args.out / "responder-assignment.png"))
        finally:
            phone.quit()
            gateway.stop()
    for name in ("alert", "attire", "responding", "directive", "identified", "assignment"):
        print(args.out / f"responder-{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
