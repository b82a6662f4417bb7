"""Real capture, end to end: the Xvfb screen and PulseAudio null sinks, streamed through a
real nginx-rtmp and checked by decoding what it recorded (issue 3)."""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ionia import CaptureError, VideoAudioStreamer
from ionia.analysis import analyze
from ionia.capture import audio_devices, drift, ffmpeg_grab, latest_frame
from ionia.clock import MasterClock
from tests.capture.audio_helpers import peaks
from tests.capture.stream_helpers import (
    Beeper,
    Listener,
    Picture,
    audio_track,
    close_to,
    pair,
    pictures,
    run_onsets,
)
from tests.fixtures.cli import run_ionia
from tests.fixtures.desktop import PulseServer, ScreenPainter, XvfbServer
from tests.fixtures.media import probe

pytestmark = [pytest.mark.capture, pytest.mark.timeout(30)]

KEY = "secret"
FPS = 30
SIZE = "640x360"


def stream(
    url: str,
    seconds: float,
    during: Callable[[VideoAudioStreamer], None] | None = None,
    **options: object,
) -> dict:
    """Stream for ``seconds`` (``during`` runs meanwhile, in this thread); the statistics."""
    streamer = VideoAudioStreamer()
    streamer.initialize(url, fps=FPS, video_bitrate="1500k", size=SIZE, **options)
    with streamer:
        began = time.monotonic()
        if during is not None:
            during(streamer)
        remaining = seconds - (time.monotonic() - began)
        assert not streamer.wait(max(0.0, remaining)), streamer.error
    return streamer.get_statistics()


def loud_span(samples: np.ndarray, threshold: float = 0.05) -> tuple[int, int]:
    """First and last sample index where the 10 ms RMS passes ``threshold``."""
    block = 480
    mono = samples[: len(samples) - len(samples) % block, 0]
    loud = np.flatnonzero(np.sqrt((mono.reshape(-1, block) ** 2).mean(axis=1)) > threshold)
    assert len(loud), "no sound in the recording"
    return int(loud[0]) * block, int(loud[-1] + 1) * block


# --- 1. the screen ----------------------------------------------------------------------

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
#: the box (x, y, w, h on the 1280x720 screen) before and after it moves
BOX_BEFORE, BOX_AFTER = (120, 280, 240, 160), (840, 280, 240, 160)


def test_screen_colours_arrive_at_their_places_and_the_box_moves(
    nginx_rtmp, xvfb: str, screen_painter: ScreenPainter
) -> None:
    screen_painter.fill("#ff0000")
    screen_painter.rect("right", 640, 0, 640, 720, "#0000ff")
    screen_painter.rect("box", *BOX_BEFORE, "#00ff00")

    def move_box(streamer: VideoAudioStreamer) -> None:
        time.sleep(2.0)
        screen_painter.rect("box", *BOX_AFTER, "#00ff00")

    server = nginx_rtmp()
    seconds = 4.0
    stream(
        server.url(KEY),
        seconds,
        move_box,
        video_source="screen",
        audio_mode="none",
        display=xvfb,  # and the pointer drawn (the default), in the middle of the screen
    )
    path = server.recording(KEY)
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": "h264"}
    frames = pictures(path)  # 320x180: a quarter of the screen in each direction
    assert len(frames) >= 0.9 * seconds * FPS
    early = [f for f in frames if f.time < 1.5]
    late = [f for f in frames if f.time > frames[-1].time - 1.2]
    assert early and late

    def at(frame: Picture, x: int, y: int) -> np.ndarray:
        return frame.rgb[y // 4, x // 4]

    def box_centre(frame: Picture) -> float:
        green = np.all(np.abs(frame.rgb.astype(int) - GREEN) <= 40, axis=2)
        assert green.sum() > 0.5 * (240 * 160) / 16, "the green box is not in the frame"
        return float(np.nonzero(green)[1].mean() * 4)

    for frame in early + late:
        # the halves, away from the box and from the compressed edges between colours
        for x, y in [(40, 40), (600, 40), (40, 680), (300, 600)]:
            assert close_to(at(frame, x, y), RED), (frame.time, x, y, at(frame, x, y))
        for x, y in [(700, 40), (1240, 40), (1240, 680), (700, 600)]:
            assert close_to(at(frame, x, y), BLUE), (frame.time, x, y, at(frame, x, y))
    for frame in early:
        assert close_to(at(frame, 240, 360), GREEN)  # the box's centre, on red
        assert close_to(at(frame, 960, 360), BLUE)
        assert abs(box_centre(frame) - 240) < 16
    for frame in late:
        assert close_to(at(frame, 240, 360), RED)  # where the box was
        assert close_to(at(frame, 960, 360), GREEN)  # the box's centre, now on blue
        assert abs(box_centre(frame) - 960) < 16


def test_record_screen_as_typed_keeps_the_true_colours_and_draws_the_pointer(
    tmp_path: Path, xvfb: str, screen_painter: ScreenPainter
) -> None:
    """``ionia record FILE --video screen`` with the default pointer setting on Xvfb."""
    screen_painter.fill("#ff0000")
    screen_painter.rect("right", 640, 0, 640, 720, "#0000ff")
    screen_painter.pointer(320, 360)
    path = tmp_path / "screen.mkv"
    command = ["record", str(path), "--video", "screen", "--audio", "none"]
    result = run_ionia(*command, "--display", xvfb, "--duration", "2")
    assert result.returncode == 0, result.stderr
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    frames = pictures(path)  # 320x180: one pixel per 4x4 block of the screen
    assert len(frames) >= 0.9 * 2 * FPS
    for frame in (frames[0], frames[len(frames) // 2], frames[-1]):
        for x, y in [(40, 40), (600, 40), (40, 680), (600, 680), (200, 360)]:
            assert close_to(frame.rgb[y // 4, x // 4], RED), (frame.time, x, y)
        for x, y in [(700, 40), (1240, 40), (700, 680), (1240, 680), (960, 360)]:
            assert close_to(frame.rgb[y // 4, x // 4], BLUE), (frame.time, x, y)
        # Xvfb's X cursor (black, white rim) on red where the pointer is
        pointer = frame.rgb[360 // 4, 320 // 4]
        assert not close_to(pointer, RED), (frame.time, pointer)


# --- 2. system audio, and system + microphone -------------------------------------------


def test_system_audio_arrives_at_440_hz(nginx_rtmp, pulse: PulseServer) -> None:
    beeper = Beeper(pulse, PulseServer.SYSTEM_SINK)
    server = nginx_rtmp()
    try:
        beeper.beep(time.monotonic() + 0.8, frequency=440, seconds=2.5)
        stream(server.url(KEY), 4.0, video_source="testsrc", audio_mode="system")
    finally:
        beeper.close()
    _, samples = audio_track(server.recording(KEY))
    first, last = loud_span(samples)
    heard = (last - first) / 48000
    tone = samples[first + 4800 : last - 4800]  # the steady part, away from the edges
    found = peaks(tone)
    print(f"system: tone heard for {heard:.2f} s, dominant {found[0]:.1f} Hz")
    assert abs(heard - 2.5) < 0.1
    assert abs(found[0] - 440) <= 5


def test_both_mixes_system_and_microphone(nginx_rtmp, pulse: PulseServer) -> None:
    system = Beeper(pulse, PulseServer.SYSTEM_SINK)
    mic = Beeper(pulse, PulseServer.MIC_SINK)
    server = nginx_rtmp()
    try:
        at = time.monotonic() + 0.8
        system.beep(at, frequency=440, seconds=2.5, level=0.25)
        mic.beep(at, frequency=880, seconds=2.5, level=0.25)
        stream(server.url(KEY), 4.0, video_source="testsrc", audio_mode="both")
    finally:
        system.close()
        mic.close()
    _, samples = audio_track(server.recording(KEY))
    first, last = loud_span(samples)
    found = sorted(peaks(samples[first + 4800 : last - 4800], count=2))
    print(f"both: peaks {found[0]:.1f} Hz and {found[1]:.1f} Hz")
    assert abs(found[0] - 440) <= 5 and abs(found[1] - 880) <= 5


# --- 3. a missing device ----------------------------------------------------------------


def test_missing_device_is_a_warning_and_silence(
    nginx_rtmp, pulse: PulseServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = nginx_rtmp()
    seconds = 3.0
    with caplog.at_level(logging.WARNING, logger="ionia.capture"):
        stats = stream(
            server.url(KEY),
            seconds,
            video_source="testsrc",
            audio_mode="mic",
            audio_device="no-such-device",
        )
    warnings = [r for r in caplog.records if r.name == "ionia.capture" and r.levelno >= 30]
    assert any("no-such-device" in r.getMessage() for r in warnings), caplog.text
    path = server.recording(KEY)
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": "h264", "audio": "aac"}
    span = analyze(path)
    print(
        f"missing device: audio {span.audio_start_s:.3f}-{span.audio_end_s:.3f} s, "
        f"video {span.video_start_s:.3f}-{span.video_end_s:.3f} s"
    )
    # the audio track spans the stream (less the device latency the engine stamps away)
    assert abs(got.audio_duration - seconds) < 0.2, got
    assert span.audio_start_s < 0.05 and span.audio_end_s > span.video_end_s - 0.2, span
    assert got.audio_dts_monotonic
    assert stats["audio_packets_dropped"] == 0
    _, samples = audio_track(path)
    assert np.abs(samples).max() < 0.01  # silence in its place


# --- 4. capture lost ----------------------------------------------------------------------


def test_capture_lost_exits_5_from_the_command_line(nginx_rtmp, xvfb_server: XvfbServer) -> None:
    server = nginx_rtmp()
    command = [sys.executable, "-m", "ionia", "stream", server.url(KEY), "--video", "screen"]
    command += ["--audio", "none", "--display", xvfb_server.display, "--size", SIZE]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        assert proc.poll() is None, proc.communicate()
        xvfb_server.kill()
        killed = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    print(f"capture lost: exit {proc.returncode} {took:.2f} s after the X server died")
    assert proc.returncode == 5, err
    assert "capture lost" in err, err
    assert took < 4.0
    assert KEY not in out + err


def test_capture_lost_ends_the_stream_with_a_capture_error(
    nginx_rtmp, xvfb_server: XvfbServer
) -> None:
    server = nginx_rtmp()
    streamer = VideoAudioStreamer()
    streamer.initialize(
        server.url(KEY),
        fps=FPS,
        size=SIZE,
        video_source="screen",
        audio_mode="none",
        display=xvfb_server.display,
    )
    streamer.start()
    try:
        assert not streamer.wait(1.5), streamer.error
        xvfb_server.kill()
        killed = time.monotonic()
        assert streamer.wait(4.0), "the stream went on without its screen"
        noticed = time.monotonic() - killed
        assert isinstance(streamer.error, CaptureError), streamer.error
        assert "capture lost" in str(streamer.error)
    finally:
        began = time.monotonic()
        streamer.stop()
        stopped = time.monotonic() - began
    print(f"capture lost: noticed after {noticed:.2f} s, stop() took {stopped:.2f} s")
    assert stopped < 2.0
    assert not streamer.is_running()
    # what was sent before the loss is a clean recording
    got = probe(server.recording(KEY))
    assert got.decode_errors == 0, got.error_text
    assert got.video_frames >= FPS


# --- 6. `ionia stream URL`: the desktop and system + mic, with no flags -----------------


def test_stream_with_no_flags_captures_desktop_system_and_mic(
    nginx_rtmp,
    xvfb: str,
    screen_painter: ScreenPainter,
    pulse: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb)
    screen_painter.fill("#00ff00")
    system = Beeper(pulse, PulseServer.SYSTEM_SINK)
    mic = Beeper(pulse, PulseServer.MIC_SINK)
    server = nginx_rtmp()
    try:
        at = time.monotonic() + 1.5  # after the command has started up
        system.beep(at, frequency=440, seconds=2.0, level=0.25)
        mic.beep(at, frequency=880, seconds=2.0, level=0.25)
        result = subprocess.run(
            [sys.executable, "-m", "ionia", "stream", server.url(KEY), "--duration", "3"],
            capture_output=True,
            text=True,
            timeout=25,
        )
    finally:
        system.close()
        mic.close()
    assert result.returncode == 0, result.stderr
    path = server.recording(KEY)
    got = probe(path)
    print(f"no flags: {got}")
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": "h264", "audio": "aac"}
    assert abs(got.duration - 3.0) < 0.4
    assert abs(got.audio_duration - 3.0) < 0.4
    frame = pictures(path)[-1]
    assert frame.rgb.shape == (180, 320, 3)  # the whole 1280x720 screen, quartered
    # (the middle of the screen is where Xvfb keeps the pointer, drawn by default)
    for x, y in [(10, 10), (80, 45), (240, 135), (310, 170)]:
        assert close_to(frame.rgb[y, x], GREEN), (x, y, frame.rgb[y, x])
    _, samples = audio_track(path)
    first, last = loud_span(samples)
    found = sorted(peaks(samples[first + 2400 : last - 2400], count=2))
    assert abs(found[0] - 440) <= 5 and abs(found[1] - 880) <= 5, found


# --- 5. A/V sync with real capture ------------------------------------------------------


class Probes:
    """Where the flash and the beep are on their way through the engine, timed with
    ``time.monotonic()`` by wrapping its methods (instrumentation only, nothing changed):
    x11grab frames as grabbed, frames as the video pump takes them for slot ``n``, parec
    blocks as they reach the drift buffer, samples as the AudioEngine pulls them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.origin = 0.0
        self.grabbed: list[tuple[float, bool]] = []
        self.slots: list[tuple[float, int]] = []
        self.parec: list[float] = []
        self.pulled: list[int] = []
        self.buffers: list[drift.DriftBuffer] = []
        probes = self
        grab, take = ffmpeg_grab.ScreenSource._frames, latest_frame.LatestFrameSource.read
        write, pull = drift.DriftBuffer.write, audio_devices.DeviceAudioSource.read
        start_clock = MasterClock.start

        def clock_started(clock: MasterClock) -> None:
            start_clock(clock)
            probes.origin = clock.origin

        def frames(source):  # type: ignore[no-untyped-def]
            for frame in grab(source):
                probes.grabbed.append((time.monotonic(), _white(frame)))
                yield frame

        def taken(source, index):  # type: ignore[no-untyped-def]
            frame = take(source, index)
            if frame is not None and _white(frame):
                probes.slots.append((time.monotonic(), index))
            return frame

        def written(buffer, block):  # type: ignore[no-untyped-def]
            if buffer not in probes.buffers:
                probes.buffers.append(buffer)
            loud = np.flatnonzero(np.abs(block[:, 0]) > 0.1)
            if len(loud):  # the block's last sample arrived now, its first loud one earlier
                probes.parec.append(time.monotonic() - (len(block) - loud[0]) / 48000)
            return write(buffer, block)

        def pulled(source, start, count):  # type: ignore[no-untyped-def]
            samples = pull(source, start, count)
            loud = np.flatnonzero(np.abs(samples[:, 0]) > 0.1)
            if len(loud):
                probes.pulled.append(start + int(loud[0]))
            return samples

        monkeypatch.setattr(MasterClock, "start", clock_started)
        monkeypatch.setattr(ffmpeg_grab.ScreenSource, "_frames", frames)
        monkeypatch.setattr(latest_frame.LatestFrameSource, "read", taken)
        monkeypatch.setattr(drift.DriftBuffer, "write", written)
        monkeypatch.setattr(audio_devices.DeviceAudioSource, "read", pulled)

    def breakdown(self, shown: float, on_monitor: float) -> str | None:
        """One event, in ms on the master clock relative to the flash being on screen."""
        grab = next((t for t, white in self.grabbed if white and t >= shown - 0.005), None)
        slot = next((n for t, n in self.slots if t >= shown - 0.005), None)
        parec = next((t for t in self.parec if t >= on_monitor - 0.05), None)
        clock_shown = (shown - self.origin) * 1000
        pulled = next((s for s in self.pulled if s / 48 >= clock_shown - 50), None)
        if grab is None or slot is None or parec is None or pulled is None:
            return None
        return (
            f"flash at clock {clock_shown:.1f}: x11grab +{1000 * (grab - shown):.1f}, "
            f"video PTS +{slot * 1000 / FPS - clock_shown:.1f}; "
            f"beep on monitor {1000 * (on_monitor - shown):+.1f}, "
            f"parec {1000 * (parec - shown):+.1f}, "
            f"pulled at clock +{pulled / 48 - clock_shown:.1f}, "
            f"audio PTS {pulled / 48 - LATENCY_MS - clock_shown:+.1f}"
        )


def _white(frame) -> bool:  # type: ignore[no-untyped-def]
    """A bgr0 x11grab frame is white at (100, 100): read in place, no copy of the frame."""
    plane = frame.planes[0]
    return bool(np.frombuffer(plane, dtype=np.uint8)[100 * plane.line_size + 400] > 200)


#: what the engine stamps system audio earlier by (DeviceAudioSource.latency_s)
LATENCY_MS = 1000 * audio_devices.DeviceAudioSource("system").latency_s


def test_flash_and_beep_arrive_together(
    nginx_rtmp,
    xvfb: str,
    screen_painter: ScreenPainter,
    pulse: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A white flash on the screen and a 1 kHz beep into the system sink, at one instant,
    five times: the stream adds at most 40 ms (median) to the beep's own offset from the
    flash as the machine delivered them (measured per stimulus).

    Each stimulus is timed on its own: the flash is on screen once Tk has flushed it to
    the X server (within ~2 ms of asking), the beep is on the sink's monitor when a
    2 ms ``parec`` first hears it; the beeper's lead is calibrated away before streaming.
    """
    probes = Probes(monkeypatch)
    screen_painter.fill("#000000")
    beeper = Beeper(pulse, PulseServer.SYSTEM_SINK)
    listener = Listener(pulse, f"{PulseServer.SYSTEM_SINK}.monitor")
    events: list[dict[str, float]] = []

    def flash_and_beep(streamer: VideoAudioStreamer) -> None:
        time.sleep(1.0)  # parec connected, drift buffer primed
        for _ in range(5):
            instant = time.monotonic() + 0.2
            beeper.beep(instant - lead, frequency=1000, seconds=0.1)
            time.sleep(max(0.0, instant - time.monotonic()))
            sent = time.monotonic()
            screen_painter.fill("#ffffff")  # returns 50 ms after Tk has flushed to X
            events.append({"sent": sent, "shown": time.monotonic() - 0.05})
            time.sleep(0.05)
            screen_painter.fill("#000000")
            time.sleep(0.45)

    server = nginx_rtmp()
    try:
        # the beeper writes ahead of time: how far ahead does its sound reach the monitor
        calibration = time.monotonic() + 0.1
        beeper.beep(calibration, seconds=0.05)
        time.sleep(0.4)
        heard = listener.onset_after(calibration)
        assert heard is not None, "the calibration beep never reached the monitor"
        lead = heard - calibration
        stream(
            server.url(KEY),
            5.5,
            flash_and_beep,
            video_source="screen",
            audio_mode="system",
            display=xvfb,
            cursor=False,
        )
    finally:
        beeper.close()
        listener.close()
    report = analyze(server.recording(KEY))
    flashes = run_onsets(report.flashes_s)
    offsets = pair(flashes, report.beeps_s)
    lines = [
        f"beeper lead {1000 * lead:+.1f} ms (calibrated)",
        f"flash onsets in the recording (s) {flashes}",
        f"beep onsets in the recording (s) {report.beeps_s}",
        f"RECORDED beep - flash (ms): {offsets}",
    ]
    stimulus = []
    for e in events:
        on_monitor = listener.onset_after(e["sent"])
        if on_monitor is None:
            lines.append(f"the beep of the flash at {e['shown']:.3f} never reached the monitor")
            continue
        stimulus.append(1000 * (on_monitor - e["shown"]))
        lines.append(
            f"X drew the flash {1000 * (e['shown'] - e['sent']):.1f} ms after asking; "
            + (probes.breakdown(e["shown"], on_monitor) or "(a probe missed it)")
        )
    drift_stats = [buffer.stats() for buffer in probes.buffers]
    lines.append(f"drift buffers: {drift_stats}")
    summary = "\n".join(lines)
    print(summary)
    # The stimulus itself is only as punctual as the machine: its beep has reached the
    # monitor from 11 up to 53 ms after its flash (paplay's start-up, PulseAudio's
    # scheduling). What is judged is what the stream added to it, the recorded offset less
    # the stimulus's own, so the stimulus only has to be well inside the pairing window
    # (300 ms) for a beep to be paired with its own flash.
    assert len(stimulus) >= 4 and max(abs(s) for s in stimulus) <= 100, summary
    assert len(offsets) >= 4, summary
    added = statistics.median(offsets) - statistics.median(stimulus)
    assert abs(added) <= 40, f"the stream added {added:+.1f} ms\n{summary}"
