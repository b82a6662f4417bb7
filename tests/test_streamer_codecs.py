"""HEVC and AV1 through the whole engine, to real peers.

FFmpeg 8.1's listen mode (``ionia.receiver``, PyAV's FFmpeg) reads Enhanced RTMP: what it
receives is decoded with zero errors, at the right codec, size, duration and A/V sync.
nginx-rtmp takes H.264 only: ``--codec hevc`` there ends with the documented error, or
falls back to H.264 with ``fallback_to_h264``. A recording keeps the codec in mp4/mkv.
"""

import itertools
import threading
import time
from pathlib import Path

import pytest

from ionia import ConnectionFailed, VideoAudioStreamer
from ionia.analysis import analyze
from ionia.errors import CodecUnsupported
from ionia.receiver import ReceiveResult, receive
from tests.fixtures.cli import SYNTHETIC, run_ionia
from tests.fixtures.enhanced_server import EnhancedServer, remux
from tests.fixtures.flv import TAG_SCRIPT, TAG_VIDEO, read_flv_tags, write_flv
from tests.fixtures.media import probe
from tests.fixtures.nginx import free_port

KEY = "codec-key-7"
SECONDS = 3.0
FPS = 30
SIZE = (640, 360)
DECODER = {"hevc": "hevc", "av1": "libdav1d", "h264": "h264"}


def streamer_for(target: str, **options: object) -> VideoAudioStreamer:
    streamer = VideoAudioStreamer()
    streamer.initialize(
        target,
        fps=FPS,
        video_bitrate="1M",
        audio_mode="tone",
        video_source="testsrc",
        size="x".join(map(str, SIZE)),
        **options,
    )
    return streamer


def check_media(path: Path, codec: str) -> None:
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": DECODER[codec], "audio": "aac"}
    report = analyze(path)
    assert (report.width, report.height) == SIZE
    assert abs(report.video_duration_s - SECONDS) <= 0.3, report.summary()
    assert report.video_frames >= 0.97 * SECONDS * FPS, report.summary()
    assert report.av_offset_max_ms <= 1000 / FPS, report.av_offsets_ms


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_ffmpeg_listen_mode_receives_enhanced_rtmp(codec, tmp_path):
    url = f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"
    output = tmp_path / "received.mkv"
    results: list[ReceiveResult | BaseException] = []

    def listen() -> None:
        try:
            results.append(receive(url, output, listen_timeout=20))
        except BaseException as exc:  # handed to the test thread
            results.append(exc)

    receiver = threading.Thread(target=listen, name="test-receiver", daemon=True)
    receiver.start()
    deadline = time.monotonic() + 10
    while True:  # listen mode cannot be probed without taking the connection
        streamer = streamer_for(url, codec=codec)
        try:
            streamer.start()
            break
        except ConnectionFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        assert not streamer.wait(SECONDS), streamer.error
    finally:
        streamer.stop()
    stats = streamer.get_statistics()
    receiver.join(15)
    assert not receiver.is_alive()
    assert isinstance(results[0], ReceiveResult), results[0]
    assert stats["encoder"] == {"hevc": "libx265", "av1": "libsvtav1"}[codec]
    assert stats["video_packets_dropped"] == 0
    check_media(output, codec)


def test_nginx_rtmp_refuses_hevc_clearly_and_fast(nginx_rtmp):
    server = nginx_rtmp(on_publish_key=KEY)
    streamer = streamer_for(server.url(KEY), codec="hevc")
    start = time.monotonic()
    with pytest.raises(CodecUnsupported) as info:
        streamer.start()
    assert time.monotonic() - start < 3
    assert info.value.accepted == ("h264",)
    assert "does not take HEVC" in str(info.value) and "takes H264" in str(info.value)
    assert info.value.exit_code == 4
    result = run_ionia("stream", server.url(KEY), *SYNTHETIC, "--codec", "av1")
    assert result.returncode == 4, result.stderr
    assert "does not take AV1" in result.stderr and "--fallback-to-h264" in result.stderr


def test_nginx_rtmp_gets_h264_with_fallback(nginx_rtmp, caplog):
    server = nginx_rtmp(on_publish_key=KEY)
    streamer = streamer_for(server.url(KEY), codec="hevc", fallback_to_h264=True)
    with streamer:
        assert not streamer.wait(1.5), streamer.error
    assert streamer.get_statistics()["encoder"] == "libx264"
    assert "falling back to H.264" in caplog.text
    assert probe(server.recording(KEY)).codecs["video"] == "h264"


@pytest.mark.parametrize(("codec", "suffix"), [("av1", "mp4"), ("hevc", "mkv")])
def test_recording_keeps_the_codec(codec, suffix, tmp_path):
    path = tmp_path / f"show.{suffix}"
    streamer = streamer_for(str(path), codec=codec)
    with streamer:
        assert not streamer.wait(1.5), streamer.error
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": DECODER[codec], "audio": "aac"}
    assert got.video_frames >= 0.97 * 1.5 * FPS


#: Enhanced RTMP's first video byte: IsExHeader, FrameType (bits 4-6), PacketType (0-3)
EX_HEADER, KEY_FRAME, SEQUENCE_START, SEQUENCE_END = 0x80, 1, 0, 2


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_a_reconnect_starts_with_a_fresh_sequence_and_a_keyframe(codec, tmp_path, fault_proxy):
    server = EnhancedServer(["hvc1", "av01"], tmp_path / "got.flv").start()
    try:
        proxy = fault_proxy(server.port)
        streamer = streamer_for(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", codec=codec)
        with streamer:
            assert not streamer.wait(1.0), streamer.error
            assert proxy.cut(rst=True) == 1
            deadline = time.monotonic() + 10
            while streamer.get_statistics()["reconnects"] < 1 or not streamer.is_connected():
                assert time.monotonic() < deadline, streamer.get_statistics()["last_error"]
                assert not streamer.wait(0.05), streamer.error
            assert not streamer.wait(1.0), streamer.error
        stats = streamer.get_statistics()
    finally:
        server.stop()
    video = [t.body for t in read_flv_tags(tmp_path / "got.flv") if t.type == TAG_VIDEO]
    assert all(body[0] & EX_HEADER for body in video)
    kinds = [body[0] & 0x0F for body in video]
    starts = [i for i, kind in enumerate(kinds) if kind == SEQUENCE_START]
    assert len(starts) == 2 == stats["reconnects"] + 1, kinds
    for start in starts:  # each session: its decoder configuration, then a keyframe
        assert (video[start + 1][0] >> 4) & 0x07 == KEY_FRAME, start
    # the polite close of the last session ends its sequence
    assert kinds[-1] == SEQUENCE_END
    # each session is a stream of its own, starting at 0: decode them one by one
    tags = read_flv_tags(tmp_path / "got.flv")
    cuts = [i for i, t in enumerate(tags) if t.type == TAG_SCRIPT] + [len(tags)]
    assert len(cuts) == 3, cuts  # an onMetaData per session
    for n, (a, b) in enumerate(itertools.pairwise(cuts)):
        session = write_flv(tmp_path / f"session{n}.flv", tags[a:b])
        got = probe(remux(session, tmp_path / f"session{n}.mkv"))
        assert got.decode_errors == 0, got.error_text
        assert got.codecs == {"video": DECODER[codec], "audio": "aac"}
        assert got.video_frames >= 0.5 * FPS, (n, got.video_frames)
