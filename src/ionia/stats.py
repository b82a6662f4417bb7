"""The statistics of a stream, typed: what ``get_statistics()`` returns, as records.

``StreamStats.as_dict()`` is the public ``get_statistics()`` dict, key for field (the keys
are documented in ``docs/statistics.md``); the per-destination figures are
``DestinationStats``, under ``destinations``. The totals over destinations are computed
here, field by field, so a new figure is a new typed field that mypy follows, not a key
name in a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["DestinationStats", "ProducerStats", "StreamStats"]

#: field metadata of figures kept for the totals but not part of the public dict
INTERNAL = "internal"


@dataclass(frozen=True, kw_only=True)
class DestinationStats:
    """One destination (an ingest, a file, or the recording alongside)."""

    #: where it goes, the stream key masked
    destination: str
    #: the recording alongside (``record=``), which never drops
    recording: bool
    connected: bool
    #: ended for good while the stream went on (see ``last_error``)
    failed: bool
    #: the send buffer is over a limit now (video is being dropped)
    backpressure: bool
    #: queued video span / the span limit, 0..1
    congestion: float
    video_packets_sent: int
    audio_packets_sent: int
    #: dropped by the buffer's policy or left out at a session's start
    video_packets_dropped: int
    audio_packets_dropped: int
    #: still queued when ``stop()``'s deadline passed (a link too slow to drain in time)
    video_packets_unsent: int
    audio_packets_unsent: int
    bytes_sent: int
    #: what the server acknowledged (RTMP); for a file, 0
    bytes_acked: int
    #: sent over the last 2 s
    bitrate_kbps: float
    #: queued now
    buffer_packets: int
    #: DTS span of the queued video now, and the largest seen
    buffer_latency_ms: int
    buffer_max_latency_ms: int
    reconnects: int
    #: time without a session, seconds
    disconnected_s: float
    #: capture → handed to the socket, video packets (None before the first)
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    last_error: str
    #: ``time.monotonic()`` of the first media byte on the wire (for ``first_byte_s``)
    first_byte_at: float | None = field(default=None, metadata={INTERNAL: True})
    #: what a WebRTC (WHIP) receiver reports; None for RTMP and files: round-trip time
    #: from its reports, milliseconds
    rtt_ms: float | None = None
    #: share of our packets it lost, from its last report (0..1)
    loss: float | None = None
    #: packets it asked to be sent again (NACK), and keyframes it asked for (PLI/FIR)
    nacks: int | None = None
    keyframe_requests: int | None = None
    #: its estimate of what the path takes (REMB), kbit/s
    receiver_estimate_kbps: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return _public(self)


@dataclass(frozen=True, kw_only=True)
class ProducerStats:
    """What capture and the encoders did: one set per stream, whatever its destinations."""

    #: the H.264 encoder in use ("libx264", "h264_nvenc", ...)
    encoder: str = ""
    #: packets the encoders handed to the destinations
    video_packets: int = 0
    audio_packets: int = 0
    #: keyframes asked for by a buffer (after a drop, a reconnect, a rotation)
    keyframes_forced: int = 0
    #: the video bitrate now (adaptive bitrate moves it)
    video_bitrate_target: int = 0
    fps: int = 0
    frames_captured: int = 0
    #: frame slots that repeated the last picture (the source had nothing new)
    frames_duplicated: int = 0
    #: frame slots skipped because the pump fell behind
    frames_late: int = 0
    frames_encoded: int = 0


@dataclass(frozen=True, kw_only=True)
class StreamStats:
    """The stream: its state, the producers' figures and the totals over its destinations.

    The totals are over the streams (the recording alongside is left out unless it is the
    only destination): counts and rates summed, buffer figures the worst destination's.
    """

    #: the destinations, comma-separated, keys masked
    destination: str
    running: bool
    #: every live destination is connected (False when none is live)
    connected: bool
    backpressure: bool
    encoder: str
    video_packets: int
    audio_packets: int
    keyframes_forced: int
    video_bitrate_target: int
    uptime_s: float
    fps: int
    frames_captured: int
    frames_duplicated: int
    frames_late: int
    frames_encoded: int
    #: the worst destination's (None without destinations)
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    #: from ``start()`` to the first media byte on the wire, seconds
    first_byte_s: float | None
    #: what ended the stream, else every destination's last error, "; "-separated
    last_error: str
    # -- summed over the streams
    video_packets_sent: int
    audio_packets_sent: int
    video_packets_dropped: int
    audio_packets_dropped: int
    video_packets_unsent: int
    audio_packets_unsent: int
    bytes_sent: int
    bytes_acked: int
    bitrate_kbps: float
    buffer_packets: int
    reconnects: int
    # -- the worst stream's
    buffer_latency_ms: int
    buffer_max_latency_ms: int
    congestion: float
    disconnected_s: float
    #: every destination, the recording included
    destinations: tuple[DestinationStats, ...]

    @classmethod
    def combine(
        cls,
        destinations: Sequence[DestinationStats],
        producer: ProducerStats,
        *,
        running: bool,
        uptime_s: float,
        started_at: float,
        last_error: str,
    ) -> StreamStats:
        """The totals of ``destinations``; ``started_at`` is when ``start()`` was called."""
        streams = [d for d in destinations if not d.recording] or list(destinations)
        live = [d for d in streams if not d.failed]
        first = [d.first_byte_at for d in streams if d.first_byte_at]
        return cls(
            destination=", ".join(d.destination for d in streams),
            running=running,
            # a failed destination is not connected; all() of none would say it is
            connected=bool(live) and all(d.connected for d in live),
            backpressure=any(d.backpressure for d in streams),
            encoder=producer.encoder,
            video_packets=producer.video_packets,
            audio_packets=producer.audio_packets,
            keyframes_forced=producer.keyframes_forced,
            video_bitrate_target=producer.video_bitrate_target,
            uptime_s=round(uptime_s, 3),
            fps=producer.fps,
            frames_captured=producer.frames_captured,
            frames_duplicated=producer.frames_duplicated,
            frames_late=producer.frames_late,
            frames_encoded=producer.frames_encoded,
            latency_p50_ms=max((d.latency_p50_ms or 0.0 for d in streams), default=None),
            latency_p99_ms=max((d.latency_p99_ms or 0.0 for d in streams), default=None),
            first_byte_s=round(min(first) - started_at, 4) if first else None,
            last_error=last_error,
            video_packets_sent=sum(d.video_packets_sent for d in streams),
            audio_packets_sent=sum(d.audio_packets_sent for d in streams),
            video_packets_dropped=sum(d.video_packets_dropped for d in streams),
            audio_packets_dropped=sum(d.audio_packets_dropped for d in streams),
            video_packets_unsent=sum(d.video_packets_unsent for d in streams),
            audio_packets_unsent=sum(d.audio_packets_unsent for d in streams),
            bytes_sent=sum(d.bytes_sent for d in streams),
            bytes_acked=sum(d.bytes_acked for d in streams),
            bitrate_kbps=sum((d.bitrate_kbps for d in streams), 0.0),
            buffer_packets=sum(d.buffer_packets for d in streams),
            reconnects=sum(d.reconnects for d in streams),
            buffer_latency_ms=max((d.buffer_latency_ms for d in streams), default=0),
            buffer_max_latency_ms=max((d.buffer_max_latency_ms for d in streams), default=0),
            congestion=max((d.congestion for d in streams), default=0.0),
            disconnected_s=max((d.disconnected_s for d in streams), default=0.0),
            destinations=tuple(destinations),
        )

    def as_dict(self) -> dict[str, Any]:
        """The ``get_statistics()`` dict: a key per field, ``destinations`` a list of dicts."""
        return {**_public(self), "destinations": [d.as_dict() for d in self.destinations]}


def _public(record: DestinationStats | StreamStats) -> dict[str, Any]:
    return {
        f.name: getattr(record, f.name)
        for f in fields(record)
        if not f.metadata.get(INTERNAL) and f.name != "destinations"
    }
