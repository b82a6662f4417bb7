"""Enhanced RTMP video tag bodies, byte for byte.

Hand-derived goldens from the specification (veovera/enhanced-rtmp v1) for each tag type,
and the sequence starts compared with FFmpeg 8.1's own FLV muxer on real encoder output:
FFmpeg writes the decoder configuration records independently of our code.
"""

from __future__ import annotations

import io
import struct

import av
import pytest

from ionia.output import exvideo, flv
from ionia.output.av1_config import av1_container_obus, av1_decoder_config
from ionia.output.hevc_config import hevc_annexb_to_lengths
from tests.output.test_rtmp_sink import encoded

#: a 1280x720 8-bit 4:2:0 main-profile sequence header OBU from SVT-AV1 (level 3.1)
AV1_SEQUENCE_HEADER = bytes.fromhex("0a0b0000002d4cffb3c02f8004")
TEMPORAL_DELIMITER = b"\x12\x00"
AV1_FRAME = bytes.fromhex("32030a0b0c")  # OBU_FRAME with a 3-byte payload
HEVC_IDR = b"\x26\x01\xaf\x02"  # NAL type 19 (IDR_W_RADL)
HEVC_AUD = b"\x46\x01\x50"  # NAL type 35


def test_av1_sequence_start_golden():
    # marker/version 0x81; profile 0, level 5 (3.1); tier 0, 8-bit, 4:2:0 (x=1, y=1),
    # chroma position 0; no presentation delay; then the OBU unchanged
    record = bytes([0x81, 0x05, 0x0C, 0x00]) + AV1_SEQUENCE_HEADER
    assert av1_decoder_config(AV1_SEQUENCE_HEADER) == record
    assert exvideo.sequence_start("av1", AV1_SEQUENCE_HEADER) == b"\x90av01" + record
    assert av1_decoder_config(record) == record  # already a record: unchanged


def test_av1_coded_frames_golden():
    unit = TEMPORAL_DELIMITER + AV1_SEQUENCE_HEADER + AV1_FRAME
    body = exvideo.coded_frame("av1", unit, keyframe=True)
    assert body == b"\x91av01" + AV1_SEQUENCE_HEADER + AV1_FRAME  # no delimiter, no CTS
    assert exvideo.coded_frame("av1", TEMPORAL_DELIMITER + AV1_FRAME, keyframe=False)[:5] == (
        b"\xa1av01"
    )
    with pytest.raises(ValueError, match="size field"):
        av1_container_obus(b"\x30\x01")  # an OBU without obu_has_size_field


def test_hevc_coded_frames_golden():
    annexb = b"\x00\x00\x00\x01" + HEVC_AUD + b"\x00\x00\x01" + HEVC_IDR
    lengths = struct.pack(">I", len(HEVC_IDR)) + HEVC_IDR  # the delimiter is left out
    assert hevc_annexb_to_lengths(annexb) == lengths
    # no reordering: CodedFramesX, the composition time implied zero
    assert exvideo.coded_frame("hevc", annexb, keyframe=True) == b"\x93hvc1" + lengths
    # with one: CodedFrames and a signed 24-bit composition time
    assert exvideo.coded_frame("hevc", annexb, keyframe=False, cts_ms=33) == (
        b"\xa1hvc1\x00\x00\x21" + lengths
    )
    assert exvideo.coded_frame("hevc", annexb, keyframe=False, cts_ms=-2)[5:8] == b"\xff\xff\xfe"


def test_sequence_end_and_metadata_golden():
    assert exvideo.sequence_end("hevc") == b"\x92hvc1"
    assert exvideo.sequence_end("av1") == b"\x92av01"
    assert exvideo.sequence_end("h264") is None
    assert exvideo.video_codec_id("hevc") == float(0x68766331)  # "hvc1"
    assert exvideo.video_codec_id("av1") == float(0x61763031)  # "av01"
    assert exvideo.video_codec_id("h264") == 7.0


def test_h264_is_packed_as_before():
    sps_pps = b"\x00\x00\x00\x01\x67\x64\x00\x1f\xac" + b"\x00\x00\x00\x01\x68\xee\x3c\x80"
    assert exvideo.sequence_start("h264", sps_pps) == flv.avc_sequence_header(sps_pps)
    frame = b"\x00\x00\x00\x01\x65\x88\x84"
    assert exvideo.coded_frame("h264", frame, keyframe=True, cts_ms=0) == flv.avc_video(
        frame, keyframe=True
    )


def ffmpeg_sequence_start(ours: bytes, frame: bytes) -> bytes:
    """FFmpeg's flv muxer rewriting the stream our sequence start (and a first frame,
    for the picture size it needs) describes."""
    data = flv.file_header(has_audio=False) + flv.file_tag(flv.TagType.VIDEO, 0, ours)
    data += flv.file_tag(flv.TagType.VIDEO, 0, frame)
    with av.open(io.BytesIO(data), format="flv") as source:
        out_buffer = io.BytesIO()
        with av.open(out_buffer, "w", format="flv") as out:
            out.add_stream_from_template(source.streams.video[0], opaque=True)
            out.start_encoding()
    raw = out_buffer.getvalue()
    pos = 13
    while raw[pos] != flv.TagType.VIDEO:
        pos += 11 + int.from_bytes(raw[pos + 1 : pos + 4], "big") + 4
    size = int.from_bytes(raw[pos + 1 : pos + 4], "big")
    return raw[pos + 11 : pos + 11 + size]


@pytest.mark.parametrize("codec", ["hevc", "av1"])
def test_sequence_start_is_what_ffmpeg_writes(codec):
    encoder, packets = encoded(codec, frames=1)
    ours = exvideo.sequence_start(codec, encoder.extradata)
    assert ours[:5] == b"\x90" + exvideo.FOURCC[codec]
    frame = exvideo.coded_frame(codec, packets[0].data, keyframe=True)
    assert ffmpeg_sequence_start(ours, frame) == ours
