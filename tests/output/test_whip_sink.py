import struct

from ionia.output.whip_sink import annexb_parameter_sets

START_CODE = b"\x00\x00\x00\x01"

SPS = bytes.fromhex("6742c01f da01e0089f96")
PPS = bytes.fromhex("68ce3c80")


def test_parameter_sets_from_annexb_extradata():
    extradata = START_CODE + SPS + b"\x00\x00\x01" + PPS
    assert annexb_parameter_sets(extradata) == START_CODE + SPS + START_CODE + PPS


def test_parameter_sets_from_an_avcc_record():
    record = bytes([1, SPS[1], SPS[2], SPS[3], 0xFF, 0xE1]) + struct.pack(">H", len(SPS)) + SPS
    record += bytes([1]) + struct.pack(">H", len(PPS)) + PPS
    assert annexb_parameter_sets(record) == START_CODE + SPS + START_CODE + PPS
