"""Thread ``ionia-video``: one picture per frame slot of the master clock, encoded at once.

Constant frame rate from the clock: slot ``n`` is due at ``n / fps``. A source with
nothing new repeats the last picture; a pump that falls more than a slot behind (an
encoder slower than real time) skips the missed slots instead of piling up latency, and
counts them.

What escapes the loop ends the stream: a capture error as ``CaptureError``, an encoder
error as ``EncoderError``, and anything else as one of the two, by the stage it came from.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from ionia.capture.base import VideoSource
from ionia.clock import MasterClock
from ionia.encoding.video import VideoEncoder
from ionia.errors import CaptureError, EncoderError
from ionia.packet import EncodedPacket
from ionia.worker import Worker, describe

log = logging.getLogger("ionia.encoding")


class VideoPump:
    def __init__(
        self,
        source: VideoSource,
        encoder: VideoEncoder,
        clock: MasterClock,
        fps: int,
        deliver: Callable[[EncodedPacket], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._source = source
        self._encoder = encoder
        self._clock = clock
        self._fps = fps
        self._deliver = deliver
        self._on_error = on_error
        self._worker = Worker("ionia-video", self._loop, on_crash=self._crashed)
        self._stop = self._worker.stopping
        #: what the loop is doing, so an unexpected error is told as capture or encoder
        self._stage = "capture"
        self.frames_captured = 0
        self.frames_duplicated = 0
        self.frames_late = 0

    def start(self) -> None:
        self._worker.start()

    @property
    def alive(self) -> bool:
        return self._worker.alive

    def _crashed(self, exc: BaseException) -> None:
        if isinstance(exc, EOFError | CaptureError | EncoderError):
            self._on_error(exc)
        elif self._stage == "capture":
            self._on_error(CaptureError(f"video capture failed: {describe(exc)}"))
        else:
            self._on_error(EncoderError(f"video encoding failed: {describe(exc)}"))

    def _loop(self) -> None:
        fps, clock = self._fps, self._clock
        last = None
        n = math.ceil(clock.offset * fps)  # a clock started at an offset begins there
        while clock.wait_until(n / fps, self._stop):
            behind = math.floor(clock.now() * fps) - n
            if behind >= 1:
                # More than a whole slot late: skip to the current slot rather than queue up.
                self.frames_late += behind
                n += behind
            self._stage = "capture"
            frame = self._source.read(n)
            self._stage = "encode"
            if frame is None:
                if last is None:
                    n += 1
                    continue  # nothing captured yet: no picture to repeat
                frame = last
                self.frames_duplicated += 1
            else:
                self.frames_captured += 1
                last = frame
            capture_time = clock.monotonic_at(n / fps)
            for packet in self._encoder.encode(frame, n, capture_time):
                self._deliver(packet)
            n += 1

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop and join; False if the thread is still running (it may be using the
        encoder, so the caller must not flush it)."""
        return self._worker.stop(timeout)
