"""A big-endian bit reader for the parameter sets the decoder configuration records need."""

from __future__ import annotations


class BitReader:
    """Reads fixed-width fields (``u``), Exp-Golomb codes (``ue``) and AV1's ``uvlc``.
    Raises ``ValueError`` past the end: a truncated parameter set is the encoder's bug."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0  # in bits

    def u(self, bits: int) -> int:
        if self._pos + bits > len(self._data) * 8:
            raise ValueError("parameter set cut short")
        value = 0
        for _ in range(bits):
            byte = self._data[self._pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def flag(self) -> bool:
        return bool(self.u(1))

    def ue(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > 31:
                raise ValueError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def uvlc(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros >= 32:
                return (1 << 32) - 1
        return (1 << zeros) - 1 + self.u(zeros)


def unescape_rbsp(nal: bytes) -> bytes:
    """A NAL unit without its emulation prevention bytes (``00 00 03`` -> ``00 00``)."""
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)
