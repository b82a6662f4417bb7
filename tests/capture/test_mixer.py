"""``both``: system and microphone mixed, with gains and a soft limiter."""

from __future__ import annotations

import numpy as np
import pytest

from ionia.capture.audio_devices import create_audio_source
from ionia.capture.base import AudioSource
from ionia.capture.mixer import MixedAudioSource, db_to_gain, soft_limit
from tests.capture.audio_helpers import peaks, pull
from tests.fixtures.desktop import PulseServer

pytestmark = pytest.mark.timeout(20)


class Constant(AudioSource):
    """A level held forever (the mixer's arithmetic has no device to talk to)."""

    def __init__(self, level: float) -> None:
        self.level = level
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def read(self, start: int, count: int) -> np.ndarray:
        return np.full((count, 2), self.level, dtype=np.float32)

    def close(self) -> None:
        self.closed = True


@pytest.mark.capture
def test_both_mixes_system_and_mic(pulse: PulseServer) -> None:
    source = create_audio_source("both", system_gain_db=0.0, mic_gain_db=0.0)
    assert isinstance(source, MixedAudioSource)
    source.open()
    try:
        assert all(s.wait_connected(5.0) for s in source.sources)
        pulse.play_tone(pulse.SYSTEM_SINK, 440, 5)
        pulse.play_tone(pulse.MIC_SINK, 880, 5)
        samples = pull(source, 2.0)[-48000:]
        low, high = sorted(peaks(samples, 2))
        assert abs(low - 440) < 3 and abs(high - 880) < 3
        assert np.max(np.abs(samples)) < 1.0
    finally:
        source.close()


def test_gains_are_in_db() -> None:
    mix = MixedAudioSource([Constant(0.25), Constant(0.25)], gains_db=[0.0, -6.0206])
    assert mix.read(0, 16)[0, 0] == pytest.approx(0.25 + 0.125, abs=1e-4)
    assert db_to_gain(0.0) == 1.0 and db_to_gain(20.0) == pytest.approx(10.0)


def test_limiter_is_transparent_below_the_knee_and_soft_above() -> None:
    quiet = np.linspace(-0.8, 0.8, 1001, dtype=np.float32)
    assert np.array_equal(soft_limit(quiet.copy()), quiet)
    loud = np.linspace(-4.0, 4.0, 8001, dtype=np.float32)
    limited = soft_limit(loud.copy())
    assert np.max(np.abs(limited)) <= 1.0
    assert np.all(np.diff(limited) >= 0)  # monotonic: no wrap, no fold-back
    # continuous at the knee: no step where the curve takes over
    assert np.max(np.abs(np.diff(limited))) <= np.max(np.diff(loud)) + 1e-6


def test_sum_above_full_scale_is_limited_not_clipped() -> None:
    mix = MixedAudioSource([Constant(0.7), Constant(0.7)])
    mix.open()
    value = mix.read(0, 8)[0, 0]
    assert 0.9 < value < 1.0
    mix.close()
    assert all(s.closed for s in mix.sources)


def test_a_failing_open_closes_what_was_opened() -> None:
    class Broken(Constant):
        def open(self) -> None:
            raise RuntimeError("no")

    first = Constant(0.1)
    with pytest.raises(RuntimeError):
        MixedAudioSource([first, Broken(0.1)]).open()
    assert first.closed
