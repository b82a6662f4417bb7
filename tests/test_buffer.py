"""StreamBuffer: DTS-span latency, thresholds, the decodable drop policy, lifecycle.

Pure unit tests: packets are built with chosen timestamps (latency is a DTS span, not wall
time) and threads are stepped with Events and bounded joins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ionia.buffer import BufferConfig, BufferStats, StreamBuffer
from ionia.errors import ConfigError
from ionia.packet import EncodedPacket, MediaKind

FRAME_MS = 33  # ~30 fps
JOIN_S = 2.0


def video(n: int, *, key: bool = False) -> EncodedPacket:
    """Video frame ``n`` (its index is recoverable from the DTS)."""
    return EncodedPacket(
        kind=MediaKind.VIDEO,
        data=b"K" * 50 if key else b"P" * 10,
        pts_ms=n * FRAME_MS,
        dts_ms=n * FRAME_MS,
        keyframe=key,
    )


def audio(ms: int) -> EncodedPacket:
    return EncodedPacket(kind=MediaKind.AUDIO, data=b"A" * 4, pts_ms=ms, dts_ms=ms, keyframe=True)


def make(
    max_packets: int = 1000,
    max_latency_ms: int = 2000,
    on_keyframe_request: Callable[[], None] | None = None,
) -> StreamBuffer:
    config = BufferConfig(max_packets=max_packets, max_latency_ms=max_latency_ms)
    return StreamBuffer(config, on_keyframe_request=on_keyframe_request)


def drain(buf: StreamBuffer) -> list[EncodedPacket]:
    out = []
    while (packet := buf.get(timeout=0)) is not None:
        out.append(packet)
    return out


def queued_video(buf: StreamBuffer) -> list[int]:
    """Frame indices of the queued video (white box, for asserting what the policy kept)."""
    with buf._cond:
        return [p.dts_ms // FRAME_MS for p in buf._queue if p.kind is MediaKind.VIDEO]


def assert_counters_add_up(s: BufferStats) -> None:
    assert s.video_in == s.video_out + s.video_dropped + s.video_unsent + s.video_packets
    assert s.audio_in == s.audio_out + s.audio_dropped + s.audio_unsent + s.audio_packets
    assert s.packets == s.video_packets + s.audio_packets
    reasons = (
        s.video_dropped_congestion
        + s.video_dropped_waiting_keyframe
        + s.dropped_disconnected
        + s.dropped_closed
    )
    assert s.video_dropped + s.audio_dropped == reasons


class KeyframeRequests:
    """The encoder's side of ``on_keyframe_request``: counts calls, checks the lock is free."""

    def __init__(self, buf_ref: list[StreamBuffer]) -> None:
        self._buf_ref = buf_ref
        self.calls = 0
        self.lock_was_free: list[bool] = []

    def __call__(self) -> None:
        self.calls += 1
        buf = self._buf_ref[0]
        result: list[bool] = []

        def probe() -> None:
            got = buf._cond.acquire(blocking=False)
            if got:
                buf._cond.release()
            result.append(got)

        prober = threading.Thread(target=probe, name="test-lock-probe")
        prober.start()
        prober.join(JOIN_S)
        self.lock_was_free.append(result == [True])
        if result == [True]:
            buf.stats()  # would deadlock if the callback ran under the lock


def with_requests(**kwargs: int) -> tuple[StreamBuffer, KeyframeRequests]:
    ref: list[StreamBuffer] = []
    requests = KeyframeRequests(ref)
    buf = make(on_keyframe_request=requests, **kwargs)
    ref.append(buf)
    return buf, requests


# -- configuration ---------------------------------------------------------------------------


def test_config_defaults_and_validation() -> None:
    assert BufferConfig() == BufferConfig(max_packets=100, max_latency_ms=2000)
    with pytest.raises(ConfigError, match="max_packets"):
        BufferConfig(max_packets=1)
    with pytest.raises(ConfigError, match="max_latency_ms"):
        BufferConfig(max_latency_ms=10)
    with pytest.raises(ConfigError, match="integer"):
        BufferConfig(max_packets=True)
    with pytest.raises(ConfigError, match="integer"):
        BufferConfig(max_latency_ms=2.5)  # type: ignore[arg-type]
    assert StreamBuffer().config == BufferConfig()


# -- latency is the DTS span of the queued video ---------------------------------------------


def test_latency_is_the_dts_span_of_queued_video() -> None:
    buf = make()
    assert buf.latency_ms() == 0
    buf.put(video(30, key=True))  # dts 990: the stream needn't start at 0
    assert buf.latency_ms() == 0  # one video packet has no span
    buf.put(audio(0))
    buf.put(audio(5000))
    assert buf.latency_ms() == 0  # audio does not count
    for n in range(31, 36):
        buf.put(video(n))
    assert buf.latency_ms() == 5 * FRAME_MS
    assert buf.get(timeout=0) == video(30, key=True)  # the oldest video leaves: span shrinks
    assert buf.latency_ms() == 4 * FRAME_MS
    assert buf.stats().latency_ms == 4 * FRAME_MS


def test_latency_is_not_wall_time() -> None:
    buf = make()
    # Captured an hour apart, queued at once: the capture clock plays no part.
    buf.put(EncodedPacket(kind=MediaKind.VIDEO, data=b"K", pts_ms=0, dts_ms=0, keyframe=True))
    buf.put(EncodedPacket(kind=MediaKind.VIDEO, data=b"P", pts_ms=40, dts_ms=40, capture_time=3600))
    assert buf.latency_ms() == 40
    assert buf.stats().congestion == pytest.approx(40 / 2000)
    assert buf.get(timeout=0) is not None
    assert buf.latency_ms() == 0  # one video packet has no span, however long it waits
    s = buf.stats()
    assert s.max_latency_ms_seen == 40 and s.congestion == 0.0


def test_get_is_fifo_across_kinds() -> None:
    buf = make()
    sent = [video(0, key=True), audio(0), audio(21), video(1), audio(42), video(2)]
    for packet in sent:
        assert buf.put(packet)
    assert len(buf) == 6
    assert buf.stats().bytes == sum(p.size for p in sent)
    assert drain(buf) == sent
    assert buf.stats().bytes == 0


def test_get_times_out_with_none() -> None:
    buf = make()
    assert buf.get(timeout=0) is None
    t0 = time.monotonic()
    assert buf.get(timeout=0.02) is None
    assert time.monotonic() - t0 >= 0.015


# -- thresholds and the drop policy ----------------------------------------------------------


def test_span_threshold_drops_queued_p_frames_keeps_keyframe_and_audio() -> None:
    buf = make(max_latency_ms=200)
    assert buf.put(video(0, key=True))
    for n in range(1, 7):
        assert buf.put(video(n))
        assert buf.put(audio(n * FRAME_MS))
    assert buf.latency_ms() == 198 and not buf.backpressure()
    assert not buf.put(video(7))  # span 231 > 200: crosses, and is itself dropped
    s = buf.stats()
    assert s.dropping_video and s.drop_events == 1
    assert s.video_dropped_congestion == 7  # P1..P7
    assert queued_video(buf) == [0]  # the keyframe stays, so does every audio packet
    assert s.audio_packets == 6 and s.audio_dropped == 0
    assert s.latency_ms == 0 and not s.backpressure
    # Incoming P-frames depend on dropped ones: dropped until the next keyframe.
    assert not buf.put(video(8))
    assert not buf.put(video(9))
    assert buf.put(audio(300))
    assert buf.put(video(10, key=True))  # ends the episode; the stale K0 goes
    assert not buf.stats().dropping_video
    assert queued_video(buf) == [10]
    assert buf.put(video(11))
    s = buf.stats()
    assert s.video_dropped_congestion == 10  # P1..P9 and K0
    assert_counters_add_up(s)


def test_count_threshold_starts_an_episode() -> None:
    buf = make(max_packets=10)
    buf.put(video(0, key=True))
    for n in range(1, 5):
        buf.put(video(n))
    for n in range(5):
        buf.put(audio(n * 21))
    assert len(buf) == 10 and not buf.backpressure()
    assert buf.put(audio(105))  # 11 > 10: audio is kept, queued P-frames go
    s = buf.stats()
    assert s.dropping_video and s.drop_events == 1
    assert queued_video(buf) == [0] and s.audio_packets == 6
    assert not buf.put(video(5))
    assert buf.put(video(6, key=True))  # 8 packets, under the limit: the episode ends
    assert not buf.stats().dropping_video
    assert queued_video(buf) == [6]
    assert_counters_add_up(buf.stats())


def test_keyframe_while_still_over_keeps_dropping() -> None:
    buf = make(max_packets=10)
    buf.put(video(0, key=True))
    for n in range(11):
        assert buf.put(audio(n * 21))  # the sender is stalled; audio piles up past the count
    assert buf.stats().dropping_video and buf.backpressure()
    # A keyframe is decodable alone, so it is queued, but the queue is still over the
    # limit: the episode goes on and its P-frames are dropped.
    assert buf.put(video(1, key=True))
    assert buf.stats().dropping_video
    assert queued_video(buf) == [1]
    assert not buf.put(video(2))
    drain(buf)  # the network recovers
    assert buf.put(video(3, key=True))
    assert not buf.stats().dropping_video
    assert buf.put(video(4))
    assert_counters_add_up(buf.stats())


def test_crossing_with_a_keyframe_ends_the_episode_at_once() -> None:
    buf = make(max_latency_ms=200)
    buf.put(video(0, key=True))
    for n in range(1, 7):
        buf.put(video(n))
    assert buf.put(video(7, key=True))  # crosses; everything older is stale
    s = buf.stats()
    assert s.drop_events == 1 and not s.dropping_video
    assert queued_video(buf) == [7]
    assert buf.put(video(8))  # depends only on K7, which is queued


def test_crossing_with_a_keyframe_while_still_over_starts_an_episode() -> None:
    buf = make(max_packets=10)
    for n in range(10):
        buf.put(audio(n * 21))  # the sender has stalled: an audio backlog at the limit
    assert buf.put(video(0, key=True))  # 11 > 10, and still over after the purge
    s = buf.stats()
    assert s.drop_events == 1 and s.dropping_video
    assert not buf.put(video(1))  # no point queueing more video behind a stall


def test_audio_is_never_dropped_while_connected() -> None:
    buf = make(max_packets=2, max_latency_ms=50)
    buf.put(video(0, key=True))
    for n in range(10_000):
        assert buf.put(audio(n * 21))
        if n % 100 == 0:
            buf.put(video(n // 100 + 1, key=n % 500 == 0))
    s = buf.stats()
    assert s.audio_dropped == 0 and s.audio_packets == 10_000
    assert s.backpressure and s.dropping_video
    got = [p.dts_ms for p in drain(buf) if p.kind is MediaKind.AUDIO]
    assert got == [n * 21 for n in range(10_000)]
    assert_counters_add_up(buf.stats())


def test_first_video_must_be_a_keyframe() -> None:
    buf, requests = with_requests()
    assert not buf.put(video(0))
    assert buf.stats().video_dropped_waiting_keyframe == 1
    assert requests.calls == 0  # the encoder opens with an IDR anyway
    assert buf.put(video(1, key=True))
    assert buf.put(video(2))


# -- the early keyframe request --------------------------------------------------------------


def test_keyframe_request_fires_once_after_draining_outside_the_lock() -> None:
    buf, requests = with_requests(max_latency_ms=200)
    buf.put(video(0, key=True))
    for n in range(1, 8):  # one audio packet per frame, same clock
        buf.put(audio(n * FRAME_MS))
        buf.put(video(n))
    assert buf.stats().dropping_video
    assert requests.calls == 0  # 231 ms of audio queued: an IDR now would wait behind it
    for n in range(8, 12):
        buf.put(audio(n * FRAME_MS))
        assert not buf.put(video(n))
    assert requests.calls == 0
    while requests.calls == 0:
        assert buf.get(timeout=0) is not None, "drained without a keyframe request"
    with buf._cond:  # drained: at most half of max_latency_ms queued
        assert buf._queue[-1].dts_ms - buf._queue[0].dts_ms <= 100
    assert requests.lock_was_free == [True]
    drain(buf)
    for n in range(12, 15):
        buf.put(audio(n * FRAME_MS))
        buf.put(video(n))
    assert requests.calls == 1  # not again until a keyframe has been queued
    assert buf.put(video(15, key=True))
    assert not buf.stats().dropping_video

    # A second episode gets its own request.
    for n in range(16, 24):
        buf.put(audio(n * FRAME_MS))
        buf.put(video(n))
    assert buf.stats().drop_events == 2
    drain(buf)
    assert requests.calls == 2
    assert requests.lock_was_free == [True, True]


def test_keyframe_request_can_fire_from_put_when_the_purge_drains() -> None:
    # A DTS jump crosses the span threshold with almost nothing queued: after the purge the
    # queue is already drained, so the request is due at once.
    buf, requests = with_requests(max_latency_ms=200)
    buf.put(video(0, key=True))
    buf.put(video(1))
    assert buf.get(timeout=0) == video(0, key=True)
    assert not buf.put(video(100))
    assert buf.stats().dropping_video
    assert requests.calls == 1 and requests.lock_was_free == [True]


# -- connection state ------------------------------------------------------------------------


def test_disconnected_drops_everything_and_reconnect_wants_a_keyframe() -> None:
    buf, requests = with_requests()
    buf.put(video(0, key=True))
    buf.put(audio(0))
    buf.put(video(1))
    buf.set_connected(False)
    s = buf.stats()
    assert len(buf) == 0 and s.dropped_disconnected == 3 and not s.connected
    assert not buf.put(video(2))
    assert not buf.put(video(3, key=True))
    assert not buf.put(audio(21))  # no accumulation while disconnected, audio included
    assert buf.stats().dropped_disconnected == 6
    assert requests.calls == 0

    buf.set_connected(True)
    assert requests.calls == 1 and requests.lock_was_free == [True]  # right away
    buf.set_connected(True)  # no-op
    assert requests.calls == 1
    assert buf.put(audio(42))
    assert not buf.put(video(4))  # the new session must start with a keyframe
    assert buf.stats().video_dropped_waiting_keyframe == 1
    assert buf.put(video(5, key=True))
    assert buf.put(video(6))
    assert [p.dts_ms // FRAME_MS for p in drain(buf) if p.kind is MediaKind.VIDEO] == [5, 6]
    assert requests.calls == 1
    assert_counters_add_up(buf.stats())


def test_clear_discards_counts_and_resyncs_video() -> None:
    buf, requests = with_requests()
    buf.put(video(0, key=True))
    buf.put(audio(0))
    buf.put(video(1))
    assert buf.clear("test") == 3
    assert len(buf) == 0 and buf.stats().dropped_disconnected == 3
    assert requests.calls == 1  # P2 depends on the discarded P1: ask for an IDR
    assert not buf.put(video(2))
    assert buf.put(video(3, key=True))
    assert buf.clear("again") == 1
    assert buf.clear("empty") == 0
    assert_counters_add_up(buf.stats())


# -- close -----------------------------------------------------------------------------------


def wait_until_blocked(buf: StreamBuffer, waiters: int) -> None:
    """Until ``waiters`` threads wait on the condition (a definite state, bounded)."""
    deadline = time.monotonic() + JOIN_S
    tick = threading.Event()
    while len(buf._cond._waiters) < waiters:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "consumer never blocked in get()"
        tick.wait(0.001)


def test_close_wakes_blocked_getters_at_once() -> None:
    buf = make()
    returned: list[tuple[EncodedPacket | None, float]] = []

    def consumer() -> None:
        packet = buf.get(timeout=10)
        returned.append((packet, time.monotonic()))

    threads = [threading.Thread(target=consumer, name=f"test-get-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    wait_until_blocked(buf, 2)
    closed_at = time.monotonic()
    buf.close()
    for thread in threads:
        thread.join(JOIN_S)
        assert not thread.is_alive()
    assert [packet for packet, _ in returned] == [None, None]
    assert max(t for _, t in returned) - closed_at < 0.1


def test_put_wakes_a_blocked_get() -> None:
    buf = make()
    got: list[EncodedPacket | None] = []
    consumer = threading.Thread(target=lambda: got.append(buf.get(timeout=10)), name="test-get")
    consumer.start()
    wait_until_blocked(buf, 1)
    buf.put(audio(0))
    consumer.join(JOIN_S)
    assert got == [audio(0)]


def test_close_is_idempotent_lets_the_queue_drain_and_drops_later_puts() -> None:
    buf = make()
    buf.put(video(0, key=True))
    buf.close()
    buf.close()
    assert not buf.put(audio(0))
    assert not buf.put(video(1))
    assert buf.get(timeout=None) == video(0, key=True)
    assert buf.get(timeout=None) is None  # closed and empty: no blocking
    s = buf.stats()
    assert s.dropped_closed == 2
    assert_counters_add_up(s)


# -- the decodability invariant over random runs ---------------------------------------------

# Mostly producing and consuming; a long "frames" run with no "get" is a consumer stall.
OPS = st.one_of(
    st.tuples(st.just("frames"), st.integers(1, 80)),
    st.tuples(st.just("get"), st.integers(0, 80)),
    st.tuples(st.just("frames"), st.integers(1, 5)),
    st.tuples(st.just("get"), st.integers(0, 5)),
    st.tuples(st.sampled_from(["disconnect", "reconnect", "clear"]), st.just(0)),
)


def check_bookkeeping(buf: StreamBuffer) -> None:
    """The O(1) span and counters agree with a brute-force look at the queue."""
    with buf._cond:
        dts = [p.dts_ms for p in buf._queue if p.kind is MediaKind.VIDEO]
        queued_bytes = sum(p.size for p in buf._queue)
        count = len(buf._queue)
    span = max(0, dts[-1] - dts[0]) if len(dts) >= 2 else 0
    s = buf.stats()
    assert s.latency_ms == span
    assert s.video_packets == len(dts) and s.packets == count and s.bytes == queued_bytes
    assert s.backpressure == (span > buf.config.max_latency_ms or count > buf.config.max_packets)
    assert_counters_add_up(s)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gop=st.integers(1, 90),
    max_packets=st.integers(2, 150),
    max_latency_ms=st.integers(50, 1500),
    audio_every=st.integers(1, 3),
    ops=st.lists(OPS, min_size=1, max_size=100),
)
def test_what_get_returns_is_always_decodable(
    gop: int, max_packets: int, max_latency_ms: int, audio_every: int, ops: list[tuple[str, int]]
) -> None:
    forced: list[bool] = [False]
    requests_since_keyframe: list[int] = [0]
    forced_total: list[int] = [0]

    def encoder_keyframe_request() -> None:
        assert buf._cond.acquire(blocking=False), "callback runs under the buffer lock"
        buf._cond.release()
        requests_since_keyframe[0] += 1
        forced_total[0] += 1
        forced[0] = True  # the encoder's next frame is an IDR

    buf = make(max_packets, max_latency_ms, encoder_keyframe_request)
    frame = 0
    connected = True
    decoded_last: int | None = None  # the receiver's decoder: last video frame it has
    audio_put: list[int] = []
    audio_got: list[int] = []

    def consume(packet: EncodedPacket) -> None:
        nonlocal decoded_last
        n = packet.dts_ms // FRAME_MS
        if packet.kind is MediaKind.AUDIO:
            audio_got.append(packet.dts_ms)
        elif packet.keyframe:
            decoded_last = n
        else:
            # Without B-frames P(n) needs P(n-1), and so on back to a keyframe.
            assert decoded_last == n - 1, f"P{n} sent after {decoded_last}"
            decoded_last = n

    for op, arg in ops:
        if op == "frames":
            for _ in range(arg):
                key = frame % gop == 0 or forced[0]
                forced[0] = False
                accepted = buf.put(video(frame, key=key))
                if key and accepted:
                    requests_since_keyframe[0] = 0
                if frame % audio_every == 0:
                    ms = frame * FRAME_MS + 1
                    accepted = buf.put(audio(ms))
                    assert accepted == connected, "audio dropped while connected"
                    if accepted:
                        audio_put.append(ms)
                frame += 1
                assert requests_since_keyframe[0] <= 1
        elif op == "get":
            for _ in range(arg):
                packet = buf.get(timeout=0)
                if packet is None:
                    break
                consume(packet)
        elif op == "disconnect":
            if connected:
                connected = False
                buf.set_connected(False)
                decoded_last = None  # the next session starts a new decoder
                audio_put = audio_got[:]  # what was queued is gone
        elif op == "reconnect":
            if not connected:
                # A new session needs its own IDR: an earlier requested one may have been
                # dropped while disconnected.
                requests_since_keyframe[0] = 0
            connected = True
            buf.set_connected(True)
        else:
            requests_since_keyframe[0] = 0  # clearing may discard the requested keyframe
            buf.clear("test")
            audio_put = audio_got[:]
        check_bookkeeping(buf)
        assert requests_since_keyframe[0] <= 1

    for packet in drain(buf):
        consume(packet)
    s = buf.stats()
    event(f"drop episodes: {min(s.drop_events, 3)}")
    event(f"keyframes forced: {min(forced_total[0], 3)}")
    assert audio_got == audio_put  # every accepted audio packet, in order
    check_bookkeeping(buf)
