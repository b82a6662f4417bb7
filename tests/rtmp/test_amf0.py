from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ionia.rtmp import amf0
from ionia.rtmp.amf0 import (
    MAX_DEPTH,
    OBJECT_END,
    UNDEFINED,
    Amf0Error,
    Amf0LimitError,
    EcmaArray,
    Marker,
)
from ionia.rtmp.commands import Command
from ionia.rtmp.message import Message, MessageType

# Numbers decode as float; NaN breaks equality, so round trips use finite floats.
scalars = st.one_of(
    st.none(),
    st.just(UNDEFINED),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=50),
)
keys = st.text(max_size=20)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
        st.dictionaries(keys, children, max_size=5).map(EcmaArray),
    ),
    max_leaves=20,
)


@given(st.lists(values, max_size=5))
def test_round_trip(items: list[Any]) -> None:
    decoded = amf0.decode(amf0.encode(*items))
    assert decoded == items
    # ECMA arrays stay ECMA arrays, objects stay plain dicts
    for original, back in zip(items, decoded, strict=True):
        assert type(back) is type(original) or isinstance(original, float)


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_integers_become_numbers(value: int) -> None:
    assert amf0.decode(amf0.encode(value)) == [float(value)]


def test_long_string_is_chosen_above_65535_bytes() -> None:
    short, long = "a" * 0xFFFF, "b" * 0x10000
    assert amf0.encode(short)[0] == Marker.STRING
    assert amf0.encode(long)[0] == Marker.LONG_STRING
    assert amf0.decode(amf0.encode(short, long)) == [short, long]


def test_golden_connect_command() -> None:
    data = amf0.encode("connect", 1, {"app": "live"})
    assert data == (
        b"\x02\x00\x07connect"
        b"\x00\x3f\xf0\x00\x00\x00\x00\x00\x00"
        b"\x03\x00\x03app\x02\x00\x04live\x00\x00\x09"
    )


def test_golden_scalars() -> None:
    assert amf0.encode(None, UNDEFINED, True, False) == b"\x05\x06\x01\x01\x01\x00"
    assert amf0.encode(2.5) == b"\x00\x40\x04\x00\x00\x00\x00\x00\x00"
    assert amf0.encode([1]) == b"\x0a\x00\x00\x00\x01\x00\x3f\xf0" + bytes(6)
    assert amf0.encode(EcmaArray(a=True)) == b"\x08\x00\x00\x00\x01\x00\x01a\x01\x01\x00\x00\x09"


def test_golden_nginx_connect_result_properties() -> None:
    # the command object nginx-rtmp 1.2 sends in its connect _result
    data = bytes.fromhex(
        "030006666d7356657202000d464d532f332c302c312c313233000c6361706162696c6974696573"
        "00403f000000000000000009"
    )
    assert amf0.decode(data) == [{"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}]


def test_ecma_array_count_is_only_a_hint() -> None:
    data = b"\x08\x00\x00\x00\x00" + b"\x00\x01x\x00" + bytes(8) + b"\x00\x00\x09"
    assert amf0.decode(data) == [{"x": 0.0}]


def test_date_decodes_to_milliseconds() -> None:
    assert amf0.decode(b"\x0b" + amf0.encode(1000.0)[1:] + b"\x00\x00") == [1000.0]


@pytest.mark.parametrize(
    "data",
    [b"\x00\x00", b"\x02\x00\x05ab", b"\x03\x00\x01a", b"\x0a\x00\x00\x00\x02\x05", b"\x11"],
    ids=["short-number", "short-string", "unterminated-object", "short-array", "amf3-marker"],
)
def test_malformed_data_raises(data: bytes) -> None:
    with pytest.raises(Amf0Error):
        amf0.decode(data)


def test_unencodable_values_raise() -> None:
    with pytest.raises(Amf0Error):
        amf0.encode(object())
    with pytest.raises(Amf0Error):
        amf0.encode({1: "not a str key"})


def test_nan_and_infinity_survive() -> None:
    nan, inf = amf0.decode(amf0.encode(math.nan, math.inf))
    assert math.isnan(nan) and inf == math.inf


def nested(levels: int, opener: bytes = b"\x03") -> bytes:
    """``levels`` objects (or ECMA arrays / strict arrays of one) inside one another."""
    if opener == b"\x0a":  # strict array of one element each
        return b"\x0a\x00\x00\x00\x01" * levels + b"\x05"
    head = opener + (bytes(4) if opener == b"\x08" else b"")
    return head + (b"\x00\x01k" + head) * (levels - 1) + OBJECT_END * levels


@pytest.mark.parametrize("opener", [b"\x03", b"\x08", b"\x0a"], ids=["object", "ecma", "array"])
def test_depth_bomb_is_refused_without_recursing(opener: bytes) -> None:
    assert len(amf0.decode(nested(MAX_DEPTH, opener))) == 1
    with pytest.raises(Amf0LimitError, match=f"nested deeper than {MAX_DEPTH} levels"):
        amf0.decode(nested(MAX_DEPTH + 1, opener))
    with pytest.raises(Amf0LimitError):  # not RecursionError
        amf0.decode(nested(3000, opener))


def test_value_count_is_bounded() -> None:
    # A strict array claiming 2**32-1 elements of one byte each: refused at the limit,
    # not after building a list as long as the data allows.
    data = b"\x0a\xff\xff\xff\xff" + bytes([Marker.NULL]) * 100_000
    with pytest.raises(Amf0LimitError, match="more than 65536 AMF0 values"):
        amf0.decode(data)
    assert amf0.decode(amf0.encode([None] * 9), max_values=10) == [[None] * 9]
    with pytest.raises(Amf0LimitError):
        amf0.decode(amf0.encode([None] * 10), max_values=10)


def test_command_parse_skips_garbage_but_not_a_bomb() -> None:
    def command(payload: bytes) -> Message:
        return Message(csid=3, type_id=MessageType.COMMAND_AMF0, stream_id=0, timestamp=0,
                       payload=payload)  # fmt: skip

    assert Command.parse(command(b"\x02\x00\x05ab")) is None  # truncated: skipped
    assert Command.parse(command(b"\x11\x00")) is None  # an AMF3 marker: skipped
    with pytest.raises(Amf0LimitError):
        Command.parse(command(amf0.encode("onStatus", 0, None) + nested(3000)))
