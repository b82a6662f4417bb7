"""The queued packets of the send buffer, oldest first, with what its policy measures:
the DTS span of the queued video, of all the media, and the bytes held."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ionia.packet import EncodedPacket, MediaKind

__all__ = ["PacketQueue"]


class PacketQueue:
    """A FIFO of packets. Not locked: the :class:`StreamBuffer`'s lock guards it."""

    def __init__(self) -> None:
        self._packets: deque[EncodedPacket] = deque()
        # DTS of queued video, oldest first: popleft() takes video in this order, so it
        # keeps this in step in O(1); only a drop (rare) rebuilds it.
        self._video_dts: deque[int] = deque()
        #: payload bytes queued
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._packets)

    def __iter__(self) -> Iterator[EncodedPacket]:
        return iter(self._packets)

    def __getitem__(self, index: int) -> EncodedPacket:
        return self._packets[index]

    @property
    def videos(self) -> int:
        """Video packets queued."""
        return len(self._video_dts)

    def append(self, packet: EncodedPacket) -> None:
        self._packets.append(packet)
        self.bytes += len(packet.data)
        if packet.kind is MediaKind.VIDEO:
            self._video_dts.append(packet.dts_ms)

    def popleft(self) -> EncodedPacket:
        packet = self._packets.popleft()
        self.bytes -= len(packet.data)
        if packet.kind is MediaKind.VIDEO:
            self._video_dts.popleft()
        return packet

    def video_span(self) -> int:
        """DTS span of the queued video, milliseconds (0 with fewer than two)."""
        dts = self._video_dts
        if len(dts) < 2:
            return 0
        # A DTS going backwards (encoder restart) must not read as negative latency.
        return max(0, dts[-1] - dts[0])

    def media_span(self) -> int:
        """DTS span of everything queued, audio too, milliseconds (0 with fewer than two)."""
        if len(self._packets) < 2:
            return 0
        return self._packets[-1].dts_ms - self._packets[0].dts_ms

    def purge_video(self) -> tuple[EncodedPacket | None, int]:
        """Drop all queued video but the newest queued keyframe: that keyframe (if any),
        and how many were dropped."""
        newest_key: EncodedPacket | None = None
        for queued in reversed(self._packets):
            if queued.kind is MediaKind.VIDEO and queued.keyframe:
                newest_key = queued
                break
        kept: deque[EncodedPacket] = deque()
        dropped = 0
        for queued in self._packets:
            if queued.kind is MediaKind.VIDEO and queued is not newest_key:
                dropped += 1
                self.bytes -= len(queued.data)
            else:
                kept.append(queued)
        if dropped:
            self._packets = kept
            self._video_dts = deque([newest_key.dts_ms]) if newest_key is not None else deque()
        return newest_key, dropped

    def clear(self) -> tuple[int, int]:
        """Drop everything: how many video and audio packets that was."""
        videos = len(self._video_dts)
        audios = len(self._packets) - videos
        self._packets.clear()
        self._video_dts.clear()
        self.bytes = 0
        return videos, audios
