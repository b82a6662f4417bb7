"""The whole engine against real ingests on loopback: nginx-rtmp and FFmpeg's listen mode.

What arrives is checked by decoding it: ffmpeg counts decode errors, ``ionia.analysis``
finds the flash and the beep to measure A/V sync.
"""

import json
import subprocess
import sys
import threading
import time

import pytest

from ionia import ConnectionFailed, PublishRejected, VideoAudioStreamer
from ionia.analysis import analyze
from ionia.output.rtmp_sink import ack_window_size, send_buffer_size
from tests.fixtures.cli import SYNTHETIC, run_ionia
from tests.fixtures.media import probe
from tests.fixtures.nginx import free_port

KEY = "sEcReT-key-4242"
SECONDS = 8.0
FPS = 30
FRAME_MS = 1000 / FPS


def stream_for(url: str, seconds: float, **options) -> dict:
    streamer = VideoAudioStreamer()
    streamer.initialize(
        url,
        fps=FPS,
        video_bitrate="1500k",
        audio_mode="tone",
        video_source="testsrc",
        size="640x360",
        **options,
    )
    with streamer:
        assert not streamer.wait(seconds), streamer.error
    return streamer.get_statistics()


def check_recording(path, stats: dict) -> None:
    """The checks of the core issue: decodes, right codecs, duration, frames, sync."""
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": "h264", "audio": "aac"}
    report = analyze(path)
    assert abs(report.video_duration_s - SECONDS) <= 0.3, report.summary()
    assert report.video_frames >= 0.97 * SECONDS * FPS, report.summary()
    # audio covers the same span as video
    assert abs(report.audio_start_s - report.video_start_s) < 0.05
    assert abs(report.audio_end_s - report.video_end_s) < 0.1
    assert len(report.av_offsets_ms) >= SECONDS - 1
    assert report.av_offset_max_ms <= FRAME_MS, report.av_offsets_ms
    assert got.video_dts_monotonic and got.audio_dts_monotonic
    # statistics agree with what arrived
    assert stats["video_packets_sent"] == report.video_frames
    assert stats["video_packets_dropped"] == stats["audio_packets_dropped"] == 0
    assert 0 < stats["bytes_acked"] <= stats["bytes_sent"]


def test_nginx_rtmp_receives_a_clean_stream(nginx_rtmp):
    server = nginx_rtmp(on_publish_key=KEY)
    stats = stream_for(server.url(KEY), SECONDS)
    check_recording(server.recording(KEY), stats)
    assert stats["encoder"] == "libx264"
    assert 1000 < stats["bitrate_kbps"] < 2500


def test_ionia_receive_gets_a_clean_stream(tmp_path):
    url = f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"
    output = tmp_path / "received.flv"
    receiver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ionia",
            "receive",
            url,
            "--output",
            str(output),
            "--listen-timeout",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # listen mode cannot be probed without taking the connection
            try:
                stats = stream_for(url, SECONDS)
                break
            except ConnectionFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        out, err = receiver.communicate(timeout=20)
    finally:
        receiver.kill()
    assert receiver.returncode == 0, err
    assert "decode errors: 0" in out
    assert KEY not in out + err
    check_recording(output, stats)


def test_wrong_key_is_rejected_fast_and_never_printed(nginx_rtmp):
    server = nginx_rtmp(on_publish_key=KEY)
    streamer = VideoAudioStreamer()
    streamer.initialize(
        server.url("wrong-key-777"), video_source="testsrc", audio_mode="tone", size="320x240"
    )
    start = time.monotonic()
    with pytest.raises(PublishRejected) as info:
        streamer.start()
    assert time.monotonic() - start < 3
    assert "wrong-key-777" not in str(info.value)
    assert not streamer.is_running()
    result = run_ionia("stream", server.url("wrong-key-777"), *SYNTHETIC)
    assert result.returncode == 4, result.stderr
    assert "rejected" in result.stderr.lower()
    assert "wrong-key-777" not in result.stdout + result.stderr


def test_refused_connection_exits_3_fast():
    url = f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"
    start = time.monotonic()
    result = run_ionia("stream", url, *SYNTHETIC)
    assert time.monotonic() - start < 5 + 2  # + interpreter start-up
    assert result.returncode == 3, result.stderr
    assert "refused" in result.stderr.lower()
    assert KEY not in result.stdout + result.stderr


def test_silent_server_times_out_within_connect_timeout(bad_server):
    server = bad_server("silent")
    streamer = VideoAudioStreamer()
    streamer.initialize(
        f"rtmp://127.0.0.1:{server.port}/live/{KEY}",
        video_source="testsrc",
        audio_mode="tone",
        size="320x240",
        connect_timeout=2.0,
    )
    start = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        streamer.start()
    assert time.monotonic() - start < 5
    assert KEY not in str(info.value)


def test_api_lifecycle_like_the_original_suite(nginx_rtmp, tmp_path):
    server = nginx_rtmp(on_publish_key=None, record=False)
    before = {t.name for t in threading.enumerate()}
    streamer = VideoAudioStreamer()
    streamer.initialize(
        server.url(KEY),
        30,
        2_000_000,
        True,
        128_000,
        "tone",
        video_source="testsrc",
        size="640x360",
    )
    streamer.start()
    assert streamer.is_running()
    deadline = time.monotonic() + 5
    while streamer.get_statistics()["video_packets"] == 0:
        assert time.monotonic() < deadline, "no video packets within 5 s"
        time.sleep(0.05)
    deadline = time.monotonic() + 8
    while not streamer.is_connected():
        assert time.monotonic() < deadline, "not connected within 8 s"
        time.sleep(0.05)
    time.sleep(2)
    assert not streamer.is_backpressure()
    assert streamer.get_codec_name() == "libx264"
    live = streamer.get_statistics()
    assert KEY not in json.dumps(live) and KEY not in repr(streamer.config)
    start = time.monotonic()
    streamer.stop()
    assert time.monotonic() - start < 3
    stats = streamer.get_statistics()
    assert not streamer.is_running() and not streamer.is_connected()
    assert stats["video_packets"] >= 60 and stats["audio_packets"] >= 90
    assert stats["frames_encoded"] == stats["video_packets"]
    assert stats["bytes_sent"] > 100_000 and stats["uptime_s"] >= 2
    assert stats["last_error"] == "" and stats["reconnects"] == 0
    leftover = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert not {n for n in leftover if n.startswith("ionia")}, leftover


def test_rtmps_verifies_the_certificate(nginx_rtmp):
    server = nginx_rtmp(on_publish_key=None, record=False, tls=True)
    url = server.url(KEY, tls=True)
    streamer = VideoAudioStreamer()
    streamer.initialize(url, video_source="testsrc", audio_mode="tone", size="320x240")
    with pytest.raises(ConnectionFailed, match=r"(?i)certificate") as info:
        streamer.start()
    assert KEY not in str(info.value)
    streamer.initialize(
        url, video_source="testsrc", audio_mode="tone", size="320x240", ca_file=server.ca_file
    )
    with streamer:
        assert not streamer.wait(1.5)
        assert streamer.is_connected()
        live = streamer.get_statistics()
    # nginx, behind its TLS front, acknowledges each window it has read: all but the last
    # window and what is on the way (our SO_SNDBUF, doubled by Linux; the front's receive
    # and send buffers, the kernel's defaults, and its 16 KiB proxy buffer; nginx-rtmp's
    # receive buffer), so a session that is never acknowledged fails here
    config = streamer.config
    bitrate = config.video_bitrate + config.audio_bitrate
    with open("/proc/sys/net/ipv4/tcp_rmem") as f:
        rmem = int(f.read().split()[1])
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem = int(f.read().split()[1])
    on_the_way = 2 * send_buffer_size(bitrate) + 2 * rmem + wmem + 16 * 1024
    sent, acked, window = live["bytes_sent"], live["bytes_acked"], ack_window_size(bitrate)
    assert window <= acked <= sent, (sent, acked, window)  # the first ack: a whole window
    assert sent - acked <= window + on_the_way, (sent, acked, window, on_the_way)


def test_timestamps_past_0xffffff_ms_use_extended_timestamps(nginx_rtmp):
    """A stream 4 h 39 min old: the clock starts 2 s before RTMP's 24-bit timestamp limit."""
    server = nginx_rtmp(on_publish_key=None)
    limit_s = 0xFFFFFF / 1000
    stats = stream_for(server.url(KEY), 4.0, clock_offset=limit_s - 2.0)
    got = probe(server.recording(KEY))
    assert got.decode_errors == 0, got.error_text
    assert got.video_dts_monotonic and got.audio_dts_monotonic
    # 4 s of stream across the limit, no jump; the recording keeps the absolute clock
    assert got.video_dts_ms[0] < 0xFFFFFF < got.video_dts_ms[-1]
    assert 3.7 <= (got.video_dts_ms[-1] - got.video_dts_ms[0]) / 1000 <= 4.3
    assert got.video_frames >= 0.97 * 4 * FPS
    assert stats["video_packets_dropped"] == 0
