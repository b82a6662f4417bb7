"""The whole pipeline into files (the file output shares every layer but the network)."""

import threading

import pytest

from ionia import ConfigError, VideoAudioStreamer
from ionia.analysis import analyze

DURATION = 3.0


@pytest.mark.parametrize("suffix", [".flv", ".mp4", ".mkv"])
def test_testsrc_and_tone_into_a_file(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    streamer = VideoAudioStreamer()
    streamer.initialize(
        str(out), video_bitrate="1M", audio_mode="tone", video_source="testsrc", size="320x240"
    )
    threads_before = set(threading.enumerate())
    with streamer:
        assert not streamer.wait(DURATION)  # neither failed nor ended
        assert streamer.is_running()
    assert set(threading.enumerate()) <= threads_before
    report = analyze(out)
    assert (report.video_codec, report.audio_codec) == ("h264", "aac")
    assert report.decode_errors == 0
    assert (report.width, report.height) == (320, 240)
    assert report.video_frames >= 0.97 * 30 * DURATION
    assert abs(report.audio_duration_s - report.video_duration_s) < 0.1
    assert len(report.av_offsets_ms) >= 2
    assert report.av_offset_max_ms <= 34  # within one frame at 30 fps
    stats = streamer.get_statistics()
    assert stats["video_packets_sent"] == report.video_frames
    assert stats["video_packets_dropped"] == stats["audio_packets_dropped"] == 0


def test_no_audio_track_with_audio_none(tmp_path):
    out = tmp_path / "video-only.mkv"
    streamer = VideoAudioStreamer()
    streamer.initialize(str(out), audio_mode="none", video_source="testsrc", size="160x120")
    with streamer:
        streamer.wait(1.0)
    report = analyze(out)
    assert report.video_frames > 20 and report.audio_codec == ""


def test_media_file_source_ends_the_stream(tmp_path):
    clip = tmp_path / "clip.mkv"
    maker = VideoAudioStreamer()
    maker.initialize(str(clip), audio_mode="tone", video_source="testsrc", size="160x120")
    with maker:
        maker.wait(1.5)
    out = tmp_path / "restream.flv"
    streamer = VideoAudioStreamer()
    streamer.initialize(str(out), audio_mode=str(clip), video_source=str(clip), size="160x120")
    with streamer:
        assert streamer.wait(6.0), "the stream should end with its source"
        assert streamer.source_ended and streamer.error is None
    report = analyze(out)
    assert report.decode_errors == 0
    assert 1.2 < report.video_duration_s < 2.2


def test_start_without_initialize_is_a_config_error():
    with pytest.raises(ConfigError, match="initialize"):
        VideoAudioStreamer().start()


def test_screen_and_devices_fail_clearly_or_work(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    streamer = VideoAudioStreamer()
    streamer.initialize(str(tmp_path / "x.flv"), video_source="screen", audio_mode="tone")
    with pytest.raises(Exception, match=r"(?i)display|screen|capture") as info:
        streamer.start()
    assert info.value.__class__.__name__ in ("CaptureError", "ConfigError")
    assert not streamer.is_running()
