import struct

import pytest

from ionia.output import flv

SPS = bytes.fromhex("6764001facd9")
PPS = bytes.fromhex("68ebe3cb")
IDR = bytes.fromhex("658884")
AUD = bytes.fromhex("0910")


def test_split_annexb_handles_3_and_4_byte_start_codes():
    stream = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS + b"\x00\x00\x00\x01" + IDR
    assert flv.split_annexb(stream) == [SPS, PPS, IDR]


def test_avcc_record_from_annexb_extradata():
    record = flv.avc_decoder_config(b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS)
    assert record == (
        bytes([1, 0x64, 0x00, 0x1F, 0xFF, 0xE1])
        + struct.pack(">H", len(SPS))
        + SPS
        + bytes([1])
        + struct.pack(">H", len(PPS))
        + PPS
    )
    assert flv.avc_decoder_config(record) == record  # already AVCC: unchanged


def test_avcc_record_needs_sps_and_pps():
    with pytest.raises(ValueError, match="SPS/PPS"):
        flv.avc_decoder_config(b"\x00\x00\x01" + IDR)


def test_annexb_to_avcc_length_prefixes_and_drops_delimiters():
    out = flv.annexb_to_avcc(b"\x00\x00\x00\x01" + AUD + b"\x00\x00\x01" + IDR)
    assert out == struct.pack(">I", len(IDR)) + IDR


def test_video_tag_bodies():
    key = flv.avc_video(b"\x00\x00\x01" + IDR, keyframe=True, cts_ms=0)
    assert key[:5] == bytes([0x17, 0x01, 0, 0, 0])
    inter = flv.avc_video(b"\x00\x00\x01" + IDR, keyframe=False, cts_ms=-33)
    assert inter[0] == 0x27 and struct.unpack(">i", b"\xff" + inter[2:5])[0] == -33
    header = flv.avc_sequence_header(b"\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS)
    assert header[:5] == bytes([0x17, 0x00, 0, 0, 0]) and header[5] == 1


def test_audio_tag_bodies():
    assert flv.aac_sequence_header(b"\x11\x90") == b"\xaf\x00\x11\x90"
    assert flv.aac_audio(b"\x21\x00") == b"\xaf\x01\x21\x00"


def test_file_tag_layout_and_extended_timestamp():
    body = b"\xaf\x01xyz"
    tag = flv.file_tag(flv.TagType.AUDIO, 0x01234567, body)
    assert tag[0] == 8
    assert int.from_bytes(tag[1:4], "big") == len(body)
    assert tag[4:7] == bytes.fromhex("234567") and tag[7] == 0x01  # low 24 bits, then high byte
    assert tag[11:-4] == body
    assert struct.unpack(">I", tag[-4:])[0] == 11 + len(body)
    assert flv.file_header() == b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"


def test_metadata_without_audio_has_no_audio_fields():
    meta = flv.on_metadata(
        width=1280, height=720, fps=30, video_bitrate=4_500_000, audio_bitrate=None, encoder="x"
    )
    assert meta["videodatarate"] == 4500 and "audiocodecid" not in meta
