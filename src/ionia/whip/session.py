"""One WHIP publish: a peer connection sending H.264 and Opus that we encoded, on a loop
of its own.

aiortc is asyncio; the engine's sender is a thread. So each session runs an event loop
in a thread it owns (``ionia-whip``): ``open()`` connects and returns (or raises the typed
error), ``send()`` hands a packet over without waiting for the network (UDP has no
backpressure: a bounded number of packets may wait for aiortc, and a session that stops
taking them is lost), ``close()`` ends it with a DELETE, and ``abort()`` from any thread
stops it at once. The thread always ends: everything it starts is cancelled by then.

What aiortc does and we use as it is: ICE, DTLS-SRTP, RTP packetization, NACK
retransmission from its history, RTX. What we add: a keyframe from the encoder on PLI/FIR
(aiortc's sender only encodes raw frames itself), REMB kept for the bitrate control,
round-trip time and loss from the receiver's reports, and sender reports whose NTP time
is the capture time of the media they describe, so a receiver puts audio and video on
one timeline (aiortc stamps them with the time of sending).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import exceptions as aiortc_exceptions
from aiortc.exceptions import OperationError
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from ionia.errors import ConnectionFailed, IoniaError, PublishRejected
from ionia.redact import redact
from ionia.whip.feedback import Feedback
from ionia.whip.ice import IceServer, gather_loopback_only
from ionia.whip.signaling import Answer, delete_resource, post_offer
from ionia.whip.tracks import PacketTrack
from ionia.whip.url import WhipUrl
from ionia.worker import Worker, describe

log = logging.getLogger("ionia.whip")

#: the H.264 every browser decodes (Firefox's OpenH264 decodes no other profile)
H264_PROFILE = "42e01f"
#: packets that may wait for aiortc: about 3 s of 30 fps video with its audio; more means
#: the session's loop has stopped taking them
MAX_WAITING = 256
#: seconds between 1900 (NTP) and 1970 (Unix)
NTP_EPOCH = 2_208_988_800
#: what aiortc raises when a peer's answer or transport will not do
NEGOTIATION_ERRORS = (
    aiortc_exceptions.InternalError,
    aiortc_exceptions.InvalidAccessError,
    aiortc_exceptions.InvalidStateError,
    OperationError,
    ValueError,
    ConnectionError,
    OSError,
)
#: how long aioice waits for STUN/TURN servers' answers while gathering (its own default)
GATHER_S = 5.0
#: how often the watchdog looks at the receiver's reports
WATCH_S = 0.25


def ntp_time(wall: float) -> int:
    """A Unix time as a 64-bit NTP timestamp."""
    return int((wall + NTP_EPOCH) * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


class WhipSession:
    def __init__(
        self,
        url: WhipUrl,
        *,
        ice_servers: tuple[IceServer, ...] = (),
        connect_timeout: float,
        io_timeout: float,
        #: the H.264 SPS and PPS as Annex-B: WebRTC decoders take them in-band, before
        #: each IDR (there is no sequence header as in RTMP)
        parameter_sets: bytes,
        has_audio: bool,
        on_keyframe_request: Callable[[], None],
    ) -> None:
        self.url = url
        self._ice_servers = ice_servers
        self._connect_timeout = connect_timeout
        self._io_timeout = io_timeout
        self._parameter_sets = parameter_sets
        self._has_audio = has_audio
        self._on_keyframe_request = on_keyframe_request
        self._loop = asyncio.new_event_loop()
        self._worker = Worker("ionia-whip", self._run_loop, on_crash=self._loop_crashed)
        self._pc: RTCPeerConnection | None = None
        self._http: aiohttp.ClientSession | None = None
        self._answer: Answer | None = None
        self._tracks: dict[str, PacketTrack] = {}
        self._connected = asyncio.Event()
        self._watcher: asyncio.Future[None] | None = None
        #: why the session is over, once it is (read by the sender's thread)
        self._lost: str | None = None
        self._closing = False
        self._waiting = 0
        self._room = threading.Condition()
        #: stream clock → monotonic time: the capture instant of the stream's 0 ms
        self._clock_zero: float | None = None
        self._wall_offset = time.time() - time.monotonic()
        self._reports_sent: dict[int, float] = {}  # SR's middle NTP bits → monotonic
        self._last_feedback: float | None = None
        self.bytes_sent = 0
        self._rtt_ms: float | None = None
        self._loss = 0.0
        self._nacks = 0
        self._keyframe_requests = 0
        self._estimate: int | None = None
        self._reports = 0

    # -- the caller's side (the sender thread) -------------------------------------------------

    def open(self) -> None:
        """Offer, answer, ICE and DTLS within ``connect_timeout``; raise the typed error."""
        self._worker.start()
        gathering = GATHER_S if self._ice_servers and not self.url.loopback else 0.0
        try:
            self._call(self._connect(), gathering + self._connect_timeout + 1.0)
        except BaseException:
            self.abort()
            raise

    def send(
        self, kind: str, data: bytes, pts_ms: int, *, keyframe: bool, capture_time: float
    ) -> None:
        """Hand one packet to aiortc; raise ``ConnectionFailed`` once the session is lost."""
        if self._lost is not None:
            raise ConnectionFailed(f"{self.url.masked}: {self._lost}")
        track = self._tracks.get(kind)
        if track is None:
            return
        if self._clock_zero is None and capture_time:
            self._clock_zero = capture_time - pts_ms / 1000
        if kind == "video" and keyframe:
            data = self._parameter_sets + data
        with self._room:
            if not self._room.wait_for(
                lambda: self._waiting < MAX_WAITING or self._lost is not None, self._io_timeout
            ):
                self._lose(f"the WebRTC session took no packet for {self._io_timeout:g} s")
            if self._lost is not None:
                raise ConnectionFailed(f"{self.url.masked}: {self._lost}")
            self._waiting += 1
        self.bytes_sent += len(data)
        try:
            self._loop.call_soon_threadsafe(track.push, data, pts_ms)
        except RuntimeError:  # the loop closed under us: aborted from another thread
            raise ConnectionFailed(f"{self.url.masked}: {self._lost or 'closed'}") from None

    def feedback(self) -> Feedback:
        return Feedback(
            rtt_ms=self._rtt_ms,
            loss=self._loss,
            nacks=self._nacks,
            keyframe_requests=self._keyframe_requests,
            estimate_bps=self._estimate,
            reports=self._reports,
        )

    def close(self, timeout: float) -> None:
        """DELETE the session and close the peer connection within ``timeout``; idempotent."""
        if not self._worker.alive:
            return
        self._closing = True
        with contextlib.suppress(IoniaError, TimeoutError):
            self._call(self._shutdown(delete=True, timeout=timeout), timeout + 0.5)
        self._stop_loop(1.0)

    def abort(self) -> None:
        """From any thread: end the session now, without a DELETE; idempotent."""
        self._closing = True
        self._lose("aborted")
        if self._worker.alive:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                asyncio.run_coroutine_threadsafe(
                    self._shutdown(delete=False, timeout=0.5), self._loop
                )
            self._stop_loop(1.5)

    # -- the loop's side ---------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(self._loop_error)
        try:
            self._loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(RuntimeError, asyncio.CancelledError):
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    def _loop_crashed(self, exc: BaseException) -> None:
        """The loop itself failed (not one of aiortc's tasks, which ``_loop_error`` sees):
        the session is over, and the sender's next ``send`` says so."""
        self._lose(f"the WebRTC session's loop stopped: {describe(exc)}")

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # aiortc's own tasks (ICE checks, DTLS) that fail end up here: the session's state
        # change says what it means for the stream; the detail is for -v
        log.debug("%s: %s", self.url.masked, redact(str(context.get("exception") or context)))

    def _call(self, coro: Coroutine[Any, Any, None], timeout: float) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise ConnectionFailed(
                f"{self.url.masked}: no WebRTC connection within {self._connect_timeout:g} s"
            ) from None
        except NEGOTIATION_ERRORS as exc:
            # What aiortc raises while negotiating with a peer (an SDP it cannot use, a
            # transport that fails) is a session that did not come up, not our crash;
            # anything else is a bug, and reaches the sender's last resort as one.
            raise ConnectionFailed(
                f"{self.url.masked}: the WebRTC session failed: "
                f"{redact(str(exc)) or type(exc).__name__}"
            ) from None

    def _stop_loop(self, timeout: float) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._worker.join(timeout)  # says so when it did not stop in time

    def _lose(self, why: str) -> None:
        if self._lost is None:
            self._lost = why
            if not self._closing:
                log.warning("%s: %s", self.url.masked, why)
        with self._room:
            self._room.notify_all()

    def _taken(self) -> None:
        with self._room:
            self._waiting -= 1
            self._room.notify()

    async def _connect(self) -> None:
        gather_loopback_only(self.url.loopback)
        # On the loopback a STUN or TURN server has nothing to add, and one that does not
        # answer would cost its whole gathering timeout.
        servers = [
            RTCIceServer(urls=s.url, username=s.username, credential=s.credential)
            for s in (() if self.url.loopback else self._ice_servers)
        ]
        self._pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        pc.on("connectionstatechange", self._state_changed)
        self._add_track(pc, "video")
        if self._has_audio:
            self._add_track(pc, "audio")
        # Gathering has its own bound (aioice waits up to GATHER_S for STUN/TURN answers);
        # the connect timeout is the server's and the path's, from the POST on.
        await pc.setLocalDescription(await pc.createOffer())
        deadline = time.monotonic() + self._connect_timeout
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        offer = pc.localDescription.sdp
        self._answer = answer = await post_offer(
            self._http, self.url, offer, max(0.1, deadline - time.monotonic())
        )
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
        except OperationError:
            # no codec in common for a track: the server does not take what we send, and
            # asking again would get the same answer
            raise PublishRejected(
                f"{self.url.masked}: the server's answer takes neither H.264 "
                f"(packetization-mode 1, profile {H264_PROFILE}) nor Opus for one of our tracks",
                code="codecs",
            ) from None
        except (ValueError, KeyError, IndexError) as exc:
            raise ConnectionFailed(
                f"{self.url.masked}: the server's answer is not usable SDP: {redact(str(exc))}"
            ) from None
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                await self._connected.wait()
        except TimeoutError:
            raise ConnectionFailed(
                f"{self.url.masked}: ICE/DTLS did not connect within {self._connect_timeout:g} s"
                " (a firewall on UDP? try --ice-server with a TURN server)"
            ) from None
        if self._lost is not None:
            raise ConnectionFailed(f"{self.url.masked}: {self._lost}")
        self._watcher = asyncio.ensure_future(self._watch())  # cancelled with the loop

    def _add_track(self, pc: RTCPeerConnection, kind: str) -> None:
        track = PacketTrack(kind, self._taken)
        transceiver = pc.addTransceiver(track, direction="sendonly")
        codecs = RTCRtpSender.getCapabilities(kind).codecs
        if kind == "video":
            chosen = [
                c
                for c in codecs
                if c.mimeType == "video/H264"
                and c.parameters.get("profile-level-id") == H264_PROFILE
                and str(c.parameters.get("packetization-mode")) == "1"
            ]
            chosen += [c for c in codecs if c.mimeType == "video/rtx"]
        else:
            chosen = [c for c in codecs if c.mimeType == "audio/opus"]
        transceiver.setCodecPreferences(chosen)
        self._hook(transceiver.sender, track)
        self._tracks[kind] = track

    def _hook(self, sender: RTCRtpSender, track: PacketTrack) -> None:
        """Read what the receiver sends about this track, and stamp our sender reports."""
        handle, send_rtcp = sender._handle_rtcp_packet, sender._send_rtcp

        async def handle_rtcp(packet: Any) -> None:
            self._feedback(packet, sender)
            await handle(packet)

        async def send_reports(packets: list[Any]) -> None:
            for packet in packets:
                if isinstance(packet, RtcpSrPacket):
                    self._stamp(packet, track)
            await send_rtcp(packets)

        sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
        sender._send_rtcp = send_reports  # type: ignore[method-assign]

    def _stamp(self, report: RtcpSrPacket, track: PacketTrack) -> None:
        # aiortc pairs the RTP time of the last packet sent with the time it was sent,
        # which differs between audio and video by their encoders' delays; the capture
        # time of that packet is the same instant for both kinds.
        if track.last_pts_ms is not None and self._clock_zero is not None:
            captured = self._clock_zero + track.last_pts_ms / 1000 + self._wall_offset
            report.sender_info.ntp_timestamp = ntp_time(captured)
        middle = (report.sender_info.ntp_timestamp >> 16) & 0xFFFF_FFFF
        self._reports_sent[middle] = time.monotonic()
        if len(self._reports_sent) > 16:
            del self._reports_sent[next(iter(self._reports_sent))]

    def _feedback(self, packet: Any, sender: RTCRtpSender) -> None:
        now = time.monotonic()
        self._last_feedback = now
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc != sender._ssrc:
                    continue
                if sender.kind == "video":  # the one the bitrate control acts on
                    self._loss = report.fraction_lost / 256
                    self._reports += 1
                sent = self._reports_sent.get(report.lsr)
                if sent is not None:
                    self._rtt_ms = max(0.0, (now - sent - report.dlsr / 65536) * 1000)
        elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._nacks += len(packet.lost)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            if sender.kind == "video":
                self._keyframe_requests += 1
                self._on_keyframe_request()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if sender._ssrc in ssrcs:
                    self._estimate = bitrate

    def _state_changed(self) -> None:
        pc = self._pc
        if pc is None:
            return
        state = pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            self._lose(f"the WebRTC connection {state} (ICE or DTLS)")
            self._connected.set()  # wakes a connect still waiting: it reads _lost

    async def _watch(self) -> None:
        """A receiver that reported and then stopped is gone: ICE's own consent check
        would take half a minute to say so. One that never reports is not held to it."""
        while self._lost is None:
            await asyncio.sleep(WATCH_S)
            last = self._last_feedback
            if last is not None and time.monotonic() - last > self._io_timeout:
                self._lose(f"the receiver sent no report for {self._io_timeout:g} s")

    async def _shutdown(self, *, delete: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for track in self._tracks.values():
            track.end()
        answer, http, pc = self._answer, self._http, self._pc
        if delete and answer is not None and answer.resource and http is not None:
            await delete_resource(http, self.url, answer.resource, max(0.1, timeout / 2))
        if pc is not None:
            with contextlib.suppress(TimeoutError, ConnectionError, OSError, RuntimeError):
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    await pc.close()
        if http is not None:
            await http.close()
