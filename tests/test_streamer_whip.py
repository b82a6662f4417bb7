"""The whole engine publishing over WHIP to a real WebRTC receiver (aiortc) on loopback.

What arrives is what aiortc decoded: frames counted, decode errors counted, the flash and
the beep placed on the sender's clock by its RTCP sender reports to measure A/V sync.
"""

from __future__ import annotations

import logging
import time

import pytest

from ionia import ConfigError, PublishRejected, VideoAudioStreamer
from ionia.analysis import analyze
from ionia.stats import DestinationStats
from tests.fixtures.cli import SYNTHETIC, run_ionia
from tests.fixtures.media import probe
from tests.fixtures.nginx import free_port
from tests.fixtures.whip_server import WhipSession
from tests.test_stats import check_value, public_fields

TOKEN = "whip-sEcReT-token-9137"
SECONDS = 8.0
FPS = 30
FRAME_S = 1 / FPS
#: the flash is a white frame (mean luma 235) in testsrc2 (far darker on average)
FLASH_LUMA = 200
#: the beep is a 1 kHz tone at about half scale; the rest is silence
BEEP_RMS = 0.05


def stream_for(urls: list[str] | str, seconds: float, **options: object) -> dict:
    streamer = VideoAudioStreamer()
    streamer.initialize(
        urls,
        fps=FPS,
        video_bitrate="1500k",
        audio_mode="tone",
        video_source="testsrc",
        size="640x360",
        whip_token=TOKEN,
        **options,
    )
    with streamer:
        assert not streamer.wait(seconds), streamer.error
    return streamer.get_statistics()


def onsets(times: list[float], on: list[bool], gap: float) -> list[float]:
    """The instants where ``on`` turns true after ``gap`` seconds off."""
    found, last_on = [], -1e9
    for t, lit in zip(times, on, strict=True):
        if lit:
            if t - last_on > gap:
                found.append(t)
            last_on = t
    return found


def av_offsets(session: WhipSession) -> list[float]:
    """Beep onset − flash onset, seconds, for each flash with a beep within half a second."""
    video, audio = session.video_frames, session.audio_frames
    flashes = onsets(session.video_times_ntp(), [f.luma > FLASH_LUMA for f in video], 0.5)
    beeps = onsets(session.audio_times_ntp(), [f.rms > BEEP_RMS for f in audio], 0.5)
    return [min((b - f for b in beeps), key=abs) for f in flashes if beeps]


def test_stream_arrives_whole_and_in_sync_and_ends_with_delete(whip_server, caplog):
    caplog.set_level(logging.DEBUG)
    server = whip_server(token=TOKEN)
    stats = stream_for(server.url, SECONDS)
    session = server.wait_session(2)
    assert session.auth_ok
    assert session.wait_for(lambda s: s.deleted, 3), "no DELETE at stop"
    assert session.decode_errors == 0
    assert len(session.video_frames) >= 0.97 * SECONDS * FPS, len(session.video_frames)
    # Opus: 20 ms frames; the stream's audio is all there too
    assert len(session.audio_frames) >= 0.97 * SECONDS * 50, len(session.audio_frames)
    assert {(f.width, f.height) for f in session.video_frames} == {(640, 360)}
    offsets = av_offsets(session)
    assert len(offsets) >= SECONDS - 2, offsets
    assert max(abs(o) for o in offsets) <= 2 * FRAME_S, offsets
    dest = stats["destinations"][0]
    # aiortc's jitter buffer hands a frame on when the next one begins: the last one stays
    assert dest["video_packets_sent"] - 1 <= len(session.video_frames) <= dest["video_packets_sent"]
    assert dest["video_packets_dropped"] == dest["audio_packets_dropped"] == 0
    assert dest["rtt_ms"] is not None and dest["loss"] == 0
    for key, hint in public_fields(DestinationStats).items():
        check_value(key, dest[key], hint)  # the documented types, WebRTC's figures included
    # the token is a secret: not in what we logged, nor in the statistics
    assert TOKEN not in caplog.text and TOKEN not in str(stats)
    assert "****" in dest["destination"]


def test_wrong_token_exits_4_quickly(whip_server):
    server = whip_server(token=TOKEN)
    started = time.monotonic()
    result = run_ionia(
        "stream", server.url, *SYNTHETIC, "--duration", "5",
        env=_env(WHIP_TOKEN="not-the-token-123"),
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert time.monotonic() - started < 3 + 1.5  # the interpreter's start-up included
    assert "refused the token" in result.stderr
    assert "not-the-token-123" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_dead_endpoint_exits_3_quickly():
    started = time.monotonic()
    result = run_ionia(
        "stream", f"http://127.0.0.1:{free_port()}/whip", *SYNTHETIC, "--duration", "5",
        env=_env(WHIP_TOKEN=TOKEN),
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - started < 6
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr


def test_rtmp_whip_and_recording_at_once_are_each_complete(
    whip_server,
    nginx_rtmp,
    tmp_path,
):
    server, nginx = whip_server(token=TOKEN), nginx_rtmp(on_publish_key=None)
    record = tmp_path / "rec.mkv"
    seconds = 5.0  # the 8 s stream above covers WHIP's own figures; this is about all three
    stats = stream_for([nginx.url("mixkey"), server.url], seconds, record=str(record))
    by_kind = {d["destination"].split(":")[0]: d for d in stats["destinations"]}
    session = server.wait_session(2)
    assert session.decode_errors == 0
    assert len(session.video_frames) >= 0.97 * seconds * FPS
    for path in (nginx.recording("mixkey"), record):
        got = probe(path)
        assert got.decode_errors == 0, got.error_text
        assert got.codecs == {"video": "h264", "audio": "aac"}
        report = analyze(path)
        assert report.video_frames >= 0.97 * seconds * FPS, report.summary()
        assert report.av_offset_max_ms is not None and report.av_offset_max_ms <= 1000 / FPS
    for dest in stats["destinations"]:
        assert dest["video_packets_dropped"] == dest["audio_packets_dropped"] == 0, dest
    # one encode: every output got the same frames
    assert by_kind["rtmp"]["video_packets_sent"] == by_kind["http"]["video_packets_sent"]


def test_whip_with_another_codec_is_refused_up_front():
    with pytest.raises(ConfigError, match=r"WHIP destination takes H\.264"):
        VideoAudioStreamer().initialize("http://127.0.0.1:9/whip", codec="hevc")


def _env(**extra: str) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def test_a_session_the_server_ends_is_published_again(whip_server):
    server = whip_server(token=TOKEN)
    streamer = VideoAudioStreamer()
    streamer.initialize(
        server.url, fps=FPS, video_bitrate="800k", audio_mode="tone", video_source="testsrc",
        size="320x240", whip_token=TOKEN,
    )  # fmt: skip
    with streamer:
        assert not streamer.wait(2.0), streamer.error
        first = server.wait_session(1)
        server.end_session(first)
        ended = time.monotonic()
        second = server.wait_session(5, index=1)
        assert second.wait_frames(video=30, timeout=5), second
        back_after = time.monotonic() - ended
        stats = streamer.get_statistics()
    assert stats["reconnects"] == 1, stats["last_error"]
    assert back_after < 3.0
    assert second.decode_errors == 0 and second.auth_ok
    # the new session starts with a keyframe: its first picture decodes
    assert second.video_frames[0].pts == 0


def test_a_picture_loss_indication_forces_a_keyframe(whip_server):
    server = whip_server()
    streamer = VideoAudioStreamer()
    # keyframes every 10 s: one within the second after the PLI is the one it asked for
    streamer.initialize(
        server.url, fps=FPS, video_bitrate="800k", audio_mode="none", video_source="testsrc",
        size="320x240", keyint=10,
    )  # fmt: skip
    with streamer:
        session = server.wait_session(2)
        assert session.wait_for(lambda s: len(s.video_sender_reports) > 0, 3)
        before = streamer.get_statistics()["keyframes_forced"]
        server.send_pli(session)
        assert not streamer.wait(1.0)
        stats = streamer.get_statistics()
    assert stats["destinations"][0]["keyframe_requests"] == 1
    assert stats["keyframes_forced"] == before + 1


def test_an_answer_without_our_codecs_is_a_rejection(quirky_whip):
    server = quirky_whip("wrong-codec")
    streamer = VideoAudioStreamer()
    streamer.initialize(server.url, video_source="testsrc", audio_mode="tone", size="320x240")
    with pytest.raises(PublishRejected, match=r"takes neither H\.264") as caught:
        streamer.start()
    assert caught.value.code == "codecs"
    assert not streamer.is_running()
