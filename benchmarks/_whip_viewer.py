"""The WebRTC viewer of ``latency.py`` and ``whip_stack.py``: the tests' aiortc WHIP endpoint
(``tests/fixtures/whip_server.py``), with a little more written down per session.

The fixture records each decoded frame's mean luma over the whole picture; the flash square
is a corner of the screen, so this subclass also reads each decoded picture the way the RTMP
viewer does (``_desktop.picture_marks``: the tick strip and the square's own luma), taking
``time.monotonic()`` the moment aiortc hands the frame over, before anything else looks at it.
It also notes, per RTP timestamp (one picture), when its first and last packets reached the
receiver and whether they carried an IDR, which splits the viewer's share of a flash's path:

* aiortc's jitter buffer hands a picture to the decoder only when the first packet of the
  *next* picture arrives (``JitterBuffer._remove_frame``): up to one frame interval of wait
  that a browser (which releases on the marker bit) would not have;
* then the decoder thread (PyAV's H.264 decoder) and the hop back to the event loop.

It can send a PLI as the receiver (``request_keyframe``) and say when the next IDR arrived,
and it notes when each session's connection state changed (``states``).

Everything here runs on the fixture's loop thread (or aiortc's decoder thread); the records
are plain lists read after the session, or while it runs under the GIL (appends only).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import _desktop as desk  # puts the repository root on sys.path, for tests.fixtures
import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
from aiortc.rtp import RtpPacket
from tests.fixtures.whip_server import ReceivedTrack, WhipServer, WhipSession

#: H.264 NAL unit types (RFC 6184): IDR slice, SPS; STAP-A and FU-A aggregate/fragment
NAL_IDR, NAL_SPS, STAP_A, FU_A = 5, 7, 24, 28


def carries_idr(payload: bytes) -> bool:
    """An RTP H.264 payload holding (the start of) an IDR slice."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal == NAL_IDR:
        return True
    if nal == FU_A:
        return len(payload) > 1 and payload[1] & 0x80 != 0 and payload[1] & 0x1F == NAL_IDR
    if nal == STAP_A:
        i = 1
        while i + 2 < len(payload):
            size = int.from_bytes(payload[i : i + 2], "big")
            if payload[i + 2] & 0x1F == NAL_IDR:
                return True
            i += 2 + size
    return False


class Pictures:
    """One video track's records: decoded pictures and per-timestamp packet arrivals."""

    def __init__(self) -> None:
        #: {"t": decoded (monotonic), "rtp": timestamp, "flash": bool, "code": tick number}
        self.pictures: list[dict[str, Any]] = []
        #: RTP timestamp -> [first packet, last packet (monotonic), carries an IDR]
        self.packets: dict[int, list[Any]] = {}
        #: the order the timestamps first arrived in
        self.order: list[int] = []
        self.ssrc: int | None = None
        self.receiver: RTCRtpReceiver | None = None

    def released(self, rtp: int) -> float | None:
        """When the jitter buffer let ``rtp`` go: the first packet of the next timestamp."""
        try:
            i = self.order.index(rtp)
        except ValueError:
            return None
        return self.packets[self.order[i + 1]][0] if i + 1 < len(self.order) else None

    def keyframes(self) -> list[float]:
        """First-packet arrival of every picture that carried an IDR, in order."""
        return [self.packets[ts][0] for ts in self.order if self.packets[ts][2]]


class WhipViewer(WhipServer):
    """``WhipServer`` plus ``Pictures`` per video track (``viewer.pictures(session)``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pictures: dict[int, Pictures] = {}  # id(ReceivedTrack) -> its records
        #: session id -> [(monotonic, aiortc connectionState)], in order
        self.states: dict[str, list[tuple[float, str]]] = {}

    def pictures(self, session: WhipSession) -> Pictures:
        track = session.video
        if track is None or id(track) not in self._pictures:
            return Pictures()
        return self._pictures[id(track)]

    def connected_at(self, session: WhipSession) -> float | None:
        """When aiortc's connection state became "connected" (ICE and DTLS up), if it did."""
        return next((t for t, s in self.states.get(session.id, []) if s == "connected"), None)

    def _watch(self, pc: RTCPeerConnection, session: WhipSession) -> None:
        super()._watch(pc, session)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            self.states.setdefault(session.id, []).append((time.monotonic(), pc.connectionState))

    def _instrument(self, receiver: RTCRtpReceiver, rec: ReceivedTrack[Any]) -> None:  # type: ignore[override]
        WhipServer._instrument(receiver, rec)
        if rec.kind != "video":
            return
        mine = self._pictures.setdefault(id(rec), Pictures())
        mine.receiver = receiver
        handle_rtp = receiver._handle_rtp_packet

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
            now = time.monotonic()
            ts = packet.timestamp
            seen = mine.packets.get(ts)
            if seen is None:
                mine.packets[ts] = [now, now, carries_idr(packet.payload)]
                mine.order.append(ts)
                if mine.ssrc is None:
                    mine.ssrc = packet.ssrc
            else:
                seen[1] = now
                seen[2] = seen[2] or carries_idr(packet.payload)
            await handle_rtp(packet, arrival_time_ms)

        receiver._handle_rtp_packet = on_rtp  # type: ignore[method-assign]

    async def _consume(
        self, track: MediaStreamTrack, receiver: RTCRtpReceiver, rec: ReceivedTrack[Any]
    ) -> None:
        mine = self._pictures.get(id(rec))
        if mine is not None:
            recv = track.recv
            mapper = vars(receiver)["_RTCRtpReceiver__timestamp_mapper"]

            async def marked() -> Any:
                frame = await recv()
                decoded = time.monotonic()
                if isinstance(frame, av.VideoFrame) and frame.pts is not None:
                    code, flash = desk.picture_marks(frame)
                    rtp = (frame.pts + (mapper._origin or 0)) & 0xFFFFFFFF
                    mine.pictures.append({"t": decoded, "rtp": rtp, "flash": flash,
                                          "code": code})  # fmt: skip
                return frame

            track.recv = marked  # type: ignore[method-assign]
        await super()._consume(track, receiver, rec)

    def request_keyframe(self, session: WhipSession) -> float:
        """Send a PLI for the session's video as its receiver would; returns when (monotonic)."""
        mine = self.pictures(session)
        if self._loop is None or mine.receiver is None or mine.ssrc is None:
            raise RuntimeError("no video received yet: nothing to ask a keyframe of")
        receiver, ssrc = mine.receiver, mine.ssrc

        async def pli() -> float:
            sent = time.monotonic()
            await receiver._send_rtcp_pli(ssrc)
            return sent

        return asyncio.run_coroutine_threadsafe(pli(), self._loop).result(2.0)
