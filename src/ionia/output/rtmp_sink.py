"""An RTMP(S) session as a sink: FLV tag bodies over our own RTMP client."""

from __future__ import annotations

import logging
import math

from ionia.errors import CodecUnsupported
from ionia.output import exvideo, flv
from ionia.output.sink import Sink, StreamHeaders
from ionia.packet import EncodedPacket, MediaKind
from ionia.rtmp.capabilities import video_codecs
from ionia.rtmp.client import RtmpClient
from ionia.rtmp.url import RtmpUrl

log = logging.getLogger("ionia.output")

#: what the kernel may hold before congestion shows in the StreamBuffer
SEND_BUFFER_SECONDS = 0.25
MIN_SEND_BUFFER = 16 * 1024
#: the server is asked to acknowledge every this much stream time: an ingest that stops
#: reading is then seen within one window, not after its kernel buffers fill, and what is
#: still on the way (the adaptive bitrate's first sign of congestion) is known to a window
ACK_WINDOW_SECONDS = 1 / 32
MIN_ACK_WINDOW = 4 * 1024
#: a new session's media starts this long after its headers (at 0). nginx-rtmp appending a
#: session to a recording puts the first tag it sees (the headers) on the file's last tag:
#: media right on it would repeat that timestamp, or land before the other kind's last
#: tag (they are up to about two audio frames apart in capture order)
SESSION_MEDIA_START_MS = 100


def send_buffer_size(bitrate: int) -> int:
    """``SO_SNDBUF`` for a stream of ``bitrate`` bit/s: a quarter second of it (Linux
    doubles what it is given), so a slow link is seen in our buffer, not hidden in the
    kernel's; never so small that a keyframe needs many wake-ups."""
    return max(MIN_SEND_BUFFER, int(bitrate / 8 * SEND_BUFFER_SECONDS))


def ack_window_size(bitrate: int) -> int:
    return max(MIN_ACK_WINDOW, int(bitrate / 8 * ACK_WINDOW_SECONDS))


class RtmpSink(Sink):
    """One RTMP(S) session. Its timeline is its own (see ``open``): servers expect a new
    session to start at 0, as OBS's do; some add the previous session's last timestamp to
    a returning publisher's, so a clock carried across sessions would jump viewers ahead
    by the stream's age. Audio and video are shifted by the same amount: sync holds."""

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
            ack_window=ack_window_size(bitrate),
        )
        self._rebase = False
        self._fps = 30
        self._codec = "h264"
        #: the last video timestamp sent, where a polite close puts the SequenceEnd
        self._last_video_ms = 0
        #: subtracted from every timestamp of this session; set by its first packet
        self._base: int | None = None

    def _session_base(self, first_dts_ms: int) -> int:
        """What this session subtracts: a frame slot of the stream clock at least
        ``SESSION_MEDIA_START_MS`` before its first packet. On the frame grid, so frames
        keep their phase (frame n is at round(n × 1000 / fps) ms): a player or muxer that
        maps them to 1/fps ticks then never puts two frames on one tick."""
        slot = math.floor((first_dts_ms - SESSION_MEDIA_START_MS) * self._fps / 1000)
        return round(slot * 1000 / self._fps)

    def open(self, headers: StreamHeaders, *, rebase: bool) -> None:
        client = self._client
        self._codec = headers.codec
        if headers.codec != "h264":
            client.fourcc_list = exvideo.CONNECT_FOURCCS
        client.connect()
        if headers.codec != "h264":
            self._check_codec(headers.codec)
        self._rebase = rebase
        self._fps = headers.fps
        client.send_metadata(
            flv.on_metadata(
                width=headers.width,
                height=headers.height,
                fps=headers.fps,
                video_bitrate=headers.video_bitrate,
                audio_bitrate=headers.audio_bitrate if headers.audio_config else None,
                encoder=headers.encoder,
                video_codec_id=exvideo.video_codec_id(headers.codec),
            )
        )
        # The sequence headers at 0, as OBS and FFmpeg send them.
        client.send_video(0, exvideo.sequence_start(headers.codec, headers.video_config))
        if headers.audio_config is not None:
            client.send_audio(0, flv.aac_sequence_header(headers.audio_config))

    def write(self, packet: EncodedPacket) -> bool:
        if self._base is None:
            self._base = self._session_base(packet.dts_ms) if self._rebase else 0
        dts = packet.dts_ms - self._base
        if dts < 0:
            # Queued just before the session's first packet but stamped earlier (audio and
            # video interleave within a frame): it belongs to the outage, not this session.
            return False
        if packet.kind is MediaKind.VIDEO:
            body = exvideo.coded_frame(
                self._codec, packet.data, keyframe=packet.keyframe,
                cts_ms=packet.pts_ms - packet.dts_ms,
            )  # fmt: skip
            self._client.send_video(dts, body)
            self._last_video_ms = dts
        else:
            self._client.send_audio(dts, flv.aac_audio(packet.data))
        return True

    def poll(self) -> None:
        self._client.poll()

    def _check_codec(self, codec: str) -> None:
        client = self._client
        accepted = video_codecs(client.server_info, client.publish_info)
        if accepted is None:
            log.info("%s does not say which codecs it takes: sending %s", client.url.masked, codec)
            return
        if codec in accepted:
            return
        client.close(0.5)
        raise CodecUnsupported(
            f"{client.url.masked}: this server does not take {codec.upper()} (no Enhanced "
            f"RTMP); it takes {', '.join(c.upper() for c in accepted)}. Stream with "
            "--codec h264, or add --fallback-to-h264 to switch to H.264 by itself",
            codec=codec,
            accepted=accepted,
        )

    def close(self, timeout: float) -> None:
        end = exvideo.sequence_end(self._codec)
        last = None if end is None else (self._last_video_ms, end)
        self._client.close(timeout, last_video=last)

    def abort(self) -> None:
        self._client.abort()

    @property
    def bytes_sent(self) -> int:
        return self._client.bytes_sent

    @property
    def bytes_acked(self) -> int:
        return self._client.bytes_acked

    @property
    def bytes_in_flight(self) -> int | None:
        # a server that has acknowledged nothing yet may never (nothing requires it to)
        return self._client.bytes_unacked if self._client.bytes_acked else None
