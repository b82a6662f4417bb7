"""Helpers of the end-to-end capture tests: decode a recording, and put sound into a sink
at a known instant.

``Beeper`` keeps one ``pacat`` stream open and writes it in real time, so a beep can be
placed on a chosen ``time.monotonic()`` instead of paying ``paplay``'s start-up (a new
client, a new stream, a prebuffer) at each beep.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ionia.capture.base import CHANNELS, SAMPLE_RATE
from tests.fixtures.desktop import PulseServer

#: pacat is written in 10 ms chunks, ``LEAD_S`` ahead of their nominal time so that a late
#: wake-up of the writer never lets the server underrun (which would shift the timeline)
CHUNK = SAMPLE_RATE // 100
LEAD_S = 0.03
PLAYBACK_LATENCY_MS = 10
START_TIMEOUT = 5.0


@dataclass(frozen=True, kw_only=True)
class Picture:
    """One decoded video frame, shrunk so that a few seconds of them fit in memory."""

    #: presentation time in the recording, seconds
    time: float
    #: ``(height, width, 3)`` uint8 RGB
    rgb: np.ndarray

    @property
    def luma(self) -> float:
        return float(self.rgb.mean())


def pictures(path: Path, width: int = 320, height: int = 180) -> list[Picture]:
    """Every video frame of ``path`` at ``width`` x ``height`` (area-averaged, so a sampled
    pixel stands for a block of the original)."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            small = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
            out.append(Picture(time=float(frame.time or 0.0), rgb=small.to_ndarray()))
    return out


def audio_track(path: Path) -> tuple[float, np.ndarray]:
    """(start time, stereo float32 ``(n, 2)`` samples at 48 kHz) of the first audio stream."""
    resampler = av.AudioResampler(format="flt", layout="stereo", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    start: float | None = None
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            if start is None:
                start = float(frame.time or 0.0)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, CHANNELS))
    if start is None:
        return 0.0, np.zeros((0, CHANNELS), dtype=np.float32)
    return start, np.concatenate(chunks)


def close_to(colour: np.ndarray, expected: tuple[int, int, int], margin: int = 40) -> bool:
    return bool(np.all(np.abs(colour.astype(int) - np.array(expected)) <= margin))


def run_onsets(times: list[float], gap_s: float = 0.5) -> list[float]:
    """The first of each run of ``times`` closer than ``gap_s`` to the previous one."""
    firsts: list[float] = []
    last = -1e9
    for t in times:
        if t - last > gap_s:
            firsts.append(t)
        last = t
    return firsts


def pair(flashes: list[float], beeps: list[float], within: float = 0.3) -> list[float]:
    """beep − flash (ms) for each flash with a beep within ``within`` seconds."""
    offsets = []
    for flash in flashes:
        nearest = min(beeps, key=lambda b: abs(b - flash), default=None)
        if nearest is not None and abs(nearest - flash) < within:
            offsets.append(round((nearest - flash) * 1000, 1))
    return offsets


def _drain(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 4096):
                return
        except OSError:
            return


class Listener:
    """A low-latency ``parec`` on ``source``: when (``time.monotonic()``) each sound began
    to arrive there; the reference for when a beep was really in the sink."""

    def __init__(self, pulse: PulseServer, source: str, *, threshold: float = 0.1) -> None:
        command = [
            "parec",
            f"--device={source}",
            "--format=float32le",
            f"--rate={SAMPLE_RATE}",
            f"--channels={CHANNELS}",
            "--latency-msec=2",
            "--client-name=ionia-test-listener",
            "--raw",
        ]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=pulse.env
        )
        self.threshold = threshold
        self.onsets: list[float] = []
        self._thread = threading.Thread(target=self._run, name="test-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        fd, pending, last = self.proc.stdout.fileno(), b"", -1.0
        frame = 4 * CHANNELS
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            data = pending + chunk
            whole = len(data) - len(data) % frame
            pending = data[whole:]
            block = np.frombuffer(data[:whole], dtype="<f4").reshape(-1, CHANNELS)
            for index in np.flatnonzero(np.abs(block[:, 0]) > self.threshold):
                # the block's last sample arrived now; sample ``index`` that much earlier
                at = now - (len(block) - index) / SAMPLE_RATE
                if at - last > 0.3:
                    self.onsets.append(at)
                last = at

    def onset_after(self, t: float, within: float = 0.5) -> float | None:
        return next((at for at in self.onsets if t - 0.1 <= at <= t + within), None)

    def close(self) -> None:
        _stop(self.proc)
        self._thread.join(timeout=2.0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Beeper:
    """A ``pacat`` playback stream into ``sink``: silence, with beeps at chosen instants.

    The writer thread writes chunk ``k`` (10 ms) at ``t0 + k * 10 ms - LEAD_S``; sample
    ``s`` is therefore meant to play at ``t0 + s / 48000`` (plus the sound server's own
    playback latency, which tests measure rather than assume).
    """

    def __init__(self, pulse: PulseServer, sink: str) -> None:
        command = [
            "pacat",
            "--playback",
            "--verbose",
            f"--device={sink}",
            "--format=float32le",
            f"--rate={SAMPLE_RATE}",
            f"--channels={CHANNELS}",
            f"--latency-msec={PLAYBACK_LATENCY_MS}",
            "--client-name=ionia-test-beeper",
            "--raw",
        ]
        # A null sink with no client asking for low latency renders up to 2 s of silence
        # ahead; a stream joining then plays behind it, ~2 s late. Connecting while the
        # sink is suspended makes it resume at the beeper's latency, with nothing ahead.
        pulse.pactl("suspend-sink", sink, "1")
        try:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=pulse.env
            )
            self._wait_created()
        finally:
            pulse.pactl("suspend-sink", sink, "0")
        self._lock = threading.Lock()
        self._beeps: list[tuple[int, np.ndarray]] = []
        self._stop = threading.Event()
        self.t0 = time.monotonic() + LEAD_S
        self._thread = threading.Thread(target=self._run, name="test-beeper", daemon=True)
        self._thread.start()

    def _wait_created(self) -> None:
        assert self.proc.stderr is not None
        err, said = self.proc.stderr.fileno(), b""
        deadline = time.monotonic() + START_TIMEOUT
        while b"Stream successfully created" not in said:
            ready, _, _ = select.select([err], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(err, 4096) if ready else b""
            if not chunk:
                self.close()
                raise RuntimeError(f"pacat did not start: {said.decode(errors='replace')}")
            said += chunk
        # pacat keeps talking (verbose): drain it so it never blocks on a full pipe
        threading.Thread(target=_drain, args=(err,), name="test-beeper-log", daemon=True).start()

    def beep(
        self, at: float, *, frequency: float = 1000.0, seconds: float = 0.1, level: float = 0.3
    ) -> None:
        """A sine burst meant to start playing at ``time.monotonic() == at``."""
        first = round((at - self.t0) * SAMPLE_RATE)
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        tone = (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
        with self._lock:
            self._beeps.append((first, tone))

    def _chunk(self, k: int) -> np.ndarray:
        lo, hi = k * CHUNK, (k + 1) * CHUNK
        out = np.zeros((CHUNK, CHANNELS), dtype=np.float32)
        with self._lock:
            for first, tone in self._beeps:
                a, b = max(lo, first), min(hi, first + len(tone))
                if a < b:
                    out[a - lo : b - lo] = tone[a - first : b - first, None]
        return out

    def _run(self) -> None:
        assert self.proc.stdin is not None
        k = 0
        while not self._stop.is_set():
            due = self.t0 + k * CHUNK / SAMPLE_RATE - LEAD_S
            if self._stop.wait(max(0.0, due - time.monotonic())):
                break
            try:
                self.proc.stdin.write(self._chunk(k).tobytes())
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                break
            k += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        _stop(self.proc)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)
