"""Recording alongside a stream, and the recorder on its own.

A recording is an output whose buffer never drops: while the stream's ingest is killed and
restarted, the file must go on without a gap. ``.mp4`` is fragmented while written, so a
``kill -9`` of the engine costs at most the last fragment (~1 s).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ionia import VideoAudioStreamer
from ionia.analysis import analyze
from ionia.recorder import VideoAudioRecorder
from tests.fixtures.media import Probe, probe

FPS = 30
FRAME_MS = 1000 / FPS
#: an AAC frame is 1024 samples at 48 kHz
AUDIO_FRAME_MS = 1024 / 48
MEDIA = dict(fps=FPS, video_bitrate="1500k", audio_bitrate="128k", audio_mode="tone",
             video_source="testsrc", size="640x360")  # fmt: skip


def largest_gap_ms(dts: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(dts)), default=0.0)


def check_continuous(path: Path, seconds: float) -> Probe:
    """Complete and continuous: duration, frames, zero decode errors, no timestamp gap."""
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": "h264", "audio": "aac"}
    report = analyze(path)
    assert abs(report.video_duration_s - seconds) <= 0.4, report.summary()
    assert report.video_frames >= 0.97 * seconds * FPS, report.summary()
    assert abs(report.audio_duration_s - report.video_duration_s) < 0.15, report.summary()
    assert got.video_dts_monotonic and got.audio_dts_monotonic
    # one frame apart, everywhere: nothing was dropped or skipped while the stream was down
    assert largest_gap_ms(got.video_dts_ms) <= FRAME_MS + 1.5, largest_gap_ms(got.video_dts_ms)
    assert largest_gap_ms(got.audio_dts_ms) <= AUDIO_FRAME_MS + 1.5
    return got


def run_for(streamer: VideoAudioStreamer, seconds: float, events: dict[float, object]) -> None:
    """Run ``seconds`` from start(), calling each event at its time (stream clock)."""
    start = time.monotonic()
    for at, action in sorted(events.items()):
        assert not streamer.wait(max(0.0, start + at - time.monotonic())), streamer.error
        action()  # type: ignore[operator]
    assert not streamer.wait(max(0.0, start + seconds - time.monotonic())), streamer.error


def test_recording_alongside_is_complete_while_the_ingest_dies(nginx_rtmp, tmp_path):
    server = nginx_rtmp(on_publish_key=None)
    record = tmp_path / "x.mp4"
    streamer = VideoAudioStreamer()
    streamer.initialize(server.url("live1"), record=str(record), **MEDIA)
    seconds = 8.0
    with streamer:
        run_for(streamer, seconds, {2.0: server.kill, 4.0: server.restart})
    stats = streamer.get_statistics()
    rec = next(d for d in stats["destinations"] if d["recording"])
    live = next(d for d in stats["destinations"] if not d["recording"])
    # the stream really went down and came back
    assert live["reconnects"] >= 1 and live["disconnected_s"] > 0.5, live
    # the recording never dropped anything, and got every packet the encoders made
    assert rec["video_packets_dropped"] == rec["audio_packets_dropped"] == 0, rec
    assert rec["video_packets_sent"] == stats["video_packets"], (rec, stats["video_packets"])
    assert rec["audio_packets_sent"] == stats["audio_packets"]
    assert rec["reconnects"] == 0
    check_continuous(record, seconds)


def test_recorder_writes_a_clean_mp4(tmp_path):
    path = tmp_path / "rec.mp4"
    recorder = VideoAudioRecorder()
    recorder.initialize(path, **MEDIA)
    with recorder:
        assert not recorder.wait(3.0), recorder.error
    stats = recorder.get_statistics()
    assert stats["video_packets_dropped"] == stats["audio_packets_dropped"] == 0
    got = check_continuous(path, 3.0)
    assert abs(got.duration - 3.0) < 0.3  # the trailer gives the container its duration


def kill_recorder_midway(tmp_path: Path, seconds: float) -> tuple[Path, float]:
    """``ionia record`` in a subprocess, SIGKILLed ``seconds`` after it started recording.
    Returns the file and how long it had been recording."""
    path = tmp_path / "killed.mp4"
    cmd = [sys.executable, "-m", "ionia", "record", str(path), "--video", "testsrc", "--audio",
           "tone", "--size", "640x360", "--video-bitrate", "1500k", "--fps", str(FPS)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    started = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "streaming to" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(15), "".join(lines)
        began = time.monotonic()
        time.sleep(seconds)
        os.killpg(proc.pid, signal.SIGKILL)
        elapsed = time.monotonic() - began
        proc.wait(5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        reader.join(2)
    assert proc.returncode == -signal.SIGKILL
    return path, elapsed


def test_kill_9_leaves_a_playable_mp4_missing_at_most_the_last_second(tmp_path):
    path, elapsed = kill_recorder_midway(tmp_path, 5.0)
    got = probe(path)
    # no half-written fragment at the end: finished fragments are flushed as they close
    assert got.decode_errors == 0, got.error_text
    covered = got.video_dts_ms[-1] / 1000 + 1 / FPS
    assert covered >= elapsed - 1.2, (covered, elapsed)
    assert got.video_frames >= (elapsed - 1.2) * FPS
    assert got.audio_duration >= elapsed - 1.2
    assert largest_gap_ms(got.video_dts_ms) <= FRAME_MS + 1.5
