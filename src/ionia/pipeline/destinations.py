"""The outputs a stream feeds: which carry it, moving one to a new URL, draining them all.

The producer threads read ``outputs`` without a lock: it is a tuple, replaced (under the
lock) and never mutated. A rotated destination's old session is retired by a worker
(``ionia-retire``), so ``rotate()`` returns as soon as the new session is up; ``drain()``
joins those workers too, within the stop deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ionia.output.output import Output
from ionia.packet import EncodedPacket
from ionia.stats import DestinationStats
from ionia.worker import Worker, describe

log = logging.getLogger("ionia")

#: how often a retirement looks whether the new session has sent video (the sender has
#: no event for it); ``drain()`` cuts the wait short
RETIRE_POLL_S = 0.02
#: past the stop deadline, how long a retirement may still take to close its session
RETIRE_JOIN_SLACK_S = 1.5


class Destinations:
    """Every output of a run: the streams and the recording alongside."""

    def __init__(self) -> None:
        #: replaced, never mutated, so the producer threads can read it without a lock
        self.outputs: tuple[Output, ...] = ()
        self._lock = threading.Lock()
        #: the workers retiring a rotated-out output, and that output (replaced, like outputs)
        self._retiring: list[tuple[Worker, Output]] = []

    @property
    def streams(self) -> list[Output]:
        """The outputs that are not the recording alongside nor a rotated-out session
        still being fed, in the order given."""
        leaving = [old for _, old in self._retiring]
        return [o for o in self.outputs if not o.recording and all(o is not x for x in leaving)]

    def put(self, packet: EncodedPacket) -> None:
        for output in self.outputs:
            output.put(packet)

    def carried_without(self, failed: Output) -> bool:
        """Whether the stream goes on without ``failed``: another stream is alive, or the
        recording failed beside a stream."""
        alive = [o for o in self.outputs if o.failed is None and not o.recording]
        return bool(alive) or (failed.recording and any(not o.recording for o in self.outputs))

    def stats(self) -> list[DestinationStats]:
        return [o.stats() for o in self.outputs]

    # -- rotation ----------------------------------------------------------------------------

    def rotate(
        self,
        old: Output,
        new: Output,
        *,
        request_keyframe: Callable[[], None],
        keyint_s: float,
        stop_timeout: float,
    ) -> None:
        """Feed ``new`` in ``old``'s place (``new`` is connected and started); a worker
        keeps feeding ``old`` until ``new`` has sent its first keyframe, then closes it."""
        retirement = Worker(
            "ionia-retire",
            lambda: self._retire(old, new, retirement.stopping, keyint_s, stop_timeout),
            on_crash=lambda exc: self._retire_crashed(old, exc),
        )
        with self._lock:
            self.outputs = (*(new if o is old else o for o in self.outputs), old)
            # The new buffer takes video from a keyframe on: ask for one as soon as it is fed.
            request_keyframe()
            alive = [(w, o) for w, o in self._retiring if w.alive]
            self._retiring = [*alive, (retirement, old)]  # replaced: ``streams`` reads it
        retirement.start()

    def _retire(
        self,
        old: Output,
        new: Output,
        stopping: threading.Event,
        keyint_s: float,
        stop_timeout: float,
    ) -> None:
        # The new buffer takes video from a keyframe on, asked for when it was added: the
        # first one is at most two GOPs away even if that request was lost.
        deadline = time.monotonic() + 2 * keyint_s + 1
        while new.sender.video_sent == 0 and time.monotonic() < deadline:
            if stopping.wait(RETIRE_POLL_S):
                return  # drain() closes the old session with the others
        with self._lock:
            if stopping.is_set():
                return
            self.outputs = tuple(o for o in self.outputs if o is not old)
        old.request_stop(stop_timeout)
        old.join()
        log.info("switched %s → %s", old.destination.display, new.destination.display)

    def _retire_crashed(self, old: Output, exc: BaseException) -> None:
        shown = old.destination.display
        log.error("%s: closing the rotated-out session failed: %s", shown, describe(exc))
        old.abort()

    # -- the end -----------------------------------------------------------------------------

    def drain(self, timeout: float) -> None:
        """Send what is queued, every output at once, to the same deadline; then join
        the retirements still closing a rotated-out session."""
        deadline = time.monotonic() + timeout
        with self._lock:
            retiring, self._retiring = self._retiring, []
            for worker, _ in retiring:
                worker.stopping.set()  # one not yet past its wait leaves its output here
            outputs = self.outputs
        for output in outputs:
            output.request_stop(timeout)
        for output in outputs:
            output.join()
        for worker, _ in retiring:
            # its session's own deadline came before ours: it is closed or being aborted
            worker.join(max(0.0, deadline - time.monotonic()) + RETIRE_JOIN_SLACK_S)

    def abort(self) -> None:
        """Give up every output at once (idempotent: after a drain it closes buffers)."""
        for output in self.outputs:
            output.abort()
