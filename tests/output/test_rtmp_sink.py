"""An RTMP session of HEVC or AV1, as a test ingest receives it: the Enhanced RTMP connect,
metadata, sequence start, coded frames and, on a polite close, the sequence end.

The ingest answers ``connect`` as an Enhanced RTMP server should, listing the FourCCs it
takes; the frames come from the real encoders.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from ionia.encoding.video import EncoderOptions, VideoEncoder, VideoEncoderSettings
from ionia.errors import CodecUnsupported
from ionia.output.exvideo import fourcc_number
from ionia.output.rtmp_sink import RtmpSink
from ionia.output.sink import StreamHeaders
from ionia.packet import EncodedPacket
from ionia.rtmp import amf0
from ionia.rtmp.url import parse_rtmp_url
from tests.fixtures.enhanced_server import EnhancedServer
from tests.fixtures.flv import read_flv_tags
from tests.fixtures.rtmp_server import RtmpServer

PRESETS = {"h264": "ultrafast", "hevc": "ultrafast", "av1": "12"}


def encoded(codec: str, frames: int = 12) -> tuple[VideoEncoder, list[EncodedPacket]]:
    options = EncoderOptions(codec=codec, preset=PRESETS[codec], keyint_s=0.2)
    encoder = VideoEncoder(
        VideoEncoderSettings.of(options, width=160, height=96, fps=30, bitrate=300_000)
    )
    encoder.open()
    packets = []
    for i in range(frames):
        picture = np.full((96, 160, 3), (i * 20) % 256, dtype=np.uint8)
        packets += encoder.encode(av.VideoFrame.from_ndarray(picture, format="rgb24"), i)
    return encoder, packets + encoder.flush()


def publish(server: RtmpServer, codec: str) -> list[EncodedPacket]:
    encoder, packets = encoded(codec)
    sink = RtmpSink(parse_rtmp_url(server.url("key")), connect_timeout=3, io_timeout=3)
    headers = StreamHeaders(
        width=160, height=96, fps=30, video_bitrate=300_000,
        video_config=encoder.extradata, codec=codec,
    )  # fmt: skip
    try:
        sink.open(headers, rebase=False)
        for packet in packets:
            sink.write(packet)
    finally:
        sink.close(1.0)
    return packets


@pytest.mark.parametrize(("codec", "fourcc"), [("hevc", b"hvc1"), ("av1", b"av01")])
def test_an_enhanced_rtmp_session(codec: str, fourcc: bytes, tmp_path: Path) -> None:
    server = EnhancedServer(["hvc1", "av01"], tmp_path / "got.flv").start()
    try:
        packets = publish(server, codec)
    finally:
        server.stop()
    assert server.connect_properties["fourCcList"] == ["av01", "hvc1", "avc1"]
    tags = read_flv_tags(tmp_path / "got.flv")
    (meta,) = [amf0.decode(t.body) for t in tags if t.type == 18]
    assert meta[1]["videocodecid"] == fourcc_number(fourcc)
    video = [t for t in tags if t.type == 9]
    assert [t.body[:5] for t in video[:1]] == [b"\x90" + fourcc]  # key, SequenceStart
    frames = video[1:-1]
    assert len(frames) == len(packets)
    coded = 1 if codec == "av1" else 3  # AV1 CodedFrames; HEVC without reordering: X
    for tag, packet in zip(frames, packets, strict=True):
        frame_type = 1 if packet.keyframe else 2
        assert tag.body[:5] == bytes([0x80 | frame_type << 4 | coded]) + fourcc
    assert [p.keyframe for p in packets].count(True) == 2  # 0.2 s GOP of 12 frames
    # the polite close ends the sequence at the last frame's time
    assert video[-1].body == b"\x92" + fourcc
    assert video[-1].timestamp_ms == frames[-1].timestamp_ms


def test_a_server_listing_other_codecs_refuses_before_any_media(tmp_path: Path) -> None:
    server = EnhancedServer(["av01"], tmp_path / "got.flv").start()
    try:
        with pytest.raises(CodecUnsupported) as caught:
            publish(server, "hevc")
    finally:
        server.stop()
    assert caught.value.accepted == ("h264", "av1")
    assert "takes H264, AV1" in str(caught.value)
    assert read_flv_tags(tmp_path / "got.flv") == []


def test_h264_connects_and_closes_as_before(tmp_path: Path) -> None:
    server = EnhancedServer([], tmp_path / "got.flv").start()
    try:
        publish(server, "h264")
    finally:
        server.stop()
    assert "fourCcList" not in server.connect_properties
    video = [t for t in read_flv_tags(tmp_path / "got.flv") if t.type == 9]
    assert video[0].body[:2] == b"\x17\x00"  # legacy AVC sequence header
    assert video[-1].body[0] & 0x80 == 0  # a frame: no end of sequence
