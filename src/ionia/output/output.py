"""One destination of a stream: its own StreamBuffer, sender thread and reconnect policy.

The encoders feed every output; each output drops, stalls, reconnects and fails on its
own, so a slow or dead destination never slows, drops or disconnects the others. A
recording is an output whose buffer never drops (its sink is a local file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ionia.buffer import BufferConfig, StreamBuffer
from ionia.errors import IoniaError
from ionia.output.destination import Destination
from ionia.output.file_sink import FileSink
from ionia.output.reconnect import ReconnectPolicy
from ionia.output.rtmp_sink import RtmpSink
from ionia.output.sender import Sender
from ionia.output.sink import Sink, StreamHeaders
from ionia.packet import EncodedPacket, MediaKind
from ionia.stats import DestinationStats
from ionia.whip.feedback import Feedback
from ionia.whip.ice import IceServer

#: a recording's buffer: bounded only against a disk that stops for minutes
RECORDING_BUFFER = BufferConfig(max_packets=1_000_000, max_latency_ms=600_000)


@dataclass(frozen=True, kw_only=True)
class SinkOptions:
    """What a network sink takes of the stream's settings (a file sink needs none)."""

    connect_timeout: float
    #: no send progress for this long = a stalled connection
    io_timeout: float
    tls_verify: bool = True
    ca_file: str | None = None
    #: the stream's video + audio bit/s, which sizes the socket buffer and ack window
    bitrate: int = 5_000_000
    #: STUN/TURN servers of a WHIP session
    ice_servers: tuple[IceServer, ...] = ()


def make_sink(
    destination: Destination, options: SinkOptions, on_keyframe_request: Callable[[], None]
) -> Sink:
    if destination.whip is not None:
        # Imported here: aiortc takes a while to load, and only WHIP needs it.
        from ionia.output.whip_sink import WhipSink

        return WhipSink(
            destination.whip,
            ice_servers=options.ice_servers,
            connect_timeout=options.connect_timeout,
            io_timeout=options.io_timeout,
            on_keyframe_request=on_keyframe_request,
        )
    if destination.url is not None:
        return RtmpSink(
            destination.url,
            connect_timeout=options.connect_timeout,
            io_timeout=options.io_timeout,
            tls_verify=options.tls_verify,
            ca_file=options.ca_file,
            bitrate=options.bitrate,
        )
    assert destination.path is not None
    return FileSink(destination.path, destination.file_format)


class Output:
    """A destination with its buffer and sender. ``recording`` outputs never drop (their
    buffer is ``RECORDING_BUFFER``, not ``limits``)."""

    def __init__(
        self,
        destination: Destination,
        *,
        limits: BufferConfig,
        sink_options: SinkOptions,
        headers: StreamHeaders,
        policy: ReconnectPolicy,
        on_keyframe_request: Callable[[], None],
        on_fatal: Callable[[Output, IoniaError], None],
        recording: bool = False,
        joins_running_stream: bool = False,
    ) -> None:
        self.destination = destination
        #: the audio this output sends: Opus to WebRTC, AAC to the rest (read per packet)
        self.audio_codec = "opus" if destination.whip is not None else "aac"
        self.recording = recording
        self.failed: IoniaError | None = None
        buffer_config = RECORDING_BUFFER if recording else limits
        self.buffer = StreamBuffer(buffer_config, on_keyframe_request=on_keyframe_request)
        self.sender = Sender(
            destination=destination.display,
            buffer=self.buffer,
            make_sink=lambda: make_sink(destination, sink_options, on_keyframe_request),
            headers=headers,
            policy=policy,
            on_fatal=self._fatal,
            first_session_on_clock=not joins_running_stream,
        )
        self._on_fatal = on_fatal

    @property
    def is_network(self) -> bool:
        return self.destination.is_network

    def _fatal(self, exc: IoniaError) -> None:
        self.failed = exc
        self._on_fatal(self, exc)

    def connect(self, *, wait_for_ingest: bool) -> None:
        """The first session, in the caller's thread (a bad URL or key fails here)."""
        if not (wait_for_ingest and self.is_network):
            self.sender.connect_first()

    def put(self, packet: EncodedPacket) -> None:
        """Queue ``packet``: all video, and the audio in this output's codec."""
        if packet.kind is MediaKind.VIDEO or packet.codec == self.audio_codec:
            self.buffer.put(packet)

    def start(self) -> None:
        self.sender.start()

    def request_stop(self, timeout: float) -> None:
        self.sender.request_stop(timeout)

    def join(self) -> None:
        self.sender.join()
        self.buffer.close()

    def abort(self) -> None:
        """Give up at once (used when ``start()`` fails half-way)."""
        self.request_stop(0.0)
        self.sender.join()
        self.buffer.close()

    @property
    def connected(self) -> bool:
        return self.sender.connected

    def stats(self) -> DestinationStats:
        b, s = self.buffer.stats(), self.sender.stats()
        return DestinationStats(
            destination=self.destination.display,
            recording=self.recording,
            connected=s.connected,
            failed=self.failed is not None,
            backpressure=b.backpressure,
            congestion=round(b.congestion, 3),
            video_packets_sent=s.video_sent,
            audio_packets_sent=s.audio_sent,
            video_packets_dropped=b.video_dropped + s.video_skipped,
            audio_packets_dropped=b.audio_dropped + s.audio_skipped,
            video_packets_unsent=b.video_unsent,
            audio_packets_unsent=b.audio_unsent,
            bytes_sent=s.bytes_sent,
            bytes_acked=s.bytes_acked,
            bitrate_kbps=s.bitrate_kbps,
            buffer_packets=b.packets,
            buffer_latency_ms=b.latency_ms,
            buffer_max_latency_ms=b.max_latency_ms_seen,
            reconnects=s.reconnects,
            disconnected_s=s.disconnected_s,
            latency_p50_ms=s.latency_p50_ms,
            latency_p99_ms=s.latency_p99_ms,
            first_byte_at=s.first_byte_at,
            last_error=str(self.failed) if self.failed else s.last_error,
            **receiver_figures(self.sender.feedback()),
        )


def receiver_figures(feedback: Feedback | None) -> dict[str, Any]:
    """The statistics of what a WebRTC receiver reports (all None from other peers)."""
    if feedback is None:
        return {}
    estimate = feedback.estimate_bps
    return {
        "rtt_ms": None if feedback.rtt_ms is None else round(feedback.rtt_ms, 1),
        "loss": round(feedback.loss, 4),
        "nacks": feedback.nacks,
        "keyframe_requests": feedback.keyframe_requests,
        "receiver_estimate_kbps": None if estimate is None else round(estimate / 1000, 1),
    }
