"""The throttled-link scenario with HEVC and with AV1: the same buffer and drop policy.

The ingest is ``EnhancedServer`` (it lists hvc1/av01 in its connect answer and records
the Enhanced FLV it receives) behind the fault proxy, which throttles the link to half of
what the stream measured on the wire. Audio must arrive whole, video must be dropped only
up to keyframes (HEVC IRAP, AV1 key frames, read from the bitstream), and what arrived
must decode with zero errors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ionia.analysis import analyze
from tests.fixtures.enhanced_server import EnhancedServer, remux
from tests.fixtures.flv import read_flv_tags
from tests.fixtures.media import probe
from tests.reliability.scenario import (
    FRAME_MS,
    StatsSampler,
    make_streamer,
    measure_audio_loss,
    stop_all,
)
from tests.reliability.test_faults import gaps_end_on_keyframes

KEY = "codec-throttle-key"
DECODER = {"hevc": "hevc", "av1": "libdav1d"}


def throttled(
    codec: str, tmp_path: Path, fault_proxy: Any, *, throttle_s: float, buffer_ms: int
) -> dict[str, Any]:
    server = EnhancedServer(["hvc1", "av01"], tmp_path / "got.flv").start()
    try:
        proxy = fault_proxy(server.port)
        streamer = make_streamer(
            f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", codec=codec, buffer_ms=buffer_ms
        )
        streamer.start()
        with StatsSampler(streamer) as sampler:
            assert not streamer.wait(2.0), streamer.error
            rate = sampler.last().stats["bitrate_kbps"] * 1000 / 8 * 0.5
            proxy.throttle(rate)
            start = time.monotonic()
            congested = sampler.wait_for(lambda s: s.stats["congestion"] >= 0.5, throttle_s)
            assert not streamer.wait(max(0.0, start + throttle_s - time.monotonic()))
            proxy.throttle(None)
            ended = time.monotonic()
            assert not streamer.wait(3.0), streamer.error
            samples = list(sampler.samples)
            streamer.stop()
        stats = streamer.get_statistics()
    finally:
        stop_all()
        server.stop()
    recording = remux(tmp_path / "got.flv", tmp_path / "got.mkv")
    got = probe(recording)
    down = [
        (round(s.t - samples[0].t, 2), s.stats["destinations"][0]["last_error"])
        for s in samples
        if not s.connected
    ]
    assert not down, down
    assert stats["destinations"][0]["reconnects"] == 0
    assert max(s.stats["buffer_latency_ms"] for s in samples) <= buffer_ms + FRAME_MS + 1
    assert stats["audio_packets_dropped"] == 0
    assert stats["video_packets_dropped"] > 0, (
        rate,
        [round(s.stats["congestion"], 2) for s in samples[::20]],
        stats["bitrate_kbps"],
    )
    assert congested is not None, "congestion never reported"
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": DECODER[codec], "audio": "aac"}
    assert gaps_end_on_keyframes(tmp_path / "got.flv", stats["frames_late"]) >= 1
    tags = [t for t in read_flv_tags(tmp_path / "got.flv") if t.type == 9]
    assert len(tags) - 2 == stats["video_packets_sent"], (len(tags), stats["video_packets_sent"])
    # analyze() counts the frames a threaded decoder (dav1d) still holds at the end, too
    report = analyze(recording)
    frames = report.video_frames
    # audio measured from the recording: every AAC frame made is there, with no hole
    audio = measure_audio_loss(recording, got, report, stats, lost_sessions=0, in_flight=0)
    assert audio.missing == 0 and not report.audio_holes, (audio, report.summary())
    assert frames + stats["video_packets_dropped"] == stats["video_packets"]
    assert stats["keyframes_forced"] > 0
    recovered = next((s for s in samples if s.t > ended and s.stats["congestion"] < 0.25), None)
    return {
        "stats": stats,
        "rate": rate,
        "detect": congested.t - start,
        "recover": recovered.t - ended if recovered else None,
        "max_latency": max(s.stats["buffer_latency_ms"] for s in samples),
        "decode_errors": got.decode_errors,
        "audio_lost_ms": audio.lost_ms,
    }


@pytest.mark.reliability
@pytest.mark.parametrize(("codec", "order"), [("hevc", 40), ("av1", 41)])
def test_reliability_throttled_link_per_codec(codec, order, tmp_path, fault_proxy, reliability_row):
    r = throttled(codec, tmp_path, fault_proxy, throttle_s=8, buffer_ms=1000)
    stats = r["stats"]
    reliability_row(
        f"{codec.upper()}: link throttled to 50 % of the stream bitrate for 8 s",
        order=order,
        notes=f"{stats['encoder']}; {r['rate'] * 8 / 1000:.0f} kbit/s; queued video span "
        f"peaked at {r['max_latency']} ms; {stats['keyframes_forced']} keyframe(s) forced; "
        "the ingest: a test server listing hvc1/av01 in its connect answer",
        time_to_detect_s=round(r["detect"], 2),
        time_to_recover_s=round(r["recover"], 2) if r["recover"] is not None else None,
        audio_lost_ms=r["audio_lost_ms"],
        video_dropped_frames=stats["video_packets_dropped"],
        decode_errors=r["decode_errors"],
    )
