"""Whether an encoded HEVC or AV1 access unit is one a decoder can start at.

The drop policy and a new session both start video at such a frame, so the answer is read
from the bitstream rather than trusted to an encoder's flag: HEVC's IRAP pictures (IDR,
CRA, BLA: NAL unit types 16 to 23) and AV1's key frames (a frame header whose
``frame_type`` is KEY_FRAME). Encoders give HEVC in Annex-B and AV1 as low-overhead OBUs.
"""

from __future__ import annotations

import re

HEVC_IRAP_TYPES = range(16, 24)
OBU_FRAME_HEADER = 3
OBU_FRAME = 6
AV1_KEY_FRAME = 0

_START_CODE = re.compile(b"\x00\x00\x01")


def hevc_is_irap(data: bytes) -> bool | None:
    """True if an Annex-B access unit holds an IRAP picture; None if it is not Annex-B."""
    found = False
    for match in _START_CODE.finditer(data):
        if match.end() < len(data):
            found = True
            if (data[match.end()] >> 1) & 0x3F in HEVC_IRAP_TYPES:
                return True
    return False if found else None


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if pos >= len(data):
            raise ValueError("OBU size cut short")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise ValueError("OBU size longer than 8 bytes")


def av1_is_key(data: bytes) -> bool | None:
    """True if a temporal unit's first frame is a key frame; None if no frame header is
    found (not low-overhead OBUs with sizes, as every encoder we use writes them)."""
    pos = 0
    try:
        while pos < len(data):
            header = data[pos]
            obu_type = (header >> 3) & 0x0F
            pos += 2 if header & 0x04 else 1  # the extension byte
            if not header & 0x02:
                return None  # no size field: the rest cannot be walked
            size, pos = _leb128(data, pos)
            if pos + size > len(data):
                return None
            if obu_type in (OBU_FRAME_HEADER, OBU_FRAME) and size:
                first = data[pos]
                # show_existing_frame, then frame_type (2 bits); a shown existing frame
                # is a repeat, not a frame to start at. Our encoders never write the
                # reduced still-picture header, whose frame header lacks both fields.
                return not first & 0x80 and (first >> 5) & 0x03 == AV1_KEY_FRAME
            pos += size
    except (ValueError, IndexError):
        return None
    return None


def is_random_access(codec: str, data: bytes) -> bool | None:
    """Whether ``data`` of ``codec`` (hevc, av1) starts a decodable sequence; None when
    the bitstream does not say (the caller then keeps the encoder's flag)."""
    if codec == "hevc":
        return hevc_is_irap(data)
    if codec == "av1":
        return av1_is_key(data)
    return None
