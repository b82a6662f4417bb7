import logging

import av
import pytest

from ionia.capture.testsrc import TestPatternSource
from ionia.encoding.selection import hardware_candidates, resolve
from ionia.encoding.video import VideoEncoder, VideoEncoderSettings
from ionia.errors import EncoderError

FPS = 30


def settings(**overrides):
    base = dict(width=320, height=240, fps=FPS, bitrate=1_000_000, encoder="x264")
    base.update(overrides)
    return VideoEncoderSettings(**base)


def encode_frames(encoder, count, start=0, before=None):
    source = TestPatternSource(320, 240, FPS, flash=False)
    source.open()
    packets = []
    for n in range(start, start + count):
        if before:
            before(n)
        packets += encoder.encode(source.read(n), n)
    return packets


def test_auto_falls_back_to_x264_and_says_why(caplog):
    caplog.set_level(logging.INFO, logger="ionia.encoding")
    encoder = VideoEncoder(settings(encoder="auto"))
    encoder.open()
    assert encoder.name == "libx264"  # no GPU on this machine: the fallback is what we test
    assert set(encoder.fallback_reasons) == set(hardware_candidates())
    for name in hardware_candidates():
        assert f"encoder {name} not usable here" in caplog.text


def test_use_nvenc_false_forces_software():
    assert resolve("auto", allow_hardware=False) == ["libx264"]


def test_forcing_an_encoder_that_cannot_open_fails_clearly():
    name = next(iter(hardware_candidates()), "h264_nonexistent")
    with pytest.raises(EncoderError, match="--encoder x264"):
        VideoEncoder(settings(encoder=name)).open()


def test_gop_no_bframes_and_global_header():
    encoder = VideoEncoder(settings(keyint_s=1.0))
    encoder.open()
    assert encoder.extradata.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))
    packets = encode_frames(encoder, 3 * FPS)
    keyframes = [i for i, p in enumerate(packets) if p.keyframe]
    assert keyframes == [0, 30, 60]
    assert all(p.pts_ms == p.dts_ms for p in packets)  # no B-frames
    assert [p.pts_ms for p in packets[:3]] == [0, 33, 67]


def test_keyframe_on_request():
    encoder = VideoEncoder(settings(keyint_s=10.0))
    encoder.open()
    packets = encode_frames(
        encoder, 20, before=lambda n: encoder.request_keyframe() if n == 7 else None
    )
    assert [i for i, p in enumerate(packets) if p.keyframe] == [0, 7]
    assert encoder.keyframes_forced == 1
    # the forced keyframe is an IDR: a decoder can start there
    codec = av.CodecContext.create("h264", "r")
    codec.extradata = encoder.extradata
    frames = []
    for p in packets[7:]:
        frames += codec.decode(av.Packet(p.data))
    assert len(frames) >= 12


def test_bitrate_change_while_running():
    encoder = VideoEncoder(settings(bitrate=2_000_000, keyint_s=1.0))
    encoder.open()
    high = encode_frames(encoder, 3 * FPS)
    encoder.set_bitrate(300_000)
    low = encode_frames(encoder, 3 * FPS, start=3 * FPS)
    high_bytes = sum(p.size for p in high[FPS:])
    low_bytes = sum(p.size for p in low[FPS:])  # skip a second for VBV to settle
    assert encoder.bitrate == 300_000
    assert low_bytes < high_bytes / 3, (high_bytes, low_bytes)
    assert low_bytes * 8 / 2 < 300_000 * 1.5
