from __future__ import annotations

import dataclasses

import pytest

from ionia.packet import EncodedPacket, MediaKind


def test_packet_is_a_small_frozen_record() -> None:
    packet = EncodedPacket(kind=MediaKind.VIDEO, data=b"\x00\x00\x01\x65", pts_ms=40, dts_ms=40)
    assert packet.size == 4
    assert packet.keyframe is False
    assert packet.capture_time == 0.0
    assert not hasattr(packet, "__dict__")  # slots: no per-packet dict
    with pytest.raises(dataclasses.FrozenInstanceError):
        packet.pts_ms = 0  # type: ignore[misc]


def test_packet_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        EncodedPacket(MediaKind.AUDIO, b"", 0, 0)  # type: ignore[misc]
