"""An RTMP(S) publishing client over a plain Python socket.

One instance is one session: connect, publish, send FLV tag bodies, close. Reconnecting
means making a new instance, so no state can leak from a dead session into a new one.

Threading: every method except :meth:`abort` belongs to one thread (the sender). ``abort``
may be called from any thread to make a blocked send return at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from ionia.errors import ConfigError, ConnectionFailed, PublishRejected
from ionia.output.rtmp import amf0
from ionia.output.rtmp.chunk import (
    ChunkReader,
    ChunkWriter,
    Message,
    MessageType,
    UserControlEvent,
    acknowledgement,
    set_chunk_size,
    user_control,
    window_ack_size,
)
from ionia.output.rtmp.handshake import handshake
from ionia.output.url import RtmpUrl, redact

__all__ = ["RtmpClient"]

log = logging.getLogger("ionia.rtmp")

CSID_CONTROL = 2
CSID_COMMAND = 3
CSID_AUDIO = 4
CSID_STREAM = 5  # stream-level commands and data (publish, @setDataFrame)
CSID_VIDEO = 6
FLASH_VERSION = "FMLE/3.0 (compatible; ionia)"
_SEQ_MOD = 1 << 32
_RECV_SIZE = 65536
#: errors on these calls are historical artifacts that servers send freely (FFmpeg ignores them too)
_IGNORED_ERRORS = frozenset({"releaseStream", "FCPublish", "FCUnpublish", "_checkbw"})


@dataclass(frozen=True)
class _Command:
    name: str
    transaction: float
    args: list[Any]


def _status(args: list[Any]) -> dict[str, Any]:
    """The info object of an onStatus/_result/_error (the first dict after the command object)."""
    for value in args[1:] if len(args) > 1 else args:
        if isinstance(value, dict):
            return value
    return {}


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
        #: asks the server to acknowledge every ``ack_window`` bytes (nginx-rtmp acks only if asked)
        self.ack_window = ack_window
        self.bytes_sent = 0
        self.bytes_received = 0
        self.bytes_acked = 0
        self.connected = False
        self.server_info: dict[str, Any] = {}
        self.stream_id = 0
        self._sock: socket.socket | None = None
        # Delta headers (fmt 1/2) like FFmpeg and OBS: a long stream's timestamps pass 0xFFFFFF
        # after 4.66 h, but deltas stay small, so servers that disagree about extended
        # timestamps on fmt-3 chunks never see one. False: a full fmt-0 header per message.
        self._writer = ChunkWriter(compress=compress_headers)
        self._reader = ChunkReader()
        self._transaction = 0
        self._calls: dict[int, str] = {}
        self._in_bytes = 0  # bytes received after the handshake: what our ACKs count
        self._in_last_ack = 0
        self._peer_window = 0
        self._last_ack_seq = 0
        self._broken: str | None = None
        #: the command whose refusal-by-hanging-up counts as a rejection ('connect', 'publish')
        self._awaiting: str | None = None
        self._close_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"RtmpClient({self.url.masked!r}, connected={self.connected})"

    # -- connecting -----------------------------------------------------------------------

    def connect(self) -> None:
        """Connect and start publishing, all within ``connect_timeout``."""
        if self._sock is not None or self._closed or self._broken is not None:
            raise RuntimeError("an RtmpClient is one session: make a new one to reconnect")
        context = self._tls_context() if self.url.tls else None
        deadline = time.monotonic() + self.connect_timeout
        try:
            self._sock = self._open_socket(deadline, context)
            result = handshake(self._sock, deadline)
        except ConnectionFailed as exc:
            self._drop_socket()
            raise ConnectionFailed(f"{self.url.masked}: {exc}") from None
        self.bytes_sent += result.bytes_sent
        self.bytes_received += result.bytes_received
        try:
            self._publish(deadline)
        except BaseException:
            self._drop_socket()
            raise
        self.connected = True
        log.info(
            "rtmp: publishing to %s (server %s)", self.url.masked, self.server_info.get("fmsVer")
        )

    def _open_socket(self, deadline: float, context: ssl.SSLContext | None) -> socket.socket:
        host, port = self.url.host, self.url.port
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ConnectionFailed(f"cannot resolve host {host!r}: {exc.strerror}") from None
        error = "no address"
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                # Before connect(), so the kernel never advertises or grows past our bound.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                sock.connect(address)
            except TimeoutError:
                sock.close()
                error = f"timed out connecting to {host}:{port}"
                continue
            except ConnectionRefusedError:
                sock.close()
                error = f"connection refused by {host}:{port} (is the ingest server running?)"
                continue
            except OSError as exc:
                sock.close()
                error = f"cannot connect to {host}:{port}: {exc.strerror or exc}"
                continue
            return self._wrap_tls(sock, context, deadline) if context else sock
        raise ConnectionFailed(error)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            try:
                # In addition to the system CAs: a private CA must not hide the public ones.
                context.load_verify_locations(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load the CA file {self.ca_file!r}: {exc}") from None
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _wrap_tls(
        self, sock: socket.socket, context: ssl.SSLContext, deadline: float
    ) -> socket.socket:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            return context.wrap_socket(sock, server_hostname=self.url.host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise ConnectionFailed(
                f"TLS certificate verification failed: {exc.verify_message}. If the server "
                "uses a private or self-signed CA, give its certificate (ca_file=PATH); to "
                "skip verification (insecure) set tls_verify=False"
            ) from None
        except TimeoutError:
            sock.close()
            raise ConnectionFailed(
                "timed out in the TLS handshake (a plain rtmp:// server never answers TLS)"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise ConnectionFailed(f"TLS handshake failed: {exc}") from None

    def _publish(self, deadline: float) -> None:
        url = self.url
        control = MessageType.SET_CHUNK_SIZE, set_chunk_size(self.chunk_size)
        self._send_message(CSID_CONTROL, control[0], 0, 0, control[1], deadline=deadline)
        self._writer.chunk_size = self.chunk_size
        control = MessageType.WINDOW_ACK_SIZE, window_ack_size(self.ack_window)
        self._send_message(CSID_CONTROL, control[0], 0, 0, control[1], deadline=deadline)
        properties = {"app": url.app, "type": "nonprivate", "flashVer": FLASH_VERSION}
        tid = self._call("connect", {**properties, "tcUrl": url.tc_url}, deadline=deadline)
        self._awaiting = "connect"
        args = self._wait_result(tid, deadline, "the reply to 'connect'")
        self._awaiting = None
        properties = args[0] if args and isinstance(args[0], dict) else {}
        self.server_info = {**properties, **_status(args)}
        self._call("releaseStream", None, url.key, deadline=deadline)
        self._call("FCPublish", None, url.key, deadline=deadline)
        tid = self._call("createStream", None, deadline=deadline)
        args = self._wait_result(tid, deadline, "the reply to 'createStream'")
        stream_ids = [a for a in args if amf0.is_finite_number(a)]
        if not stream_ids:
            raise ConnectionFailed(
                f"{url.masked}: the server's createStream reply has no stream id"
            )
        self.stream_id = int(stream_ids[0])
        log.debug("rtmp: stream id %d, publish ****", self.stream_id)
        self._call(
            "publish", None, url.key, "live",
            csid=CSID_STREAM, stream_id=self.stream_id, deadline=deadline,
        )  # fmt: skip
        self._awaiting = "publish"
        while True:
            for command in self._receive(deadline, "NetStream.Publish.Start"):
                info = self._handle_command(command)
                if info.get("code") == "NetStream.Publish.Start":
                    return

    def _call(
        self,
        name: str,
        *args: Any,
        csid: int = CSID_COMMAND,
        stream_id: int = 0,
        deadline: float | None = None,
    ) -> int:
        self._transaction += 1
        tid = self._transaction
        self._calls[tid] = name
        log.debug("rtmp: -> %s (transaction %d)", name, tid)
        payload = amf0.encode(name, tid, *args)
        self._send_message(csid, MessageType.COMMAND_AMF0, stream_id, 0, payload, deadline=deadline)
        return tid

    def _wait_result(self, tid: int, deadline: float, what: str) -> list[Any]:
        while True:
            for command in self._receive(deadline, what):
                if command.name == "_result" and command.transaction == tid:
                    return command.args
                self._handle_command(command)

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
        self._send_message(csid, type_id, self.stream_id, timestamp, payload)

    def poll(self, timeout: float = 0.0) -> None:
        """Handle whatever the server sent. Waits up to ``timeout`` for the first bytes
        (0: never blocks), then drains what is already there."""
        sock = self._require_socket()
        for _ in range(64):  # bounded work per call; the rest waits for the next poll
            sock.settimeout(timeout)
            try:
                data = sock.recv(_RECV_SIZE)
            except (TimeoutError, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError as exc:
                raise self._lost(f"connection lost: {redact(str(exc))}") from None
            finally:
                sock.settimeout(self.io_timeout)
            if not data:
                raise self._lost("connection closed by server")
            for command in self._process(data):
                self._handle_command(command)
            timeout = 0.0

    # -- closing --------------------------------------------------------------------------

    def close(self, timeout: float = 1.0) -> None:
        """Unpublish politely if we can, then close. Never blocks longer than ``timeout``."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self.connected and self._broken is None and self._sock is not None:
            deadline = time.monotonic() + timeout
            try:
                self._call("FCUnpublish", None, self.url.key, deadline=deadline)
                self._call("deleteStream", None, self.stream_id, deadline=deadline)
                self._drain(self._sock, deadline)
            except ConnectionFailed as exc:
                log.debug("rtmp: no polite close: %s", exc)
        self.connected = False
        self._drop_socket()

    @staticmethod
    def _drain(sock: socket.socket, deadline: float) -> None:
        """Send FIN and read until the server closes too. Closing with unread bytes in our
        receive buffer (acks, status) would send a RST instead, and a RST makes the server's
        kernel discard what it has not read yet: the end of the stream."""
        with contextlib.suppress(OSError):  # includes timeouts and TLS errors: we are leaving
            socket.socket.shutdown(sock, socket.SHUT_WR)
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                if not sock.recv(_RECV_SIZE):
                    return

    def abort(self) -> None:
        """Break the connection now, from any thread: a blocked send fails at once."""
        self._broken = self._broken or "connection aborted"
        self.connected = False
        self._drop_socket()

    def __enter__(self) -> RtmpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        # The plain socket's shutdown: SSLSocket.shutdown would tear down TLS state under a
        # send that another thread may be blocked in. OSError: not connected, nothing to wake.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        sock.close()

    # -- the wire -------------------------------------------------------------------------

    def _require_socket(self) -> socket.socket:
        if self._broken is not None:
            raise ConnectionFailed(f"{self.url.masked}: {self._broken}")
        if self._sock is None:
            raise ConnectionFailed(f"{self.url.masked}: not connected")
        return self._sock

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
    ) -> None:
        data = self._writer.serialize(csid, type_id, stream_id, timestamp, payload)
        sock = self._require_socket()
        view = memoryview(data)
        while view:
            # A per-call timeout measures stalls: no progress at all for io_timeout seconds.
            wait = self.io_timeout if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                raise self._lost("send timed out")
            sock.settimeout(wait)
            try:
                sent = sock.send(view)
            except TimeoutError:
                raise self._lost(f"send stalled for {wait:g} s") from None
            except OSError as exc:
                if self._broken is not None:  # abort() from another thread
                    raise self._lost(self._broken) from None
                raise self._lost(f"connection lost while sending: {exc}") from None
            self.bytes_sent += sent
            view = view[sent:]

    def _receive(self, deadline: float, what: str) -> list[_Command]:
        """Block (until ``deadline``) for the next bytes from the server; return its commands."""
        sock = self._require_socket()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._lost(f"timed out waiting for {what}")
        sock.settimeout(remaining)
        try:
            data = sock.recv(_RECV_SIZE)
        except TimeoutError:
            raise self._lost(f"timed out waiting for {what}") from None
        except OSError as exc:
            data = b""
            log.debug("rtmp: receive error while waiting for %s: %s", what, exc)
        if not data:
            self._lost("connection closed by server")
            # nginx-rtmp hangs up on an on_publish denial and on an unknown application,
            # without a word: a deliberate refusal, not a network failure.
            if self._awaiting is not None:
                hint = "stream key rejected?" if self._awaiting == "publish" else "wrong app?"
                raise PublishRejected(
                    f"{self.url.masked}: the server closed the connection after "
                    f"'{self._awaiting}' ({hint})",
                    code="connection closed",
                )
            raise ConnectionFailed(
                f"{self.url.masked}: connection closed by server while waiting for {what}"
            )
        return self._process(data)

    def _process(self, data: bytes) -> list[_Command]:
        self.bytes_received += len(data)
        self._in_bytes += len(data)
        commands = []
        for message in self._reader.feed(data):
            command = self._handle_message(message)
            if command is not None:
                commands.append(command)
        if self._peer_window and self._in_bytes - self._in_last_ack >= self._peer_window:
            self._in_last_ack = self._in_bytes
            payload = acknowledgement(self._in_bytes)
            self._send_message(CSID_CONTROL, MessageType.ACK, 0, 0, payload)
        return commands

    def _handle_message(self, message: Message) -> _Command | None:
        kind, payload = message.type_id, message.payload
        value = int.from_bytes(payload[:4], "big") if len(payload) >= 4 else 0
        if kind == MessageType.SET_CHUNK_SIZE:
            log.debug("rtmp: <- set chunk size %d", value)  # already applied by the reader
        elif kind == MessageType.WINDOW_ACK_SIZE:
            log.debug("rtmp: <- window ack size %d", value)
            self._peer_window = value
        elif kind == MessageType.SET_PEER_BANDWIDTH:
            log.debug("rtmp: <- set peer bandwidth %d", value)
        elif kind == MessageType.ACK:
            # Sequence numbers wrap at 2**32 (and nginx-rtmp resets its counter at 0xf0000000),
            # so add the forward distance and never claim more than was sent.
            delta = (value - self._last_ack_seq) % _SEQ_MOD
            self._last_ack_seq = value
            self.bytes_acked = min(self.bytes_acked + delta, self.bytes_sent)
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
            if kind == MessageType.COMMAND_AMF3 and payload[:1] == b"\x00":
                payload = payload[1:]
            try:
                values = amf0.decode(payload)
            except amf0.Amf0Error as exc:
                log.debug("rtmp: <- undecodable command: %s", exc)
                return None
            if len(values) >= 2 and isinstance(values[0], str):
                tid = values[1] if amf0.is_finite_number(values[1]) else 0.0
                log.debug("rtmp: <- %s (transaction %d)", values[0], tid)
                return _Command(values[0], tid, values[2:])
        else:
            log.debug("rtmp: <- message type %d (%d bytes) ignored", kind, len(payload))
        return None

    def _handle_command(self, command: _Command) -> dict[str, Any]:
        """React to a server command; raise on errors. Returns its status info."""
        info = _status(command.args)
        if command.name == "_error":
            called = self._calls.get(int(command.transaction), "?")
            if called in _IGNORED_ERRORS:
                log.debug("rtmp: server refused %s (harmless)", called)
                return info
            self._raise_status(info, f"'{called}' failed")
        elif command.name == "onStatus":
            log.debug("rtmp: <- onStatus %s", redact(str(info.get("code")), self.url.key))
            if info.get("level") == "error":
                self._raise_status(info, "the server reported an error")
        return info

    def _raise_status(self, info: dict[str, Any], what: str) -> NoReturn:
        code = redact(str(info.get("code", "")), self.url.key)
        description = redact(str(info.get("description", "")), self.url.key)
        detail = f"{code} ({description})" if description else code
        message = f"{self.url.masked}: {what}: {detail}"
        # Before Publish.Start every refusal is a rejection (bad key, wrong app); later only
        # publish-related codes are, the rest (NetStream.Failed...) is a lost connection.
        rejected = not self.connected or "Publish" in code or "Rejected" in code
        self._lost(f"{code} {description}")
        if rejected:
            raise PublishRejected(message, code=code, description=description)
        raise ConnectionFailed(message)
