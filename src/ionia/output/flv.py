"""FLV tag bodies for H.264 and AAC: what RTMP's video and audio messages carry.

The format is small, so we pack it directly instead of running FFmpeg's muxer per packet:
no interleaving queue (zero added delay) and audio never waits for video. Encoders give
H.264 in Annex-B (start codes); FLV wants AVCC (length-prefixed NAL units) with the
SPS/PPS in an AVCDecoderConfigurationRecord sent once as the sequence header.
"""

from __future__ import annotations

import re
import struct
from enum import IntEnum

VIDEO_CODEC_AVC = 7
AUDIO_CODEC_AAC = 10
#: AAC, "44 kHz" (FLV's largest rate code: the real rate is in the AudioSpecificConfig),
#: 16-bit, stereo
AAC_AUDIO_FLAGS = (AUDIO_CODEC_AAC << 4) | (3 << 2) | (1 << 1) | 1


class FrameType(IntEnum):
    KEY = 1
    INTER = 2


class AvcPacketType(IntEnum):
    SEQUENCE_HEADER = 0
    NALU = 1
    END_OF_SEQUENCE = 2


class AacPacketType(IntEnum):
    SEQUENCE_HEADER = 0
    RAW = 1


class NalType(IntEnum):
    IDR = 5
    SPS = 7
    PPS = 8
    AUD = 9


_START_CODE = re.compile(b"\x00\x00\x01")


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream (3- or 4-byte start codes)."""
    starts = [m.end() for m in _START_CODE.finditer(data)]
    nals = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nal = data[start:end]
        # A 4-byte start code leaves its leading zero at the end of the previous unit.
        if i + 1 < len(starts) and nal.endswith(b"\x00"):
            nal = nal.rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def is_avcc_record(extradata: bytes) -> bool:
    return len(extradata) >= 7 and extradata[0] == 1


def avc_parameter_sets(extradata: bytes) -> tuple[list[bytes], list[bytes]]:
    """The SPS and the PPS NAL units of an encoder's extradata (Annex-B or an avcC record)."""
    if not is_avcc_record(extradata):
        nals = split_annexb(extradata)
        return (
            [n for n in nals if n[0] & 0x1F == NalType.SPS],
            [n for n in nals if n[0] & 0x1F == NalType.PPS],
        )
    found: tuple[list[bytes], list[bytes]] = ([], [])
    pos, count = 6, extradata[5] & 0x1F
    for index, units in enumerate(found):
        if index == 1:  # the PPS count follows the last SPS
            count, pos = extradata[pos], pos + 1
        for _ in range(count):
            (size,) = struct.unpack_from(">H", extradata, pos)
            units.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
    return found


def avc_decoder_config(extradata: bytes) -> bytes:
    """An AVCDecoderConfigurationRecord from an encoder's extradata (Annex-B or already AVCC)."""
    if is_avcc_record(extradata):
        return extradata
    sps, pps = avc_parameter_sets(extradata)
    if not sps or not pps:
        raise ValueError("H.264 extradata holds no SPS/PPS")
    record = bytearray([1, sps[0][1], sps[0][2], sps[0][3], 0xFF, 0xE0 | len(sps)])
    for unit in sps:
        record += struct.pack(">H", len(unit)) + unit
    record.append(len(pps))
    for unit in pps:
        record += struct.pack(">H", len(unit)) + unit
    return bytes(record)


def annexb_to_avcc(data: bytes) -> bytes:
    """Length-prefix every NAL unit; access unit delimiters carry nothing FLV needs."""
    if not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return data  # already length-prefixed (some hardware encoders)
    return b"".join(
        struct.pack(">I", len(nal)) + nal
        for nal in split_annexb(data)
        if nal[0] & 0x1F != NalType.AUD
    )


def _video_header(frame_type: FrameType, packet_type: AvcPacketType, cts_ms: int) -> bytes:
    cts = struct.pack(">i", cts_ms)[1:]  # signed 24-bit composition time offset
    return bytes([(frame_type << 4) | VIDEO_CODEC_AVC, packet_type]) + cts


def avc_sequence_header(extradata: bytes) -> bytes:
    return _video_header(FrameType.KEY, AvcPacketType.SEQUENCE_HEADER, 0) + avc_decoder_config(
        extradata
    )


def avc_video(data: bytes, *, keyframe: bool, cts_ms: int = 0) -> bytes:
    frame_type = FrameType.KEY if keyframe else FrameType.INTER
    return _video_header(frame_type, AvcPacketType.NALU, cts_ms) + annexb_to_avcc(data)


def aac_sequence_header(audio_specific_config: bytes) -> bytes:
    return bytes([AAC_AUDIO_FLAGS, AacPacketType.SEQUENCE_HEADER]) + audio_specific_config


def aac_audio(data: bytes) -> bytes:
    return bytes([AAC_AUDIO_FLAGS, AacPacketType.RAW]) + data


def on_metadata(
    *,
    width: int,
    height: int,
    fps: float,
    video_bitrate: int,
    audio_bitrate: int | None,
    encoder: str,
    video_codec_id: float = float(VIDEO_CODEC_AVC),
) -> dict[str, object]:
    """The ``onMetaData`` properties services read (sizes, rates in kbit/s, codec ids;
    ``video_codec_id`` is a FourCC's number for Enhanced RTMP, see ``exvideo``)."""
    meta: dict[str, object] = {
        "duration": 0.0,
        "width": float(width),
        "height": float(height),
        "videodatarate": video_bitrate / 1000,
        "framerate": float(fps),
        "videocodecid": video_codec_id,
        "encoder": encoder,
    }
    if audio_bitrate is not None:
        meta.update(
            audiodatarate=audio_bitrate / 1000,
            audiosamplerate=48000.0,
            audiosamplesize=16.0,
            stereo=True,
            audiocodecid=float(AUDIO_CODEC_AAC),
        )
    return meta


class TagType(IntEnum):
    AUDIO = 8
    VIDEO = 9
    SCRIPT = 18


def file_header(*, has_video: bool = True, has_audio: bool = True) -> bytes:
    """The 9-byte FLV file header plus the first (zero) PreviousTagSize."""
    flags = (4 if has_audio else 0) | (1 if has_video else 0)
    return b"FLV\x01" + bytes([flags]) + struct.pack(">I", 9) + b"\x00\x00\x00\x00"


def file_tag(tag_type: TagType, timestamp_ms: int, body: bytes) -> bytes:
    """One FLV file tag and its PreviousTagSize; timestamp bits 24-31 go in the extension byte."""
    ts = timestamp_ms & 0xFFFFFFFF
    header = (
        bytes([tag_type])
        + struct.pack(">I", len(body))[1:]
        + struct.pack(">I", ts & 0xFFFFFF)[1:]
        + bytes([ts >> 24])
        + b"\x00\x00\x00"
    )
    return header + body + struct.pack(">I", len(header) + len(body))
