"""The ChunkReader's memory bounds: what a peer can make it hold, and the errors past them."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionia.rtmp.chunk import ChunkWriter, basic_header
from ionia.rtmp.chunk_reader import (
    MAX_CHUNK_STREAMS,
    MAX_MESSAGE_BYTES,
    MAX_PARTIAL_BYTES,
    MAX_UNPARSED_BYTES,
    ChunkError,
    ChunkReader,
    format_size,
)
from ionia.rtmp.message import MessageType, set_chunk_size


def first_chunk(csid: int, length: int, body: bytes, type_id: int = 9) -> bytes:
    """A fmt 0 chunk opening a ``length``-byte message with ``body`` (all or part of it)."""
    header = basic_header(0, csid) + bytes(3) + length.to_bytes(3, "big") + bytes([type_id])
    return header + struct.pack("<I", 1) + body


def reader_with_chunk_size(size: int) -> ChunkReader:
    """A reader told (as a peer would tell it) that chunks are ``size`` bytes."""
    reader = ChunkReader()
    reader.feed(ChunkWriter().serialize(2, 1, 0, 0, set_chunk_size(size)))
    assert reader.chunk_size == size
    return reader


def test_format_size() -> None:
    assert format_size(300) == "300 bytes"
    assert format_size(64 * 1024) == "64 KiB"
    assert format_size(0xFFFFFF) == "16 MiB"
    assert format_size(5 * 1000 * 1000) == "4.77 MiB"


def test_largest_message_is_accepted() -> None:
    payload = bytes(range(256)) * (MAX_MESSAGE_BYTES // 256)
    wire = ChunkWriter(4096).serialize(3, MessageType.COMMAND_AMF0, 0, 0, payload)
    reader = ChunkReader(4096)
    got = []
    for i in range(0, len(wire), 65536):
        got += reader.feed(wire[i : i + 65536])
    assert [m.payload for m in got] == [payload]
    assert reader.buffered == 0


def test_too_large_a_message_is_refused_on_its_header() -> None:
    # only the 12 header bytes: the reader says no before a byte of the payload arrives
    header = first_chunk(6, 0xFFFFFF, b"")
    with pytest.raises(ChunkError, match=r"^a 16 MiB message \(limit 1 MiB\)$"):
        ChunkReader().feed(header)
    with pytest.raises(ChunkError, match="message"):
        ChunkReader().feed(first_chunk(6, MAX_MESSAGE_BYTES + 1, b""))


def test_chunk_stream_count_is_bounded() -> None:
    reader = ChunkReader()
    wire = b"".join(first_chunk(csid, 1, b"x") for csid in range(2, 2 + MAX_CHUNK_STREAMS))
    assert len(reader.feed(wire)) == MAX_CHUNK_STREAMS
    # streams already known go on working, a new one is refused
    assert reader.feed(first_chunk(2, 1, b"y"))[0].payload == b"y"
    with pytest.raises(ChunkError, match=f"^messages on more than {MAX_CHUNK_STREAMS} chunk"):
        reader.feed(first_chunk(2 + MAX_CHUNK_STREAMS, 1, b"z"))


def test_unfinished_messages_are_bounded_in_total() -> None:
    part = MAX_MESSAGE_BYTES - 1  # each under the message limit, never finished
    reader = reader_with_chunk_size(part)
    streams = MAX_PARTIAL_BYTES // part
    for csid in range(3, 3 + streams):
        assert reader.feed(first_chunk(csid, MAX_MESSAGE_BYTES, bytes(part))) == []
    assert reader.buffered == streams * part <= MAX_PARTIAL_BYTES
    with pytest.raises(ChunkError, match=r"of unfinished messages \(limit 4 MiB\)$"):
        reader.feed(first_chunk(3 + streams, MAX_MESSAGE_BYTES, bytes(part)))


def test_partial_accounting_follows_completion_restart_and_abort() -> None:
    reader = reader_with_chunk_size(300_000)
    for _ in range(20):  # would pass MAX_PARTIAL_BYTES if finished messages stayed counted
        reader.feed(first_chunk(3, 600_000, bytes(300_000)))
        assert reader.buffered == 300_000
        reader.feed(first_chunk(3, 600_000, bytes(300_000)))  # fmt 0 again: a restart
        assert reader.buffered == 300_000
        [done] = reader.feed(basic_header(3, 3) + bytes(300_000))
        assert len(done.payload) == 600_000 and reader.buffered == 0
        reader.feed(first_chunk(4, 600_000, bytes(300_000)))
        assert reader.buffered == 300_000
        abort = ChunkWriter().serialize(2, MessageType.ABORT, 0, 0, struct.pack(">I", 4))
        reader.feed(abort)
        assert reader.buffered == 0


def test_unparsed_input_is_bounded() -> None:
    reader = ChunkReader(4096, max_unparsed=1000)
    reader.feed(first_chunk(6, 5000, bytes(900)))  # 912 bytes waiting: fine
    with pytest.raises(ChunkError, match=r"^an unfinished chunk of 1012 bytes \(limit 1000"):
        reader.feed(bytes(100))
    assert MAX_UNPARSED_BYTES > MAX_MESSAGE_BYTES + 18  # the default holds any legal chunk


def test_endless_partials_stay_bounded() -> None:
    """What the audit's server did: first chunks of long messages on ever new chunk streams
    (here under the message limit, so the other limits must hold)."""
    reader = ChunkReader(4096)
    chunk = bytes(4096)
    with pytest.raises(ChunkError, match="chunk streams"):
        for csid in range(3, 65599):
            reader.feed(first_chunk(csid, MAX_MESSAGE_BYTES, chunk))
            assert reader.buffered <= MAX_PARTIAL_BYTES + MAX_UNPARSED_BYTES
    assert csid == 3 + MAX_CHUNK_STREAMS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([1, 128, 4096]), st.integers(1, 300))
def test_arbitrary_bytes_raise_only_chunk_error(data: bytes, chunk_size: int, piece: int) -> None:
    reader = ChunkReader(chunk_size)
    try:
        for i in range(0, len(data), piece):
            reader.feed(data[i : i + piece])
            assert reader.buffered <= MAX_PARTIAL_BYTES + MAX_UNPARSED_BYTES
    except ChunkError:
        pass
