"""The alarm: heard on a (virtual) audio output, visual only without one (one warning, no Qt
noise), and its sound file.

The audible path runs against a private PulseAudio server with a null sink, started by the test
(``pulseaudio`` and ``parec`` from the Makefile's Debian packages): the console's alarm plays in
a child process and what reaches the sink is recorded from its monitor and checked to be the
siren, not silence."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QtMsgType
from pytestqt.qtbot import QtBot

from dispatch_console.resources import resource
from dispatch_console.ui.shell.alarm import NO_AUDIO, Alarm
from tests.availability import unavailable

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "make_alarm_sound.py"
LOGGER = "dispatch_console.ui.shell.alarm"


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
        "import sys, dispatch_console.ui.shell.alarm, dispatch_console.ui.panels.alerts;"
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


@pytest.fixture
def pulse_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private PulseAudio server with one null sink ``dc_alarm`` (no sound card needed): the
    environment that points a process at it."""
    programs = {name: shutil.which(name) for name in ("pulseaudio", "parec", "pactl")}
    missing = [name for name, path in programs.items() if path is None]
    if missing:
        unavailable(
            f"{', '.join(missing)} not installed (Debian: pulseaudio, pulseaudio-utils)", os.environ
        )
    folder = tmp_path / "pulse"
    folder.mkdir()
    socket_path = folder / "native"
    env = {**os.environ, "HOME": str(folder), "XDG_RUNTIME_DIR": str(folder)}
    server_log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [
            str(programs["pulseaudio"]), "-n", "--daemonize=no", "--exit-idle-time=-1",
            "--use-pid-file=no", "--disable-shm=yes",
            "-L", f"module-native-protocol-unix socket={socket_path} auth-anonymous=1",
            "-L", "module-null-sink sink_name=dc_alarm rate=22050 channels=1",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=server_log,
    )  # fmt: skip
    client_env = {**env, "PULSE_SERVER": f"unix:{socket_path}", "PULSE_SINK": "dc_alarm"}
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(programs["pactl"]), "list", "short", "sinks"],
                env=client_env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if "dc_alarm" in ready.stdout:
                break
            assert server.poll() is None, (folder / "server.log").read_text()
            assert time.monotonic() < deadline, "the PulseAudio server did not start"
            time.sleep(0.1)
        yield client_env
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        server_log.close()


def test_the_alarm_is_heard_on_an_audio_output(pulse_server: dict[str, str]) -> None:
    """The alarm plays the siren to the (virtual) output: recorded from the sink's monitor,
    loud, while it sounds; no warning is logged."""
    recorder = subprocess.Popen(
        ["parec", "-d", "dc_alarm.monitor", "--raw", "--format=s16le", "--channels=1",
         "--rate=22050", "--latency-msec=50"],
        env=pulse_server, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        env = {
            **pulse_server,
            "QT_QPA_PLATFORM": "offscreen",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        played = subprocess.run(
            [sys.executable, "-m", "tests.ui.alarm_player", "--seconds", "3"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        recorder.terminate()
        recorded, _ = recorder.communicate(timeout=10)
    assert played.returncode == 0, played.stderr[-2000:]
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result == {"audible": True, "playing": True, "warnings": []}, result
    samples = struct.unpack(f"<{len(recorded) // 2}h", recorded[: len(recorded) // 2 * 2])
    assert len(samples) > 22_050 // 2, f"only {len(samples)} samples recorded"
    peak = max(abs(s) for s in samples)
    assert peak > 0.3 * 32767, f"the sink heard silence (peak {peak})"
    loud = sum(abs(s) > 0.1 * 32767 for s in samples)
    assert loud > 22_050 // 4, f"only {loud} loud samples: the siren did not play"
