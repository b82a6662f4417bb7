"""The simple RTMP handshake: C0+C1 -> S0+S1+S2 -> C2.

C1 carries zeros where the "digest" handshake puts a version, which tells nginx-rtmp,
FFmpeg's listen mode and the public ingests to use the plain scheme: each side echoes
the other's 1536 random bytes. H.264/AAC publishing never needs the digest variant.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from dataclasses import dataclass

from ionia.errors import ConnectionFailed
from ionia.rtmp.transport import Transport

__all__ = ["HANDSHAKE_SIZE", "RTMP_VERSION", "HandshakeResult", "handshake"]

log = logging.getLogger("ionia.rtmp")

RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536


@dataclass(frozen=True, kw_only=True)
class HandshakeResult:
    #: bytes written to the socket (C0 + C1 + C2)
    bytes_sent: int
    #: bytes read from the socket (S0 + S1 + S2)
    bytes_received: int
    #: the server's epoch from S1 (milliseconds, arbitrary origin)
    server_time: int
    #: the 4 bytes after the epoch in S1: zero for simple servers, a version for digest ones
    server_version: bytes


def handshake(transport: Transport, deadline: float) -> HandshakeResult:
    """Run the client side of the simple handshake on a connected transport, all before the
    monotonic ``deadline``; raises ConnectionFailed."""
    epoch = int(time.monotonic() * 1000) & 0xFFFFFFFF
    c1 = struct.pack(">II", epoch, 0) + os.urandom(HANDSHAKE_SIZE - 8)
    # Counted in the result, whole: the session's byte counters start after the handshake.
    transport.send(bytes([RTMP_VERSION]) + c1, deadline, progress=_uncounted)

    s0s1 = transport.receive_exact(1 + HANDSHAKE_SIZE, deadline, "the RTMP handshake reply (S0+S1)")
    if s0s1[0] != RTMP_VERSION:
        raise ConnectionFailed(
            f"the server answered the RTMP handshake with version {s0s1[0]}, expected "
            f"{RTMP_VERSION} (is this an RTMP server? rtmps:// needs TLS)"
        )
    s1 = s0s1[1:]
    server_time, version = struct.unpack(">I", s1[:4])[0], s1[4:8]

    # C2 echoes S1: its time, the time we read it, and its random bytes.
    read_at = int(time.monotonic() * 1000) & 0xFFFFFFFF
    c2 = s1[:4] + struct.pack(">I", read_at) + s1[8:]
    transport.send(c2, deadline, progress=_uncounted)

    s2 = transport.receive_exact(HANDSHAKE_SIZE, deadline, "the RTMP handshake reply (S2)")
    # S2 should echo C1; some servers do not bother, and nothing depends on it.
    if s2[8:] != c1[8:]:
        log.debug("rtmp: S2 does not echo C1 (harmless)")
    log.debug("rtmp: handshake done, server version bytes %s", version.hex())
    return HandshakeResult(
        bytes_sent=1 + 2 * HANDSHAKE_SIZE,
        bytes_received=1 + 2 * HANDSHAKE_SIZE,
        server_time=server_time,
        server_version=version,
    )


def _uncounted(sent: int) -> None:
    pass
