"""The sender's outcomes, one per kind of failure: a lost session is retried, a disk that
failed and a bug are fatal for that destination, and the statistics follow the real state.

The sinks here are scripted sessions (the network side is tested against real servers in
``tests/reliability`` and ``tests/rtmp``): what matters is which path each error takes.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from ionia.buffer import BufferConfig, StreamBuffer
from ionia.errors import ConnectionFailed, InternalError, IoniaError, RecordingFailed
from ionia.output.reconnect import ReconnectPolicy
from ionia.output.sender import Sender
from ionia.output.sink import Sink, StreamHeaders
from ionia.packet import EncodedPacket, MediaKind

HEADERS = StreamHeaders(width=320, height=240, fps=30, video_bitrate=500_000, video_config=b"")
FAST = ReconnectPolicy(delay=0.05, max_delay=0.1)


class ScriptedSink(Sink):
    """Accepts ``good`` packets, then raises ``error`` from ``write``."""

    opened = 0

    def __init__(self, error: BaseException | None, good: int = 3) -> None:
        self._error, self._good, self._bytes = error, good, 0
        ScriptedSink.opened += 1

    def open(self, headers: StreamHeaders, *, rebase: bool) -> None:
        pass

    def write(self, packet: EncodedPacket) -> bool:
        if self._good <= 0 and self._error is not None:
            raise self._error
        self._good -= 1
        self._bytes += packet.size
        return True

    def close(self, timeout: float) -> None:
        pass

    def abort(self) -> None:
        pass

    @property
    def bytes_sent(self) -> int:
        return self._bytes


def audio(n: int) -> EncodedPacket:
    return EncodedPacket(kind=MediaKind.AUDIO, data=b"a" * 10, pts_ms=n * 21, dts_ms=n * 21,
                         keyframe=True)  # fmt: skip


@pytest.fixture
def default_hook_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: calls.append(repr(args.exc_value)))
    yield calls


def run_sender(
    make_sink: Callable[[], Sink], *, packets: int = 20
) -> tuple[Sender, StreamBuffer, list[IoniaError], threading.Event]:
    buffer = StreamBuffer(BufferConfig(max_packets=100, max_latency_ms=2000))
    fatal: list[IoniaError] = []
    failed = threading.Event()

    def on_fatal(exc: IoniaError) -> None:
        fatal.append(exc)
        failed.set()

    sender = Sender(destination="test-destination", buffer=buffer, make_sink=make_sink,
                    headers=HEADERS, policy=FAST, on_fatal=on_fatal)  # fmt: skip
    sender.connect_first()
    sender.start()
    for n in range(packets):
        buffer.put(audio(n))
    return sender, buffer, fatal, failed


def test_a_bug_in_a_session_is_fatal_and_the_stats_say_so(default_hook_calls: list[str]) -> None:
    bug = struct.error("argument out of range")
    sender, buffer, fatal, failed = run_sender(lambda: ScriptedSink(bug))
    assert failed.wait(5)
    assert len(fatal) == 1 and isinstance(fatal[0], InternalError)
    assert "struct.error: argument out of range" in str(fatal[0])
    stats = sender.stats()
    assert stats.connected is False and not sender.connected
    assert "argument out of range" in stats.last_error
    assert sender.failed is fatal[0]
    # nothing holds packets for a session that is gone
    assert not buffer.put(audio(99)) and len(buffer) == 0
    sender.stop(1.0)
    assert default_hook_calls == []


def test_a_failed_disk_is_fatal_at_once_not_a_reconnect() -> None:
    ScriptedSink.opened = 0
    error = RecordingFailed("recording to x.mp4 failed: No space left on device")
    sender, _, fatal, failed = run_sender(lambda: ScriptedSink(error))
    assert failed.wait(5)
    assert fatal == [error]
    assert ScriptedSink.opened == 1, "a disk error was retried as a lost connection"
    assert sender.stats().reconnects == 0
    sender.stop(1.0)


def test_a_lost_session_is_retried() -> None:
    ScriptedSink.opened = 0
    sessions = iter([ScriptedSink(ConnectionFailed("server sent garbage")), ScriptedSink(None)])
    sender, _, fatal, _ = run_sender(lambda: next(sessions))
    deadline = threading.Event()
    for _ in range(100):
        if sender.stats().reconnects == 1 and sender.connected:
            break
        deadline.wait(0.05)
    stats = sender.stats()
    assert stats.reconnects == 1 and stats.connected
    assert stats.last_error == "server sent garbage"
    assert fatal == []
    sender.stop(1.0)


def test_a_bug_while_reconnecting_is_fatal_too(default_hook_calls: list[str]) -> None:
    made = 0

    def make() -> Sink:
        nonlocal made
        made += 1
        if made == 1:
            return ScriptedSink(ConnectionFailed("lost"))
        raise KeyError("bug in building a session")

    sender, _, fatal, failed = run_sender(make)
    assert failed.wait(5)
    assert isinstance(fatal[0], InternalError) and "KeyError" in str(fatal[0])
    assert not sender.stats().connected
    sender.stop(1.0)
    assert default_hook_calls == []


class SlowSink(ScriptedSink):
    """A link too slow to drain: each write takes ``seconds``; with ``stuck``, the first
    write after ``good`` blocks until the session is aborted (a send stuck in the kernel)."""

    def __init__(self, seconds: float, *, stuck: bool = False) -> None:
        super().__init__(None, good=3)
        self._seconds, self._stuck, self._aborted = seconds, stuck, threading.Event()

    def write(self, packet: EncodedPacket) -> bool:
        if self._stuck and self._good <= 0:
            self._aborted.wait(10)
            raise OSError("send aborted")
        self._aborted.wait(self._seconds)
        return super().write(packet)

    def abort(self) -> None:
        self._aborted.set()


@pytest.mark.parametrize("stuck", [False, True], ids=["slow", "stuck-in-send"])
def test_what_the_stop_deadline_leaves_is_unsent_not_dropped(stuck: bool) -> None:
    sender, buffer, fatal, _ = run_sender(lambda: SlowSink(0.05, stuck=stuck), packets=60)
    sender.stop(0.4)
    s = buffer.stats()
    sent = sender.stats().audio_sent
    assert fatal == [] and s.audio_dropped == 0, s
    assert s.audio_unsent > 0 and s.audio_out + s.audio_unsent == 60, s
    # the packet in the aborted send goes with the session, as bytes in flight do
    assert s.audio_out - sent == (1 if stuck else 0), (sent, s)
    assert s.audio_in == s.audio_out + s.audio_dropped + s.audio_unsent + s.audio_packets
