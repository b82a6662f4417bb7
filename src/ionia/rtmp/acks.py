"""Acknowledgements both ways: what the server has read of what we sent (and so when it
has stopped reading), and the acknowledgements we owe it for what it sent us."""

from __future__ import annotations

import time

from ionia.rtmp.message import TIMESTAMP_MOD

__all__ = ["ACK_READ_SLACK_S", "AcksOwed", "ServerAcks"]

#: an acknowledgement is read once a frame, up to ~1/30 s after it arrived (and the sender
#: may be busy with a keyframe): its stall deadline is moved this much earlier to match
ACK_READ_SLACK_S = 0.1


class ServerAcks:
    """What the server's application has read of our bytes, from its acknowledgements.

    ``sent`` is always the session's byte count so far, the handshake included.
    """

    def __init__(self, *, window: int, io_timeout: float) -> None:
        #: the server is asked to acknowledge every ``window`` bytes (nginx-rtmp acks only if asked)
        self.window = window
        #: how long the server may go without acknowledging before it counts as stalled
        self.io_timeout = io_timeout
        #: bytes the server acknowledged (never more than were sent)
        self.acked = 0
        self._base = 0
        self._last_seq = 0
        #: when the last acknowledgement arrived; None until the server has shown it sends them
        self._last_at: float | None = None
        #: the widest step between two acknowledgements seen in this session
        self._step = 0

    def start(self, sent: int) -> None:
        """The server's acknowledgements count what follows the first ``sent`` bytes."""
        self._base = sent

    def received(self, sequence: int, sent: int) -> None:
        """An acknowledgement with ``sequence`` came in."""
        # Sequence numbers wrap at 2**32 (and nginx-rtmp resets its counter at 0xf0000000),
        # so add the forward distance and never claim more than was sent.
        delta = (sequence - self._last_seq) % TIMESTAMP_MOD
        self._last_seq = sequence
        self.acked = min(self.acked + delta, sent)
        if delta:
            self._step = max(self._step, delta)
            self._last_at = time.monotonic()

    def unacked(self, sent: int) -> int:
        """Bytes sent in this session that the server's application has not read yet."""
        return max(0, sent - self._base - self.acked)

    def stall_at(self, sent: int) -> float | None:
        """When the server has stopped reading: ``io_timeout`` after its last
        acknowledgement, while more than two acknowledgement steps are outstanding. None
        while none is expected, or for a server that has not acknowledged anything in this
        session (it may never).

        A server acknowledges what its application has read, so this sees an ingest that
        stopped reading from the moment it stopped, where the socket only notices once the
        kernels' buffers on the way are full (seconds later). The step is the larger of the
        window we asked for and the widest gap seen between two acknowledgements, so a
        server that keeps its own, larger window is not called stalled between two acks.
        The time of an acknowledgement is when it was read, up to a frame after it came
        (``ACK_READ_SLACK_S`` makes up for that), so the stall is called at most
        ``io_timeout`` after the server stopped."""
        if self._last_at is None:
            return None
        if self.unacked(sent) <= 2 * max(self.window, self._step):
            return None
        return self._last_at + self.io_timeout - ACK_READ_SLACK_S


class AcksOwed:
    """The acknowledgements we owe the server: one each time its window of bytes came in."""

    def __init__(self) -> None:
        #: what the server asked to be acknowledged by (0: it asked for none)
        self.window = 0
        self._received = 0  # bytes received after the handshake: what our ACKs count
        self._last = 0

    def received(self, size: int) -> int | None:
        """``size`` more bytes came in: the sequence number to acknowledge now, if one is due."""
        self._received += size
        if self.window and self._received - self._last >= self.window:
            self._last = self._received
            return self._received
        return None
