"""A WHIP session as a sink: the stream's H.264 and its Opus audio over WebRTC.

There is no rebase (``open``'s ``rebase``): RTP timestamps start at a random point in
every session anyway, and receivers place media by them and the sender reports.
"""

from __future__ import annotations

from collections.abc import Callable

from ionia.errors import ConfigError
from ionia.output import flv
from ionia.output.sink import Sink, StreamHeaders
from ionia.packet import EncodedPacket, MediaKind
from ionia.whip.feedback import Feedback
from ionia.whip.ice import IceServer
from ionia.whip.session import WhipSession
from ionia.whip.url import WhipUrl


def annexb_parameter_sets(extradata: bytes) -> bytes:
    """The SPS and PPS of the encoder's extradata, each behind a start code."""
    sps, pps = flv.avc_parameter_sets(extradata)
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in (*sps, *pps))


class WhipSink(Sink):
    """One WHIP session (see ``ionia.whip.session``)."""

    def __init__(
        self,
        url: WhipUrl,
        *,
        ice_servers: tuple[IceServer, ...],
        connect_timeout: float,
        io_timeout: float,
        on_keyframe_request: Callable[[], None],
    ) -> None:
        self._url = url
        self._ice_servers = ice_servers
        self._connect_timeout = connect_timeout
        self._io_timeout = io_timeout
        self._on_keyframe_request = on_keyframe_request
        self._session: WhipSession | None = None

    def open(self, headers: StreamHeaders, *, rebase: bool) -> None:
        if headers.codec != "h264":
            raise ConfigError("WHIP carries H.264 here: stream with --codec h264")
        self._session = WhipSession(
            self._url,
            ice_servers=self._ice_servers,
            connect_timeout=self._connect_timeout,
            io_timeout=self._io_timeout,
            parameter_sets=annexb_parameter_sets(headers.video_config),
            has_audio=headers.audio_bitrate is not None,
            on_keyframe_request=self._on_keyframe_request,
        )
        self._session.open()

    def write(self, packet: EncodedPacket) -> bool:
        assert self._session is not None, "open() first"
        self._session.send(
            "video" if packet.kind is MediaKind.VIDEO else "audio",
            packet.data,
            packet.pts_ms,
            keyframe=packet.keyframe,
            capture_time=packet.capture_time,
        )
        return True

    def close(self, timeout: float) -> None:
        if self._session is not None:
            self._session.close(timeout)

    def abort(self) -> None:
        if self._session is not None:
            self._session.abort()

    def feedback(self) -> Feedback | None:
        return self._session.feedback() if self._session is not None else None

    @property
    def bytes_sent(self) -> int:
        return self._session.bytes_sent if self._session is not None else 0

    @property
    def bytes_acked(self) -> int:
        return 0  # RTCP reports packets, not bytes
