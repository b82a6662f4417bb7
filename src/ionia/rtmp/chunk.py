"""The RTMP chunk stream's format, and the writer that cuts messages into chunks (the
reader that puts them back together is :mod:`ionia.rtmp.chunk_reader`).

Every chunk starts with a basic header (format 0-3 and a chunk stream id, 1-3 bytes),
then a message header whose size depends on the format:

* fmt 0 (11 bytes): absolute timestamp, length, type, message stream id
* fmt 1 (7 bytes): timestamp delta, length, type (same stream id)
* fmt 2 (3 bytes): timestamp delta only
* fmt 3 (0 bytes): everything as before (continuation chunks of a message)

A timestamp (or delta) >= 0xFFFFFF is written as 0xFFFFFF followed by a 4-byte extended
timestamp. Like FFmpeg and nginx-rtmp we repeat the extended field on every fmt-3 chunk that
follows such a header: nginx-rtmp reads those 4 bytes whenever the last header of that chunk
stream had one, so leaving them out desynchronises the stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ionia.rtmp.message import TIMESTAMP_MOD

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "EXTENDED_TIMESTAMP",
    "MAX_CHUNK_SIZE",
    "ChunkWriter",
    "basic_header",
]

DEFAULT_CHUNK_SIZE = 128
#: message lengths are 24-bit, so a larger chunk size is never useful
MAX_CHUNK_SIZE = 0xFFFFFF
EXTENDED_TIMESTAMP = 0xFFFFFF
_MAX_CSID = 65599


def basic_header(fmt: int, csid: int) -> bytes:
    """The 1-, 2- or 3-byte basic header for chunk stream id ``csid`` (2..65599)."""
    if not 2 <= csid <= _MAX_CSID:
        raise ValueError(f"chunk stream id {csid} out of range 2..{_MAX_CSID}")
    if csid < 64:
        return bytes([(fmt << 6) | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    rest = csid - 64
    return bytes([(fmt << 6) | 1, rest & 0xFF, rest >> 8])


@dataclass
class _WriterState:
    timestamp: int
    delta: int
    length: int
    type_id: int
    stream_id: int


class ChunkWriter:
    """Serializes messages into chunks, compressing headers against the previous message
    on the same chunk stream (fmt 1/2 when only the timestamp delta/length/type change)."""

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE, *, compress: bool = True) -> None:
        self.chunk_size = chunk_size
        self.compress = compress
        self._prev: dict[int, _WriterState] = {}

    def serialize(
        self, csid: int, type_id: int, stream_id: int, timestamp: int, payload: bytes
    ) -> bytes:
        if len(payload) > 0xFFFFFF:
            raise ValueError(f"message of {len(payload)} bytes exceeds the 24-bit length field")
        timestamp %= TIMESTAMP_MOD
        prev = self._prev.get(csid)
        fmt, field_value = 0, timestamp
        # Deltas only go forward: a timestamp that steps back needs an absolute (fmt 0) header.
        if self.compress and prev is not None and prev.stream_id == stream_id:
            delta = timestamp - prev.timestamp
            if delta >= 0:
                field_value = delta
                same_shape = prev.length == len(payload) and prev.type_id == type_id
                fmt = 2 if same_shape else 1
        extended = field_value >= EXTENDED_TIMESTAMP
        ext_bytes = struct.pack(">I", field_value) if extended else b""
        header = bytearray(basic_header(fmt, csid))
        header += (EXTENDED_TIMESTAMP if extended else field_value).to_bytes(3, "big")
        if fmt <= 1:
            header += len(payload).to_bytes(3, "big") + bytes([type_id])
        if fmt == 0:
            header += struct.pack("<I", stream_id)  # the only little-endian field in RTMP
        header += ext_bytes
        self._prev[csid] = _WriterState(
            timestamp, field_value if fmt else 0, len(payload), type_id, stream_id
        )

        out = bytearray(header)
        size = self.chunk_size
        out += payload[:size]
        continuation = basic_header(3, csid) + ext_bytes
        for start in range(size, len(payload), size):
            out += continuation
            out += payload[start : start + size]
        return bytes(out)
