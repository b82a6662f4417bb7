"""A media file as a live source: decoded on demand, paced by the master clock, optionally looped.

Video and audio open the file separately, so each is pulled at its own pace by its own thread
without a shared demuxer to lock. A file that ends without ``loop`` raises ``EOFError`` from
``read()``; the streamer then finishes the stream cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ionia.capture.base import CHANNELS, SAMPLE_RATE, AudioSource, VideoSource
from ionia.errors import CaptureError, ConfigError

log = logging.getLogger("ionia.capture")


def _open_container(path: Path, kind: str) -> av.container.InputContainer:
    if not path.is_file():
        raise ConfigError(f"media file not found: {path} (check the path, or use testsrc/tone)")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise ConfigError(f"cannot read media file {path}: {exc}") from None
    if not getattr(container.streams, kind):
        container.close()
        raise ConfigError(f"media file {path} has no {kind} stream")
    return container


class FileVideoSource(VideoSource):
    """Frames of a file's first video stream, each shown from its own timestamp."""

    def __init__(self, path: str | Path, fps: int, *, loop: bool = False) -> None:
        self._path = Path(path)
        self._fps = fps
        self._loop = loop
        self.name = f"file {self._path.name}"
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[av.VideoFrame] | None = None
        self._size = (0, 0)
        self._pending: av.VideoFrame | None = None
        self._base = 0.0  # seconds added to file timestamps after each loop
        self._last_t = 0.0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def open(self) -> None:
        self._container = _open_container(self._path, "video")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._size = (stream.codec_context.width, stream.codec_context.height)
        self._frames = self._container.decode(stream)
        self._pending = self._next()
        if self._pending is None:
            raise ConfigError(f"media file {self._path} has no decodable video frames")

    def _next(self) -> av.VideoFrame | None:
        assert self._container is not None and self._frames is not None
        try:
            return next(self._frames)
        except StopIteration:
            if not self._loop:
                return None
        except av.FFmpegError as exc:
            raise CaptureError(f"decoding {self._path.name} failed: {exc}") from None
        self._base = self._last_t + 1.0 / self._fps
        self._container.seek(0)
        self._frames = self._container.decode(self._container.streams.video[0])
        return next(self._frames, None)

    def _time(self, frame: av.VideoFrame) -> float:
        return self._base + (float(frame.time) if frame.time is not None else self._last_t)

    def read(self, index: int) -> av.VideoFrame | None:
        slot_t = index / self._fps
        shown: av.VideoFrame | None = None
        # Show the newest frame due by this slot; frames a slower slot rate skips are dropped.
        while self._pending is not None and self._time(self._pending) <= slot_t + 1e-6:
            shown = self._pending
            self._last_t = self._time(shown)
            self._pending = self._next()
        if shown is None and self._pending is None:
            raise EOFError(self._path.name)
        return shown

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class FileAudioSource(AudioSource):
    """A file's first audio stream resampled to 48 kHz stereo float32."""

    def __init__(self, path: str | Path, *, loop: bool = False) -> None:
        self._path = Path(path)
        self._loop = loop
        self.name = f"file {self._path.name}"
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[av.AudioFrame] | None = None
        self._resampler = av.AudioResampler(format="flt", layout="stereo", rate=SAMPLE_RATE)
        self._pending = np.zeros((0, CHANNELS), dtype=np.float32)
        self._ended = False

    def open(self) -> None:
        self._container = _open_container(self._path, "audio")
        self._frames = self._container.decode(self._container.streams.audio[0])

    def _decode_more(self) -> bool:
        assert self._container is not None and self._frames is not None
        try:
            frame = next(self._frames)
        except StopIteration:
            if not self._loop:
                return False
            self._container.seek(0)
            self._frames = self._container.decode(self._container.streams.audio[0])
            return True
        except av.FFmpegError as exc:
            raise CaptureError(f"decoding {self._path.name} failed: {exc}") from None
        for out in self._resampler.resample(frame):
            data = out.to_ndarray().reshape(-1, CHANNELS)
            self._pending = np.concatenate([self._pending, data])
        return True

    def read(self, start: int, count: int) -> np.ndarray:
        while len(self._pending) < count and not self._ended:
            self._ended = not self._decode_more()
        if self._ended and len(self._pending) == 0:
            raise EOFError(self._path.name)
        out = np.zeros((count, CHANNELS), dtype=np.float32)
        take = min(count, len(self._pending))
        out[:take] = self._pending[:take]
        self._pending = self._pending[take:]
        return out

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
