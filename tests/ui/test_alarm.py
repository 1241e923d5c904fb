"""The alarm: visual only without audio (one warning, no Qt noise) and its sound file."""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import wave
from collections.abc import Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QtMsgType
from pytestqt.qtbot import QtBot

from dispatch_console.resources import resource
from dispatch_console.ui.alarm import NO_AUDIO, Alarm

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "make_alarm_sound.py"
LOGGER = "dispatch_console.ui.alarm"


def no_outputs() -> Sequence[object]:
    return []


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING
    ]


def cycle(alarm: Alarm, times: int) -> None:
    for _ in range(times):
        alarm.start()
        assert alarm.is_sounding
        alarm.start()  # idempotent
        alarm.stop()
        assert not alarm.is_sounding
        alarm.stop()


def test_without_audio_output_one_warning_over_many_cycles_and_state_still_tracked(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    alarm = Alarm(audio_outputs=no_outputs)
    seen: list[bool] = []
    alarm.sounding_changed.connect(seen.append)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        cycle(alarm, 4)
    assert warnings_of(caplog) == [NO_AUDIO]
    assert seen == [True, False] * 4
    assert alarm.audible is False


def test_probing_the_real_audio_outputs_without_a_device_keeps_qt_quiet(
    qtbot: QtBot, qtlog: object, caplog: pytest.LogCaptureFixture
) -> None:
    alarm = Alarm()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        if alarm.audible:
            pytest.skip("this machine has an audio output: the visual-only path is not taken")
        cycle(alarm, 3)
    assert warnings_of(caplog) == [NO_AUDIO]
    loud = (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
    assert [r.message for r in qtlog.records if r.type in loud] == []  # type: ignore[attr-defined]


def test_missing_qtmultimedia_makes_the_alarm_visual_only(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)  # import raises ImportError
    alarm = Alarm()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cycle(alarm, 2)
    [message] = warnings_of(caplog)
    assert message.startswith(NO_AUDIO) and "QtMultimedia" in message
    assert not alarm.audible


def test_importing_the_alarm_does_not_load_qtmultimedia() -> None:
    code = (
        "import sys, dispatch_console.ui.alarm, dispatch_console.ui.alerts;"
        "print('PySide6.QtMultimedia' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def make_sound(path: Path) -> bytes:
    subprocess.run([sys.executable, str(TOOL), "--out", str(path)], check=True, capture_output=True)
    return path.read_bytes()


def test_sound_tool_writes_the_same_bytes_every_run_and_the_committed_file(tmp_path: Path) -> None:
    first = make_sound(tmp_path / "a.wav")
    second = make_sound(tmp_path / "b" / "alarm.wav")
    assert first == second
    assert resource("sounds", "alarm.wav").read_bytes() == first, (
        "resources/sounds/alarm.wav is out of date: run tools/make_alarm_sound.py"
    )


def test_alarm_wav_is_mono_22050_hz_16_bit_about_1_2_s_and_starts_and_ends_silent() -> None:
    with wave.open(str(resource("sounds", "alarm.wav")), "rb") as sound:
        assert sound.getnchannels() == 1
        assert sound.getframerate() == 22_050
        assert sound.getsampwidth() == 2
        assert sound.getcomptype() == "NONE"
        frames = sound.getnframes()
        data = sound.readframes(frames)
    assert 1.1 <= frames / 22_050 <= 1.3
    samples = struct.unpack(f"<{frames}h", data)
    peak = max(abs(s) for s in samples)
    assert 0.5 * 32767 < peak < 32767  # loud, not clipped
    # Soft attack and decay: the loop point does not click.
    assert abs(samples[0]) < 200 and abs(samples[-1]) < 200
