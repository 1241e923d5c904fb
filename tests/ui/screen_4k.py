"""Run by ``test_layout_screens.py`` in a child process whose Qt offscreen platform has one 4K
screen (3840×2160 device pixels) at 200 % (a device pixel ratio of 2), given by the parent in
``QT_QPA_PLATFORM=offscreen:configfile=…``: open the console on the parent's store at minute
five as a first start would (fitted to the screen, no saved layout), make the checks made at the
other screen sizes, and print one JSON line of what the screen and the window were. A failed
check ends the process with its traceback on stderr and a non-zero status."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PySide6.QtWidgets import QApplication

from dispatch_console.launch.screenshot import open_window
from tests.ui.minute_five import check_minute_five, settle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--now-us", type=int, required=True)
    parser.add_argument("--settings", type=Path, required=True)
    args = parser.parse_args()
    app = QApplication([])
    screen = app.primaryScreen()
    window = open_window(args.store_url, args.now_us, settings_file=args.settings)
    assert not window.restored, "a first start has no saved layout"
    window.fit_to_screen()
    window.show()
    settle(window)
    room = screen.availableGeometry().size()
    # The whole screen, in logical pixels (a 1080p layout drawn with twice the pixels); the
    # table shows the 15 rows of a 1080 px high screen.
    check_minute_five(window, room.width(), room.height(), 15)
    picture = window.grab()
    seen = {
        "device_pixel_ratio": window.devicePixelRatioF(),
        "screen_logical": [screen.geometry().width(), screen.geometry().height()],
        "window_logical": [window.width(), window.height()],
        "picture_pixels": [picture.width(), picture.height()],
        "table_rows": window.responders.visible_rows(),
        "warning_form": window.warnings.form,
    }
    window.settings.clear()
    window.close()
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main()
