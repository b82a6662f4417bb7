from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ionia.rtmp import amf0
from ionia.rtmp.chunk import EXTENDED_TIMESTAMP, ChunkWriter, basic_header
from ionia.rtmp.chunk_reader import ChunkError, ChunkReader
from ionia.rtmp.message import Message, MessageType, set_chunk_size


def msg(csid: int, timestamp: int, payload: bytes, type_id: int = 9, stream_id: int = 1) -> Message:
    return Message(
        csid=csid, type_id=type_id, stream_id=stream_id, timestamp=timestamp, payload=payload
    )


def round_trip(messages: list[Message], chunk_size: int, compress: bool = True) -> list[Message]:
    writer = ChunkWriter(chunk_size, compress=compress)
    reader = ChunkReader(chunk_size)
    wire = b"".join(
        writer.serialize(m.csid, m.type_id, m.stream_id, m.timestamp, m.payload) for m in messages
    )
    return reader.feed(wire)


@pytest.mark.parametrize(
    ("csid", "size"), [(2, 1), (63, 1), (64, 2), (319, 2), (320, 3), (65599, 3)]
)
def test_basic_header_sizes(csid: int, size: int) -> None:
    header = basic_header(1, csid)
    assert len(header) == size
    assert header[0] >> 6 == 1
    [back] = round_trip([msg(csid, 0, b"x")], 128)
    assert back.csid == csid


def test_basic_header_golden() -> None:
    assert basic_header(0, 3) == b"\x03"
    assert basic_header(3, 6) == b"\xc6"
    assert basic_header(0, 64) == b"\x00\x00"
    assert basic_header(1, 320) == b"\x41\x00\x01"
    with pytest.raises(ValueError):
        basic_header(0, 1)


@pytest.mark.parametrize("chunk_size", [128, 4096])
def test_splitting_at_chunk_size(chunk_size: int) -> None:
    payload = bytes(range(256)) * 40  # 10240 bytes
    data = ChunkWriter(chunk_size).serialize(6, MessageType.VIDEO, 1, 1000, payload)
    chunks = -(-len(payload) // chunk_size)
    assert len(data) == 12 + len(payload) + (chunks - 1)  # fmt 0 + one byte per continuation
    assert data[12 + chunk_size] == 0xC6  # fmt 3, csid 6
    assert round_trip([msg(6, 1000, payload)], chunk_size) == [msg(6, 1000, payload)]


def test_golden_fmt0_header() -> None:
    data = ChunkWriter().serialize(3, MessageType.COMMAND_AMF0, 0, 0, b"abc")
    assert data == b"\x03" + bytes(3) + b"\x00\x00\x03\x14" + bytes(4) + b"abc"
    data = ChunkWriter().serialize(4, MessageType.AUDIO, 1, 0x123456, b"z")
    assert data == b"\x04\x12\x34\x56\x00\x00\x01\x08\x01\x00\x00\x00z"  # stream id little-endian


def test_header_compression() -> None:
    writer = ChunkWriter()
    first = writer.serialize(6, 9, 1, 100, b"aaaa")
    same_shape = writer.serialize(6, 9, 1, 133, b"bbbb")
    other_len = writer.serialize(6, 9, 1, 166, b"cc")
    backwards = writer.serialize(6, 9, 1, 150, b"dd")
    assert first[0] >> 6 == 0
    assert same_shape == b"\x86\x00\x00\x21bbbb"  # fmt 2: delta 33
    assert other_len[0] >> 6 == 1
    assert backwards[0] >> 6 == 0  # deltas never go negative


def test_extended_timestamp_is_repeated_on_continuations() -> None:
    ts = 0x01234567
    data = ChunkWriter(128).serialize(6, 9, 1, ts, bytes(300))
    ext = struct.pack(">I", ts)
    assert data[1:4] == b"\xff\xff\xff"
    assert data[12:16] == ext
    assert data[16 + 128 : 16 + 128 + 5] == b"\xc6" + ext
    assert data[16 + 128 + 5 + 128 : 16 + 128 + 5 + 128 + 5] == b"\xc6" + ext
    assert len(data) == 16 + 300 + 2 * 5


@pytest.mark.parametrize("compress", [True, False])
def test_timestamps_crossing_the_24_bit_limit(compress: bool) -> None:
    start = EXTENDED_TIMESTAMP - 100
    messages = [msg(6, start + i * 33, bytes(500 + i)) for i in range(10)]
    assert round_trip(messages, 128, compress) == messages


def test_32_bit_wrap() -> None:
    messages = [msg(4, 2**32 - 20, b"a"), msg(4, 2**32 + 3, b"b")]
    back = round_trip(messages, 128)
    assert [m.timestamp for m in back] == [2**32 - 20, 3]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([2, 3, 4, 6, 70, 400]),
            st.integers(0, 2**32 - 1),
            st.binary(max_size=600),
            st.sampled_from([8, 9, 18, 20]),
            st.integers(0, 3),
        ),
        max_size=12,
    ),
    st.sampled_from([1, 128, 4096]),
    st.booleans(),
    st.integers(1, 50),
)
def test_round_trip_any_split(
    specs: list[tuple[int, int, bytes, int, int]], chunk_size: int, compress: bool, piece: int
) -> None:
    messages = [msg(c, t, p, k, s) for c, t, p, k, s in specs]
    writer = ChunkWriter(chunk_size, compress=compress)
    wire = b"".join(
        writer.serialize(m.csid, m.type_id, m.stream_id, m.timestamp, m.payload) for m in messages
    )
    reader = ChunkReader(chunk_size)
    got: list[Message] = []
    for i in range(0, len(wire), piece):  # arbitrary TCP segmentation
        got += reader.feed(wire[i : i + piece])
    assert got == messages


def test_reader_honours_set_chunk_size_in_the_same_buffer() -> None:
    writer = ChunkWriter(128)
    wire = writer.serialize(2, MessageType.SET_CHUNK_SIZE, 0, 0, set_chunk_size(4096))
    writer.chunk_size = 4096
    big = bytes(range(256)) * 16
    wire += writer.serialize(3, MessageType.COMMAND_AMF0, 0, 0, big)
    reader = ChunkReader()
    _control, command = reader.feed(wire)
    assert reader.chunk_size == 4096
    assert command.payload == big


def test_abort_drops_a_partial_message() -> None:
    writer = ChunkWriter(128)
    partial = writer.serialize(6, 9, 1, 0, bytes(300))[: 12 + 128 + 1 + 128]  # 2 of 3 chunks
    abort = ChunkWriter(128).serialize(2, MessageType.ABORT, 0, 0, struct.pack(">I", 6))
    reader = ChunkReader(128)
    assert reader.feed(partial) == []
    [aborted] = reader.feed(abort)
    assert aborted.type_id == MessageType.ABORT
    assert reader.feed(ChunkWriter(128).serialize(6, 9, 1, 7, b"new")) == [msg(6, 7, b"new")]


def test_fmt3_new_message_repeats_the_delta() -> None:
    wire = ChunkWriter().serialize(4, 8, 1, 0, b"a")  # fmt 0 at 0
    wire += b"\x84\x00\x00\x14" + b"b"  # fmt 2, delta 20
    wire += b"\xc4" + b"c"  # fmt 3: same length, type, delta
    assert [m.timestamp for m in ChunkReader().feed(wire)] == [0, 20, 40]


# A chunk stream may start with fmt 1, 2 or 3 (some ingests do; FFmpeg and librtmp read
# the missing fields as zero). This replaces the old strict "must start with fmt 0" test.


def test_fmt1_first_chunk_takes_stream_id_and_timestamp_base_as_zero() -> None:
    wire = b"\x46" + b"\x00\x00\x21" + b"\x00\x00\x03" + b"\x14" + b"abc"  # delta 33
    wire += b"\x86\x00\x00\x0a" + b"def"  # fmt 2: same length and type, delta 10
    assert ChunkReader().feed(wire) == [
        msg(6, 33, b"abc", type_id=MessageType.COMMAND_AMF0, stream_id=0),
        msg(6, 43, b"def", type_id=MessageType.COMMAND_AMF0, stream_id=0),
    ]


def test_fmt1_first_chunk_with_continuations_and_extended_timestamp() -> None:
    payload = bytes(range(200))
    ext = struct.pack(">I", 0x01000000)
    wire = b"\x44\xff\xff\xff" + len(payload).to_bytes(3, "big") + b"\x08" + ext
    wire += payload[:128] + b"\xc4" + ext + payload[128:]
    assert ChunkReader().feed(wire) == [msg(4, 0x01000000, payload, type_id=8, stream_id=0)]


@pytest.mark.parametrize(
    ("wire", "timestamp"), [(b"\x86\x00\x00\x21", 33), (b"\xc6", 0)], ids=["fmt2", "fmt3"]
)
def test_fmt2_or_fmt3_first_chunk_is_an_empty_message(wire: bytes, timestamp: int) -> None:
    """Length and type are zero too: an empty message of type 0 (FFmpeg reads the same),
    and the stream goes on."""
    after = ChunkWriter().serialize(3, MessageType.COMMAND_AMF0, 0, 5, b"next")
    assert ChunkReader().feed(wire + after) == [
        msg(6, timestamp, b"", type_id=0, stream_id=0),
        msg(3, 5, b"next", type_id=MessageType.COMMAND_AMF0, stream_id=0),
    ]


def test_we_always_start_a_chunk_stream_with_fmt0() -> None:
    """Lenient in what we accept, strict in what we send."""
    writer = ChunkWriter()
    for csid in (2, 3, 70, 400):
        assert writer.serialize(csid, 9, 1, 50, b"x")[0] >> 6 == 0


def test_set_chunk_size_zero_is_an_error() -> None:
    for value in (0, 0x80000000):  # the top bit is reserved: 0x80000000 is 0 too
        wire = ChunkWriter().serialize(
            2, MessageType.SET_CHUNK_SIZE, 0, 0, struct.pack(">I", value)
        )
        with pytest.raises(ChunkError, match=f"an invalid chunk size {value}"):
            ChunkReader().feed(wire)
    reader = ChunkReader()
    reader.feed(ChunkWriter().serialize(2, MessageType.SET_CHUNK_SIZE, 0, 0, set_chunk_size(1)))
    assert reader.chunk_size == 1
    reader.feed(
        ChunkWriter(1).serialize(2, MessageType.SET_CHUNK_SIZE, 0, 0, set_chunk_size(0x7FFFFFFF))
    )
    assert reader.chunk_size == 0xFFFFFF  # larger never helps: lengths are 24-bit


def test_golden_nginx_connect_reply() -> None:
    # What nginx-rtmp 1.2 sent after our connect (captured on loopback): window ack size,
    # set peer bandwidth, set chunk size 4096, then the _result.
    wire = bytes.fromhex(
        "020000000000040500000000004c4b40"
        "020000000000050600000000004c4b4002"
        "02000000000004010000000000001000"
        "030000000000be14000000000200075f726573756c74003ff0000000000000030006666d73566572"
        "02000d464d532f332c302c312c313233000c6361706162696c697469657300403f00000000000000"
        "00090300056c6576656c0200067374617475730004636f646502001d4e6574436f6e6e656374696f"
        "6e2e436f6e6e6563742e53756363657373000b6465736372697074696f6e020015436f6e6e656374"
        "696f6e207375636365656465642e000e6f626a656374456e636f64696e6700000000000000000000"
        "0009"
    )
    reader = ChunkReader()
    ack, bandwidth, chunk_size, result = reader.feed(wire)
    assert (ack.type_id, ack.payload) == (MessageType.WINDOW_ACK_SIZE, b"\x00\x4c\x4b\x40")
    assert bandwidth.type_id == MessageType.SET_PEER_BANDWIDTH
    assert bandwidth.payload == b"\x00\x4c\x4b\x40\x02"  # 5000000, dynamic
    assert chunk_size.type_id == MessageType.SET_CHUNK_SIZE and reader.chunk_size == 4096
    name, tid, props, info = amf0.decode(result.payload)
    assert (name, tid, props["fmsVer"]) == ("_result", 1.0, "FMS/3,0,1,123")
    assert info["code"] == "NetConnection.Connect.Success"
