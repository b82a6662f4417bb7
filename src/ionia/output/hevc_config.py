"""HEVC for FLV: the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3) from an
encoder's Annex-B VPS/SPS/PPS, and access units as length-prefixed NAL units.

The record repeats fields of the SPS (profile, tier, level, chroma format, bit depths),
so the SPS is parsed up to its bit depths; the parameter sets follow it unchanged.
"""

from __future__ import annotations

import struct

from ionia.output.bits import BitReader, unescape_rbsp
from ionia.output.flv import split_annexb

NAL_VPS, NAL_SPS, NAL_PPS, NAL_AUD, NAL_SEI_PREFIX = 32, 33, 34, 35, 39
#: the arrays of the record, in the order decoders expect them
RECORD_NAL_TYPES = (NAL_VPS, NAL_SPS, NAL_PPS, NAL_SEI_PREFIX)
#: NAL unit lengths are 4 bytes (lengthSizeMinusOne = 3), as in our H.264 tags
LENGTH_SIZE = 4


def nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


def is_hvcc_record(extradata: bytes) -> bool:
    return len(extradata) >= 23 and extradata[0] == 1


def _sps_fields(sps: bytes) -> dict[str, int]:
    r = BitReader(unescape_rbsp(sps)[2:])  # past the 2-byte NAL unit header
    r.u(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    fields = {"temporal_layers": max_sub_layers_minus1 + 1, "temporal_id_nested": r.u(1)}
    # profile_tier_level: the general part is copied into the record as it is
    fields["profile_byte"] = r.u(8)  # profile_space(2) tier(1) profile_idc(5)
    fields["compatibility"] = r.u(32)
    fields["constraints"] = r.u(48)
    fields["level"] = r.u(8)
    present = [(r.flag(), r.flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1:
        r.u(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        r.u(88 if profile_present else 0)
        r.u(8 if level_present else 0)
    r.ue()  # sps_seq_parameter_set_id
    fields["chroma_format"] = r.ue()
    if fields["chroma_format"] == 3:
        r.u(1)  # separate_colour_plane_flag
    r.ue(), r.ue()  # picture width and height
    if r.flag():  # conformance window
        for _ in range(4):
            r.ue()
    fields["luma_bits_minus8"] = r.ue()
    fields["chroma_bits_minus8"] = r.ue()
    return fields


def hevc_decoder_config(extradata: bytes) -> bytes:
    """An HEVCDecoderConfigurationRecord from extradata (Annex-B, or already a record)."""
    if is_hvcc_record(extradata):
        return extradata
    nals = split_annexb(extradata)
    by_type = {t: [n for n in nals if nal_type(n) == t] for t in RECORD_NAL_TYPES}
    if not (by_type[NAL_VPS] and by_type[NAL_SPS] and by_type[NAL_PPS]):
        raise ValueError("HEVC extradata holds no VPS/SPS/PPS")
    f = _sps_fields(by_type[NAL_SPS][0])
    record = bytearray([1, f["profile_byte"]])
    record += struct.pack(">I", f["compatibility"]) + f["constraints"].to_bytes(6, "big")
    record += bytes([f["level"]])
    record += struct.pack(">H", 0xF000)  # min_spatial_segmentation_idc 0: not signalled
    record += bytes([0xFC])  # parallelismType 0: unknown
    record += bytes([0xFC | f["chroma_format"], 0xF8 | f["luma_bits_minus8"]])
    record += bytes([0xF8 | f["chroma_bits_minus8"]])
    record += struct.pack(">H", 0)  # avgFrameRate: unspecified
    # constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne
    record.append((f["temporal_layers"] << 3) | (f["temporal_id_nested"] << 2) | (LENGTH_SIZE - 1))
    arrays = [(t, units) for t, units in by_type.items() if units]
    record.append(len(arrays))
    for t, units in arrays:
        # array_completeness 0, as FFmpeg writes it: a hardware encoder may repeat the
        # parameter sets in-band, so "all of them are here" would not always be true
        record += bytes([t]) + struct.pack(">H", len(units))
        for unit in units:
            record += struct.pack(">H", len(unit)) + unit
    return bytes(record)


def hevc_annexb_to_lengths(data: bytes) -> bytes:
    """Length-prefix every NAL unit; access unit delimiters carry nothing FLV needs."""
    if not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return data  # already length-prefixed (some hardware encoders)
    return b"".join(
        struct.pack(">I", len(nal)) + nal for nal in split_annexb(data) if nal_type(nal) != NAL_AUD
    )
