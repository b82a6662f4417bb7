"""System audio and microphone sources: a capture thread per device feeding a drift buffer.

A missing or vanished device never stops the stream: the source logs a warning, the
buffer runs dry into silence, and the thread keeps trying to reopen the device. Anything
else that escapes the capture thread (a bug, a backend failing in a way it does not name)
ends the stream: ``read()`` raises it as a ``CaptureError``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from ionia.capture.audio_backend import (
    AudioBackend,
    AudioKind,
    DeviceLost,
    DeviceNotFound,
    DeviceStream,
    choose_device,
)
from ionia.capture.base import AudioSource
from ionia.capture.drift import DriftBuffer, DriftConfig, DriftStats
from ionia.capture.mixer import MixedAudioSource
from ionia.errors import CaptureError, ConfigError
from ionia.worker import Worker, describe

log = logging.getLogger("ionia.capture")

#: seconds between attempts to (re)open a missing device, and between checks that the
#: default output has not changed under a ``system`` source
REOPEN_INTERVAL = 2.0


def default_backend() -> AudioBackend:
    """``pulse`` on Linux when its tools are installed, else ``soundcard``."""
    from ionia.capture import pulse

    if sys.platform.startswith("linux") and pulse.available():
        return pulse.PulseBackend()
    from ionia.capture.soundcard_source import SoundcardBackend

    return SoundcardBackend()


class DeviceAudioSource(AudioSource):
    """``system`` (loopback of the default output) or ``mic`` (default input) capture.

    ``device`` picks by case-insensitive substring of a device id or description instead
    of the default. ``read()`` never blocks: it hands out what the drift buffer holds.
    """

    def __init__(
        self,
        kind: AudioKind,
        device: str | None = None,
        *,
        backend: AudioBackend | None = None,
        drift: DriftConfig | None = None,
        reopen_interval: float = REOPEN_INTERVAL,
    ) -> None:
        if kind not in ("system", "mic"):
            raise ConfigError(f"audio device kind must be 'system' or 'mic', not {kind!r}")
        self.kind, self.device = kind, device
        self.name = f"{kind} {device}" if device else kind
        self._backend = backend
        self._buffer = DriftBuffer(drift)
        self._reopen_interval = reopen_interval
        self._worker = Worker(f"ionia-capture-audio-{kind}", self._run, on_crash=self._crashed)
        self._stop = self._worker.stopping
        self._error: CaptureError | None = None
        self._stream: DeviceStream | None = None
        self._stream_lock = threading.Lock()
        #: the id of the device being captured, None while there is none
        self.current_device: str | None = None
        self._connected = threading.Event()

    def open(self) -> None:
        if self._worker.started:
            return
        if self._backend is None:
            self._backend = default_backend()
        self._worker.start()

    def _crashed(self, exc: BaseException) -> None:
        # Reported once, by the stream that this error ends at the next read().
        self._error = CaptureError(f"{self.kind} audio capture failed: {describe(exc)}")

    def wait_connected(self, timeout: float) -> bool:
        """True once a device is being captured (for tests and start-up logs)."""
        return self._connected.wait(timeout)

    def read(self, start: int, count: int) -> np.ndarray:
        if self._error is not None:
            raise self._error
        return self._buffer.read(count)

    @property
    def latency_s(self) -> float:
        # The drift buffer holds every sample exactly its target. parec hands blocks over
        # as they come (measured 0-3 ms after the sink's monitor has them), well inside
        # its --latency-msec ceiling, so the device side adds nothing worth counting.
        return self._buffer.config.target_ms / 1000

    def stats(self) -> DriftStats:
        return self._buffer.stats()

    def close(self) -> None:
        self._stop.set()
        with self._stream_lock:
            if self._stream is not None:
                self._stream.close()  # wakes the thread out of read_block
        self._worker.join(3.0)

    def _run(self) -> None:
        assert self._backend is not None
        missing_logged = False
        while not self._stop.is_set():
            try:
                device = choose_device(self._backend, self.kind, self.device)
                stream = self._backend.open_stream(device)
            except DeviceNotFound as e:
                if not missing_logged:
                    log.warning("%s audio unavailable (%s): silence meanwhile", self.kind, e)
                    missing_logged = True
                self._stop.wait(self._reopen_interval)
                continue
            missing_logged = False
            with self._stream_lock:
                if self._stop.is_set():
                    stream.close()
                    return
                self._stream = stream
            log.info("capturing %s audio from %s", self.kind, device.id)
            self.current_device = device.id
            self._buffer.reset()
            try:
                self._pump(stream, device.id)
            except DeviceLost as e:
                if not self._stop.is_set():
                    log.warning("%s audio device lost (%s): silence, reopening", self.kind, e)
                    self._stop.wait(self._reopen_interval / 4)
            finally:
                self.current_device = None
                self._connected.clear()
                with self._stream_lock:
                    self._stream = None
                stream.close()

    def _pump(self, stream: DeviceStream, device_id: str) -> None:
        follow = self._default_watch(device_id)
        while not self._stop.is_set():
            block = stream.read_block()
            self._buffer.write(block)
            self._connected.set()
            if follow is not None and follow():
                log.info("default %s device changed: following it", self.kind)
                return

    def _default_watch(self, device_id: str) -> Callable[[], bool] | None:
        """A check that the default device is still ``device_id`` (only without --audio-device)."""
        if self.device:
            return None
        backend, kind = self._backend, self.kind
        assert backend is not None
        due = time.monotonic() + self._reopen_interval

        def changed() -> bool:
            nonlocal due
            if time.monotonic() < due:
                return False
            due = time.monotonic() + self._reopen_interval
            try:
                return backend.default_id(kind) != device_id
            except DeviceNotFound:
                return False

        return changed


def create_audio_source(
    mode: str,
    *,
    system_device: str | None = None,
    mic_device: str | None = None,
    system_gain_db: float = 0.0,
    mic_gain_db: float = 0.0,
    backend: AudioBackend | None = None,
) -> AudioSource:
    """The source for ``--audio system|mic|both``; gains are in dB (0 = unchanged)."""
    if mode == "system":
        return DeviceAudioSource("system", system_device, backend=backend)
    if mode == "mic":
        return DeviceAudioSource("mic", mic_device, backend=backend)
    if mode == "both":
        return MixedAudioSource(
            [
                DeviceAudioSource("system", system_device, backend=backend),
                DeviceAudioSource("mic", mic_device, backend=backend),
            ],
            gains_db=[system_gain_db, mic_gain_db],
        )
    raise ConfigError(f"audio mode must be system, mic or both, not {mode!r}")
