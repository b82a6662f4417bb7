"""Synthetic sources for tests and demos: FFmpeg's ``testsrc2`` with a white flash, and a beep.

The flash (a full white frame on the first frame of every second) and the beep (1 kHz for
100 ms at the start of every second) sit on the same instants of the master clock, so the
receiver can measure A/V sync by finding both.
"""

from __future__ import annotations

from typing import cast

import av
import numpy as np

from ionia.capture.base import CHANNELS, SAMPLE_RATE, AudioSource, VideoSource

BEEP_HZ = 1000.0
BEEP_SECONDS = 0.1
BEEP_LEVEL = 0.5


class TestPatternSource(VideoSource):
    """``testsrc2`` through PyAV's filter graph; frame slot ``k * fps`` is a white flash."""

    name = "testsrc"
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, width: int, height: int, fps: int, *, flash: bool = True) -> None:
        self._width, self._height, self._fps = width, height, fps
        self._flash = flash
        self._graph: av.filter.Graph | None = None
        self._sink: av.filter.context.FilterContext | None = None
        self._white: av.VideoFrame | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self._width, self._height

    def open(self) -> None:
        graph = av.filter.Graph()
        src = graph.add("testsrc2", f"size={self._width}x{self._height}:rate={self._fps}")
        fmt = graph.add("format", "pix_fmts=yuv420p")
        sink = graph.add("buffersink")
        src.link_to(fmt)
        fmt.link_to(sink)
        graph.configure()
        self._graph, self._sink = graph, sink
        white = np.full((self._height * 3 // 2, self._width), 128, dtype=np.uint8)
        white[: self._height] = 235  # limited-range white luma, neutral chroma
        self._white = av.VideoFrame.from_ndarray(white, format="yuv420p")

    def read(self, index: int) -> av.VideoFrame:
        assert self._sink is not None and self._white is not None, "open() first"
        # The pattern is pulled every slot so its motion stays continuous across flashes.
        frame = cast(av.VideoFrame, self._sink.pull())
        if self._flash and index % self._fps == 0:
            return self._white
        return frame

    def close(self) -> None:
        self._graph = self._sink = None


class ToneSource(AudioSource):
    """A 1 kHz beep of 100 ms at the start of every second, silence between, 48 kHz stereo."""

    name = "tone"

    def __init__(self, *, frequency: float = BEEP_HZ, level: float = BEEP_LEVEL) -> None:
        # One second of the pattern, computed once: a read is then a slice, not trigonometry
        # per sample (the profile showed NumPy math as a sixth of the audio thread).
        n = np.arange(SAMPLE_RATE)
        wave = np.sin(2 * np.pi * frequency * n / SAMPLE_RATE) * level
        mono = np.where(n < int(BEEP_SECONDS * SAMPLE_RATE), wave, 0.0).astype(np.float32)
        self._second = np.repeat(mono[:, None], CHANNELS, axis=1)
        self._second.flags.writeable = False

    def open(self) -> None:
        pass

    def read(self, start: int, count: int) -> np.ndarray:
        """A read-only view when the block does not wrap around a second (the usual case)."""
        offset = start % SAMPLE_RATE
        if offset + count <= SAMPLE_RATE:
            return self._second[offset : offset + count]
        return np.take(self._second, np.arange(offset, offset + count) % SAMPLE_RATE, axis=0)

    def close(self) -> None:
        pass
