"""What runs beside the console's window in the same process: the embedded gateway, and for the
demo the simulated outside world (the large active-shooter scenario, through that gateway).

All of it runs in threads of its own, never on the GUI thread; :meth:`EmbeddedServices.stop`
ends the simulator first, then the gateway, and joins both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dispatch_console.domain import events as ev
from dispatch_console.feeds.keys import NewKey, SecretBox
from dispatch_console.feeds.server import GatewayThread, Listen
from dispatch_console.store.chain import CentreKey, Checkpointer

log = logging.getLogger(__name__)

#: The demo's scenario and how long after launch its alert comes.
DEMO_SCENARIO = "large_active_shooter.toml"
DEMO_DELAY_S = 5.0
#: What the console says when the demo's scenario has played to its end.
DEMO_ENDED = (
    "Demo finished: the incident is over (threat stopped, stand-down, check-in, all clear, "
    "everyone released). Nothing more will happen; close the console and run make run again "
    "to watch it from the start."
)


@dataclass(frozen=True)
class DemoPlan:
    """Run ``scenario`` through the embedded gateway ``delay_s`` after start, at ``speed``."""

    scenario: Path
    delay_s: float = DEMO_DELAY_S
    #: Simulated seconds per wall second; None: as fast as it can.
    speed: float | None = 1.0
    seed: int | None = None


class EmbeddedServices:
    """The embedded gateway, and optionally a simulator run against it."""

    def __init__(
        self,
        store_url: str | None,
        listen: Listen,
        *,
        box: SecretBox | None = None,
        demo: DemoPlan | None = None,
        on_stored: Callable[[list[ev.Event]], None] | None = None,
        on_demo_ended: Callable[[str], None] | None = None,
    ) -> None:
        self.store_url = store_url
        self.listen = listen
        self.box = box
        self.demo = demo
        self.on_stored = on_stored
        #: Told, from the simulator's thread, a sentence saying the demo has ended and how.
        self.on_demo_ended = on_demo_ended
        self.gateway: GatewayThread | None = None
        self.simulator: threading.Thread | None = None
        self.simulator_error: str | None = None
        self._keys: dict[str, NewKey] | None = None
        self.checkpoints: Checkpointer | None = None
        self._stop = threading.Event()
        self._started = threading.Event()

    def prepare_demo(self) -> None:
        """Load the demo county into the store (schools, roster, devices, keys); call it
        before the console reads its reference data. Loading twice changes nothing."""
        from dispatch_console.county.load import load_demo_county
        from dispatch_console.store import Store

        if self.box is None:
            self.box = SecretBox()
        store = Store(self.store_url)
        try:
            county = load_demo_county(store, self.box, rules=True)
        finally:
            store.close()
        self._keys = {**county.school_keys, **county.device_keys}

    def start(self) -> None:
        """Start in the background (the window shows at once; the gateway binds meanwhile)."""
        threading.Thread(target=self._start, name="services-start", daemon=True).start()

    def _start(self) -> None:
        try:
            if self.demo is not None and self._keys is None:
                self.prepare_demo()
            keys = self._keys
            self.gateway = GatewayThread(self.store_url, self.listen, box=self.box)
            self.gateway.start_and_wait()
            # The gateway's process holds the centre's key: it signs chain checkpoints.
            self.checkpoints = Checkpointer(self.store_url, CentreKey())
            self.checkpoints.start()
            if self.on_stored is not None and self.gateway.gateway.core is not None:
                self.gateway.gateway.core.service.subscribe(self.on_stored)
        except Exception as exc:
            log.error("the embedded gateway did not start: %s: %s", type(exc).__name__, exc)
            self.simulator_error = f"gateway: {exc}"
            return
        finally:
            self._started.set()
        if self.demo is not None and keys is not None and not self._stop.is_set():
            self.simulator = threading.Thread(
                target=self._simulate, args=(keys,), name="simulator", daemon=True
            )
            self.simulator.start()

    def _simulate(self, keys: dict[str, NewKey]) -> None:
        from dispatch_console.app.demo_ic import act_payloads
        from dispatch_console.sim.run import run_scenario

        assert self.demo is not None and self.gateway is not None
        if self._stop.wait(self.demo.delay_s):
            return
        ports = self.gateway.gateway.ports
        try:
            result = run_scenario(
                self.demo.scenario,
                gateway_url=f"http://127.0.0.1:{ports['http']}",
                udp=("127.0.0.1", ports["udp"]),
                tcp=("127.0.0.1", ports["tcp"]),
                keys=keys,
                speed=self.demo.speed,
                seed=self.demo.seed,
                start_us=time.time_ns() // 1_000,
                store_url=self.store_url,
                stop=self._stop,
                acts=act_payloads,
            )
            ended = "stopped" if self._stop.is_set() else "finished"
            log.warning("demo scenario %s: incident %s", ended, result.incident_id)
            if not self._stop.is_set():
                self._ended(DEMO_ENDED)
        except Exception as exc:
            self.simulator_error = f"{type(exc).__name__}: {exc}"
            log.error("the demo simulator stopped: %s", self.simulator_error)
            self._ended(f"The demo stopped early: {self.simulator_error}")

    def _ended(self, text: str) -> None:
        if self.on_demo_ended is not None:
            try:
                self.on_demo_ended(text)
            except Exception:
                log.exception("telling the console the demo ended failed")

    def wait_started(self, timeout: float = 30.0) -> bool:
        return self._started.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self.simulator is not None:
            self.simulator.join(timeout)
        self._started.wait(timeout)
        if self.gateway is not None:
            self.gateway.stop(timeout)
        if self.checkpoints is not None:
            self.checkpoints.stop(timeout)
