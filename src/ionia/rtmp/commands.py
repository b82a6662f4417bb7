"""The command conversation of a publishing session: ``connect``, ``createStream``,
``publish`` and the server's answers (``_result``, ``_error``, ``onStatus``), and which of
its refusals and hang-ups mean a rejected publish rather than a lost connection.

The messages themselves travel through the client that owns the conversation: it lends
its send, receive and lose-the-connection operations, so the chunk stream and its failure
state stay in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ionia.errors import ConnectionFailed, PublishRejected
from ionia.redact import redact
from ionia.rtmp import amf0
from ionia.rtmp.message import Message, MessageType
from ionia.rtmp.url import RtmpUrl

__all__ = [
    "FLASH_VERSION",
    "IGNORED_ERRORS",
    "MAX_STREAM_ID",
    "Command",
    "Commands",
    "status_info",
]

log = logging.getLogger("ionia.rtmp")

FLASH_VERSION = "FMLE/3.0 (compatible; ionia)"
#: errors on these calls are historical artifacts that servers send freely (FFmpeg ignores them too)
IGNORED_ERRORS = frozenset({"releaseStream", "FCPublish", "FCUnpublish", "_checkbw"})
#: the largest message stream id a chunk header can carry (a 32-bit field)
MAX_STREAM_ID = 0xFFFFFFFF


@dataclass(frozen=True)
class Command:
    """One command message from the server."""

    #: ``_result``, ``_error``, ``onStatus``...
    name: str
    #: the transaction id of the call it answers (0 for unsolicited events)
    transaction: float
    #: what follows the transaction id: the command object, then the info objects
    args: list[Any]

    @classmethod
    def parse(cls, message: Message) -> Command | None:
        """The command an AMF0 or AMF3 command message carries; None if it has none we can
        read (undecodable, or no name and transaction id). Raises Amf0LimitError for data
        past the AMF0 decoder's limits."""
        payload = message.payload
        # An AMF3 command message carries AMF0 after one leading zero byte.
        if message.type_id == MessageType.COMMAND_AMF3 and payload[:1] == b"\x00":
            payload = payload[1:]
        try:
            values = amf0.decode(payload)
        except amf0.Amf0LimitError:
            # Nesting or value counts no server has a use for are an attack on our stack and
            # memory, not a quirk: the caller ends the session (see RtmpClient._process).
            raise
        except amf0.Amf0Error as exc:
            # A command we cannot read (an AMF3 value, bad UTF-8, cut short) is skipped, as
            # librtmp does ("error decoding invoke packet"): if it mattered, the wait for the
            # answer it carried times out with a clear ConnectionFailed.
            log.debug("rtmp: <- undecodable command: %s", exc)
            return None
        if len(values) >= 2 and isinstance(values[0], str):
            tid = values[1] if amf0.is_finite_number(values[1]) else 0.0
            log.debug("rtmp: <- %s (transaction %d)", values[0], tid)
            return cls(values[0], tid, values[2:])
        return None


def status_info(args: list[Any]) -> dict[str, Any]:
    """The info object of an onStatus/_result/_error (the first dict after the command object)."""
    for value in args[1:] if len(args) > 1 else args:
        if isinstance(value, dict):
            return value
    return {}


#: sends an AMF0 command payload: on the connection (stream id None) or on a stream
SendCommand = Callable[[bytes, int | None, float | None], None]
#: waits until a deadline for the server's next bytes and returns the commands in them
ReceiveCommands = Callable[[float, str], list[Command]]


class Commands:
    """Our calls on one connection and the reading of the server's answers to them."""

    def __init__(
        self,
        url: RtmpUrl,
        *,
        send: SendCommand,
        receive: ReceiveCommands,
        lost: Callable[[str], object],
    ) -> None:
        self.url = url
        #: the command whose refusal-by-hanging-up counts as a rejection ('connect', 'publish')
        self.awaiting: str | None = None
        self._send = send
        self._receive = receive
        self._lost = lost
        self._transaction = 0
        self._names: dict[int, str] = {}

    def connect(self, deadline: float, fourcc_list: tuple[str, ...] = ()) -> dict[str, Any]:
        """Connect to the URL's application; returns what the server says about itself.
        ``fourcc_list``: the Enhanced RTMP codecs we may send (none: a legacy connect)."""
        url = self.url
        properties: dict[str, Any] = {
            "app": url.app, "type": "nonprivate", "flashVer": FLASH_VERSION
        }  # fmt: skip
        if fourcc_list:
            properties["fourCcList"] = list(fourcc_list)
        tid = self.call("connect", {**properties, "tcUrl": url.tc_url}, deadline=deadline)
        self.awaiting = "connect"
        args = self._wait_result(tid, deadline, "the reply to 'connect'")
        self.awaiting = None
        properties = args[0] if args and isinstance(args[0], dict) else {}
        return {**properties, **status_info(args)}

    def create_stream(self, deadline: float) -> int:
        """Prepare the stream key for publishing and create a stream; returns its id."""
        key = self.url.key
        self.call("releaseStream", None, key, deadline=deadline)
        self.call("FCPublish", None, key, deadline=deadline)
        tid = self.call("createStream", None, deadline=deadline)
        args = self._wait_result(tid, deadline, "the reply to 'createStream'")
        stream_ids = [a for a in args if amf0.is_finite_number(a)]
        if not stream_ids:
            raise ConnectionFailed(
                f"{self.url.masked}: the server's createStream reply has no stream id"
            )
        stream_id = stream_ids[0]
        # Message stream ids are 32-bit fields of our chunk headers; 0 is the connection.
        if not (float(stream_id).is_integer() and 0 < stream_id <= MAX_STREAM_ID):
            raise ConnectionFailed(
                f"{self.url.masked}: server sent an invalid stream id {stream_id:.15g} "
                "in its createStream reply"
            )
        stream_id = int(stream_id)
        log.debug("rtmp: stream id %d, publish ****", stream_id)
        return stream_id

    def publish(self, stream_id: int, deadline: float) -> dict[str, Any]:
        """Publish on ``stream_id``; returns the info of the server's NetStream.Publish.Start."""
        self.call("publish", None, self.url.key, "live", on_stream=stream_id, deadline=deadline)
        self.awaiting = "publish"
        while True:
            for command in self._receive(deadline, "NetStream.Publish.Start"):
                info = self.handle(command, publishing=False)
                if info.get("code") == "NetStream.Publish.Start":
                    return info

    def unpublish(self, stream_id: int, deadline: float) -> None:
        self.call("FCUnpublish", None, self.url.key, deadline=deadline)
        self.call("deleteStream", None, stream_id, deadline=deadline)

    def call(
        self, name: str, *args: Any, on_stream: int | None = None, deadline: float | None = None
    ) -> int:
        """Send a command, on the connection or ``on_stream``. Returns its transaction id."""
        self._transaction += 1
        tid = self._transaction
        self._names[tid] = name
        log.debug("rtmp: -> %s (transaction %d)", name, tid)
        self._send(amf0.encode(name, tid, *args), on_stream, deadline)
        return tid

    def _wait_result(self, tid: int, deadline: float, what: str) -> list[Any]:
        while True:
            for command in self._receive(deadline, what):
                if command.name == "_result" and command.transaction == tid:
                    return command.args
                self.handle(command, publishing=False)

    def handle(self, command: Command, *, publishing: bool) -> dict[str, Any]:
        """React to a server command; raise on errors. Returns its status info."""
        info = status_info(command.args)
        if command.name == "_error":
            called = self._names.get(int(command.transaction), "?")
            if called in IGNORED_ERRORS:
                log.debug("rtmp: server refused %s (harmless)", called)
                return info
            self._raise_status(info, f"'{called}' failed", publishing)
        elif command.name == "onStatus":
            log.debug("rtmp: <- onStatus %s", redact(str(info.get("code")), self.url.key))
            if info.get("level") == "error":
                self._raise_status(info, "the server reported an error", publishing)
        return info

    def _raise_status(self, info: dict[str, Any], what: str, publishing: bool) -> NoReturn:
        code = redact(str(info.get("code", "")), self.url.key)
        description = redact(str(info.get("description", "")), self.url.key)
        detail = f"{code} ({description})" if description else code
        message = f"{self.url.masked}: {what}: {detail}"
        # Before Publish.Start every refusal is a rejection (bad key, wrong app); later only
        # publish-related codes are, the rest (NetStream.Failed...) is a lost connection.
        rejected = not publishing or "Publish" in code or "Rejected" in code
        self._lost(f"{code} {description}")
        if rejected:
            raise PublishRejected(message, code=code, description=description)
        raise ConnectionFailed(message)

    def hangup(self, what: str) -> PublishRejected | ConnectionFailed:
        """The error for the server closing the connection while we wait for ``what``."""
        # nginx-rtmp hangs up on an on_publish denial and on an unknown application,
        # without a word: a deliberate refusal, not a network failure.
        if self.awaiting is not None:
            hint = "stream key rejected?" if self.awaiting == "publish" else "wrong app?"
            return PublishRejected(
                f"{self.url.masked}: the server closed the connection after "
                f"'{self.awaiting}' ({hint})",
                code="connection closed",
            )
        return ConnectionFailed(
            f"{self.url.masked}: connection closed by server while waiting for {what}"
        )
