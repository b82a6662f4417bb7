"""What the send buffer reports: its contents now, and what went in, out and was dropped."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BufferStats"]


@dataclass(frozen=True, kw_only=True)
class BufferStats:
    #: packets queued now (all kinds)
    packets: int
    video_packets: int
    audio_packets: int
    #: DTS span of the queued video, milliseconds
    latency_ms: int
    #: payload bytes queued now
    bytes: int
    #: every put() of the kind, accepted or not
    video_in: int
    audio_in: int
    #: returned by get()
    video_out: int
    audio_out: int
    #: dropped for any reason (always: in == out + dropped + unsent + queued)
    video_dropped: int
    audio_dropped: int
    #: video dropped by the congestion drop policy (queued and incoming)
    video_dropped_congestion: int
    #: non-keyframe video refused because no keyframe was accepted yet (start, reconnect)
    video_dropped_waiting_keyframe: int
    #: packets of both kinds refused while disconnected or discarded on disconnect/clear()
    dropped_disconnected: int
    #: packets of both kinds put after close()
    dropped_closed: int
    #: still queued when the stop deadline passed (see ``StreamBuffer.abandon``)
    video_unsent: int
    audio_unsent: int
    #: drop episodes started
    drop_events: int
    #: largest queued video span seen, milliseconds
    max_latency_ms_seen: int
    #: over a threshold now (video span or packet count)
    backpressure: bool
    #: latency_ms / max_latency_ms, clamped to 0..1
    congestion: float
    #: in a drop episode: non-keyframe video is being dropped
    dropping_video: bool
    #: the sender says the destination is connected
    connected: bool
