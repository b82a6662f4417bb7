"""What the encoders hand to the StreamBuffer: one encoded access unit with its timing."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MediaKind(enum.Enum):
    VIDEO = "video"
    AUDIO = "audio"


@dataclass(frozen=True, kw_only=True, slots=True)
class EncodedPacket:
    """One encoded frame (video) or AAC frame (audio).

    Built ~77 times a second (30 video + 47 audio), so it stays a slotted record with no
    validation or derived fields computed at construction.
    """

    #: video or audio
    kind: MediaKind
    #: codec payload as the encoder produced it (Annex-B H.264 / raw AAC)
    data: bytes
    #: presentation time on the master clock, milliseconds
    pts_ms: int
    #: decode time, milliseconds (== ``pts_ms`` without B-frames)
    dts_ms: int
    #: an IDR (video): decodable by itself; audio packets are all independent
    keyframe: bool = False
    #: ``time.monotonic()`` when the frame/samples were captured (latency measurement)
    capture_time: float = 0.0
    #: the audio codec, "aac" or "opus": each output takes the one its sink sends (the
    #: stream's one video codec is in ``StreamHeaders``)
    codec: str = "aac"

    @property
    def size(self) -> int:
        """Payload size in bytes."""
        return len(self.data)
