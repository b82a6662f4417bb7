"""Mixing several audio sources into one: float32 sum, per-source gain, soft limiter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ionia.capture.base import CHANNELS, AudioSource

#: below this level the limiter is exactly transparent
LIMITER_KNEE = 0.8


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def soft_limit(samples: np.ndarray, knee: float = LIMITER_KNEE) -> np.ndarray:
    """Identity below ``knee``; above it a tanh curve that approaches 1.0 and never passes it.

    Memoryless and continuous in value and slope at the knee, so loud peaks are rounded
    off instead of wrapping or hard-clipping when the AAC encoder converts them.
    """
    headroom = 1.0 - knee
    magnitude = np.abs(samples)
    over = magnitude > knee
    if over.any():
        bent = knee + headroom * np.tanh((magnitude[over] - knee) / headroom)
        samples[over] = np.copysign(bent, samples[over]).astype(samples.dtype)
    return samples


class MixedAudioSource(AudioSource):
    """The sum of ``sources``, each scaled by its gain in dB, then soft-limited."""

    def __init__(
        self,
        sources: Sequence[AudioSource],
        gains_db: Sequence[float] | None = None,
        *,
        knee: float = LIMITER_KNEE,
    ) -> None:
        if not sources:
            raise ValueError("nothing to mix")
        gains_db = list(gains_db) if gains_db is not None else [0.0] * len(sources)
        if len(gains_db) != len(sources):
            raise ValueError("one gain per source")
        self.sources = list(sources)
        self._gains = [db_to_gain(db) for db in gains_db]
        self._knee = knee
        self.name = "+".join(source.name for source in sources)

    def open(self) -> None:
        opened: list[AudioSource] = []
        try:
            for source in self.sources:
                source.open()
                opened.append(source)
        except BaseException:
            for source in opened:
                source.close()
            raise

    @property
    def latency_s(self) -> float:
        return max(source.latency_s for source in self.sources)

    def read(self, start: int, count: int) -> np.ndarray:
        mix = np.zeros((count, CHANNELS), dtype=np.float32)
        for source, gain in zip(self.sources, self._gains, strict=True):
            block = source.read(start, count)
            mix += block if gain == 1.0 else block * np.float32(gain)
        return soft_limit(mix, self._knee)

    def close(self) -> None:
        for source in self.sources:
            source.close()
