"""An RTMP(S) session as a sink: FLV tag bodies over our own RTMP client."""

from __future__ import annotations

from ionia.output import flv
from ionia.output.rtmp.client import RtmpClient
from ionia.output.sink import Sink, StreamHeaders
from ionia.output.url import RtmpUrl
from ionia.packet import EncodedPacket, MediaKind

#: what the kernel may hold before congestion shows in the StreamBuffer
SEND_BUFFER_SECONDS = 0.25
MIN_SEND_BUFFER = 16 * 1024


def send_buffer_size(bitrate: int) -> int:
    """``SO_SNDBUF`` for a stream of ``bitrate`` bit/s: a quarter second of it (Linux
    doubles what it is given), so a slow link is seen in our buffer, not hidden in the
    kernel's; never so small that a keyframe needs many wake-ups."""
    return max(MIN_SEND_BUFFER, int(bitrate / 8 * SEND_BUFFER_SECONDS))


class RtmpSink(Sink):
    def __init__(
        self,
        url: RtmpUrl,
        *,
        connect_timeout: float,
        io_timeout: float,
        tls_verify: bool = True,
        ca_file: str | None = None,
        bitrate: int = 5_000_000,
    ) -> None:
        self._client = RtmpClient(
            url,
            connect_timeout=connect_timeout,
            io_timeout=io_timeout,
            tls_verify=tls_verify,
            ca_file=ca_file,
            send_buffer_bytes=send_buffer_size(bitrate),
        )

    def open(self, headers: StreamHeaders, start_ms: int) -> None:
        client = self._client
        client.connect()
        client.send_metadata(
            flv.on_metadata(
                width=headers.width,
                height=headers.height,
                fps=headers.fps,
                video_bitrate=headers.video_bitrate,
                audio_bitrate=headers.audio_bitrate if headers.audio_config else None,
                encoder=headers.encoder,
            )
        )
        client.send_video(start_ms, flv.avc_sequence_header(headers.video_config))
        if headers.audio_config is not None:
            client.send_audio(start_ms, flv.aac_sequence_header(headers.audio_config))

    def write(self, packet: EncodedPacket) -> None:
        if packet.kind is MediaKind.VIDEO:
            body = flv.avc_video(
                packet.data, keyframe=packet.keyframe, cts_ms=packet.pts_ms - packet.dts_ms
            )
            self._client.send_video(packet.dts_ms, body)
        else:
            self._client.send_audio(packet.dts_ms, flv.aac_audio(packet.data))

    def poll(self) -> None:
        self._client.poll()

    def close(self, timeout: float) -> None:
        self._client.close(timeout)

    def abort(self) -> None:
        self._client.abort()

    @property
    def bytes_sent(self) -> int:
        return self._client.bytes_sent

    @property
    def bytes_acked(self) -> int:
        return self._client.bytes_acked
