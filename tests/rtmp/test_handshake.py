"""The handshake against a scripted peer on a real socket pair (nginx runs it in test_client)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ionia.errors import ConnectionFailed
from ionia.rtmp.handshake import HANDSHAKE_SIZE, handshake
from ionia.rtmp.transport import Transport

Server = Callable[[socket.socket], None]


@pytest.fixture
def pair() -> Iterator[Callable[[Server], Transport]]:
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []

    def start(server: Server) -> Transport:
        client, peer = socket.socketpair()
        sockets.extend([client, peer])
        thread = threading.Thread(target=server, args=(peer,), name="fake-rtmp", daemon=True)
        thread.start()
        threads.append(thread)
        return Transport(client, io_timeout=2.0)

    yield start
    for client in sockets[0::2]:
        client.close()  # the scripted peer sees EOF and ends
    for thread in threads:
        thread.join(2)
    for peer in sockets[1::2]:
        peer.close()


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_simple_handshake_echoes(pair: Callable[[Server], Transport]) -> None:
    seen: dict[str, bytes] = {}
    s1 = b"\x00\x00\x10\x00" + bytes(4) + os.urandom(HANDSHAKE_SIZE - 8)

    def server(peer: socket.socket) -> None:
        c0c1 = recv_exactly(peer, 1 + HANDSHAKE_SIZE)
        seen["c0c1"] = c0c1
        peer.sendall(b"\x03" + s1 + c0c1[1:])  # S0 S1 S2(=C1)
        recv_exactly(peer, HANDSHAKE_SIZE)

    result = handshake(pair(server), time.monotonic() + 2)
    assert seen["c0c1"][0] == 3
    assert seen["c0c1"][5:9] == bytes(4)  # zero version: the simple scheme
    assert result.server_time == 0x1000
    assert result.bytes_sent == result.bytes_received == 3073


def test_c2_echoes_s1(pair: Callable[[Server], Transport]) -> None:
    s1 = b"\x00\x00\x00\x07" + bytes(4) + os.urandom(HANDSHAKE_SIZE - 8)
    done = threading.Event()
    c2: list[bytes] = []

    def server(peer: socket.socket) -> None:
        c0c1 = recv_exactly(peer, 1 + HANDSHAKE_SIZE)
        peer.sendall(b"\x03" + s1)
        c2.append(recv_exactly(peer, HANDSHAKE_SIZE))
        peer.sendall(c0c1[1:])
        done.set()

    handshake(pair(server), time.monotonic() + 2)
    assert done.wait(2)
    assert c2[0][:4] == s1[:4] and c2[0][8:] == s1[8:]


def test_wrong_version_is_reported(pair: Callable[[Server], Transport]) -> None:
    def server(peer: socket.socket) -> None:
        recv_exactly(peer, 1 + HANDSHAKE_SIZE)
        peer.sendall(b"\x16" + bytes(HANDSHAKE_SIZE))  # e.g. a TLS server

    with pytest.raises(ConnectionFailed, match="version 22"):
        handshake(pair(server), time.monotonic() + 2)


def test_server_closing_is_reported(pair: Callable[[Server], Transport]) -> None:
    def server(peer: socket.socket) -> None:
        recv_exactly(peer, 1 + HANDSHAKE_SIZE)
        peer.sendall(b"\x03" + bytes(100))
        peer.shutdown(socket.SHUT_WR)

    with pytest.raises(ConnectionFailed, match="closed by server"):
        handshake(pair(server), time.monotonic() + 2)


def test_silent_server_times_out(pair: Callable[[Server], Transport]) -> None:
    def server(peer: socket.socket) -> None:
        recv_exactly(peer, 1 + HANDSHAKE_SIZE)

    started = time.monotonic()
    with pytest.raises(ConnectionFailed, match="timed out"):
        handshake(pair(server), time.monotonic() + 0.3)
    assert time.monotonic() - started < 1
