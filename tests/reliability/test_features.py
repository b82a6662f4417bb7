"""Long versions of the feature scenarios (adaptive bitrate, multistreaming, recording
alongside), each writing its measured row for docs/reliability.md (orders 20-29)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ionia import VideoAudioStreamer
from ionia.analysis import analyze
from tests.fixtures.media import probe
from tests.reliability.scenario import AudioLoss, check_sync, measure_audio_loss
from tests.test_adaptive import (
    AUDIO,
    LINK_BPS,
    TARGET,
    convergence,
    recovery_wait,
    stream_through_throttle,
)
from tests.test_multistream import check_healthy, check_per_destination, run_three_destinations
from tests.test_record import MEDIA, check_continuous, kill_recorder_midway, run_for

pytestmark = pytest.mark.reliability


def healthy_audio(path: Path, stats: dict[str, Any], output: dict[str, Any]) -> AudioLoss:
    """A destination that never lost its session: every AAC frame the encoder made is in
    its recording, with no hole in the timeline, and every segment (video may have been
    dropped) in sync within a frame."""
    report = analyze(path)
    assert output["reconnects"] == 0, output
    assert not report.audio_holes, report.summary()
    check_sync(report)
    counts = {"audio_packets": stats["audio_packets"], **output}
    loss = measure_audio_loss(path, probe(path), report, counts, lost_sessions=0, in_flight=0)
    assert loss.missing == 0, loss
    return loss


def test_adaptive_bitrate_on_a_link_at_half_the_target_for_20_s(
    nginx_rtmp, fault_proxy, reliability_row
):
    throttled = 20.0
    samples, stats, recording = stream_through_throttle(
        nginx_rtmp, fault_proxy, before=3.0, throttled=throttled, after=recovery_wait(30.0)
    )
    figures = convergence(samples, throttled, recording)
    got = probe(recording)
    audio = healthy_audio(recording, stats, stats["destinations"][0])
    reliability_row(
        "Adaptive bitrate: link at 50 % of the target for 20 s",
        order=20,
        notes=(
            f"1500k video + {AUDIO // 1000}k audio, link {LINK_BPS // 1000} kbit/s; target "
            f"below the link after {figures['converged_s']:.1f} s, median "
            f"{figures['median_bps'] // 1000} kbit/s, above the link "
            f"{figures['share_above_link']:.0%} of the time; video produced (from the "
            f"recording, 4 s windows): median {figures['median_produced_bps'] // 1000:.0f} "
            f"kbit/s, above the link {figures['share_produced_above_link']:.0%} of the time "
            f"(goal: 15 %); back to the target "
            f"{figures['recovered_s']:.1f} s after the link returned"
            if figures["recovered_s"] is not None
            else "not back to the target in time"
        ),
        time_to_detect_s=round(figures["converged_s"], 2),
        time_to_recover_s=None
        if figures["recovered_s"] is None
        else round(figures["recovered_s"], 2),
        audio_lost_ms=audio.lost_ms,
        video_dropped_frames=figures["dropped"],
        decode_errors=got.decode_errors,
    )
    assert figures["converged_s"] <= 5.0, figures
    # What was produced, not the target: after a cut x264's average rate control undershoots
    # a raised target (by a third or more here), and the controller judges probes by the
    # bytes the server acknowledged. A regression bound, not the 15 % goal (not met yet).
    assert figures["median_produced_bps"] < LINK_BPS - AUDIO, figures
    assert figures["share_produced_above_link"] <= 0.5, figures
    assert figures["dropped"] <= 90, figures  # at most two drop episodes in 20 s
    assert figures["recovered_s"] is not None, figures
    assert stats["audio_packets_dropped"] == 0 and stats["video_bitrate_target"] == TARGET
    assert got.decode_errors == 0, got.error_text


def test_multistream_healthy_destination_untouched_for_30_s(
    nginx_rtmp, fault_proxy, reliability_row
):
    seconds = 30.0
    stats, samples, recording = run_three_destinations(
        nginx_rtmp, fault_proxy, seconds, down_at=5.0, up_at=15.0
    )
    healthy = check_healthy(stats, samples, recording, seconds)
    check_per_destination(stats)
    audio = healthy_audio(recording, stats, healthy)
    slow, dying = stats["destinations"][1:]
    reliability_row(
        "Multistream: one destination at 30 %, one killed for 10 s",
        order=21,
        notes=(
            f"healthy destination: {healthy['video_packets_sent']} frames, 0 dropped, "
            f"0 reconnects; slow one dropped {slow['video_packets_dropped']} frames "
            f"(and left {slow['audio_packets_unsent']} audio packets unsent at the stop "
            "deadline); "
            f"killed one reconnected {dying['reconnects']}x after {dying['disconnected_s']:.1f} s"
        ),
        audio_lost_ms=audio.lost_ms,
        video_dropped_frames=healthy["video_packets_dropped"],
        decode_errors=probe(recording).decode_errors,
    )


def test_recording_alongside_through_two_ingest_deaths(nginx_rtmp, tmp_path, reliability_row):
    server = nginx_rtmp(on_publish_key=None)
    record = tmp_path / "x.mp4"
    streamer = VideoAudioStreamer()
    streamer.initialize(server.url("live1"), record=str(record), **MEDIA)
    seconds = 30.0
    with streamer:
        run_for(streamer, seconds, {5.0: server.kill, 10.0: server.restart,
                                    18.0: server.kill, 24.0: server.restart})  # fmt: skip
    stats = streamer.get_statistics()
    rec = next(d for d in stats["destinations"] if d["recording"])
    got = check_continuous(record, seconds)
    audio = healthy_audio(record, stats, rec)
    path, elapsed = kill_recorder_midway(tmp_path, 10.0)
    killed = probe(path)
    covered = killed.video_dts_ms[-1] / 1000 + 1 / 30
    reliability_row(
        "Recording alongside: ingest killed twice; then kill -9 of the recorder",
        order=22,
        notes=(
            f"recording {got.video_frames} frames, 0 dropped, no timestamp gap; after "
            f"kill -9 at {elapsed:.1f} s the .mp4 covers {covered:.2f} s"
        ),
        audio_lost_ms=audio.lost_ms,
        video_dropped_frames=rec["video_packets_dropped"],
        decode_errors=got.decode_errors + killed.decode_errors,
    )
    assert rec["video_packets_dropped"] == rec["audio_packets_dropped"] == 0
    assert killed.decode_errors == 0 and covered >= elapsed - 1.2, (covered, elapsed)
