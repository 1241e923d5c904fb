"""Run by ``test_alarm.py`` in a child process (so that QtMultimedia meets the test's private
PulseAudio server, named by ``PULSE_SERVER``, on first use): start the console's :class:`Alarm`,
let it sound for ``--seconds``, stop it, and print one JSON line of what happened."""

from __future__ import annotations

import argparse
import json
import logging
import time

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtGui import QGuiApplication

from dispatch_console.ui.shell.alarm import Alarm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    logging.getLogger("dispatch_console.ui.shell.alarm").addHandler(Keep())
    app = QGuiApplication.instance() or QGuiApplication([])
    alarm = Alarm()
    audible = alarm.audible
    alarm.start()
    playing = False
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        effect = alarm._effect
        playing = playing or bool(effect is not None and effect.isPlaying())
        time.sleep(0.02)
    alarm.stop()
    print(json.dumps({"audible": audible, "playing": playing, "warnings": warnings}), flush=True)
    del app


if __name__ == "__main__":
    main()
