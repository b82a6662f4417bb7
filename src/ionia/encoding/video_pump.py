"""Thread ``ionia-video``: one picture per frame slot of the master clock, encoded at once.

Constant frame rate from the clock: slot ``n`` is due at ``n / fps``. A source with
nothing new repeats the last picture; a pump that falls more than a slot behind (an
encoder slower than real time) skips the missed slots instead of piling up latency, and
counts them.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from ionia.capture.base import VideoSource
from ionia.clock import MasterClock
from ionia.encoding.video import VideoEncoder
from ionia.errors import CaptureError, EncoderError
from ionia.packet import EncodedPacket

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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_captured = 0
        self.frames_duplicated = 0
        self.frames_late = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ionia-video", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        except EOFError as exc:
            self._on_error(exc)
        except (CaptureError, EncoderError) as exc:
            self._on_error(exc)

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
            frame = self._source.read(n)
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

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("video thread did not stop within %.1f s", timeout)
