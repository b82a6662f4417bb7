"""RTMP messages: their types, one complete message, and the payloads of the protocol
control and user control messages (all big-endian 32-bit values)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "TIMESTAMP_MOD",
    "Message",
    "MessageType",
    "UserControlEvent",
    "acknowledgement",
    "set_chunk_size",
    "user_control",
    "window_ack_size",
]

#: timestamps and acknowledgement sequence numbers are 32-bit and wrap
TIMESTAMP_MOD = 1 << 32


class MessageType(IntEnum):
    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACK = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class UserControlEvent(IntEnum):
    STREAM_BEGIN = 0
    STREAM_EOF = 1
    STREAM_DRY = 2
    SET_BUFFER_LENGTH = 3
    STREAM_IS_RECORDED = 4
    PING_REQUEST = 6
    PING_RESPONSE = 7


@dataclass(frozen=True, kw_only=True)
class Message:
    """One complete RTMP message."""

    #: chunk stream id it travelled on (2 = protocol control)
    csid: int
    #: message type id (a :class:`MessageType` value for the known ones)
    type_id: int
    #: message stream id (0 = the connection itself)
    stream_id: int
    #: milliseconds, modulo 2**32
    timestamp: int
    payload: bytes = field(repr=False)


# -- protocol control and user control messages (payload builders) ------------------------


def set_chunk_size(size: int) -> bytes:
    return struct.pack(">I", size & 0x7FFFFFFF)


def acknowledgement(sequence: int) -> bytes:
    return struct.pack(">I", sequence % TIMESTAMP_MOD)


def window_ack_size(size: int) -> bytes:
    return struct.pack(">I", size)


def user_control(event: UserControlEvent, *values: int) -> bytes:
    return struct.pack(">H", event) + b"".join(struct.pack(">I", v) for v in values)
