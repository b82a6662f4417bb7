"""The master clock: one monotonic time base for audio and video.

Every timestamp in a stream is a position on this clock (audio: samples produced / 48000;
video: frame slot / fps), so audio and video cannot drift apart, whatever the devices do.
"""

from __future__ import annotations

import threading
import time


class MasterClock:
    """Monotonic seconds since ``start()``. ``offset`` shifts the origin (long-stream tests)."""

    def __init__(self, *, offset: float = 0.0) -> None:
        self._origin: float | None = None
        self._offset = offset
        self._started = threading.Event()

    def start(self) -> None:
        if self._origin is None:
            self._origin = time.monotonic() - self._offset
            self._started.set()

    @property
    def offset(self) -> float:
        """Clock time at ``start()``: 0 except in tests of long streams."""
        return self._offset

    @property
    def started(self) -> bool:
        return self._origin is not None

    @property
    def origin(self) -> float:
        """``time.monotonic()`` at clock zero."""
        if self._origin is None:
            raise RuntimeError("the master clock has not been started")
        return self._origin

    def now(self) -> float:
        """Seconds on the master clock."""
        return time.monotonic() - self.origin

    def monotonic_at(self, t: float) -> float:
        """The ``time.monotonic()`` value at clock time ``t``."""
        return self.origin + t

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        """Sleep until clock time ``t``; return False at once if ``stop`` is set first."""
        delay = t - self.now()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()
