"""What a sender counts for its statistics: the packets it handed to its sink, their
latency from capture, the bitrate, and its destination's outages.

None of it locks: the sender's lock guards these together with its sessions' byte counts,
so that one ``stats()`` reads them all at one instant.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ionia.packet import EncodedPacket, MediaKind

__all__ = ["BITRATE_WINDOW_S", "Outages", "SenderStats", "Throughput", "sender_stats"]

#: the bitrate is what was handed to the socket over this long
BITRATE_WINDOW_S = 2.0
#: at most one bitrate sample this often
_SAMPLE_EVERY_S = 0.1
#: capture latencies kept for the percentiles (the newest)
_LATENCIES_KEPT = 4096


@dataclass(frozen=True, kw_only=True)
class SenderStats:
    destination: str
    connected: bool
    bytes_sent: int
    bytes_acked: int
    video_sent: int
    audio_sent: int
    bitrate_kbps: float
    reconnects: int
    disconnected_s: float
    last_error: str
    #: ``time.monotonic()`` when the first media packet was handed to the socket
    first_byte_at: float | None
    #: capture → handed to the socket, video packets, milliseconds (p50, p99)
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    #: packets left out at a session's start: stamped before its first packet
    video_skipped: int = 0
    audio_skipped: int = 0


class Throughput:
    """The packets handed to the sink (and left out), their latency and the bitrate."""

    def __init__(self) -> None:
        self.video_sent = 0
        self.audio_sent = 0
        #: packets left out at a session's start, by kind
        self.skipped = {MediaKind.VIDEO: 0, MediaKind.AUDIO: 0}
        #: ``time.monotonic()`` when the first media packet was handed to the socket
        self.first_byte_at: float | None = None
        self._latencies: deque[float] = deque(maxlen=_LATENCIES_KEPT)
        #: (when, bytes sent over every session by then)
        self._rate_samples: deque[tuple[float, int]] = deque()

    def sent(self, packet: EncodedPacket, now: float, bytes_sent: int) -> None:
        """``packet`` was handed to the socket at ``now``; ``bytes_sent`` in all since the start."""
        if packet.kind is MediaKind.VIDEO:
            self.video_sent += 1
            if packet.capture_time:
                self._latencies.append(now - packet.capture_time)
        else:
            self.audio_sent += 1
        if self.first_byte_at is None:
            self.first_byte_at = now
        samples = self._rate_samples
        if not samples or now - samples[-1][0] >= _SAMPLE_EVERY_S:
            samples.append((now, bytes_sent))
            while samples and now - samples[0][0] > BITRATE_WINDOW_S:
                samples.popleft()

    def bitrate_kbps(self, now: float) -> float:
        """Over the last ``BITRATE_WINDOW_S``; 0 once nothing has gone out for that long."""
        samples = self._rate_samples
        fresh = bool(samples) and now - samples[-1][0] < BITRATE_WINDOW_S
        if not (fresh and len(samples) >= 2 and samples[-1][0] > samples[0][0]):
            return 0.0
        (t0, b0), (t1, b1) = samples[0], samples[-1]
        return round((b1 - b0) * 8 / (t1 - t0) / 1000, 1)

    def latency_ms(self, *quantiles: float) -> list[float | None]:
        """Capture → socket of the recent video packets at each quantile, milliseconds."""
        ordered = sorted(self._latencies)
        return [_percentile(ordered, q) for q in quantiles]


class Outages:
    """The destination's downs and ups: since when it is down, how long it was down in
    all, how often it came back, and why it last went down."""

    def __init__(self) -> None:
        #: ``time.monotonic()`` when it went down; None while it is up
        self.since: float | None = None
        #: sessions up again after an outage (the first session is none)
        self.reconnects = 0
        #: why it last went down, or why the last attempt to bring it back failed
        self.last_error = ""
        self._total = 0.0

    def down(self, reason: str, now: float) -> None:
        self.last_error = reason
        if self.since is None:
            self.since = now

    def up(self, now: float, *, reconnect: bool) -> None:
        if self.since is not None:
            self._total += now - self.since
            self.since = None
        if reconnect:
            self.reconnects += 1

    def seconds(self, now: float) -> float:
        """Time down so far, the current outage included."""
        current = now - self.since if self.since is not None else 0.0
        return round(self._total + current, 3)


def sender_stats(
    *,
    destination: str,
    connected: bool,
    bytes_sent: int,
    bytes_acked: int,
    throughput: Throughput,
    outages: Outages,
    now: float,
) -> SenderStats:
    """The statistics at ``now``, from the sender's byte counts and its records."""
    p50, p99 = throughput.latency_ms(0.50, 0.99)
    return SenderStats(
        destination=destination,
        connected=connected,
        bytes_sent=bytes_sent,
        bytes_acked=bytes_acked,
        video_sent=throughput.video_sent,
        audio_sent=throughput.audio_sent,
        bitrate_kbps=throughput.bitrate_kbps(now),
        reconnects=outages.reconnects,
        disconnected_s=outages.seconds(now),
        last_error=outages.last_error,
        first_byte_at=throughput.first_byte_at,
        latency_p50_ms=p50,
        latency_p99_ms=p99,
        video_skipped=throughput.skipped[MediaKind.VIDEO],
        audio_skipped=throughput.skipped[MediaKind.AUDIO],
    )


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return round(sorted_values[index] * 1000, 2)
