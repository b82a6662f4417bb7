"""A sender's records on their own, on a clock the test sets: bitrate, latency, outages."""

from __future__ import annotations

from ionia.output.send_stats import BITRATE_WINDOW_S, Outages, Throughput
from ionia.packet import EncodedPacket, MediaKind


def packet(kind: MediaKind, captured: float = 0.0) -> EncodedPacket:
    return EncodedPacket(kind=kind, data=b"x", pts_ms=0, dts_ms=0, capture_time=captured)


def test_the_bitrate_is_what_went_out_over_the_window_and_zero_once_stale() -> None:
    sent = Throughput()
    assert sent.bitrate_kbps(0.0) == 0.0
    sent.sent(packet(MediaKind.VIDEO), 10.0, 0)
    sent.sent(packet(MediaKind.AUDIO), 10.05, 60_000)  # within 0.1 s: no new sample
    sent.sent(packet(MediaKind.VIDEO), 11.0, 125_000)
    assert sent.bitrate_kbps(11.0) == 1000.0  # 125 000 bytes in 1 s
    assert sent.bitrate_kbps(11.0 + BITRATE_WINDOW_S) == 0.0  # nothing sent for the window
    assert (sent.video_sent, sent.audio_sent, sent.first_byte_at) == (2, 1, 10.0)


def test_latency_percentiles_are_of_captured_video_only() -> None:
    sent = Throughput()
    assert sent.latency_ms(0.5, 0.99) == [None, None]
    for ms in range(1, 101):
        sent.sent(packet(MediaKind.VIDEO, captured=100.0 - ms / 1000), 100.0, 0)
    sent.sent(packet(MediaKind.AUDIO, captured=50.0), 100.0, 0)  # audio: not measured
    sent.sent(packet(MediaKind.VIDEO), 100.0, 0)  # no capture time: not measured
    p50, p99 = sent.latency_ms(0.5, 0.99)
    assert p50 is not None and abs(p50 - 51.0) < 0.01
    assert p99 is not None and abs(p99 - 100.0) < 0.01


def test_outages_add_up_and_the_current_one_counts() -> None:
    outages = Outages()
    outages.up(0.0, reconnect=False)  # the first session: no reconnect
    outages.down("lost", 10.0)
    outages.down("retry failed", 11.0)  # still the same outage
    assert outages.seconds(12.5) == 2.5 and outages.last_error == "retry failed"
    outages.up(13.0, reconnect=True)
    assert outages.since is None and outages.seconds(20.0) == 3.0
    assert outages.reconnects == 1
