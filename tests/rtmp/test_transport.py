"""The transport's reads on a real socket pair."""

from __future__ import annotations

import socket
import time

import pytest

from ionia.rtmp.transport import LinkError, Transport


def test_receive_exact_reads_no_byte_past_what_it_was_asked() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        transport = Transport(ours, io_timeout=1.0)
        peer.sendall(b"abc" + b"def" + b"rest")
        deadline = time.monotonic() + 1.0
        assert transport.receive_exact(3, deadline, "the first block") == b"abc"
        assert transport.receive_exact(3, deadline, "the second block") == b"def"
        assert transport.receive(deadline, "the rest") == b"rest"


def test_receive_exact_names_what_it_waited_for() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        transport = Transport(ours, io_timeout=1.0)
        with pytest.raises(LinkError, match="timed out waiting for the reply") as timed_out:
            transport.receive_exact(4, time.monotonic() + 0.1, "the reply")
        assert timed_out.value.timed_out
        peer.sendall(b"ab")
        peer.shutdown(socket.SHUT_WR)
        with pytest.raises(LinkError, match="closed by server while waiting for the reply"):
            transport.receive_exact(4, time.monotonic() + 1.0, "the reply")
