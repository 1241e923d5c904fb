#!/usr/bin/env python3
"""Phone screenshots of the responder web page (docs/responder-*.png), in Debian's Chromium at
360x800: the alert, responding (sharing location), and a go-to-staging directive with its map.

    .venv/bin/python tools/responder_screenshots.py [--out docs]

A real gateway on a temporary SQLite store with the example school; the phone enrols with a
one-time link, fills its profile, gets the alert, answers, and is directed to staging B.
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
        finally:
            phone.quit()
            gateway.stop()
    for name in ("alert", "attire", "responding", "directive"):
        print(args.out / f"responder-{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
