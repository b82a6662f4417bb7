"""The reading side of the chunk stream (see :mod:`ionia.rtmp.chunk` for the format):
chunks from the peer put back together into messages, within bounds on what it can make
us hold."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ionia.rtmp.chunk import DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CHUNK_SIZE
from ionia.rtmp.message import TIMESTAMP_MOD, Message, MessageType

__all__ = [
    "MAX_CHUNK_STREAMS",
    "MAX_MESSAGE_BYTES",
    "MAX_PARTIAL_BYTES",
    "MAX_UNPARSED_BYTES",
    "ChunkError",
    "ChunkReader",
    "format_size",
]

KiB = 1024
MiB = 1024 * KiB

# What a peer may make the reader hold. The defaults fit the client: a publisher only
# receives small control and command messages, never media.
#: largest message accepted (a connect _result or onStatus is well under 1 KiB)
MAX_MESSAGE_BYTES = 1 * MiB
#: bytes of unfinished messages across all chunk streams (a peer starting messages it
#: never finishes must not grow our memory, even within MAX_MESSAGE_BYTES each)
MAX_PARTIAL_BYTES = 4 * MiB
#: chunk streams with state (servers use 2-8; every one costs a header state)
MAX_CHUNK_STREAMS = 64
#: unparsed input (one chunk waiting for its last bytes: at most a whole message and its
#: header, plus one socket read)
MAX_UNPARSED_BYTES = MAX_MESSAGE_BYTES + 128 * KiB


class ChunkError(ValueError):
    """The peer sent something that is not a valid chunk stream, or more than a limit.

    The message names what it sent, as a noun phrase ("an invalid chunk size 0"), so that
    the session can say who sent it ("server sent an invalid chunk size 0").
    """


@dataclass
class _ReaderState:
    """What a chunk stream remembers from its last header (for fmt 1-3)."""

    timestamp: int = 0
    #: the last timestamp field (a delta, or for fmt 0 the absolute value), after extension
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    payload: bytearray = field(default_factory=bytearray)


class ChunkReader:
    """Incremental parser: feed it bytes as they arrive, get complete messages back.

    Set Chunk Size and Abort from the peer are applied here, because they change how the
    very next chunk in the same buffer must be parsed; they are still returned to the caller.

    Lenient like FFmpeg and librtmp: a chunk stream may start with a fmt 1, 2 or 3 header,
    its missing fields taken as zero. Bounded: past any of the limits (see the ``MAX_*``
    constants) :meth:`feed` raises :class:`ChunkError` and the reader is unusable.
    """

    def __init__(
        self,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        max_message: int = MAX_MESSAGE_BYTES,
        max_partial: int = MAX_PARTIAL_BYTES,
        max_streams: int = MAX_CHUNK_STREAMS,
        max_unparsed: int = MAX_UNPARSED_BYTES,
    ) -> None:
        self.chunk_size = chunk_size
        self.max_message = max_message
        self.max_partial = max_partial
        self.max_streams = max_streams
        self.max_unparsed = max_unparsed
        self._buf = bytearray()
        self._streams: dict[int, _ReaderState] = {}
        self._partial = 0  # bytes of unfinished messages, summed over every chunk stream

    @property
    def buffered(self) -> int:
        """Bytes held: unparsed input plus the payloads of unfinished messages."""
        return len(self._buf) + self._partial

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        messages: list[Message] = []
        pos = 0
        while True:
            parsed = self._parse_chunk(pos)
            if parsed is None:
                break
            pos, message = parsed
            if message is not None:
                self._apply_control(message)
                messages.append(message)
        del self._buf[:pos]
        if len(self._buf) > self.max_unparsed:
            size, limit = format_size(len(self._buf)), format_size(self.max_unparsed)
            raise ChunkError(f"an unfinished chunk of {size} (limit {limit})")
        return messages

    def _apply_control(self, message: Message) -> None:
        if message.csid != 2 or message.stream_id != 0 or len(message.payload) < 4:
            return
        (value,) = struct.unpack(">I", message.payload[:4])
        if message.type_id == MessageType.SET_CHUNK_SIZE:
            size = value & 0x7FFFFFFF  # the top bit is reserved
            if size < 1:
                raise ChunkError(f"an invalid chunk size {value}")
            self.chunk_size = min(size, MAX_CHUNK_SIZE)
        elif message.type_id == MessageType.ABORT:
            state = self._streams.get(value)
            if state is not None:
                self._partial -= len(state.payload)
                state.payload.clear()

    def _parse_chunk(self, pos: int) -> tuple[int, Message | None] | None:
        """Parse one chunk at ``pos``; None (and no state change) when it is incomplete."""
        buf = self._buf
        if pos >= len(buf):
            return None
        fmt, csid = buf[pos] >> 6, buf[pos] & 0x3F
        pos += 1
        if csid in (0, 1):
            width = csid + 1
            if pos + width > len(buf):
                return None
            csid = 64 + buf[pos] + (buf[pos + 1] << 8 if width == 2 else 0)
            pos += width
        state = self._streams.get(csid)
        if state is None:
            if len(self._streams) >= self.max_streams:
                raise ChunkError(f"messages on more than {self.max_streams} chunk streams")
            # A first chunk of fmt 1-3 takes the fields it lacks as zero, as FFmpeg
            # (ff_rtmp_packet_read_internal) and librtmp do: some ingests start that way.
            state = _ReaderState()
        header_len = (11, 7, 3, 0)[fmt]
        if pos + header_len > len(buf):
            return None
        ts_field = int.from_bytes(buf[pos : pos + 3], "big") if fmt <= 2 else 0
        extended = ts_field == EXTENDED_TIMESTAMP if fmt <= 2 else state.extended
        length, type_id, stream_id = state.length, state.type_id, state.stream_id
        if fmt <= 1:
            length = int.from_bytes(buf[pos + 3 : pos + 6], "big")
            type_id = buf[pos + 6]
        if fmt == 0:
            (stream_id,) = struct.unpack_from("<I", buf, pos + 7)
        pos += header_len
        if extended:
            if pos + 4 > len(buf):
                return None
            (ext_value,) = struct.unpack_from(">I", buf, pos)
            pos += 4
            if fmt <= 2:
                ts_field = ext_value
        # A full header in the middle of a message restarts it (the partial one is lost).
        starting = not state.payload or fmt <= 2
        if starting and length > self.max_message:
            # Refused on the header, before a byte of it is buffered.
            raise ChunkError(
                f"a {format_size(length)} message (limit {format_size(self.max_message)})"
            )
        remaining = length if starting else length - len(state.payload)
        take = min(remaining, self.chunk_size)
        if pos + take > len(buf):
            return None

        # The whole chunk is here: commit the header state.
        self._streams[csid] = state
        if starting:
            if fmt == 0:
                state.timestamp, state.delta = ts_field, ts_field
            else:
                if fmt <= 2:
                    state.delta = ts_field
                # fmt 3 starting a new message repeats the previous delta (as FFmpeg reads it)
                state.timestamp = (state.timestamp + state.delta) % TIMESTAMP_MOD
            state.length, state.type_id, state.stream_id = length, type_id, stream_id
            state.extended = extended
            self._partial -= len(state.payload)
            state.payload.clear()
        state.payload += buf[pos : pos + take]
        pos += take
        if len(state.payload) < state.length:
            self._partial += take
            if self._partial > self.max_partial:
                raise ChunkError(
                    f"{format_size(self._partial)} of unfinished messages "
                    f"(limit {format_size(self.max_partial)})"
                )
            return pos, None
        self._partial -= len(state.payload) - take
        message = Message(
            csid=csid,
            type_id=state.type_id,
            stream_id=state.stream_id,
            timestamp=state.timestamp,
            payload=bytes(state.payload),
        )
        state.payload.clear()
        return pos, message


def format_size(size: int) -> str:
    """``size`` bytes for a person: "300 bytes", "64 KiB", "16 MiB"."""
    for unit, scale in (("MiB", MiB), ("KiB", KiB)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"
