"""AV1 for FLV: the AV1CodecConfigurationRecord (AV1-ISOBMFF 2.3) from an encoder's
sequence header OBU, and temporal units without the OBUs a container must leave out.

The record's first four bytes repeat fields of the sequence header (profile, level, tier,
bit depth, chroma), so the header is parsed up to its colour config; the OBU follows the
four bytes unchanged as ``configOBUs``.
"""

from __future__ import annotations

from ionia.output.bits import BitReader

OBU_SEQUENCE_HEADER = 1
OBU_TEMPORAL_DELIMITER = 2
OBU_PADDING = 15
#: marker (1) and version (7) of the record
AV1C_MARKER_VERSION = 0x81
#: seq_profile 2 is the only one whose bit depth takes a second flag
PROFILE_PROFESSIONAL = 2


def iter_obus(data: bytes) -> list[tuple[int, bytes]]:
    """(type, whole OBU) of low-overhead OBUs, each with its size field."""
    obus, pos = [], 0
    while pos < len(data):
        start, header = pos, data[pos]
        pos += 2 if header & 0x04 else 1
        if not header & 0x02:
            raise ValueError("an AV1 OBU without a size field: not the low-overhead format")
        size = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift >= 56:
                raise ValueError("AV1 OBU size longer than 8 bytes")
        pos += size
        if pos > len(data):
            raise ValueError("AV1 OBU cut short")
        obus.append(((header >> 3) & 0x0F, data[start:pos]))
    return obus


def _payload(obu: bytes) -> bytes:
    pos = 2 if obu[0] & 0x04 else 1
    while obu[pos] & 0x80:
        pos += 1
    return obu[pos + 1 :]


def _record_fields(sequence_header: bytes) -> bytes:
    r = BitReader(_payload(sequence_header))
    profile = r.u(3)
    r.u(1)  # still_picture
    reduced = r.flag()
    tier = 0
    if reduced:
        level = r.u(5)
    else:
        decoder_model, buffer_delay_bits = False, 0
        if r.flag():  # timing_info_present_flag
            r.u(32), r.u(32)
            if r.flag():  # equal_picture_interval
                r.uvlc()
            decoder_model = r.flag()
            if decoder_model:
                buffer_delay_bits = r.u(5) + 1
                r.u(32), r.u(5), r.u(5)
        initial_display_delay = r.flag()
        levels = []
        for _ in range(r.u(5) + 1):  # operating points
            r.u(12)  # operating_point_idc
            op_level = r.u(5)
            op_tier = r.u(1) if op_level > 7 else 0
            levels.append((op_level, op_tier))
            if decoder_model and r.flag():
                r.u(buffer_delay_bits), r.u(buffer_delay_bits), r.u(1)
            if initial_display_delay and r.flag():
                r.u(4)
        level, tier = levels[0]
    width_bits, height_bits = r.u(4) + 1, r.u(4) + 1
    r.u(width_bits), r.u(height_bits)
    if not reduced and r.flag():  # frame_id_numbers_present_flag
        r.u(7)
    r.u(3)  # 128x128 superblocks, filter intra, intra edge filter
    if not reduced:
        r.u(4)  # interintra, masked compound, warped motion, dual filter
        order_hint = r.flag()
        if order_hint:
            r.u(2)  # jnt_comp, ref_frame_mvs
        screen_content = 2 if r.flag() else r.u(1)
        if screen_content and not r.flag():  # seq_choose_integer_mv
            r.u(1)
        if order_hint:
            r.u(3)
    r.u(3)  # superres, cdef, restoration
    high_bitdepth = r.u(1)
    twelve_bit = r.u(1) if profile == PROFILE_PROFESSIONAL and high_bitdepth else 0
    mono = r.u(1) if profile != 1 else 0
    if r.flag():  # color_description_present_flag
        primaries, transfer, matrix = r.u(8), r.u(8), r.u(8)
    else:
        primaries, transfer, matrix = 2, 2, 2  # unspecified
    if mono:
        subsampling, position = (1, 1), 0
    elif (primaries, transfer, matrix) == (1, 13, 0):  # sRGB: 4:4:4 only
        subsampling, position = (0, 0), 0
    else:
        r.u(1)  # color_range
        if profile == 0:
            subsampling = (1, 1)
        elif profile == 1:
            subsampling = (0, 0)
        elif twelve_bit:
            x = r.u(1)
            subsampling = (x, r.u(1) if x else 0)
        else:
            subsampling = (1, 0)
        position = r.u(2) if subsampling == (1, 1) else 0
    return bytes(
        [
            AV1C_MARKER_VERSION,
            (profile << 5) | level,
            (tier << 7) | (high_bitdepth << 6) | (twelve_bit << 5) | (mono << 4)
            | (subsampling[0] << 3) | (subsampling[1] << 2) | position,
            0,  # no initial_presentation_delay
        ]
    )  # fmt: skip


def av1_decoder_config(extradata: bytes) -> bytes:
    """An AV1CodecConfigurationRecord from extradata (OBUs, or already a record)."""
    if extradata[:1] == bytes([AV1C_MARKER_VERSION]):
        return extradata
    headers = [obu for t, obu in iter_obus(extradata) if t == OBU_SEQUENCE_HEADER]
    if not headers:
        raise ValueError("AV1 extradata holds no sequence header OBU")
    return _record_fields(headers[0]) + headers[0]


def av1_container_obus(data: bytes) -> bytes:
    """A temporal unit as containers carry it: without temporal delimiters and padding."""
    return b"".join(
        obu for t, obu in iter_obus(data) if t not in (OBU_TEMPORAL_DELIMITER, OBU_PADDING)
    )
