"""RtmpClient against servers that complete the handshake and then misbehave: whatever they
send, the only error out of the client is a ConnectionFailed naming the server's fault, soon,
and in bounded memory."""

from __future__ import annotations

import math
import socket
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ionia.errors import ConnectionFailed
from ionia.rtmp import amf0
from ionia.rtmp.chunk import EXTENDED_TIMESTAMP, ChunkWriter, basic_header
from ionia.rtmp.client import RtmpClient
from ionia.rtmp.message import MessageType
from ionia.rtmp.transport import Transport
from ionia.rtmp.url import parse_rtmp_url
from tests.fixtures.hostile_server import BAD_STREAM_IDS, HostileServer, deep_status

KEY = "hostile-KEY-9876"
pytestmark = pytest.mark.timeout(20)

#: a server's misbehaviour must end the session within this long
NOTICE_S = 2.0
AFTER_S = 0.3
BREAKERS = ["chunk-size-0", "garbage", "deep-amf", "endless-partials"]
#: what the error says, per behaviour ("" where random bytes decide which rule breaks first)
FAULTS = {
    "chunk-size-0": "server sent an invalid chunk size 0",
    "garbage": "server sent ",
    "deep-amf": "server sent an AMF0 value nested deeper than 64 levels",
    "endless-partials": "server sent a 16 MiB message (limit 1 MiB)",
    "stream-id--1": "server sent an invalid stream id -1 ",
    "stream-id-1e300": "server sent an invalid stream id 1e+300 ",
    "stream-id-2**32": "server sent an invalid stream id 4294967296 ",
}
_INTER_FRAME = bytes([0x27, 1, 0, 0, 0]) + bytes(200)  # nobody decodes it


def stream_until_lost(client: RtmpClient, limit_s: float) -> ConnectionFailed:
    """Send video and poll until the session is lost (or fail after ``limit_s``)."""
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as caught:
        while time.monotonic() - started < limit_s:
            client.send_video(int((time.monotonic() - started) * 1000), _INTER_FRAME)
            client.poll(timeout=0.02)
    return caught.value


def assert_servers_fault(exc: BaseException, fault: str) -> None:
    assert type(exc) is ConnectionFailed, repr(exc)
    message = str(exc)
    assert fault in message, message
    assert KEY not in message and "****" in message


@pytest.mark.parametrize("behaviour", [*BREAKERS, *BAD_STREAM_IDS])
def test_misbehaving_at_connect(
    hostile_server: Callable[..., HostileServer], behaviour: str
) -> None:
    server = hostile_server(behaviour, when="connect")
    client = RtmpClient(parse_rtmp_url(server.url(KEY)))
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as caught:
        client.connect()
    assert time.monotonic() - started < NOTICE_S
    assert_servers_fault(caught.value, FAULTS[behaviour])
    assert not client.connected
    client.close()


@pytest.mark.parametrize("behaviour", BREAKERS)
def test_misbehaving_live(hostile_server: Callable[..., HostileServer], behaviour: str) -> None:
    server = hostile_server(behaviour, when="live", after_s=AFTER_S)
    client = RtmpClient(parse_rtmp_url(server.url(KEY)))
    client.connect()
    started = time.monotonic()
    lost = stream_until_lost(client, AFTER_S + NOTICE_S)
    assert time.monotonic() - started >= AFTER_S * 0.9  # it was fine until the server turned
    [misbehaved] = server.misbehaved_at
    assert time.monotonic() - misbehaved < NOTICE_S
    assert_servers_fault(lost, FAULTS[behaviour])
    assert not client.connected
    with pytest.raises(ConnectionFailed):  # the session stays lost
        client.send_video(0, _INTER_FRAME)
    client.close(timeout=0.2)


@pytest.mark.parametrize("behaviour", ["garbage", "deep-amf", "stream-id-1e300"])
def test_misbehaving_after_a_reconnect(
    hostile_server: Callable[..., HostileServer], behaviour: str
) -> None:
    server = hostile_server(behaviour, when="reconnect", after_s=AFTER_S)
    first = RtmpClient(parse_rtmp_url(server.url(KEY)))
    first.connect()
    lost = stream_until_lost(first, AFTER_S + NOTICE_S)  # reset by the server
    assert type(lost) is ConnectionFailed and "server sent" not in str(lost)
    first.close(timeout=0.2)
    second = RtmpClient(parse_rtmp_url(server.url(KEY)))
    with pytest.raises(ConnectionFailed) as caught:
        second.connect()
    assert_servers_fault(caught.value, FAULTS[behaviour])
    assert server.connections == 2


def test_endless_partials_take_bounded_memory(
    hostile_server: Callable[..., HostileServer],
) -> None:
    """The audit's server grew a client by 20 MB/s; here the whole session, the server's
    flood included (same process), stays within a few MiB."""
    server = hostile_server("endless-partials", when="live", after_s=AFTER_S)
    client = RtmpClient(parse_rtmp_url(server.url(KEY)))
    tracemalloc.start()
    try:
        client.connect()
        lost = stream_until_lost(client, AFTER_S + NOTICE_S)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_servers_fault(lost, FAULTS["endless-partials"])
    assert peak < 8 * 1024 * 1024
    client.close(timeout=0.2)


def test_fmt1_first_server_is_no_fault(hostile_server: Callable[..., HostileServer]) -> None:
    """The quirky-but-valid ingest: no fmt 0 header at all, pings every second."""
    server = hostile_server("fmt1-first")
    with RtmpClient(parse_rtmp_url(server.url(KEY))) as client:
        client.connect()
        assert client.server_info["code"] == "NetConnection.Connect.Success"
        received = client.bytes_received
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            client.send_video(0, _INTER_FRAME)
            client.poll(timeout=0.05)
        assert client.connected and client.bytes_received > received  # a ping, answered


# -- property: nothing but ConnectionFailed, whatever arrives after the handshake ---------


@pytest.fixture
def after_handshake() -> Iterator[Callable[[], tuple[RtmpClient, socket.socket]]]:
    """Factory of publishing clients whose server end is a socket the test writes to."""
    made: list[tuple[RtmpClient, socket.socket]] = []

    def make() -> tuple[RtmpClient, socket.socket]:
        ours, theirs = socket.socketpair()
        client = RtmpClient(parse_rtmp_url(f"rtmp://127.0.0.1/live/{KEY}"))
        client._transport = Transport(ours, io_timeout=1.0)
        client.connected, client.stream_id = True, 1
        made.append((client, theirs))
        return client, theirs

    yield make
    for client, theirs in made:
        client.abort()
        theirs.close()


def _header(fmt: int, csid: int, ts: int, length: int, type_id: int, stream_id: int) -> bytes:
    out = basic_header(fmt, csid)
    if fmt <= 2:
        out += min(ts, EXTENDED_TIMESTAMP).to_bytes(3, "big")
    if fmt <= 1:
        out += length.to_bytes(3, "big") + bytes([type_id])
    if fmt == 0:
        out += struct.pack("<I", stream_id)
    if fmt <= 2 and ts >= EXTENDED_TIMESTAMP:
        out += struct.pack(">I", ts)
    return out


u32 = st.integers(0, 2**32 - 1)
numbers = st.one_of(
    st.floats(), st.sampled_from([-1.0, 0.0, 1e300, 2.0**32, math.inf]), st.integers(-5, 5)
)
# Keys never include "level": an onStatus of level "error" is a rejection, not a parse fault.
infos = st.dictionaries(
    st.sampled_from(["code", "description", "fmsVer", "x", ""]),
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20)),
    max_size=4,
)
commands = st.builds(
    lambda name, tid, args: amf0.encode(name, tid, *args),
    st.sampled_from(["_result", "onStatus", "onBWDone", "_checkbw", "close", ""]),
    numbers,
    st.lists(st.one_of(st.none(), numbers, infos, st.lists(numbers, max_size=3)), max_size=3),
)
payloads = st.one_of(
    st.binary(max_size=300),
    commands,
    u32.map(lambda v: struct.pack(">I", v)),  # chunk size, abort, ack, window
    st.builds(lambda e, v: struct.pack(">HI", e, v), st.integers(0, 7), u32),  # user control
    st.just(deep_status()),
)
chunks = st.builds(
    lambda header, payload, cut: header + payload[:cut],
    st.builds(
        _header,
        st.integers(0, 3),
        st.one_of(st.sampled_from([2, 3, 4, 5, 63, 64, 319, 320, 65599]), st.integers(2, 65599)),
        st.one_of(st.integers(0, 100), st.integers(0, 2**32 - 1)),
        st.one_of(st.integers(0, 400), st.integers(0, 2**21), st.just(0xFFFFFF)),
        st.one_of(st.sampled_from(list(MessageType)), st.integers(0, 255)),
        u32,
    ),
    payloads,
    st.integers(0, 10_000),
)
#: whole messages, chunked as a server would (at the default chunk size)
messages = st.builds(
    lambda csid, type_id, stream_id, ts, payload: ChunkWriter().serialize(
        csid, type_id, stream_id, ts, payload
    ),
    st.sampled_from([3, 4, 5, 8, 400]),
    st.sampled_from([MessageType.COMMAND_AMF0, MessageType.COMMAND_AMF3, 18, 9]),
    u32,
    st.integers(0, 2**32 - 1),
    payloads,
)
controls = st.builds(
    lambda type_id, value: ChunkWriter().serialize(2, type_id, 0, 0, struct.pack(">I", value)),
    st.sampled_from([1, 2, 3, 5]),  # set chunk size, abort, ack, window ack size
    st.one_of(st.sampled_from([0, 1, 64, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]), u32),
)
#: first chunks of unfinished messages on ever new chunk streams
partials = st.builds(
    lambda first, count, length: b"".join(
        _header(0, csid, 0, length, 9, 1) + bytes(min(length, 128))
        for csid in range(first, first + count)
    ),
    st.integers(2, 1000),
    st.integers(1, 80),
    st.sampled_from([129, 100_000, 2**20, 2**20 + 1]),
)
wires = st.lists(
    st.one_of(chunks, messages, controls, partials, st.binary(max_size=40)), max_size=16
).map(b"".join)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.one_of(st.binary(max_size=3000), wires))
def test_only_connection_failed_escapes(
    after_handshake: Callable[[], tuple[RtmpClient, socket.socket]], data: bytes
) -> None:
    client, server_end = after_handshake()
    server_end.sendall(data)
    try:
        client.poll()
        client.poll()
    except ConnectionFailed as exc:
        assert_servers_fault(exc, "server sent ")
