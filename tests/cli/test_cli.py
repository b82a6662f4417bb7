"""The ``ionia`` command as a user runs it: exit codes, messages, and no key anywhere."""

import json

import pytest

from tests.fixtures.cli import run_ionia

KEY = "live_123456_SeCrEtKeY"


ionia = run_ionia


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stream", f"srt://example.com/app/{KEY}"], "unsupported URL scheme"),
        (["stream", "rtmp://example.com/app"], "no stream key"),
        (["stream", f"rtmp://example.com/app/{KEY}", "--size", "big"], "WIDTHxHEIGHT"),
        (["stream", f"rtmp://example.com/app/{KEY}", "--fps", "0"], "fps 0 is out of range"),
        (["stream", f"rtmp://example.com/app/{KEY}", "--video-bitrate", "lots"], "--video-bitrate"),
        (["stream", f"rtmp://example.com/app/{KEY}", "--video", "/no/such.mp4"], "video source"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args, message):
    result = ionia(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert KEY not in result.stdout + result.stderr


def test_url_comes_from_env_then_config_json(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "RTMP_URL": f"ftp://example.com/app/{KEY}"}
    result = ionia("stream", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "unsupported URL scheme ('ftp://')" in result.stderr
    (tmp_path / "config.json").write_text(json.dumps({"rtmpUrl": f"gopher://x/app/{KEY}"}))
    result = ionia("stream", env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.returncode == 2 and "'gopher://'" in result.stderr
    assert KEY not in result.stderr
    (tmp_path / "config.json").unlink()
    result = ionia("stream", env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert result.returncode == 2 and "no stream URL" in result.stderr


def test_stream_to_file_for_a_duration_writes_stats(tmp_path):
    stats_path = tmp_path / "stats.json"
    result = ionia(
        "stream",
        str(tmp_path / "out.flv"),
        "--video",
        "testsrc",
        "--audio",
        "tone",
        "--size",
        "320x240",
        "--duration",
        "2",
        "--stats-json",
        str(stats_path),
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(stats_path.read_text())
    for key in (
        "video_packets",
        "audio_packets",
        "video_packets_dropped",
        "audio_packets_dropped",
        "bytes_sent",
        "bytes_acked",
        "bitrate_kbps",
        "buffer_packets",
        "buffer_latency_ms",
        "connected",
        "backpressure",
        "reconnects",
        "uptime_s",
        "encoder",
        "frames_captured",
        "frames_encoded",
        "last_error",
    ):
        assert key in stats
    assert stats["encoder"] == "libx264"
    assert 50 <= stats["video_packets"] <= 70
    assert stats["frames_encoded"] == stats["video_packets"]


def test_encoders_lists_x264_as_opening():
    result = ionia("encoders")
    assert result.returncode == 0
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("libx264"))
    assert line.split()[1:3] == ["yes", "yes"]
