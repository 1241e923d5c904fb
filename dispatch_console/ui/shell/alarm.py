"""The audible alarm of unacknowledged alerts: a looping two-tone siren, or visual only.

The sound is ``resources/sounds/alarm.wav`` (written by ``tools/make_alarm_sound.py``), played
in a loop with QtMultimedia's ``QSoundEffect``. QtMultimedia comes with PySide6-Addons and a
console may run without it, or without any audio output (a server, CI, a laptop with its sound
disabled): then the alarm is visual only. That is said once, as a warning in the log, and the
alarm keeps its state (:attr:`Alarm.is_sounding`) so the panels still flash.

QtMultimedia is imported on first use, never at module import. Probing the audio outputs makes
the multimedia backend print warnings of its own where there is no sound server ("Couldn't load
pipewire-0.3 library", "PulseAudioService: pa_context_connect() failed"); they go to this
module's logger at DEBUG instead of Qt's message handler, because they mean nothing more than
the one warning this module logs. Without an output no ``QSoundEffect`` is ever built (building
one there only produces more backend warnings).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QMessageLogContext,
    QObject,
    QtMsgType,
    QUrl,
    Signal,
    qInstallMessageHandler,
)

from dispatch_console.resources import resource

if TYPE_CHECKING:  # imported when the alarm first sounds (QtMultimedia may be missing)
    from PySide6.QtMultimedia import QSoundEffect

log = logging.getLogger(__name__)

NO_AUDIO = "no audio output device: the alarm is visual only"


@contextmanager
def _qt_messages_to_debug_log() -> Iterator[None]:
    """Send Qt's messages to this module's logger at DEBUG while the block runs (GUI thread)."""

    def handler(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
        log.debug("qt %s [%s]: %s", kind.name, context.category, message)

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def _system_audio_outputs() -> Sequence[object]:
    from PySide6.QtMultimedia import QMediaDevices

    return list(QMediaDevices.audioOutputs())


class Alarm(QObject):
    """Sounds while :meth:`start`-ed until :meth:`stop`-ped; idempotent both ways.

    ``audio_outputs`` lists the audio output devices (default: ``QMediaDevices.audioOutputs``,
    imported lazily); tests pass one returning ``[]`` to take the visual-only path anywhere.
    """

    #: True when the alarm starts, False when it stops (audible or not).
    sounding_changed = Signal(bool)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        sound: Path | None = None,
        audio_outputs: Callable[[], Sequence[object]] | None = None,
    ) -> None:
        super().__init__(parent)
        self._sound = sound
        self._audio_outputs = audio_outputs or _system_audio_outputs
        self._sounding = False
        self._probed = False
        self._effect: QSoundEffect | None = None  # once probed with an output
        self._warned = False

    @property
    def is_sounding(self) -> bool:
        """The alarm state (unacknowledged alerts waiting), whether or not it can be heard."""
        return self._sounding

    @property
    def audible(self) -> bool:
        """Whether the alarm can be heard here (probes the audio outputs on first use)."""
        self._ensure_effect()
        return self._effect is not None

    @property
    def prepared(self) -> bool:
        """Whether the audio output was looked for (and the sound loaded, if there is one)."""
        return self._probed

    def prepare(self) -> None:
        """Find the audio output and load the sound now (tens of milliseconds), not when the
        first alert comes; with no output, the one log line is written now too."""
        self._ensure_effect()

    def start(self) -> None:
        if self._sounding:
            return
        self._sounding = True
        effect = self._ensure_effect()
        if effect is not None:
            effect.play()
        self.sounding_changed.emit(True)

    def stop(self) -> None:
        if not self._sounding:
            return
        self._sounding = False
        if self._effect is not None:
            self._effect.stop()
        self.sounding_changed.emit(False)

    # --- the sound -----------------------------------------------------------------------

    def _ensure_effect(self) -> QSoundEffect | None:
        if self._probed:
            return self._effect
        self._probed = True
        try:
            sound = self._sound or resource("sounds", "alarm.wav")
        except FileNotFoundError as exc:
            self._visual_only(str(exc))
            return None
        with _qt_messages_to_debug_log():
            try:
                from PySide6.QtMultimedia import QSoundEffect

                outputs = self._audio_outputs()
            except ImportError as exc:
                self._visual_only(f"QtMultimedia unavailable: {exc}")
                return None
            if not outputs:
                self._visual_only()
                return None
            effect = QSoundEffect(self)
            effect.setLoopCount(QSoundEffect.Loop.Infinite.value)
            effect.setVolume(1.0)
            effect.statusChanged.connect(self._on_status_changed)
            effect.setSource(QUrl.fromLocalFile(str(sound)))
        self._effect = effect
        return effect

    def _on_status_changed(self) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        effect = self._effect
        if effect is None or effect.status() != QSoundEffect.Status.Error:
            return
        self._effect = None
        effect.stop()
        effect.deleteLater()
        self._visual_only(f"cannot play {effect.source().toLocalFile()}")

    def _visual_only(self, reason: str | None = None) -> None:
        if self._warned:
            return
        self._warned = True
        log.warning(f"{NO_AUDIO} ({reason})" if reason else NO_AUDIO)
