"""AMF0: the value encoding of RTMP commands (``connect``, ``publish``...) and ``onMetaData``.

Python mapping, both ways:

=================  ======================================
AMF0               Python
=================  ======================================
number             ``float`` (``int`` is accepted on encode)
boolean            ``bool``
string/long string ``str`` (long string chosen when > 65535 bytes)
object             ``dict`` with ``str`` keys
ECMA array         :class:`EcmaArray` (a ``dict``; ``onMetaData`` uses it)
strict array       ``list`` (``tuple`` accepted on encode)
null               ``None``
undefined          :data:`UNDEFINED`
=================  ======================================
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from enum import IntEnum
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUES",
    "UNDEFINED",
    "Amf0Error",
    "Amf0LimitError",
    "EcmaArray",
    "Marker",
    "Reader",
    "decode",
    "encode",
]


class Marker(IntEnum):
    NUMBER = 0x00
    BOOLEAN = 0x01
    STRING = 0x02
    OBJECT = 0x03
    NULL = 0x05
    UNDEFINED = 0x06
    ECMA_ARRAY = 0x08
    OBJECT_END = 0x09
    STRICT_ARRAY = 0x0A
    DATE = 0x0B
    LONG_STRING = 0x0C


#: an object or ECMA array ends with an empty key followed by the object-end marker
OBJECT_END = b"\x00\x00" + bytes([Marker.OBJECT_END])
_SHORT_STRING_MAX = 0xFFFF
#: objects/arrays nested in one another; real commands nest 2 deep, and decoding recurses
#: (Python's own limit is ~1000 frames), so deeper data is refused rather than followed
MAX_DEPTH = 64
#: values in one decode; every value costs a Python object (~50 bytes) for as little as
#: one byte of input, and a command or onMetaData holds a few dozen
MAX_VALUES = 65536


class Amf0Error(ValueError):
    """Malformed or unsupported AMF0 data."""


class Amf0LimitError(Amf0Error):
    """AMF0 data past :data:`MAX_DEPTH` or :data:`MAX_VALUES`: no quirk but an attack on
    our memory or stack. The message names the data ("an AMF0 value nested deeper than...")."""


class _Undefined:
    """The AMF0 ``undefined`` value, distinct from ``null`` (``None``)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()


class EcmaArray(dict[str, Any]):
    """A ``dict`` that encodes as an AMF0 ECMA array (what ``onMetaData`` carries)."""


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def _encode_key(key: str) -> bytes:
    raw = _utf8(key)
    if len(raw) > _SHORT_STRING_MAX:
        raise Amf0Error(f"object key too long ({len(raw)} bytes)")
    return struct.pack(">H", len(raw)) + raw


def _encode_properties(mapping: dict[str, Any], out: bytearray) -> None:
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise Amf0Error(f"object keys must be str, got {type(key).__name__}")
        out += _encode_key(key)
        _encode_value(value, out)
    out += OBJECT_END


def _encode_value(value: Any, out: bytearray) -> None:
    # bool before int: bool is a subclass of int.
    if value is None:
        out.append(Marker.NULL)
    elif value is UNDEFINED:
        out.append(Marker.UNDEFINED)
    elif isinstance(value, bool):
        out += bytes([Marker.BOOLEAN, 1 if value else 0])
    elif isinstance(value, int | float):
        out.append(Marker.NUMBER)
        out += struct.pack(">d", float(value))
    elif isinstance(value, str):
        raw = _utf8(value)
        if len(raw) > _SHORT_STRING_MAX:
            out.append(Marker.LONG_STRING)
            out += struct.pack(">I", len(raw)) + raw
        else:
            out.append(Marker.STRING)
            out += struct.pack(">H", len(raw)) + raw
    elif isinstance(value, EcmaArray):
        out.append(Marker.ECMA_ARRAY)
        out += struct.pack(">I", len(value))
        _encode_properties(value, out)
    elif isinstance(value, dict):
        out.append(Marker.OBJECT)
        _encode_properties(value, out)
    elif isinstance(value, list | tuple):
        out.append(Marker.STRICT_ARRAY)
        out += struct.pack(">I", len(value))
        for item in value:
            _encode_value(item, out)
    else:
        raise Amf0Error(f"cannot encode {type(value).__name__} as AMF0")


def encode(*values: Any) -> bytes:
    """Serialize values one after another (an RTMP command is a sequence of values)."""
    out = bytearray()
    for value in values:
        _encode_value(value, out)
    return bytes(out)


class Reader:
    """Sequential decoder over one AMF0 buffer."""

    def __init__(
        self, data: bytes, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES
    ) -> None:
        self._data = memoryview(data)
        self.pos = 0
        self.max_depth = max_depth
        self.max_values = max_values
        self._depth = 0
        self._values = 0

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self._data)

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self._data):
            raise Amf0Error(f"truncated AMF0 data at offset {self.pos} (need {n} bytes)")
        chunk = bytes(self._data[self.pos : end])
        self.pos = end
        return chunk

    def _string(self, length_bytes: int) -> str:
        fmt = ">H" if length_bytes == 2 else ">I"
        (length,) = struct.unpack(fmt, self._take(length_bytes))
        try:
            return self._take(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Amf0Error(f"invalid UTF-8 in AMF0 string: {exc}") from None

    def _properties(self, into: dict[str, Any]) -> dict[str, Any]:
        while True:
            key = self._string(2)
            if key == "" and self._data[self.pos : self.pos + 1] == bytes([Marker.OBJECT_END]):
                self.pos += 1
                return into
            into[key] = self.read()

    def _nested(self, marker: int) -> Any:
        """An object, ECMA array or strict array, one level deeper."""
        if self._depth >= self.max_depth:
            raise Amf0LimitError(f"an AMF0 value nested deeper than {self.max_depth} levels")
        self._depth += 1
        try:
            if marker == Marker.OBJECT:
                return self._properties({})
            if marker == Marker.ECMA_ARRAY:
                # The count is only a hint (some servers send 0); the object-end marker counts.
                self._take(4)
                return self._properties(EcmaArray())
            (count,) = struct.unpack(">I", self._take(4))
            return [self.read() for _ in range(count)]
        finally:
            self._depth -= 1

    def read(self) -> Any:
        """Decode the next value."""
        self._values += 1
        if self._values > self.max_values:
            raise Amf0LimitError(f"more than {self.max_values} AMF0 values in one message")
        marker = self._take(1)[0]
        if marker == Marker.NUMBER:
            return struct.unpack(">d", self._take(8))[0]
        if marker == Marker.BOOLEAN:
            return self._take(1)[0] != 0
        if marker == Marker.STRING:
            return self._string(2)
        if marker == Marker.LONG_STRING:
            return self._string(4)
        if marker in (Marker.OBJECT, Marker.ECMA_ARRAY, Marker.STRICT_ARRAY):
            return self._nested(marker)
        if marker == Marker.NULL:
            return None
        if marker == Marker.UNDEFINED:
            return UNDEFINED
        if marker == Marker.DATE:
            (millis,) = struct.unpack(">d", self._take(8))
            self._take(2)  # time zone: reserved, always 0
            return millis
        raise Amf0Error(f"unsupported AMF0 marker 0x{marker:02x} at offset {self.pos - 1}")

    def __iter__(self) -> Iterator[Any]:
        while not self.at_end:
            yield self.read()


def decode(data: bytes, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> list[Any]:
    """Decode every value in ``data``; Amf0LimitError past the limits."""
    return list(Reader(data, max_depth=max_depth, max_values=max_values))


def is_finite_number(value: Any) -> bool:
    """True for AMF0 numbers that are safe to use as ids (transaction, stream)."""
    return isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value)
