"""What an audio device backend offers: its device records, a blocking stream, its errors.

Two backends sit behind this: ``pulse`` (``pactl``/``parec``, Linux with PulseAudio or
PipeWire) and ``soundcard`` (WASAPI, CoreAudio). The device source above them owns the
threads, the reopening and the drift buffer, so a backend is only "find a device, read
blocks from it".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

#: ``system`` = loopback of the default output, ``mic`` = the default input
AudioKind = Literal["system", "mic"]


class DeviceNotFound(Exception):
    """No device matches (or the sound server is not there): retry later."""


class DeviceLost(Exception):
    """A device that was being read went away: retry later."""


@dataclass(kw_only=True, frozen=True)
class AudioDevice:
    """One capture device, as ``ionia devices`` shows it."""

    #: the backend's id; any substring of it (or of ``description``) works for --audio-device
    id: str
    #: the human name ("Monitor of Built-in Audio Analog Stereo")
    description: str
    #: ``input`` (a microphone, line in) or ``loopback`` (what an output plays)
    kind: Literal["input", "loopback"]
    #: ``system`` or ``mic`` uses this device when no --audio-device is given
    default: bool = False


class DeviceStream(Protocol):
    """An open capture stream delivering 48 kHz stereo float32."""

    def read_block(self) -> np.ndarray:
        """The next block ``(n, 2)``; blocks until the device delivers. Raises ``DeviceLost``."""
        ...

    def close(self) -> None:
        """Idempotent; may be called from another thread to wake a blocked ``read_block``."""
        ...


class AudioBackend(Protocol):
    name: str

    def list_devices(self) -> list[AudioDevice]:
        """Every capture device. Raises ``DeviceNotFound`` when the sound server is absent."""
        ...

    def default_id(self, kind: AudioKind) -> str | None:
        """The id ``kind`` uses when no device is named."""
        ...

    def open_stream(self, device: AudioDevice) -> DeviceStream:
        """Start capturing. Raises ``DeviceNotFound`` or ``DeviceLost``."""
        ...


def choose_device(backend: AudioBackend, kind: AudioKind, query: str | None) -> AudioDevice:
    """The device for ``kind``: by case-insensitive name substring, else the default.

    ``system`` only takes loopbacks. ``mic`` prefers inputs but accepts a loopback whose
    name matches, so a virtual source (a null sink's monitor, a loopback cable) can stand
    in for a microphone.
    """
    devices = backend.list_devices()
    if query:
        needle = query.lower()
        hits = [d for d in devices if needle in d.id.lower() or needle in d.description.lower()]
        order = ["loopback"] if kind == "system" else ["input", "loopback"]
        for wanted in order:
            for device in hits:
                if device.kind == wanted:
                    return device
        raise DeviceNotFound(f"no {kind} audio device matches {query!r}")
    default = backend.default_id(kind)
    for device in devices:
        if device.id == default:
            return device
    raise DeviceNotFound(f"no default {kind} audio device")
