"""Encoded packets as aiortc tracks: aiortc's RTP sender takes an ``av.Packet`` from a
track and only packetizes it (no encoding), so one encode feeds RTMP and WebRTC alike."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

#: our timestamps are milliseconds on the stream clock; aiortc converts them to 90 kHz
#: (video) and 48 kHz (audio) RTP clocks
MS = Fraction(1, 1000)


class PacketTrack(MediaStreamTrack):
    """A track whose ``recv()`` returns the next encoded packet handed to ``push``."""

    def __init__(self, kind: str, on_taken: Callable[[], None]) -> None:
        super().__init__()
        self.kind = kind
        self._on_taken = on_taken
        self._queue: asyncio.Queue[av.Packet[Any] | None] = asyncio.Queue()
        #: the stream-clock milliseconds of the packet handed to aiortc last (what the
        #: sender reports of this track describe), None before the first
        self.last_pts_ms: int | None = None

    def push(self, data: bytes, pts_ms: int) -> None:
        packet = av.Packet(data)
        packet.pts = packet.dts = pts_ms
        packet.time_base = MS
        self._queue.put_nowait(packet)

    def end(self) -> None:
        self._queue.put_nowait(None)

    async def recv(self) -> av.Packet[Any]:
        packet = await self._queue.get()
        if packet is None or self.readyState != "live":
            raise MediaStreamError
        self.last_pts_ms = packet.pts
        self._on_taken()
        return packet
