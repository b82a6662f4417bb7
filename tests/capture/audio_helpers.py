"""Pulling an audio source the way the AudioEngine does: 1024 samples at a time, in real time."""

from __future__ import annotations

import time

import numpy as np

from ionia.capture.base import SAMPLE_RATE, AudioSource

BLOCK = 1024


def pull(source: AudioSource, seconds: float, start: int = 0) -> np.ndarray:
    blocks = int(seconds * SAMPLE_RATE / BLOCK)
    t0 = time.monotonic()
    out = []
    for k in range(blocks):
        delay = t0 + (k + 1) * BLOCK / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        out.append(source.read(start + k * BLOCK, BLOCK))
    return np.concatenate(out)


def peaks(samples: np.ndarray, count: int = 1) -> list[float]:
    """The ``count`` strongest frequencies (Hz) of the left channel, strongest first."""
    mono = samples[:, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    freqs = np.fft.rfftfreq(len(mono), 1 / SAMPLE_RATE)
    found: list[float] = []
    for index in np.argsort(spectrum)[::-1]:
        if all(abs(freqs[index] - f) > 20 for f in found):
            found.append(float(freqs[index]))
        if len(found) == count:
            break
    return found
