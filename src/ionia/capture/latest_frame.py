"""A grabber thread and a one-frame slot: the part every screen grabber shares.

The grabber runs in its own ``ionia-capture`` thread and keeps only the newest frame;
``read()`` hands it over once (``None`` = nothing new, the pipeline repeats the previous
frame). A grabber that grabs whenever asked (x11grab, mss) is timed by ``GrabTimer`` to
finish just before the frame slot that reads it: one grab per frame, as fresh as a grab
at twice the rate would be at its best phase, for half the X server's work.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Generator

import av
import numpy as np

from ionia.capture.base import VideoSource
from ionia.errors import CaptureError
from ionia.worker import Worker, describe

__all__ = ["BLACK_SCREEN_SHARE", "FIRST_FRAME_TIMEOUT", "GrabTimer", "LatestFrameSource"]

log = logging.getLogger("ionia.capture")

#: how long ``open()`` waits for the first frame before calling the grabber broken
FIRST_FRAME_TIMEOUT = 3.0
#: below this share of non-black pixels a first frame counts as a black screen (the pointer
#: drawn on a black root is ~0.03 % of 1280x720)
BLACK_SCREEN_SHARE = 0.01
#: how long ``read()`` waits for a grab already under way rather than repeat a frame
GRAB_WAIT_MAX = 0.010


class GrabTimer:
    """When to start a grab so that it ends just before the frame slot that reads it.

    The video pump reads slot ``n`` at ``n / fps`` on the master clock and never early,
    so every read bounds the clock's origin from above; the smallest bound is the origin to
    within the pump's wake-up delay, on the same monotonic clock as the grabber's, so the
    phase holds for the whole stream. A grab starts its expected duration before the slot:
    a smoothed mean plus three smoothed deviations (TCP's retransmission timer's estimate,
    which follows a slower grabber within a few frames and forgets one slow grab as fast),
    plus a margin for the wake-up. Until the first read it runs freely at the frame rate.
    """

    #: what a wake-up from a timed wait can overshoot by, on a busy machine
    MARGIN = 0.0015
    #: a grab's duration before any is known: an XShm grab of 1080p takes 1-3 ms
    FIRST_GUESS = 0.002

    def __init__(self, fps: int) -> None:
        self.period = 1.0 / fps
        self._origin: float | None = None
        self._mean = self.FIRST_GUESS
        self._deviation = 0.0
        self._slot = -1

    def read_at(self, index: int, t: float) -> None:
        """Slot ``index`` was read at ``time.monotonic()`` = ``t``."""
        seen = t - index * self.period
        # a read is less than a slot late (the pump skips slots rather than fall behind),
        # so an origin two slots off means a new clock, not a late read
        if self._origin is None or seen < self._origin or seen - self._origin > 2 * self.period:
            self._origin = seen

    @property
    def lead(self) -> float:
        """How long before its slot a grab starts."""
        expected = self._mean + 3 * self._deviation
        return min(self.period / 2, expected + self.MARGIN)

    def grabbed(self, duration: float) -> None:
        # a grab stuck for longer than the lead can be only says "as long as it can be"
        duration = min(duration, self.period / 2)
        self._deviation += (abs(duration - self._mean) - self._deviation) / 4
        self._mean += (duration - self._mean) / 8

    def next_grab(self, now: float, last_start: float) -> float:
        """``time.monotonic()`` at which to start the next grab."""
        if self._origin is None:
            return last_start + self.period
        lead = self.lead
        slot = max(self._slot + 1, math.ceil((now + lead - self._origin) / self.period))
        self._slot = slot
        return self._origin + slot * self.period - lead


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
    #: ``_frames()`` grabs as soon as it is asked, so the capture thread times the grabs
    #: (``GrabTimer``); otherwise the grabber keeps its own pace at ``grab_rate``
    on_demand = False

    def __init__(self, fps: int) -> None:
        self.fps = fps
        #: frames per second the grabber takes; more than ``fps`` makes the newest frame fresher
        self.grab_rate = fps
        self._size = (0, 0)
        self._lock = threading.Lock()
        self._fresh = threading.Condition(self._lock)
        self._grabbing = False
        self._read_index = -1
        self._timer = GrabTimer(fps)
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
        if self.on_demand:
            # a change waits on average half a frame interval for the next grab, which
            # ends just before its slot
            return 0.5 / self.fps + self._timer.lead
        # half a grab interval to be grabbed, then half a frame interval for the slot
        return 0.5 / self.grab_rate + 0.5 / self.fps

    def _open_device(self) -> tuple[int, int]:
        """Open the grabber (in the caller's thread, so errors surface from ``open()``)."""
        raise NotImplementedError

    def _frames(self) -> Generator[av.VideoFrame, None, None]:
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
        frames = self._frames()
        timer, stop = self._timer, self._stop
        try:
            next_at = time.monotonic()
            first = True
            while True:
                if self.on_demand and stop.wait(max(0.0, next_at - time.monotonic())):
                    break
                with self._lock:
                    self._grabbing = True
                started = time.monotonic()
                frame = next(frames, None)
                done = time.monotonic()
                with self._lock:
                    self._grabbing = False
                    if frame is not None:
                        self._frame = frame
                        self._seq += 1
                        self.last_capture_time = done
                    self._fresh.notify_all()
                if frame is None:
                    if not stop.is_set():
                        self._error = CaptureError(f"{self.name}: screen capture ended")
                    break
                self._first.set()
                if stop.is_set():
                    break
                if self.on_demand:
                    if not first:  # the first grab pays the device's warm-up
                        timer.grabbed(done - started)
                    first = False
                    next_at = timer.next_grab(done, started)
        except (av.FFmpegError, OSError, RuntimeError) as e:
            if not stop.is_set():
                # reported once, by the stream this ends at the next read()
                self._error = CaptureError(f"{self.name}: screen capture lost ({e})")
        finally:
            self._first.set()
            frames.close()
            self._close_device()

    def _crashed(self, exc: BaseException) -> None:
        """Anything else that escaped the grabber (a bug, an odd frame) ends the capture."""
        if not self._stop.is_set():
            self._error = CaptureError(f"{self.name}: screen capture failed ({describe(exc)})")

    def read(self, index: int) -> av.VideoFrame | None:
        if self._error is not None:
            raise self._error
        with self._lock:
            self._timer.read_at(index, time.monotonic())
            if self._seq == self._taken and self._grabbing and index != self._read_index:
                # the grab for this slot is running late: a frame a few ms older than
                # planned beats a repeated one
                self._fresh.wait(min(GRAB_WAIT_MAX, self._timer.lead))
            self._read_index = index
            if self._seq == self._taken:
                return None
            self._taken = self._seq
            return self._frame

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            # the grabber yields every frame interval, so it sees the flag within one
            self._worker.join(2.0)
