"""HEVC and AV1 encoders with the streaming contract of H.264: software fallback with
every reason logged, keyframes on the grid only, no reordering, and a forced keyframe a
decoder can start at. Their software encoders cannot change bitrate while running."""

import logging

import av
import pytest

from ionia.encoding.codec_options import DEFAULT_PRESETS
from ionia.encoding.selection import hardware_candidates, resolve
from ionia.encoding.video import VideoEncoder, VideoEncoderSettings
from ionia.errors import EncoderError
from tests.encoding.test_video_encoder import encode_frames

FPS = 30
SOFTWARE = {"hevc": "libx265", "av1": "libsvtav1"}
DECODER = {"hevc": "hevc", "av1": "libdav1d"}
CODECS = pytest.mark.parametrize("codec", ["hevc", "av1"])


def settings(codec, **overrides):
    base = dict(
        width=320, height=240, fps=FPS, bitrate=1_000_000, encoder=SOFTWARE[codec],
        codec=codec, preset=DEFAULT_PRESETS[codec],
    )  # fmt: skip
    base.update(overrides)
    return VideoEncoderSettings(**base)


@CODECS
def test_auto_tries_the_hardware_then_software_and_says_why(codec, caplog):
    caplog.set_level(logging.INFO, logger="ionia.encoding")
    encoder = VideoEncoder(settings(codec, encoder="auto"))
    encoder.open()
    assert encoder.name == SOFTWARE[codec]  # no GPU here: the fallback is what we test
    hardware = hardware_candidates(codec=codec)
    assert hardware and all(name.startswith(f"{codec}_") for name in hardware)
    assert set(encoder.fallback_reasons) == set(hardware)
    for name in hardware:
        assert f"encoder {name} not usable here" in caplog.text
    assert resolve("auto", allow_hardware=False, codec=codec) == [SOFTWARE[codec]]
    assert resolve("nvenc", codec=codec) == [f"{codec}_nvenc"]


@CODECS
def test_a_forced_encoder_that_cannot_open_names_the_software_one(codec):
    with pytest.raises(EncoderError, match=f"--encoder {SOFTWARE[codec]}"):
        VideoEncoder(settings(codec, encoder=f"{codec}_nvenc")).open()


@CODECS
def test_keyframes_on_the_grid_and_on_request_with_no_reordering(codec):
    encoder = VideoEncoder(settings(codec, keyint_s=1.0))
    encoder.open()
    packets = encode_frames(
        encoder, 2 * FPS, before=lambda n: encoder.request_keyframe() if n == 40 else None
    )
    assert len(packets) == 2 * FPS  # one packet per frame, at once: no lookahead delay
    assert [i for i, p in enumerate(packets) if p.keyframe] == [0, 30, 40]
    assert encoder.keyframes_forced == 1
    assert all(p.pts_ms == p.dts_ms for p in packets)  # no B-frames
    # the forced keyframe is one a decoder can start at
    decoder = av.CodecContext.create(DECODER[codec], "r")
    decoder.extradata = encoder.extradata
    frames = []
    for p in packets[40:]:
        frames += decoder.decode(av.Packet(p.data))
    frames += decoder.decode(None)
    assert len(frames) == 20


@CODECS
def test_a_bitrate_change_is_refused_honestly(codec, caplog):
    # FFmpeg's libx265 and libsvtav1 wrappers never reconfigure: the bitrate stays, the
    # statistics say so, and a warning tells why (adaptive bitrate is then off)
    encoder = VideoEncoder(settings(codec, bitrate=2_000_000))
    encoder.open()
    assert not encoder.live_bitrate
    encode_frames(encoder, 2)
    encoder.set_bitrate(300_000)
    encode_frames(encoder, 2, start=2)
    assert encoder.bitrate == 2_000_000
    assert f"{SOFTWARE[codec]} cannot change its bitrate while running" in caplog.text
