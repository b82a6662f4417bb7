"""A grabber thread and a one-frame slot: the part every screen grabber shares.

The grabber runs in its own ``ionia-capture`` thread at its own rate and keeps only the
newest frame; ``read()`` hands it over once (``None`` = nothing new, the pipeline repeats
the previous frame).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import av
import numpy as np

from ionia.capture.base import VideoSource
from ionia.errors import CaptureError
from ionia.worker import Worker, describe

__all__ = ["BLACK_SCREEN_SHARE", "FIRST_FRAME_TIMEOUT", "LatestFrameSource"]

log = logging.getLogger("ionia.capture")

#: how long ``open()`` waits for the first frame before calling the grabber broken
FIRST_FRAME_TIMEOUT = 3.0
#: below this share of non-black pixels a first frame counts as a black screen (the pointer
#: drawn on a black root is ~0.03 % of 1280x720)
BLACK_SCREEN_SHARE = 0.01


def _mostly_black(frame: av.VideoFrame) -> bool:
    """Whether a 4-byte-per-pixel frame (``bgr0``, ``bgra``) is black but for a pointer.

    Every 4th row and column is enough for "is anything on screen" (~2 ms at 1080p).
    """
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    pixels = rows[: frame.height : 4, : 4 * frame.width].reshape(-1, frame.width, 4)[:, ::4, :3]
    lit = np.count_nonzero(pixels.any(axis=2))
    return bool(lit < BLACK_SCREEN_SHARE * pixels.shape[0] * pixels.shape[1])


class LatestFrameSource(VideoSource):
    """A grabber thread and a one-frame slot; subclasses say how to open and grab."""

    #: grabs an X11 screen: a black first frame gets the Xvfb notice (see ``_hint_if_black``)
    x11 = False

    def __init__(self, fps: int) -> None:
        self.fps = fps
        #: frames per second the grabber takes; more than ``fps`` makes the newest frame fresher
        self.grab_rate = fps
        self._size = (0, 0)
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self._seq = self._taken = 0
        self._error: CaptureError | None = None
        self._stop = threading.Event()
        self._first = threading.Event()
        self._worker: Worker | None = None
        #: ``time.monotonic()`` when the newest frame came from the grabber
        self.last_capture_time = 0.0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def latency_s(self) -> float:
        # A change on screen waits on average half a grab interval to be grabbed, then
        # half a frame interval for the slot that reads it (measured in
        # tests/capture/test_capture_stream.py: 18-24 ms at 30 fps with 60 grabs/s).
        return 0.5 / self.grab_rate + 0.5 / self.fps

    def _open_device(self) -> tuple[int, int]:
        """Open the grabber (in the caller's thread, so errors surface from ``open()``)."""
        raise NotImplementedError

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Frames at the grabber's pace; raises on a lost capture (in the capture thread)."""
        raise NotImplementedError

    def _close_device(self) -> None:
        raise NotImplementedError

    def open(self) -> None:
        if self._worker is not None:
            return
        self._size = self._open_device()
        self._worker = Worker(
            "ionia-capture", self._run, on_crash=self._crashed, stopping=self._stop
        )
        self._worker.start()
        if not self._first.wait(FIRST_FRAME_TIMEOUT):
            self.close()
            raise CaptureError(f"{self.name}: no frame within {FIRST_FRAME_TIMEOUT:.0f} s")
        if self._error is not None:
            self.close()
            raise self._error
        if self.x11:
            self._hint_if_black()

    def _hint_if_black(self) -> None:
        """One notice at ``open()`` when the X screen is black from the start.

        A black picture on a headless X server is the server's own state, not the grabber's:
        Xvfb (like any X server started without ``-noreset``) resets when its last client
        disconnects, and a reset repaints the root window black. ``xsetroot -solid red``
        and then a grab gives black whether the pointer is drawn or not; a browser that has
        crashed or not yet mapped its window does the same.
        """
        with self._lock:
            frame = self._frame
        if frame is not None and frame.format.name in ("bgr0", "bgra") and _mostly_black(frame):
            log.info(
                "%s: the screen is black; an Xvfb clears its root window when its last "
                "client leaves (keep the browser connected, or start Xvfb with -noreset)",
                self.name,
            )

    def _run(self) -> None:
        try:
            for frame in self._frames():
                with self._lock:
                    self._frame = frame
                    self._seq += 1
                    self.last_capture_time = time.monotonic()
                self._first.set()
                if self._stop.is_set():
                    break
        except (av.FFmpegError, OSError, RuntimeError) as e:
            if not self._stop.is_set():
                # reported once, by the stream this ends at the next read()
                self._error = CaptureError(f"{self.name}: screen capture lost ({e})")
        else:
            if not self._stop.is_set():
                self._error = CaptureError(f"{self.name}: screen capture ended")
        finally:
            self._first.set()
            self._close_device()

    def _crashed(self, exc: BaseException) -> None:
        """Anything else that escaped the grabber (a bug, an odd frame) ends the capture."""
        if not self._stop.is_set():
            self._error = CaptureError(f"{self.name}: screen capture failed ({describe(exc)})")

    def read(self, index: int) -> av.VideoFrame | None:
        if self._error is not None:
            raise self._error
        with self._lock:
            if self._seq == self._taken:
                return None
            self._taken = self._seq
            return self._frame

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            # the grabber yields every frame interval, so it sees the flag within one
            self._worker.join(2.0)
