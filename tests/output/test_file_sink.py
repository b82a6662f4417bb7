"""A recording is the user's safety net: a disk that cannot be written fails loudly.

A path that cannot be written fails before anything starts (exit 2, nothing streamed); a
disk that fills mid-stream ends the recording with an error naming the file (exit 6),
while a stream beside it goes on. Real filesystems: a read-only and a tiny tmpfs
(``tests/fixtures/disks.py``), ``/proc``, ``/dev/full``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ionia import ConfigError, VideoAudioRecorder, VideoAudioStreamer
from tests.fixtures.cli import SYNTHETIC, run_ionia, run_ionia_here
from tests.fixtures.media import probe

KEY = "record-key-0917"
MEDIA: dict[str, Any] = dict(
    fps=30, video_bitrate="1M", audio_mode="tone", video_source="testsrc", size="320x240"
)


def unwritable_paths(small_disk: Callable[..., Path], tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "x.mp4").mkdir()
    os.symlink("/dev/full", tmp_path / "full.mp4")
    return {
        "read-only filesystem": small_disk(64, read_only=True) / "x.mp4",
        "/proc": Path("/proc/x.mp4"),
        "a directory": tmp_path / "x.mp4",
        "/dev/full": tmp_path / "full.mp4",
    }


@pytest.mark.parametrize("where", ["read-only filesystem", "/proc", "a directory", "/dev/full"])
def test_unwritable_recording_fails_before_anything_starts(
    small_disk: Callable[..., Path], tmp_path: Path, where: str
) -> None:
    path = unwritable_paths(small_disk, tmp_path)[where]
    recorder = VideoAudioRecorder()
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        recorder.initialize(path, **MEDIA)
        recorder.start()
    assert not recorder.is_running()
    for command in (["record", str(path)], ["stream", str(tmp_path / "s.flv"), "--record",
                                            str(path)]):  # fmt: skip
        result = run_ionia_here(*command, *SYNTHETIC, "--duration", "2")
        assert result.returncode == 2, result.stderr
        assert str(path) in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "s.flv").exists(), "the stream started although --record cannot"


def test_disk_full_mid_recording_ends_it_loudly(
    small_disk: Callable[..., Path], tmp_path: Path
) -> None:
    path = small_disk(256) / "show.mp4"  # ~2 s of 1 Mbit/s
    stats_path = tmp_path / "stats.json"
    result = run_ionia(
        "record", str(path), *SYNTHETIC, "--video-bitrate", "1M", "--duration", "20",
        "--stats-json", str(stats_path), timeout=30,
    )  # fmt: skip
    assert result.returncode == 6, result.stderr
    assert f"recording to {path} failed: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and "reconnecting" not in result.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["uptime_s"] < 15, "the recorder ran on with a dead disk"
    assert "No space left on device" in stats["last_error"]
    assert stats["destinations"][0]["failed"] is True
    # what was written before is kept, up to the last whole fragment
    kept = probe(path)
    assert kept.video_frames > 0 and kept.decode_errors == 0, kept.error_text


def test_disk_full_mid_stream_the_stream_goes_on(
    nginx_rtmp: Callable[..., Any], small_disk: Callable[..., Path], tmp_path: Path
) -> None:
    server = nginx_rtmp(on_publish_key=KEY)
    path = small_disk(256) / "show.mp4"
    stats_path = tmp_path / "stats.json"
    result = run_ionia(
        "stream", server.url(KEY), *SYNTHETIC, "--video-bitrate", "1M", "--record", str(path),
        "--duration", "6", "--stats-json", str(stats_path), timeout=30,
    )  # fmt: skip
    assert result.returncode == 6, result.stderr  # the stream ran, the recording failed
    assert f"recording to {path} failed" in result.stderr
    assert "Traceback" not in result.stderr and KEY not in result.stderr
    stats = json.loads(stats_path.read_text())
    recording = next(d for d in stats["destinations"] if d["recording"])
    live = next(d for d in stats["destinations"] if not d["recording"])
    assert recording["failed"] is True and "No space left" in recording["last_error"]
    assert live["failed"] is False and live["reconnects"] == 0
    assert "No space left" in stats["last_error"]
    got = probe(server.recording(KEY, timeout=5.0))
    assert got.decode_errors == 0, got.error_text
    assert got.duration == pytest.approx(6.0, abs=0.5), "the stream did not go on"


def test_streamer_api_reports_the_failed_recording(
    small_disk: Callable[..., Path], tmp_path: Path
) -> None:
    streamer = VideoAudioStreamer()
    path = small_disk(128) / "show.mp4"
    streamer.initialize(str(tmp_path / "main.flv"), record=str(path), **MEDIA)
    streamer.start()
    try:
        ended = streamer.wait(4)  # the main output goes on: nothing ends the stream
        assert not ended
        stats = streamer.get_statistics()
        assert streamer.is_running()
        assert [str(f) for f in streamer.failures] == [stats["destinations"][1]["last_error"]]
        assert "No space left on device" in stats["last_error"]
    finally:
        streamer.stop()
    assert probe(tmp_path / "main.flv").decode_errors == 0
