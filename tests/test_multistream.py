"""Multistreaming: one capture and one encode, one buffer + sender per destination.

Three real nginx-rtmp ingests: one healthy, one behind a proxy throttled to 30 % of the
stream's bitrate, one killed and restarted. The healthy one must not notice the others.
"""

from __future__ import annotations

import time

import pytest

from ionia import VideoAudioStreamer
from ionia.analysis import analyze
from tests.fixtures.media import probe
from tests.test_record import FPS, MEDIA, largest_gap_ms

#: what the stream carries: 1500k video + 128k audio + FLV/RTMP overhead
STREAM_BPS = 1_700_000
KEY = "multi"


def run_three_destinations(nginx_rtmp, fault_proxy, seconds: float, down_at: float, up_at: float):
    healthy, slow, dying = (nginx_rtmp(on_publish_key=None) for _ in range(3))
    proxy = fault_proxy(slow.port)
    proxy.throttle(0.30 * STREAM_BPS / 8)
    urls = [healthy.url(KEY), f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", dying.url(KEY)]
    streamer = VideoAudioStreamer()
    streamer.initialize(urls, **MEDIA)
    samples = []
    with streamer:
        start = time.monotonic()
        for at, action in ((down_at, dying.kill), (up_at, dying.restart), (seconds, None)):
            while time.monotonic() < start + at:
                assert not streamer.wait(0.5), streamer.error
                samples.append(streamer.get_statistics())
            if action is not None:
                action()
    return streamer.get_statistics(), samples, healthy.recording(KEY)


def check_healthy(stats: dict, samples: list[dict], recording, seconds: float) -> dict:
    """The healthy destination got everything, on time, and never noticed the others."""
    healthy = stats["destinations"][0]
    assert healthy["video_packets_dropped"] == healthy["audio_packets_dropped"] == 0, healthy
    assert healthy["reconnects"] == 0 and not healthy["failed"]
    assert healthy["video_packets_sent"] == stats["video_packets"]
    # it stayed connected and its queue stayed short all along
    for sample in samples:
        first = sample["destinations"][0]
        assert first["connected"], first
        assert first["buffer_latency_ms"] < 300, first
    got = probe(recording)
    assert got.decode_errors == 0, got.error_text
    report = analyze(recording)
    assert abs(report.video_duration_s - seconds) <= 0.4, report.summary()
    assert report.video_frames >= 0.97 * seconds * FPS, report.summary()
    assert abs(report.audio_duration_s - report.video_duration_s) < 0.15
    assert largest_gap_ms(got.video_dts_ms) <= 1000 / FPS + 1.5
    assert report.av_offset_max_ms is not None and report.av_offset_max_ms <= 1000 / FPS
    return healthy


def check_per_destination(stats: dict) -> None:
    healthy, slow, dying = stats["destinations"]
    # the slow one dropped video to keep up, never audio, and stayed connected
    assert slow["video_packets_dropped"] > 0 and slow["audio_packets_dropped"] == 0, slow
    assert slow["reconnects"] == 0 and not slow["failed"], slow
    assert slow["bytes_sent"] < 0.6 * healthy["bytes_sent"], (slow, healthy)
    # the dead one noticed, reconnected, and sent again afterwards
    assert dying["reconnects"] >= 1 and dying["disconnected_s"] > 0.5, dying
    assert 0 < dying["video_packets_sent"] < healthy["video_packets_sent"]
    # totals are the sums of the destinations
    for key in ("video_packets_sent", "audio_packets_sent", "bytes_sent", "reconnects"):
        assert stats[key] == sum(d[key] for d in stats["destinations"]), key
    assert len({d["destination"] for d in stats["destinations"]}) == 3
    assert all(d["destination"].endswith("/live/****") for d in stats["destinations"])


# in make reliability (beside its 30-s version), to keep make test within its budget
@pytest.mark.reliability
def test_slow_and_dead_destinations_never_disturb_the_healthy_one(nginx_rtmp, fault_proxy):
    seconds = 8.0
    stats, samples, recording = run_three_destinations(
        nginx_rtmp, fault_proxy, seconds, down_at=2.0, up_at=4.0
    )
    check_healthy(stats, samples, recording, seconds)
    check_per_destination(stats)
