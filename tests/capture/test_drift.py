"""The drift controller against synthetic devices 0.1 % fast and slow, on a compressed timeline.

The buffer has no clock of its own (the engine's reads are its clock), so a loop that
interleaves device writes and engine reads in simulated time is the real thing minus the
waiting: 30 minutes of stream run in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from ionia.capture.base import SAMPLE_RATE
from ionia.capture.drift import DriftBuffer, DriftConfig

ENGINE_BLOCK = 1024
DEVICE_BLOCK = 480  # 10 ms device periods, as PulseAudio and WASAPI deliver them


@dataclass
class Run:
    buffer: DriftBuffer
    #: latency the buffer adds (s), once per simulated second: engine time of the last
    #: sample handed out minus the real time the device captured it
    latencies: list[float] = field(default_factory=list)
    #: the last engine blocks, left channel
    tail: list[np.ndarray] = field(default_factory=list)


def simulate(skew: float, seconds: float, config: DriftConfig, *, tone: bool = False) -> Run:
    """A device at ``(1 + skew) * 48 kHz`` writing into a buffer read at exactly 48 kHz."""
    run = Run(DriftBuffer(config))
    device_rate = SAMPLE_RATE * (1.0 + skew)
    block = np.zeros((DEVICE_BLOCK, 2), dtype=np.float32)
    written = 0
    blocks = int(seconds * SAMPLE_RATE / ENGINE_BLOCK)
    per_second = SAMPLE_RATE // ENGINE_BLOCK
    for k in range(blocks):
        now = k * ENGINE_BLOCK / SAMPLE_RATE
        # every device period completed by now has been delivered
        while (written + DEVICE_BLOCK) / device_rate <= now:
            if tone:
                t = np.arange(written, written + DEVICE_BLOCK) / device_rate
                block = np.repeat(0.5 * np.sin(2 * np.pi * 1000 * t)[:, None], 2, 1)
            run.buffer.write(block.astype(np.float32))
            written += DEVICE_BLOCK
        out = run.buffer.read(ENGINE_BLOCK)
        if k >= blocks - 16:
            run.tail.append(out[:, 0])
        consumed = run.buffer.stats().consumed
        if k % per_second == 0 and consumed > 0:
            run.latencies.append(now + ENGINE_BLOCK / SAMPLE_RATE - consumed / device_rate)
    return run


def check_offset_over(minutes: int, skew: float) -> None:
    run = simulate(skew, minutes * 60, DriftConfig(target_ms=40.0))
    stats = run.buffer.stats()
    drift = max(abs(x - run.latencies[0]) for x in run.latencies)
    print(
        f"skew {skew:+.3%}: latency {run.latencies[0] * 1e3:.1f} ms at start, "
        f"{run.latencies[-1] * 1e3:.1f} ms after {minutes} min, max drift {drift * 1e3:.2f} ms, "
        f"ratio {stats.ratio:.5f}"
    )
    assert drift < 0.020
    assert stats.underruns == stats.overflows == stats.resyncs == 0
    assert stats.ratio == pytest.approx(1.0 + skew, abs=2e-4)


SKEWS = pytest.mark.parametrize("skew", [0.001, -0.001, 0.0], ids=["fast", "slow", "exact"])


@SKEWS
def test_offset_stays_within_20ms_over_5_minutes(skew: float) -> None:
    # uncorrected, 0.1 % is 300 ms by then: the controller has long been steering
    check_offset_over(5, skew)


@pytest.mark.reliability
@SKEWS
def test_offset_stays_within_20ms_over_30_minutes(skew: float) -> None:
    check_offset_over(30, skew)


def test_uncorrected_fast_device_piles_up() -> None:
    # the controller switched off: proves the measurement above measures something
    run = simulate(
        0.001, 120, DriftConfig(target_ms=40.0, max_correction=0.0, resync_ms=5000, max_ms=5000)
    )
    assert run.latencies[-1] - run.latencies[0] > 0.1


def test_resampled_tone_stays_clean() -> None:
    # a 1 kHz tone through a buffer correcting a 0.1 % fast device: still one pure tone
    run = simulate(0.001, 20, DriftConfig(target_ms=40.0), tone=True)
    signal = np.concatenate(run.tail)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)))) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
    peak = freqs[np.argmax(spectrum)]
    near = np.abs(freqs - peak) < 30
    assert abs(peak - 1000) < 5
    assert spectrum[~near].sum() < 1e-4 * spectrum[near].sum()
    assert np.max(np.abs(signal)) < 0.51


def test_underrun_gives_silence_then_reprimes() -> None:
    buffer = DriftBuffer(DriftConfig(target_ms=40.0))
    assert not buffer.read(1024).any()  # nothing yet: silence
    buffer.write(np.full((2400, 2), 0.25, dtype=np.float32))  # 50 ms: target + block is 61 ms
    assert not buffer.read(1024).any()  # a read must leave the target behind it: not yet
    buffer.write(np.full((600, 2), 0.25, dtype=np.float32))  # 62.5 ms
    first = buffer.read(1024)
    assert np.allclose(first[1:], 0.25, atol=1e-6)
    tail = buffer.read(2048)  # more than is left: the rest is silence
    assert tail[-1].tolist() == [0.0, 0.0]
    assert buffer.stats().underruns == 1
    buffer.write(np.full((1000, 2), 0.25, dtype=np.float32))
    assert not buffer.read(512).any()  # below the target again: waits to refill


def test_overflow_drops_back_to_target() -> None:
    buffer = DriftBuffer(DriftConfig(target_ms=40.0, max_ms=200.0))
    for _ in range(30):  # 300 ms written, nobody reading
        buffer.write(np.zeros((480, 2), dtype=np.float32))
    stats = buffer.stats()
    assert stats.overflows >= 1
    assert stats.fill_ms <= 200.0
    assert stats.consumed + stats.fill_ms * SAMPLE_RATE / 1000 == pytest.approx(stats.written)


def test_burst_skips_back_to_target() -> None:
    buffer = DriftBuffer(DriftConfig(target_ms=40.0, resync_ms=120.0))
    buffer.write(np.zeros((3000, 2), dtype=np.float32))
    buffer.read(1024)  # primes: what is left after each read is the target
    buffer.write(np.zeros((9600, 2), dtype=np.float32))  # 200 ms at once
    buffer.read(1024)
    stats = buffer.stats()
    assert stats.resyncs == 1
    assert stats.fill_ms == pytest.approx(40.0, abs=1.0)
