"""PulseAudio / PipeWire capture through ``pactl`` and ``parec``.

Why not ``soundcard`` here (it is used on Windows and macOS): on Linux it connects to the
sound server when it is imported, keeps one process-wide context that cannot reconnect
once the server restarts, and fails the import outright when no server is running. A
``parec`` child per device has none of that: a lost device is an exited child, reopening
is starting another, and it talks to PipeWire's pulse server the same way.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess

import numpy as np

from ionia.capture.audio_backend import AudioDevice, AudioKind, DeviceLost, DeviceNotFound
from ionia.capture.base import CHANNELS, SAMPLE_RATE

FRAME_BYTES = 4 * CHANNELS
PACTL_TIMEOUT = 5.0
#: what the server's buffer may hold before parec hands it over; small = low latency
DEVICE_LATENCY_MS = 20


def available() -> bool:
    return shutil.which("pactl") is not None and shutil.which("parec") is not None


def _pactl(*args: str) -> str:
    try:
        done = subprocess.run(
            ["pactl", *args], capture_output=True, text=True, timeout=PACTL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DeviceNotFound(f"pactl failed: {e}") from e
    if done.returncode != 0:
        raise DeviceNotFound(f"sound server not reachable: {done.stderr.strip()}")
    return done.stdout


class PulseBackend:
    """Sources of the PulseAudio (or pipewire-pulse) server ``$PULSE_SERVER`` points at."""

    name = "pulse"

    def list_devices(self) -> list[AudioDevice]:
        info = json.loads(_pactl("-f", "json", "info"))
        monitor_of_default = f"{info.get('default_sink_name', '')}.monitor"
        default_source = info.get("default_source_name", "")
        devices = []
        for source in json.loads(_pactl("-f", "json", "list", "sources")):
            name = source["name"]
            monitor = source.get("properties", {}).get("device.class") == "monitor"
            kind = "loopback" if monitor or name.endswith(".monitor") else "input"
            # the default source may itself be a monitor (a virtual microphone)
            default = name in (monitor_of_default, default_source)
            devices.append(
                AudioDevice(
                    id=name,
                    description=source.get("description", name),
                    kind="loopback" if kind == "loopback" else "input",
                    default=default,
                )
            )
        return devices

    def default_id(self, kind: AudioKind) -> str | None:
        info = json.loads(_pactl("-f", "json", "info"))
        if kind == "system":
            sink = info.get("default_sink_name")
            return f"{sink}.monitor" if sink else None
        return info.get("default_source_name") or None

    def open_stream(self, device: AudioDevice) -> ParecStream:
        return ParecStream(device.id)


class ParecStream:
    """One ``parec`` child writing raw float32 stereo 48 kHz to a pipe."""

    def __init__(self, source: str) -> None:
        self.source = source
        command = [
            "parec",
            "--verbose",  # the only way to hear "Stream moved" (see read_block)
            f"--device={source}",
            "--format=float32le",
            f"--rate={SAMPLE_RATE}",
            f"--channels={CHANNELS}",
            f"--latency-msec={DEVICE_LATENCY_MS}",
            "--client-name=ionia",
            "--raw",
        ]
        try:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as e:
            raise DeviceNotFound(f"cannot start parec: {e}") from e
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._out, self._err = self._proc.stdout.fileno(), self._proc.stderr.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._out, selectors.EVENT_READ)
        self._selector.register(self._err, selectors.EVENT_READ)
        self._pending = b""
        self._log = b""

    def read_block(self) -> np.ndarray:
        while True:
            # parec only exits when the server goes; a removed source is silently
            # replaced by the default one, which for a mic would capture something else
            # entirely, so its own report of the move counts as losing the device.
            try:
                ready = self._selector.select(timeout=1.0)
            except (OSError, ValueError) as e:  # closed under us by close()
                raise DeviceLost(f"{self.source}: closed ({e})") from e
            for key, _ in ready:
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError as e:
                    raise DeviceLost(f"{self.source}: {e}") from e
                if not chunk:
                    raise DeviceLost(self._reason())
                if key.fd == self._err:
                    self._log = (self._log + chunk)[-4096:]
                    if b"Stream moved" in self._log or b"Stream error" in self._log:
                        raise DeviceLost(self._reason())
                    continue
                data = self._pending + chunk
                whole = len(data) - len(data) % FRAME_BYTES
                self._pending = data[whole:]
                if whole:
                    return np.frombuffer(data[:whole], dtype="<f4").reshape(-1, CHANNELS)
            if self._proc.poll() is not None:
                raise DeviceLost(self._reason())

    def _reason(self) -> str:
        lines = [
            line.strip()
            for line in self._log.decode(errors="replace").replace("\r", "\n").splitlines()
            if line.strip() and not line.strip().startswith("Time:")
        ]
        detail = lines[-1] if lines else f"parec exited ({self._proc.poll()})"
        return f"{self.source}: {detail}"

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=2.0)
        self._selector.close()
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()
