"""An RTMP(S) publishing client over a plain Python socket.

One instance is one session: connect, publish, send FLV tag bodies, close. Reconnecting
means making a new instance, so no state can leak from a dead session into a new one.

Threading: every method except :meth:`abort` belongs to one thread (the sender). ``abort``
may be called from any thread to make a blocked send return at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ionia.errors import ConnectionFailed
from ionia.redact import redact
from ionia.rtmp import amf0
from ionia.rtmp.acks import AcksOwed, ServerAcks
from ionia.rtmp.chunk import ChunkWriter
from ionia.rtmp.chunk_reader import ChunkError, ChunkReader
from ionia.rtmp.commands import Command, Commands
from ionia.rtmp.handshake import handshake
from ionia.rtmp.message import (
    Message,
    MessageType,
    UserControlEvent,
    acknowledgement,
    set_chunk_size,
    user_control,
    window_ack_size,
)
from ionia.rtmp.transport import LinkError, Transport, tls_context
from ionia.rtmp.url import RtmpUrl

__all__ = ["RtmpClient"]

log = logging.getLogger("ionia.rtmp")

CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_STREAM = 5  # stream-level commands and data (publish, @setDataFrame)
CSID_VIDEO = 6


class RtmpClient:
    """Publishes one live stream to one RTMP(S) ingest."""

    def __init__(
        self,
        url: RtmpUrl,
        *,
        connect_timeout: float = 5.0,
        io_timeout: float = 5.0,
        send_buffer_bytes: int = 64 * 1024,
        tls_verify: bool = True,
        ca_file: str | None = None,
        chunk_size: int = 4096,
        ack_window: int = 256 * 1024,
        compress_headers: bool = True,
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self.send_buffer_bytes = send_buffer_bytes
        self.tls_verify = tls_verify
        self.ca_file = ca_file
        self.chunk_size = chunk_size
        self.bytes_sent = 0
        self.bytes_received = 0
        self.connected = False
        self.server_info: dict[str, Any] = {}
        #: the info of the server's NetStream.Publish.Start
        self.publish_info: dict[str, Any] = {}
        #: Enhanced RTMP FourCCs announced in ``connect`` (set before ``connect()``)
        self.fourcc_list: tuple[str, ...] = ()
        self.stream_id = 0
        self._transport: Transport | None = None
        # Delta headers (fmt 1/2) like FFmpeg and OBS: a long stream's timestamps pass 0xFFFFFF
        # after 4.66 h, but deltas stay small, so servers that disagree about extended
        # timestamps on fmt-3 chunks never see one. False: a full fmt-0 header per message.
        self._writer = ChunkWriter(compress=compress_headers)
        self._reader = ChunkReader()
        self._commands = Commands(
            url, send=self._send_command, receive=self._receive, lost=self._lost
        )
        self._acks = ServerAcks(window=ack_window, io_timeout=io_timeout)
        self._acks_owed = AcksOwed()
        self._broken: str | None = None
        self._close_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"RtmpClient({self.url.masked!r}, connected={self.connected})"

    # -- connecting -----------------------------------------------------------------------

    def connect(self) -> None:
        """Connect and start publishing, all within ``connect_timeout``."""
        if self._transport is not None or self._closed or self._broken is not None:
            raise RuntimeError("an RtmpClient is one session: make a new one to reconnect")
        url = self.url
        context = tls_context(verify=self.tls_verify, ca_file=self.ca_file) if url.tls else None
        deadline = time.monotonic() + self.connect_timeout
        try:
            self._transport = Transport.connect(
                url.host, url.port, deadline, tls=context,
                send_buffer_bytes=self.send_buffer_bytes, io_timeout=self.io_timeout,
            )  # fmt: skip
            result = handshake(self._transport, deadline)
        except ConnectionFailed as exc:
            self._drop_transport()
            raise ConnectionFailed(f"{url.masked}: {exc}", refused=exc.refused) from None
        self.bytes_sent += result.bytes_sent
        self._acks.start(self.bytes_sent)
        self.bytes_received += result.bytes_received
        try:
            self._publish(deadline)
        except BaseException:
            self._drop_transport()
            raise
        self.connected = True
        log.info("rtmp: publishing to %s (server %s)", url.masked, self.server_info.get("fmsVer"))

    def _publish(self, deadline: float) -> None:
        control = MessageType.SET_CHUNK_SIZE, set_chunk_size(self.chunk_size)
        self._send_message(CSID_CONTROL, control[0], 0, 0, control[1], deadline=deadline)
        self._writer.chunk_size = self.chunk_size
        control = MessageType.WINDOW_ACK_SIZE, window_ack_size(self.ack_window)
        self._send_message(CSID_CONTROL, control[0], 0, 0, control[1], deadline=deadline)
        self.server_info = self._commands.connect(deadline, self.fourcc_list)
        self.stream_id = self._commands.create_stream(deadline)
        self.publish_info = self._commands.publish(self.stream_id, deadline)

    # -- streaming ------------------------------------------------------------------------

    def send_metadata(self, metadata: dict[str, Any]) -> None:
        payload = amf0.encode("@setDataFrame", "onMetaData", amf0.EcmaArray(metadata))
        self._send_stream(CSID_STREAM, MessageType.DATA_AMF0, 0, payload)

    def send_video(self, timestamp_ms: int, body: bytes) -> None:
        self._send_stream(CSID_VIDEO, MessageType.VIDEO, timestamp_ms, body)

    def send_audio(self, timestamp_ms: int, body: bytes) -> None:
        self._send_stream(CSID_AUDIO, MessageType.AUDIO, timestamp_ms, body)

    def _send_stream(self, csid: int, type_id: int, timestamp: int, payload: bytes) -> None:
        if not self.connected:
            raise ConnectionFailed(f"{self.url.masked}: not connected")
        stall_at = self._check_acknowledged()
        self._send_message(csid, type_id, self.stream_id, timestamp, payload, stall_at=stall_at)

    @property
    def ack_window(self) -> int:
        """The server is asked to acknowledge every this many bytes."""
        return self._acks.window

    @property
    def bytes_acked(self) -> int:
        """Bytes the server has acknowledged (never more than were sent)."""
        return self._acks.acked

    @property
    def bytes_unacked(self) -> int:
        """Bytes sent in this session that the server's application has not read yet."""
        return self._acks.unacked(self.bytes_sent)

    def ack_stall_at(self) -> float | None:
        """When the server has stopped reading (see :meth:`ServerAcks.stall_at`), or None."""
        return self._acks.stall_at(self.bytes_sent)

    def poll(self, timeout: float = 0.0) -> None:
        """Handle whatever the server sent. Waits up to ``timeout`` for the first bytes
        (0: never blocks), then drains what is already there."""
        transport = self._require_transport()
        for _ in range(64):  # bounded work per call; the rest waits for the next poll
            try:
                data = transport.receive_ready(timeout)
            except LinkError as exc:
                raise self._lost(str(exc)) from None
            if data is None:
                return
            if not data:
                raise self._lost("connection closed by server")
            for command in self._process(data):
                self._commands.handle(command, publishing=self.connected)
            timeout = 0.0
        self._check_acknowledged()

    def _check_acknowledged(self) -> float | None:
        """Raise if the server has stopped reading; else when it will count as stopped."""
        stall_at = self.ack_stall_at()
        if stall_at is not None and time.monotonic() >= stall_at:
            raise self._lost(
                f"the server stopped reading: no acknowledgement for {self.io_timeout:g} s "
                f"with {self.bytes_unacked // 1024} KiB outstanding"
            )
        return stall_at

    # -- closing --------------------------------------------------------------------------

    def close(self, timeout: float = 1.0, last_video: tuple[int, bytes] | None = None) -> None:
        """Unpublish politely if we can, then close. Never blocks longer than ``timeout``.
        ``last_video`` (timestamp, body) goes first, within the same time."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        transport = self._transport
        if self.connected and self._broken is None and transport is not None:
            deadline = time.monotonic() + timeout
            try:
                if last_video is not None:
                    self._send_message(
                        CSID_VIDEO, MessageType.VIDEO, self.stream_id, *last_video,
                        deadline=deadline,
                    )  # fmt: skip
                self._commands.unpublish(self.stream_id, deadline)
                transport.drain(deadline)
            except ConnectionFailed as exc:
                log.debug("rtmp: no polite close: %s", exc)
        self.connected = False
        self._drop_transport()

    def abort(self) -> None:
        """Break the connection now, from any thread: a blocked send fails at once."""
        self._broken = self._broken or "connection aborted"
        self.connected = False
        self._drop_transport()

    def __enter__(self) -> RtmpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _drop_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # -- the wire -------------------------------------------------------------------------

    def _require_transport(self) -> Transport:
        if self._broken is not None:
            raise ConnectionFailed(f"{self.url.masked}: {self._broken}")
        if self._transport is None:
            raise ConnectionFailed(f"{self.url.masked}: not connected")
        return self._transport

    def _lost(self, reason: str) -> ConnectionFailed:
        self._broken = self._broken or reason
        self.connected = False
        return ConnectionFailed(f"{self.url.masked}: {redact(reason, self.url.key)}")

    def _send_message(
        self,
        csid: int,
        type_id: int,
        stream_id: int,
        timestamp: int,
        payload: bytes,
        *,
        deadline: float | None = None,
        stall_at: float | None = None,
    ) -> None:
        data = self._writer.serialize(csid, type_id, stream_id, timestamp, payload)
        transport = self._require_transport()
        try:
            transport.send(data, deadline, progress=self._count_sent, stall_at=stall_at)
        except LinkError as exc:
            if not exc.timed_out and self._broken is not None:  # abort() from another thread
                raise self._lost(self._broken) from None
            raise self._lost(str(exc)) from None

    def _count_sent(self, sent: int) -> None:
        self.bytes_sent += sent

    def _send_command(self, payload: bytes, on_stream: int | None, deadline: float | None) -> None:
        csid, stream_id = (CSID_COMMAND, 0) if on_stream is None else (CSID_STREAM, on_stream)
        self._send_message(csid, MessageType.COMMAND_AMF0, stream_id, 0, payload, deadline=deadline)

    def _receive(self, deadline: float, what: str) -> list[Command]:
        """Block (until ``deadline``) for the next bytes from the server; return its commands."""
        transport = self._require_transport()
        try:
            data = transport.receive(deadline, what)
        except LinkError as exc:
            raise self._lost(str(exc)) from None
        if not data:
            self._lost("connection closed by server")
            raise self._commands.hangup(what)
        return self._process(data)

    def _process(self, data: bytes) -> list[Command]:
        self.bytes_received += len(data)
        commands = []
        try:
            for message in self._reader.feed(data):
                command = self._handle_message(message)
                if command is not None:
                    commands.append(command)
        except (ChunkError, amf0.Amf0LimitError) as exc:
            # The one place the server's bytes are parsed: a broken rule or a passed limit
            # (their messages name what was sent) ends the session, as the server's fault.
            raise self._lost(f"server sent {exc}") from None
        sequence = self._acks_owed.received(len(data))
        if sequence is not None:
            payload = acknowledgement(sequence)
            self._send_message(CSID_CONTROL, MessageType.ACK, 0, 0, payload)
        return commands

    def _handle_message(self, message: Message) -> Command | None:
        kind, payload = message.type_id, message.payload
        value = int.from_bytes(payload[:4], "big") if len(payload) >= 4 else 0
        if kind == MessageType.SET_CHUNK_SIZE:
            log.debug("rtmp: <- set chunk size %d", value)  # already applied by the reader
        elif kind == MessageType.WINDOW_ACK_SIZE:
            log.debug("rtmp: <- window ack size %d", value)
            self._acks_owed.window = value
        elif kind == MessageType.SET_PEER_BANDWIDTH:
            log.debug("rtmp: <- set peer bandwidth %d", value)
        elif kind == MessageType.ACK:
            self._acks.received(value, self.bytes_sent)
        elif kind == MessageType.USER_CONTROL and len(payload) >= 2:
            event = int.from_bytes(payload[:2], "big")
            if event == UserControlEvent.PING_REQUEST and len(payload) >= 6:
                pong = user_control(
                    UserControlEvent.PING_RESPONSE, int.from_bytes(payload[2:6], "big")
                )
                self._send_message(CSID_CONTROL, MessageType.USER_CONTROL, 0, 0, pong)
            else:
                log.debug("rtmp: <- user control event %d", event)
        elif kind in (MessageType.COMMAND_AMF0, MessageType.COMMAND_AMF3):
            return Command.parse(message)
        else:
            log.debug("rtmp: <- message type %d (%d bytes) ignored", kind, len(payload))
        return None
