"""The send buffer between the encoders (producers) and the sender thread (consumer).

Congestion is measured here, as the DTS span of the queued video (what OBS measures), and
acted upon with a drop policy that keeps the stream decodable:

* Crossing a threshold (video span > ``max_latency_ms`` or packets > ``max_packets``) starts
  a *drop episode*: every queued non-keyframe video packet is dropped, and so is every queued
  keyframe but the newest (older ones are stale pictures whose P-frames are gone). Audio is
  kept. Incoming non-keyframe video is then dropped until a keyframe arrives, because
  without B-frames each P-frame depends on the one before it.
* An incoming keyframe is queued and ends the episode, unless the buffer is still over a
  threshold with it (only possible by count, i.e. an audio backlog: the network is still
  not draining), in which case the episode goes on until a later keyframe.
* The encoder is asked for a keyframe (``on_keyframe_request``) once the queue has
  *drained*: everything queued (all media) spans at most ``max_latency_ms / 2`` and holds at
  most ``max_packets / 2`` packets. The video span cannot be the test here: right after
  the purge it is 0 whatever the network does, while the queued audio still shows how far
  behind the sender is. Asking earlier would only queue an IDR behind a stalled queue.
  The request fires once, outside the lock, and not again until a keyframe has been queued.
* Audio is never dropped while connected (the count limit can be exceeded by audio; the
  sender's stall detection, which disconnects, is what bounds it). While disconnected
  nothing is accepted, and a new session must start with a keyframe, which is requested
  as soon as ``set_connected(True)`` is called.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ionia.buffer.limits import BufferConfig
from ionia.buffer.packet_queue import PacketQueue
from ionia.buffer.stats import BufferStats
from ionia.packet import EncodedPacket, MediaKind

__all__ = ["StreamBuffer"]

log = logging.getLogger("ionia.buffer")

_VIDEO = MediaKind.VIDEO


class StreamBuffer:
    """Thread-safe FIFO: encoder threads ``put()`` (never blocking), the sender ``get()``s."""

    def __init__(
        self,
        config: BufferConfig | None = None,
        *,
        on_keyframe_request: Callable[[], None] | None = None,
    ) -> None:
        self.config = config if config is not None else BufferConfig()
        self._on_keyframe_request = on_keyframe_request
        self._cond = threading.Condition(threading.Lock())
        self._queue = PacketQueue()
        self._connected = True
        self._closed = False
        # Non-key video is refused until a keyframe is accepted. True at start as well: a
        # stream cannot begin with a P-frame.
        self._await_keyframe = True
        # The encoder starts with an IDR anyway, so no request is due at start.
        self._keyframe_requested = True
        self._dropping = False
        self._video_in = self._audio_in = 0
        self._video_out = self._audio_out = 0
        self._video_dropped = self._audio_dropped = 0
        self._dropped_congestion = 0
        self._dropped_waiting = 0
        self._dropped_disconnected = 0
        self._dropped_closed = 0
        self._video_unsent = self._audio_unsent = 0
        self._drop_events = 0
        self._max_latency_seen = 0

    # -- producers -------------------------------------------------------------------------

    def put(self, packet: EncodedPacket) -> bool:
        """Queue a packet; never blocks. False when the packet was dropped."""
        is_video = packet.kind is _VIDEO
        with self._cond:
            if is_video:
                self._video_in += 1
            else:
                self._audio_in += 1
            if self._closed:
                self._dropped_closed += 1
                self._count_dropped(packet)
                return False
            if not self._connected:
                self._dropped_disconnected += 1
                self._count_dropped(packet)
                return False
            if is_video and not packet.keyframe and self._await_keyframe:
                # Its predecessor was dropped (or never came): it cannot be decoded.
                if self._dropping:
                    self._dropped_congestion += 1
                else:
                    self._dropped_waiting += 1
                self._count_dropped(packet)
                return False
            self._queue.append(packet)
            if is_video:
                if packet.keyframe:
                    self._await_keyframe = False
                    self._keyframe_requested = False
                span = self._queue.video_span()
                if span > self._max_latency_seen:
                    self._max_latency_seen = span
            kept = self._apply_policy(packet)
            self._cond.notify()
            request = self._take_keyframe_request()
        if request:
            self._request_keyframe()
        return kept

    # -- the consumer ----------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> EncodedPacket | None:
        """The oldest packet; None on timeout, or once closed and empty."""
        with self._cond:
            if not self._queue:
                if self._closed:
                    return None
                self._cond.wait_for(lambda: bool(self._queue) or self._closed, timeout)
                if not self._queue:
                    return None
            packet = self._queue.popleft()
            if packet.kind is _VIDEO:
                self._video_out += 1
            else:
                self._audio_out += 1
            request = self._dropping and self._take_keyframe_request()
        if request:
            self._request_keyframe()
        return packet

    # -- the sender's controls -------------------------------------------------------------

    def set_connected(self, connected: bool) -> None:
        """Disconnect: discard what is queued and refuse puts. Reconnect: want a keyframe."""
        with self._cond:
            if connected == self._connected:
                return
            self._connected = connected
            if not connected:
                # Packets queued for the lost session must not start the next one.
                discarded = self._discard_all()
                self._dropped_disconnected += discarded
                log.debug("disconnected: discarded %d queued packets", discarded)
                request = False
            else:
                self._await_keyframe = True
                self._keyframe_requested = False
                request = self._take_keyframe_request()
        if request:
            self._request_keyframe()

    def clear(self, reason: str) -> int:
        """Discard everything queued; returns how many (counted in ``dropped_disconnected``)."""
        with self._cond:
            video_before = self._video_out + self._video_dropped
            discarded = self._discard_all()
            self._dropped_disconnected += discarded
            if self._video_out + self._video_dropped != video_before:
                # Discarded video may hold the predecessors of the next P-frame.
                self._await_keyframe = True
                self._keyframe_requested = False
            # Also due when a drop episode ended here before its keyframe was requested.
            request = self._take_keyframe_request()
        if discarded:
            log.info("send buffer cleared (%s): %d packets discarded", reason, discarded)
        if request:
            self._request_keyframe()
        return discarded

    def abandon(self) -> int:
        """The stop deadline passed: what is still queued will not be sent. Counted as
        unsent, not dropped: the drop policy never chose it, the stop's deadline did."""
        with self._cond:
            videos, audios = self._queue.clear()
            self._video_unsent += videos
            self._audio_unsent += audios
            self._dropping = False
        if videos or audios:
            log.info("stop deadline: %d video and %d audio packets left unsent", videos, audios)
        return videos + audios

    def close(self) -> None:
        """Idempotent. Wakes every waiter; queued packets can still be taken, puts are dropped."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- measurements ----------------------------------------------------------------------

    def latency_ms(self) -> int:
        """DTS span of the queued video, milliseconds (0 with fewer than two)."""
        with self._cond:
            return self._queue.video_span()

    def backpressure(self) -> bool:
        with self._cond:
            return self._over()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def stats(self) -> BufferStats:
        with self._cond:
            span = self._queue.video_span()
            videos = self._queue.videos
            return BufferStats(
                packets=len(self._queue),
                video_packets=videos,
                audio_packets=len(self._queue) - videos,
                latency_ms=span,
                bytes=self._queue.bytes,
                video_in=self._video_in,
                audio_in=self._audio_in,
                video_out=self._video_out,
                audio_out=self._audio_out,
                video_dropped=self._video_dropped,
                audio_dropped=self._audio_dropped,
                video_dropped_congestion=self._dropped_congestion,
                video_dropped_waiting_keyframe=self._dropped_waiting,
                dropped_disconnected=self._dropped_disconnected,
                dropped_closed=self._dropped_closed,
                video_unsent=self._video_unsent,
                audio_unsent=self._audio_unsent,
                drop_events=self._drop_events,
                max_latency_ms_seen=self._max_latency_seen,
                backpressure=self._over(),
                congestion=min(1.0, span / self.config.max_latency_ms),
                dropping_video=self._dropping,
                connected=self._connected,
            )

    # -- internals (called with the lock held) ---------------------------------------------

    def _over(self) -> bool:
        queue, limits = self._queue, self.config
        return queue.video_span() > limits.max_latency_ms or len(queue) > limits.max_packets

    def _drained(self) -> bool:
        if len(self._queue) > self.config.max_packets // 2:
            return False
        # All media, not only video: see the module docstring.
        return self._queue.media_span() <= self.config.max_latency_ms // 2

    def _apply_policy(self, packet: EncodedPacket) -> bool:
        """Start, continue or end a drop episode after ``packet`` was queued; is it kept?"""
        is_keyframe = packet.kind is _VIDEO and packet.keyframe
        if self._dropping:
            if not is_keyframe:
                return True  # audio while dropping: never dropped
            # A new keyframe makes any older queued (key)frame stale.
            self._purge_video()
            if self._over():
                # Still over with only this keyframe and audio queued: the network is not
                # draining; keep the episode going (this keyframe is decodable alone).
                self._await_keyframe = True
            else:
                self._dropping = False
                log.info(
                    "send buffer: video flows again (%d frames dropped so far)",
                    self._dropped_congestion,
                )
            return True
        if not self._over():
            return True
        self._drop_events += 1
        self._dropping = True
        newest_key = self._purge_video()
        # Audio and the newest queued keyframe survive the purge; other video does not.
        kept = packet.kind is not _VIDEO or newest_key is packet
        log.info(
            "send buffer congested (%d ms video, %d packets): dropping video until a keyframe",
            self._queue.video_span(),
            len(self._queue),
        )
        if is_keyframe and not self._over():
            # The packet that crossed is itself a keyframe, kept as the newest frame: the
            # next P-frames depend on it alone, so nothing more needs to be dropped.
            self._dropping = False
        else:
            self._await_keyframe = True
            self._keyframe_requested = False
        return kept

    def _purge_video(self) -> EncodedPacket | None:
        """Drop all queued video but the newest queued keyframe (returned, if any)."""
        newest_key, dropped = self._queue.purge_video()
        self._video_dropped += dropped
        self._dropped_congestion += dropped
        return newest_key

    def _discard_all(self) -> int:
        videos, audios = self._queue.clear()
        self._video_dropped += videos
        self._audio_dropped += audios
        self._dropping = False
        return videos + audios

    def _count_dropped(self, packet: EncodedPacket) -> None:
        if packet.kind is _VIDEO:
            self._video_dropped += 1
        else:
            self._audio_dropped += 1

    def _take_keyframe_request(self) -> bool:
        """Is a keyframe request due now? If so, mark it made (the caller makes it unlocked)."""
        if (
            self._keyframe_requested
            or not self._await_keyframe
            or not self._connected
            or self._closed
            or self._on_keyframe_request is None
            or (self._dropping and not self._drained())
        ):
            return False
        self._keyframe_requested = True
        return True

    def _request_keyframe(self) -> None:
        # Outside the lock: the callback may take the encoder's lock, or read our stats.
        callback = self._on_keyframe_request
        if callback is not None:
            callback()
