"""A capture device's ring buffer, kept near a target fill against clock drift.

A sound card's clock is never exactly the monotonic clock: a device 0.1 % fast delivers
48 048 samples per engine second, which without correction piles up 1.7 s of latency in
30 minutes (or runs dry, if slow). The AudioEngine pulls exactly ``elapsed * 48000``
samples, so the buffer absorbs the difference by resampling what it hands out very
slightly (at most +/-0.5 %, inaudible) in proportion to how far its fill is from the
target. The controller is driven by the reads alone (engine time), which is what lets
the drift tests run 30 minutes of a stream in a few seconds.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from ionia.capture.base import CHANNELS, SAMPLE_RATE


@dataclass(kw_only=True, frozen=True)
class DriftConfig:
    """How the buffer holds its fill."""

    #: the fill (ms of audio) the controller steers to; also the latency the buffer adds
    target_ms: float = 40.0
    #: a fill this far above the target is not drift but a burst (a sound server
    #: rewinding, a device catching up after a stall): skip straight back to the target
    resync_ms: float = 120.0
    #: hard bound of the buffer: past this the oldest audio is dropped (engine stalled)
    max_ms: float = 500.0
    #: largest resampling correction, as a fraction of the rate (0.005 = 0.5 %)
    max_correction: float = 0.005
    #: fill error (ms) at which the correction saturates; smaller = stiffer loop
    full_correction_ms: float = 20.0
    #: a fill error (ms) within this is left alone: the blocks are handed out as they came
    #: (a copy, not a resampling) — a device on the same clock as the engine, as PulseAudio's
    #: monitor usually is, then costs nothing to correct; beyond it the correction grows
    #: from zero, so the loop settles this much further from the target under real drift
    dead_band_ms: float = 2.0
    #: time constant of the fill average the controller looks at, so that block-sized
    #: jitter of the device does not wobble the ratio (with the gains above the loop is
    #: critically damped: s^2 + s/tau + k/tau with k = 0.25/s, tau = 1 s)
    smoothing_s: float = 1.0


@dataclass(kw_only=True, frozen=True)
class DriftStats:
    """A snapshot of the buffer, for statistics and tests."""

    fill_ms: float
    ratio: float
    underruns: int
    overflows: int
    resyncs: int
    written: int
    consumed: float


class DriftBuffer:
    """Bounded buffer between a device thread (``write``) and the engine (``read``).

    ``read`` never waits: missing audio is silence. Until the fill first reaches the
    target (and again after an underrun) reads return silence, so the latency the buffer
    adds always starts at the target rather than at whatever the device happened to send.
    """

    def __init__(self, config: DriftConfig | None = None) -> None:
        self.config = cfg = config or DriftConfig()
        self._target = cfg.target_ms * SAMPLE_RATE / 1000
        self._max = max(int(cfg.max_ms * SAMPLE_RATE / 1000), int(self._target) + 1024)
        # room for the bound plus a generous device block before compaction is needed
        self._buf = np.zeros((self._max + SAMPLE_RATE // 2, CHANNELS), dtype=np.float32)
        self._lock = threading.Lock()
        self._underruns = self._overflows = self._resyncs = self._written = 0
        self._reset_locked()
        self._consumed = 0.0

    def _reset_locked(self) -> None:
        # index 0 is a history sample: cubic interpolation looks one sample back
        self._start, self._end, self._frac = 1, 1, 0.0
        self._buf[0] = 0.0
        self._primed = False
        self._smoothed = self._target
        self._ratio = 1.0

    def reset(self) -> None:
        """Forget buffered audio (the device was reopened: its stream starts afresh)."""
        with self._lock:
            self._consumed += self._end - self._start - self._frac
            self._reset_locked()

    def _available(self) -> float:
        return self._end - self._start - self._frac

    def write(self, block: np.ndarray) -> None:
        """Append device audio, float32 ``(n, 2)`` at 48 kHz (the device's idea of it)."""
        n = len(block)
        if n == 0:
            return
        with self._lock:
            self._written += n
            if n > self._max:
                self._consumed += n - self._max
                block, n = block[-self._max :], self._max
            if self._end - self._start + n > self._max:
                # The engine is not reading (or is far behind): jump back to the target
                # latency instead of holding on to seconds of stale audio.
                keep = max(0, int(self._target) - n)
                drop = self._end - self._start - keep
                self._start += drop
                self._consumed += drop - self._frac
                self._frac = 0.0
                self._smoothed = self._target
                self._overflows += 1
            if self._end + n > len(self._buf):
                live = self._end - self._start + 1
                self._buf[:live] = self._buf[self._start - 1 : self._end]
                self._start, self._end = 1, live
            self._buf[self._end : self._end + n] = block
            self._end += n

    def read(self, count: int) -> np.ndarray:
        """Exactly ``count`` output samples, float32 ``(count, 2)``; never blocks."""
        out = np.zeros((count, CHANNELS), dtype=np.float32)
        cfg = self.config
        with self._lock:
            # Steer what is left *after* this read to the target: then every sample waits
            # exactly ``target_ms`` between arriving and the engine's timeline position of
            # the block it is read in, which is what ``latency_s`` promises the engine.
            available = self._available()
            goal = self._target + count
            if not self._primed:
                if available < goal:
                    return out
                # start at the target latency exactly, whatever arrived in one go
                self._primed = True
                available = self._skip(available - goal)
            elif available > goal + cfg.resync_ms * SAMPLE_RATE / 1000:
                self._resyncs += 1
                available = self._skip(available - goal)
            alpha = 1.0 - math.exp(-count / SAMPLE_RATE / cfg.smoothing_s)
            self._smoothed += (available - count - self._smoothed) * alpha
            error_ms = (self._smoothed - self._target) * 1000 / SAMPLE_RATE
            beyond = max(0.0, abs(error_ms) - cfg.dead_band_ms)
            correction = math.copysign(
                cfg.max_correction * beyond / cfg.full_correction_ms, error_ms
            )
            limit = cfg.max_correction
            self._ratio = ratio = 1.0 + max(-limit, min(limit, correction))
            if ratio == 1.0 and self._copy(out, count):
                return out

            positions = self._frac + ratio * np.arange(count, dtype=np.float64)
            # cubic interpolation needs two samples past the position it reads
            usable = int(np.searchsorted(positions, self._end - self._start - 2, side="left"))
            if usable < count:
                self._underruns += 1
                self._primed = False
                positions = positions[:usable]
            if usable:
                out[:usable] = _cubic(self._buf, self._start, positions)
            advance = self._frac + ratio * usable
            step = int(advance)
            self._start += step
            self._frac = advance - step
            self._consumed += ratio * usable
        return out

    def _copy(self, out: np.ndarray, count: int) -> bool:
        """At ratio 1, hand ``count`` samples out as they are; False when the read needs the
        resampling path (it would underrun). A fractional position left by resampling is
        rounded to the nearest sample, a shift of at most 10 µs, once."""
        start = self._start + round(self._frac)
        if start + count + 2 > self._end:
            return False
        self._consumed += start - self._start - self._frac + count
        out[:] = self._buf[start : start + count]
        self._start, self._frac = start + count, 0.0
        return True

    def _skip(self, samples: float) -> float:
        """Drop ``samples`` of the oldest audio; returns what is left."""
        whole = int(samples)
        self._start += whole
        self._consumed += whole
        self._smoothed = self._target
        return self._available()

    def stats(self) -> DriftStats:
        with self._lock:
            return DriftStats(
                fill_ms=self._available() * 1000 / SAMPLE_RATE,
                ratio=self._ratio,
                underruns=self._underruns,
                overflows=self._overflows,
                resyncs=self._resyncs,
                written=self._written,
                consumed=self._consumed,
            )


def _cubic(buf: np.ndarray, start: int, positions: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of ``buf[start + positions]`` (positions >= 0, sorted)."""
    index = positions.astype(np.int64)
    t = (positions - index).astype(np.float32)[:, None]
    base = start + index
    xm1, x0, x1, x2 = buf[base - 1], buf[base], buf[base + 1], buf[base + 2]
    interpolated: np.ndarray = x0 + 0.5 * t * (
        x1 - xm1 + t * (2.0 * xm1 - 5.0 * x0 + 4.0 * x1 - x2 + t * (3.0 * (x0 - x1) + x2 - xm1))
    )
    return interpolated
