"""Random-access detection from the bitstream, on hand-built HEVC and AV1 access units."""

import pytest

from ionia.encoding.keyframes import av1_is_key, hevc_is_irap, is_random_access

SC = b"\x00\x00\x00\x01"
TD = b"\x12\x00"  # AV1 temporal delimiter


def hevc_nal(nal_type: int) -> bytes:
    return SC + bytes([nal_type << 1, 0x01, 0xAF])


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([35, 32, 33, 34, 19], True),  # AUD, VPS, SPS, PPS, IDR_W_RADL
        ([20], True),  # IDR_N_LP
        ([21], True),  # CRA
        ([16], True),  # BLA_W_LP
        ([35, 1], False),  # AUD, TRAIL_R
        ([0, 39], False),  # TRAIL_N, prefix SEI
        ([24], False),  # reserved non-IRAP
    ],
)
def test_hevc_irap(types, expected):
    assert hevc_is_irap(b"".join(hevc_nal(t) for t in types)) is expected


def test_hevc_not_annexb_is_unknown():
    assert hevc_is_irap(b"\x00\x00\x00\x04\x26\x01\xaf\x02") is None


def av1_frame(first_byte: int, obu_type: int = 6) -> bytes:
    return bytes([obu_type << 3 | 0x02, 2, first_byte, 0x00])


def test_av1_key_frame():
    sequence_header = bytes.fromhex("0a0b0000002d4cffb3c02f8004")
    # show_existing_frame 0, frame_type 00 (KEY_FRAME)
    assert av1_is_key(TD + sequence_header + av1_frame(0b0001_0000)) is True
    assert av1_is_key(TD + av1_frame(0b0001_0000, obu_type=3)) is True  # frame header OBU


@pytest.mark.parametrize(
    "first_byte",
    [0b0010_0000, 0b0100_0000, 0b0110_0000, 0b1000_0000],  # inter, intra-only, switch, shown
)
def test_av1_other_frames(first_byte):
    assert av1_is_key(TD + av1_frame(first_byte)) is False


def test_av1_unreadable_is_unknown():
    assert av1_is_key(b"\x30\x10\x00") is None  # no size field
    assert av1_is_key(TD + b"\x32\x7f\x00") is None  # cut short
    assert av1_is_key(TD) is None  # no frame at all
    assert is_random_access("h264", b"\x00\x00\x01\x65") is None
