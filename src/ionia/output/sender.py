"""The sender thread: the only writer to a destination.

It owns the sink (the RTMP session or the file), moves packets from the StreamBuffer to
it, reads what the server says between packets, and on a lost session reconnects by
itself while the encoders and the clock keep running. ``stop()`` drains what is queued
up to a deadline and always returns: a session stuck in a send is aborted from outside.

Outcomes: a lost session (``ConnectionFailed``, ``PublishRejected``, a socket error) is
retried per the reconnect policy; an error no reconnect can cure (a recording's disk
failing) or anything else that escapes the loop (a bug) is a fatal error of this
destination, handed to the owner with the message kept in ``last_error``. Either way the
buffer stops holding packets for a session that is gone, and the statistics say so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ionia.buffer import StreamBuffer
from ionia.errors import (
    ConnectionFailed,
    InternalError,
    IoniaError,
    PublishRejected,
    RecordingFailed,
)
from ionia.output.reconnect import ReconnectPolicy, Retries
from ionia.output.send_stats import Outages, SenderStats, Throughput, sender_stats
from ionia.output.sink import Delivery, Sink, StreamHeaders
from ionia.packet import EncodedPacket, MediaKind
from ionia.whip.feedback import Feedback, after
from ionia.worker import Worker, describe

log = logging.getLogger("ionia.sender")

#: how long get() waits before the sender reads the socket anyway (pings, errors)
IDLE_POLL_S = 0.05
#: what a session loss is: the link, the server's refusal, or the socket under them
SESSION_ERRORS = (ConnectionFailed, PublishRejected, OSError)


class Sender:
    """Thread ``ionia-sender``. Created per destination by the streamer, which owns it."""

    def __init__(
        self,
        *,
        destination: str,
        buffer: StreamBuffer,
        make_sink: Callable[[], Sink],
        headers: StreamHeaders,
        policy: ReconnectPolicy,
        on_fatal: Callable[[IoniaError], None],
        first_session_on_clock: bool = True,
    ) -> None:
        self._destination = destination
        self._buffer = buffer
        self._make_sink = make_sink
        self._headers = headers
        self._policy = policy
        self._on_fatal = on_fatal
        self._sink: Sink | None = None
        self._stop = threading.Event()
        self._worker = Worker(
            "ionia-sender", self._run, on_crash=self._crashed, stopping=self._stop
        )
        self._fatal_error: IoniaError | None = None
        self._reconnect_now = threading.Event()
        self._deadline = float("inf")
        self._lock = threading.Lock()  # guards the counters read by stats()
        self._bytes_closed = 0  # bytes of sessions already over
        self._acked_closed = 0
        #: what the receivers of sessions already over reported, their counts summed
        self._feedback_closed: Feedback | None = None
        self._throughput = Throughput()
        self._outages = Outages()
        self._ever_up = False  # a session was published once (rejections may then be retried)
        # The stream's first session carries the stream clock (which starts at 0); every
        # later one, and every session of a destination added later (a rotation), restarts
        # at 0 (see RtmpSink).
        self._first_on_clock = first_session_on_clock

    # -- lifecycle -------------------------------------------------------------------------

    def connect_first(self) -> None:
        """Open the first session in the caller's thread so a bad URL or key fails ``start()``."""
        sink = self._make_sink()
        try:
            sink.open(self._headers, rebase=not self._first_on_clock)
        except OSError as exc:  # the socket or the disk under the session, unconverted
            sink.abort()
            raise ConnectionFailed(f"{self._destination}: {describe(exc)}") from None
        except BaseException:
            sink.abort()
            raise
        self._sink = sink
        self._ever_up = True
        self._buffer.set_connected(True)

    def start(self) -> None:
        if self._sink is None and not self._policy.wait_for_ingest:
            raise RuntimeError("connect_first() must succeed before start()")
        if self._sink is None:
            self._mark_down("waiting for the ingest")
            self._buffer.set_connected(False)
        self._worker.start()

    def reconnect_now(self) -> None:
        """Skip the backoff wait (and drop a live session to start a new one)."""
        self._reconnect_now.set()

    def stop(self, timeout: float) -> None:
        """Send what is queued until ``timeout``, close politely, join; never hangs."""
        self.request_stop(timeout)
        self.join()

    def request_stop(self, timeout: float) -> None:
        """Start draining with a deadline; ``join()`` waits for it. Lets several senders
        drain at once, each within the same deadline."""
        self._deadline = time.monotonic() + timeout
        self._stop.set()

    def join(self) -> None:
        """Wait for the drain to finish; past the deadline, abort the session."""
        timeout = max(0.0, self._deadline - time.monotonic())
        worker = self._worker
        if worker.started and not worker.in_worker:
            if not worker.join(timeout):
                log.warning("%s: send stalled at stop; aborting the session", self._destination)
                sink = self._sink
                if sink is not None:
                    sink.abort()
                worker.join(1.0)
        elif not worker.started and self._sink is not None:
            self._close_sink(min(1.0, timeout))

    @property
    def connected(self) -> bool:
        """A session is up and the thread that owns it is still running it."""
        if self._sink is None or self._outages.since is not None or self._fatal_error is not None:
            return False
        return self._worker.alive or not self._worker.started

    @property
    def failed(self) -> IoniaError | None:
        """The error that ended this destination for good, if one did."""
        return self._fatal_error

    @property
    def bytes_sent(self) -> int:
        """Bytes handed to the socket over every session (cheap: for the bitrate control)."""
        with self._lock:
            return self._bytes_sent_locked()

    def _bytes_sent_locked(self) -> int:
        sink = self._sink
        return self._bytes_closed + (sink.bytes_sent if sink is not None else 0)

    def delivery(self) -> Delivery:
        """What the destination has taken: acknowledged bytes and what is still on the
        way while the server acknowledges, else what the socket took (cheap: for the
        bitrate control)."""
        with self._lock:
            sink = self._sink
            in_flight = sink.bytes_in_flight if sink is not None else None
            if sink is None or in_flight is None:
                return Delivery(self._bytes_sent_locked())
            return Delivery(self._acked_closed + sink.bytes_acked, in_flight)

    def feedback(self) -> Feedback | None:
        """What the receivers report (WebRTC): the live session's last figures, with the
        counts of the sessions before it added; None from peers that report nothing."""
        with self._lock:
            sink, before = self._sink, self._feedback_closed
        now = sink.feedback() if sink is not None else None
        return before if now is None else after(before, now)

    @property
    def video_sent(self) -> int:
        return self._throughput.video_sent

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            if self._sink is None and not self._reconnect():
                break
            try:
                self._pump()
                break  # stop requested and drained
            except SESSION_ERRORS as exc:
                self._session_lost(exc)
                if self._stop.is_set() or not self._policy.enabled:
                    break
        if self._stop.is_set():
            self._buffer.abandon()  # past the deadline (else drained: nothing is left)
        self._close_sink(max(0.05, min(1.0, self._deadline - time.monotonic())))

    def _crashed(self, exc: BaseException) -> None:
        """The last resort: what escaped the loop ends this destination, loudly and typed."""
        if isinstance(exc, IoniaError):
            error = exc  # e.g. RecordingFailed: a disk that failed is not cured by retrying
        else:
            error = InternalError(
                f"{self._destination}: the sender stopped on an unexpected error "
                f"({describe(exc)}); this is a bug in Ionia, please report it with -v output"
            )
        self._close_sink(0.0, abort=True)
        self._fatal(error)

    def _pump(self) -> None:
        sink = self._sink
        assert sink is not None
        while True:
            if self._reconnect_now.is_set():
                self._reconnect_now.clear()
                raise ConnectionFailed("reconnect requested")
            stopping = self._stop.is_set()
            if stopping and time.monotonic() >= self._deadline:
                return
            packet = self._buffer.get(timeout=0 if stopping else IDLE_POLL_S)
            if packet is None:
                if stopping:
                    return  # drained
                sink.poll()
                continue
            if sink.write(packet):
                self._sent(packet, sink)
            else:
                with self._lock:
                    self._throughput.skipped[packet.kind] += 1

    def _sent(self, packet: EncodedPacket, sink: Sink) -> None:
        now = time.monotonic()
        with self._lock:
            self._throughput.sent(packet, now, self._bytes_closed + sink.bytes_sent)
        if packet.kind is MediaKind.VIDEO:
            # Read what the server sent once a frame: an acknowledgement counts from when it
            # is read, so reading it late would make a stall look later than it was.
            sink.poll()

    def _session_lost(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, IoniaError) else describe(exc)
        log.warning("%s: connection lost: %s", self._destination, message)
        self._mark_down(message)
        if self._stop.is_set():
            # Aborted at the stop deadline (or lost while draining): what is left was never
            # going to be sent, and is no drop of a live session.
            self._buffer.abandon()
        self._buffer.set_connected(False)
        self._close_sink(0.0, abort=True)
        if not self._policy.enabled and not self._stop.is_set():
            self._fatal(ConnectionFailed(f"connection to {self._destination} lost: {message}"))

    def _reconnect(self) -> bool:
        """Retry until a session is up (True) or the policy or ``stop()`` ends it (False),
        waiting before each attempt as :class:`Retries` says."""
        retries = Retries(self._policy, lost_at=time.monotonic())
        while not self._stop.is_set():
            if retries.exhausted:
                self._fatal(
                    ConnectionFailed(
                        f"gave up on {self._destination} after {retries.attempt} reconnect "
                        f"attempts: {self._outages.last_error}"
                    )
                )
                return False
            log.log(
                logging.DEBUG if retries.fast else logging.INFO,
                "%s: reconnecting in %.2f s (attempt %d)",
                self._destination, retries.delay, retries.attempt + 1,
            )  # fmt: skip
            if self._wait(retries.delay):
                return False
            sink = self._make_sink()
            try:
                sink.open(self._headers, rebase=self._ever_up or not self._first_on_clock)
            except (PublishRejected, ConnectionFailed, OSError) as exc:
                sink.abort()
                self._outages.last_error = describe(exc) if isinstance(exc, OSError) else str(exc)
                final = retries.failed(exc, ever_up=self._ever_up, now=time.monotonic())
                if final is not None:
                    self._fatal(final)
                    return False
            else:
                self._session_up(sink)
                return True
        return False

    def _wait(self, delay: float) -> bool:
        """Wait out a backoff; True when stopping. ``reconnect_now()`` cuts it short."""
        end = time.monotonic() + delay
        while not self._stop.is_set():
            if self._reconnect_now.wait(min(IDLE_POLL_S * 4, max(0.0, end - time.monotonic()))):
                self._reconnect_now.clear()
                return False
            if time.monotonic() >= end:
                return False
        return True

    def _session_up(self, sink: Sink) -> None:
        with self._lock:
            self._sink = sink
            # the first session after --wait-for-ingest is no reconnect
            self._outages.up(time.monotonic(), reconnect=self._ever_up)
        self._ever_up = True
        self._buffer.set_connected(True)
        log.info("%s: reconnected (%d so far)", self._destination, self._outages.reconnects)

    def _mark_down(self, message: str) -> None:
        with self._lock:
            self._outages.down(message, time.monotonic())

    def _close_sink(self, timeout: float, *, abort: bool = False) -> None:
        sink = self._sink
        if sink is None:
            return
        unfinished: RecordingFailed | None = None
        try:
            if abort:
                sink.abort()
            else:
                sink.close(timeout)
        except RecordingFailed as exc:
            unfinished = exc  # a recording whose end could not be written: say so
            sink.abort()
        except (IoniaError, OSError) as exc:
            log.debug("%s: close: %s", self._destination, exc)
            sink.abort()
        last = sink.feedback()
        with self._lock:
            self._bytes_closed += sink.bytes_sent
            self._acked_closed += sink.bytes_acked
            if last is not None:
                self._feedback_closed = after(self._feedback_closed, last)
            self._sink = None
        if unfinished is not None and self._fatal_error is None:
            self._fatal(unfinished)

    def _fatal(self, exc: IoniaError) -> None:
        self._fatal_error = exc
        self._mark_down(str(exc))
        # Nothing will send what is queued, nor what the encoders still put: hold none of it.
        self._buffer.set_connected(False)
        self._buffer.close()
        self._on_fatal(exc)

    # -- statistics ------------------------------------------------------------------------

    def stats(self) -> SenderStats:
        with self._lock:
            sink = self._sink
            return sender_stats(
                destination=self._destination,
                connected=self.connected,
                bytes_sent=self._bytes_sent_locked(),
                bytes_acked=self._acked_closed + (sink.bytes_acked if sink is not None else 0),
                throughput=self._throughput,
                outages=self._outages,
                now=time.monotonic(),
            )
