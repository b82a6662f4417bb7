"""Where the sender thread puts packets: an RTMP(S) or WHIP session, or a local file.

A sink is opened for one session (one connection, one file) and is never reused: a
reconnect builds a new one, so no state of a dead session can leak into the next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ionia.packet import EncodedPacket
from ionia.whip.feedback import Feedback


@dataclass(frozen=True, kw_only=True)
class StreamHeaders:
    """What a new session needs before the first packet: codec configs and metadata."""

    width: int
    height: int
    fps: int
    video_bitrate: int
    #: the decoder configuration as the encoder gave it (H.264 SPS/PPS, Annex-B or AVCC;
    #: HEVC VPS/SPS/PPS; AV1's sequence header OBU)
    video_config: bytes
    audio_bitrate: int | None = None
    #: AAC AudioSpecificConfig; None for a stream without audio
    audio_config: bytes | None = None
    encoder: str = ""
    #: "h264", "hevc" or "av1"
    codec: str = "h264"


@dataclass(frozen=True)
class Delivery:
    """What a destination has taken, as the controller reads it."""

    #: bytes the server acknowledged, or (from one that never acknowledges) the socket took
    bytes: int
    #: bytes sent and not acknowledged yet; None when the server does not acknowledge
    in_flight: int | None = None


class Sink(ABC):
    """One session of one destination. Only the sender thread calls these, except ``abort``."""

    @abstractmethod
    def open(self, headers: StreamHeaders, *, rebase: bool) -> None:
        """Connect/create and write the headers. With ``rebase``, the session's timeline
        starts at 0 at its first packet (a network session after the stream's first);
        files always keep the stream's clock."""

    @abstractmethod
    def write(self, packet: EncodedPacket) -> bool:
        """Send one packet; False if it was left out (it predates the session's start).
        Raises ``ConnectionFailed`` when the session is lost."""

    def poll(self) -> None:  # noqa: B027 - files have nothing to read back
        """Handle what the peer sent (acknowledgements, pings, errors) without blocking."""

    @abstractmethod
    def close(self, timeout: float) -> None:
        """End the session politely within ``timeout``; idempotent."""

    @abstractmethod
    def abort(self) -> None:
        """From another thread: make a blocked ``write`` return at once; idempotent."""

    def feedback(self) -> Feedback | None:
        """What the receiver reports (WebRTC); None from a sink whose peer reports nothing."""
        return None

    @property
    @abstractmethod
    def bytes_sent(self) -> int: ...

    @property
    def bytes_acked(self) -> int:
        return self.bytes_sent

    @property
    def bytes_in_flight(self) -> int | None:
        """Bytes sent and not yet acknowledged by the peer; None when it does not say."""
        return None
