"""Video tag bodies for every codec: H.264 as legacy FLV, HEVC and AV1 as Enhanced RTMP.

Enhanced RTMP (veovera/enhanced-rtmp, v1) keeps the tag and replaces its first byte:
the top bit (IsExHeader) set, the frame type in the next three, a VideoPacketType in the
low four, then the codec's FourCC. HEVC frames carry a composition time offset unless it
is zero (CodedFramesX saves those three bytes); AV1 frames never do (AV1 has no
reordering in a temporal unit). ``SequenceEnd`` tells a server the stream ended on
purpose, so it need not wait for more.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from ionia.output import flv
from ionia.output.av1_config import av1_container_obus, av1_decoder_config
from ionia.output.flv import FrameType
from ionia.output.hevc_config import hevc_annexb_to_lengths, hevc_decoder_config

IS_EX_HEADER = 0x80
#: the FourCC of each codec Ionia sends as Enhanced RTMP
FOURCC = {"hevc": b"hvc1", "av1": b"av01"}
#: ``avc1`` in ``fourCcList`` too: an Enhanced RTMP server may read it as the H.264 we fall
#: back to; legacy servers ignore the whole property
CONNECT_FOURCCS = ("av01", "hvc1", "avc1")


class VideoPacketType(IntEnum):
    SEQUENCE_START = 0
    CODED_FRAMES = 1
    SEQUENCE_END = 2
    CODED_FRAMES_X = 3


def fourcc_number(fourcc: bytes) -> float:
    """A FourCC as onMetaData's ``videocodecid`` holds it: the 32-bit big-endian number."""
    return float(int.from_bytes(fourcc, "big"))


def ex_video_header(codec: str, frame_type: FrameType, packet_type: VideoPacketType) -> bytes:
    return bytes([IS_EX_HEADER | (frame_type << 4) | packet_type]) + FOURCC[codec]


def video_codec_id(codec: str) -> float:
    """onMetaData's ``videocodecid``: FLV's 7 for H.264, the FourCC for the others."""
    return float(flv.VIDEO_CODEC_AVC) if codec == "h264" else fourcc_number(FOURCC[codec])


def decoder_config(codec: str, extradata: bytes) -> bytes:
    """The record a sequence start carries, from the encoder's extradata."""
    if codec == "h264":
        return flv.avc_decoder_config(extradata)
    if codec == "hevc":
        return hevc_decoder_config(extradata)
    return av1_decoder_config(extradata)


def sequence_start(codec: str, extradata: bytes) -> bytes:
    if codec == "h264":
        return flv.avc_sequence_header(extradata)
    header = ex_video_header(codec, FrameType.KEY, VideoPacketType.SEQUENCE_START)
    return header + decoder_config(codec, extradata)


def frame_data(codec: str, data: bytes) -> bytes:
    """An encoded access unit as FLV and MP4 carry it (length-prefixed NAL units, OBUs)."""
    if codec == "h264":
        return flv.annexb_to_avcc(data)
    if codec == "hevc":
        return hevc_annexb_to_lengths(data)
    return av1_container_obus(data)


def coded_frame(codec: str, data: bytes, *, keyframe: bool, cts_ms: int = 0) -> bytes:
    """The tag body of one encoded frame."""
    if codec == "h264":
        return flv.avc_video(data, keyframe=keyframe, cts_ms=cts_ms)
    frame_type = FrameType.KEY if keyframe else FrameType.INTER
    if codec == "hevc" and cts_ms:
        header = ex_video_header(codec, frame_type, VideoPacketType.CODED_FRAMES)
        return header + struct.pack(">i", cts_ms)[1:] + frame_data(codec, data)
    packet_type = VideoPacketType.CODED_FRAMES if codec == "av1" else VideoPacketType.CODED_FRAMES_X
    return ex_video_header(codec, frame_type, packet_type) + frame_data(codec, data)


def sequence_end(codec: str) -> bytes | None:
    """The end-of-sequence tag body; None for H.264, whose stream ends as it always has."""
    if codec == "h264":
        return None
    return ex_video_header(codec, FrameType.KEY, VideoPacketType.SEQUENCE_END)
