"""The byte pipe under an RTMP session: one TCP connection, optionally TLS, where every wait
has a deadline or a stall timeout.

Threading: every method except :meth:`Transport.close` belongs to one thread (the sender).
``close`` may be called from any thread to make a blocked send or receive return at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable

from ionia.errors import ConfigError, ConnectionFailed
from ionia.redact import redact

__all__ = ["LinkError", "Transport", "tls_context"]

log = logging.getLogger("ionia.rtmp")

RECV_SIZE = 65536
_STOPPED_READING = "the server stopped reading (no acknowledgement, and the send is blocked)"


class LinkError(ConnectionFailed):
    """A send or receive failed. The message is the bare reason, for the session to prefix
    with the URL; ``timed_out`` tells a deadline or a stall from a broken connection."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


def tls_context(*, verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """The client context for rtmps://; raises ConfigError for an unreadable ``ca_file``."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            # In addition to the system CAs: a private CA must not hide the public ones.
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the CA file {ca_file!r}: {exc}") from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Transport:
    """One connected socket (plain or TLS) and the timeouts of every call on it."""

    def __init__(self, sock: socket.socket, *, io_timeout: float) -> None:
        #: the connected socket; the RTMP handshake runs on it directly
        self.sock = sock
        #: how long a send may make no progress at all before the link counts as lost
        self.io_timeout = io_timeout

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        deadline: float,
        *,
        tls: ssl.SSLContext | None,
        send_buffer_bytes: int,
        io_timeout: float,
    ) -> Transport:
        """Connect to the first address of ``host`` that answers (and run the TLS handshake
        with ``tls``) before the monotonic ``deadline``, or raise ConnectionFailed."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ConnectionFailed(f"cannot resolve host {host!r}: {exc.strerror}") from None
        error, refused = "no address", True
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                # Before connect(), so the kernel never advertises or grows past our bound.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                sock.connect(address)
            except TimeoutError:
                sock.close()
                error, refused = f"timed out connecting to {host}:{port}", False
                continue
            except ConnectionRefusedError:
                sock.close()
                error = f"connection refused by {host}:{port} (is the ingest server running?)"
                continue
            except OSError as exc:
                sock.close()
                error, refused = f"cannot connect to {host}:{port}: {exc.strerror or exc}", False
                continue
            if tls is not None:
                sock = _wrap_tls(sock, tls, host, deadline)
            return cls(sock, io_timeout=io_timeout)
        raise ConnectionFailed(error, refused=refused and bool(infos))

    def send(
        self,
        data: bytes,
        deadline: float | None,
        *,
        progress: Callable[[int], object],
        stall_at: float | None = None,
    ) -> None:
        """Send all of ``data`` before ``deadline``; without one, only a stall of
        ``io_timeout`` fails. ``progress`` gets each partial count as it goes out, so byte
        counters move during a long send and include what left before a failure.

        ``stall_at`` is when the peer is known to have stopped reading (its
        acknowledgements are overdue): a send still blocked then fails at once, without
        waiting for the kernels' buffers on the way to fill."""
        view = memoryview(data)
        while view:
            now = time.monotonic()
            wait = self.io_timeout if deadline is None else deadline - now
            if wait <= 0:
                raise LinkError("send timed out", timed_out=True)
            overdue = stall_at is not None and stall_at - now < wait
            if overdue:
                assert stall_at is not None
                wait = stall_at - now
                if wait <= 0:
                    raise LinkError(_STOPPED_READING, timed_out=True)
            self.sock.settimeout(wait)
            try:
                sent = self.sock.send(view)
            except TimeoutError:
                if overdue:
                    raise LinkError(_STOPPED_READING, timed_out=True) from None
                raise LinkError(f"send stalled for {wait:g} s", timed_out=True) from None
            except OSError as exc:
                raise LinkError(f"connection lost while sending: {exc}") from None
            progress(sent)
            view = view[sent:]

    def receive(self, deadline: float, what: str, *, limit: int = RECV_SIZE) -> bytes:
        """The next bytes from the server (at most ``limit``), waiting until ``deadline``
        for ``what``; ``b""`` once the server has hung up."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LinkError(f"timed out waiting for {what}", timed_out=True)
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(limit)
        except TimeoutError:
            raise LinkError(f"timed out waiting for {what}", timed_out=True) from None
        except OSError as exc:
            # Read as a hang-up, so a refusal the server ends with a reset still reads as one.
            log.debug("rtmp: receive error while waiting for %s: %s", what, exc)
            return b""

    def receive_exact(self, size: int, deadline: float, what: str) -> bytes:
        """Exactly ``size`` bytes of ``what`` before ``deadline``, and not a byte more (the
        handshake's fixed blocks: what follows them is the chunk stream's)."""
        data = bytearray()
        while len(data) < size:
            received = self.receive(deadline, what, limit=size - len(data))
            if not received:
                raise LinkError(f"connection closed by server while waiting for {what}")
            data += received
        return bytes(data)

    def receive_ready(self, timeout: float) -> bytes | None:
        """What the server sent, waiting up to ``timeout`` for it (0: never blocks);
        None if nothing came, ``b""`` once the server has hung up."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(RECV_SIZE)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except OSError as exc:
            raise LinkError(f"connection lost: {redact(str(exc))}") from None
        finally:
            self.sock.settimeout(self.io_timeout)

    def drain(self, deadline: float) -> None:
        """Send FIN and read until the server closes too. Closing with unread bytes in our
        receive buffer (acks, status) would send a RST instead, and a RST makes the server's
        kernel discard what it has not read yet: the end of the stream."""
        with contextlib.suppress(OSError):  # includes timeouts and TLS errors: we are leaving
            socket.socket.shutdown(self.sock, socket.SHUT_WR)
            while (remaining := deadline - time.monotonic()) > 0:
                self.sock.settimeout(remaining)
                if not self.sock.recv(RECV_SIZE):
                    return

    def close(self) -> None:
        """Close now, from any thread: a send blocked in another thread fails at once."""
        # The plain socket's shutdown: SSLSocket.shutdown would tear down TLS state under a
        # send that another thread may be blocked in. OSError: not connected, nothing to wake.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        self.sock.close()


def _wrap_tls(
    sock: socket.socket, context: ssl.SSLContext, host: str, deadline: float
) -> socket.socket:
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise ConnectionFailed(
            f"TLS certificate verification failed: {exc.verify_message}. If the server "
            "uses a private or self-signed CA, give its CA certificate (--ca-file PATH, or "
            "ca_file= in the API); to skip verification (insecure) use --insecure "
            "(tls_verify=False)"
        ) from None
    except TimeoutError:
        sock.close()
        raise ConnectionFailed(
            "timed out in the TLS handshake (a plain rtmp:// server never answers TLS)"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise ConnectionFailed(f"TLS handshake failed: {exc}") from None
