"""Windows (WASAPI) and macOS (CoreAudio) capture through ``soundcard``.

UNTESTED HERE: the CI machines are Linux, where ``pulse.py`` is used instead (see there
for why). Kept deliberately thin: everything stateful (threads, reopening, drift) lives
in the device source, so what remains here is only the mapping to soundcard's calls.
"""

from __future__ import annotations

import threading
import types
from typing import cast

import numpy as np

from ionia.capture.audio_backend import AudioDevice, AudioKind, DeviceLost, DeviceNotFound
from ionia.capture.base import CHANNELS, SAMPLE_RATE

#: 10 ms blocks: the period WASAPI and CoreAudio use anyway
BLOCK = SAMPLE_RATE // 100


def _soundcard() -> types.ModuleType:
    # Imported late: the Linux flavour of soundcard connects to the server on import and
    # raises (AssertionError) when there is none.
    try:
        import soundcard
    except (ImportError, AssertionError, RuntimeError, OSError) as e:
        raise DeviceNotFound(f"soundcard unavailable: {e}") from e
    return cast(types.ModuleType, soundcard)


class SoundcardBackend:
    name = "soundcard"

    def list_devices(self) -> list[AudioDevice]:
        sc = _soundcard()
        defaults = {self.default_id("system"), self.default_id("mic")}
        return [
            AudioDevice(
                id=str(mic.id),
                description=mic.name,
                kind="loopback" if mic.isloopback else "input",
                default=str(mic.id) in defaults,
            )
            for mic in sc.all_microphones(include_loopback=True)
        ]

    def default_id(self, kind: AudioKind) -> str | None:
        sc = _soundcard()
        try:
            if kind == "system":
                speaker = sc.default_speaker()
                return str(sc.get_microphone(speaker.id, include_loopback=True).id)
            return str(sc.default_microphone().id)
        except (IndexError, RuntimeError) as e:
            raise DeviceNotFound(f"no default {kind} device: {e}") from e

    def open_stream(self, device: AudioDevice) -> SoundcardStream:
        return SoundcardStream(device.id)


class SoundcardStream:
    def __init__(self, device_id: str) -> None:
        sc = _soundcard()
        try:
            mic = sc.get_microphone(device_id, include_loopback=True)
            recorder = mic.recorder(samplerate=SAMPLE_RATE, channels=CHANNELS, blocksize=BLOCK)
            self._recorder = recorder
            self._recorder.__enter__()
        except (IndexError, RuntimeError) as e:
            raise DeviceNotFound(f"{device_id}: {e}") from e
        self._closing = False
        self._owner = threading.get_ident()

    def read_block(self) -> np.ndarray:
        if self._closing or self._recorder is None:
            raise DeviceLost("closed")
        try:
            block = self._recorder.record(numframes=BLOCK)
        except RuntimeError as e:
            raise DeviceLost(str(e)) from e
        return np.ascontiguousarray(block, dtype=np.float32).reshape(-1, CHANNELS)

    def close(self) -> None:
        # soundcard's recorder is not safe to exit from another thread: from there, only
        # ask; the reader leaves within one block (10 ms) and closes it itself
        if self._closing and threading.get_ident() != self._owner:
            return
        self._closing = True
        if threading.get_ident() == self._owner and self._recorder is not None:
            recorder, self._recorder = self._recorder, None
            recorder.__exit__(None, None, None)
