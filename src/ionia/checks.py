"""Checks of user-given values, shared by every layer that validates its own settings.

Each returns the value, typed, or raises ``ConfigError`` naming the setting and the fix,
before it reaches a clock, a socket or PyAV as a bare ValueError.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
from pathlib import Path

from ionia.errors import ConfigError

log = logging.getLogger("ionia")

SIZE_RANGE = (16, 7680)

_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:bps|b|bit/s)?\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_bitrate(value: str | int | float, *, what: str = "bitrate") -> int:
    """``4500k`` → 4_500_000, ``4.5M`` → 4_500_000, ``192000`` → 192_000 (bit/s, >= 0)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = check_number(what, value, 0, math.inf, unit=" bit/s")
    else:
        match = None if isinstance(value, bool) else _BITRATE.match(str(value))
        if not match:
            raise ConfigError(
                f"{what} {value!r} is not a bitrate: write it like 4500k, 5M or 192000"
            )
        scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
        # a 400-digit number is a float infinity
        number = check_number(what, float(match.group(1)) * scale, 0, math.inf, unit=" bit/s")
    return int(number)


def format_bitrate(bits: int) -> str:
    """5_000_000 → ``5M``, 192_000 → ``192k``: as a user writes it (``parse_bitrate`` reads it)."""
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if bits and bits % scale == 0:
            return f"{bits // scale}{unit}"
    return str(bits)


def parse_size(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``1280x720`` or ``(1280, 720)`` → (1280, 720), each side checked."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ConfigError(f"size {value!r} is not (width, height), for example (1280, 720)")
        sides = tuple(value)
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ConfigError(f"size {value!r} is not WIDTHxHEIGHT, for example 1280x720")
        sides = (int(match.group(1)), int(match.group(2)))
    width, height = (check_whole("size", side, SIZE_RANGE, unit=" px") for side in sides)
    return width, height


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 4:2:0 needs even dimensions: round odd ones down, with a note."""
    even = (width - width % 2, height - height % 2)
    if even != (width, height):
        log.info("size %dx%d rounded to %dx%d (4:2:0 needs even dimensions)", width, height, *even)
    return even


def check_number(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    unit: str = "",
    whole: bool = False,
    above: bool = False,
) -> float:
    """``value`` if it is a finite number in ``low..high`` (``above``: more than ``low``).

    Anything else is a ``ConfigError`` naming the setting, before it reaches a clock, a
    socket or PyAV as a bare ValueError. A bool is no number (True would be 1), and neither
    is a string: the CLI converts its flags, so "5" comes from a caller's mistake.
    """
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be {kind}{_of(unit)}, not {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond a float's range
        number = -math.inf if value < 0 else math.inf
    if math.isnan(number) or (whole and math.isfinite(number) and not number.is_integer()):
        raise ConfigError(f"{name} must be {kind}{_of(unit)}, not {value!r}")
    if math.isinf(number) and math.isinf(high):
        raise ConfigError(f"{name} must be a finite number{_of(unit)}, not {value!r}")
    inside = (number > low if above else number >= low) and number <= high
    if not inside:
        if math.isinf(high):
            bounds = f"more than {_show(low)}{unit}" if above else f"at least {_show(low)}{unit}"
        elif above:
            bounds = f"more than {_show(low)}{unit} and at most {_show(high)}{unit}"
        else:
            bounds = f"{_show(low)}{unit} to {_show(high)}{unit}"
        raise ConfigError(f"{name} {_show(number)}{unit} is out of range: use {bounds}")
    return number


def check_whole(name: str, value: object, bounds: tuple[float, float], unit: str = "") -> int:
    """A whole number in ``bounds``; 30.0 is 30 (JSON and NumPy hand out floats)."""
    return int(check_number(name, value, *bounds, unit=unit, whole=True))


def _of(unit: str) -> str:
    return {" s": " of seconds", " ms": " of milliseconds", " dB": " of dB"}.get(unit, "")


def _show(number: float) -> str:
    number = float(number)
    return str(int(number)) if number.is_integer() else str(number)


def check_flag(name: str, value: object) -> bool:
    """True or False only: "false" is a truthy string, and tls_verify="no" must not verify."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, not {value!r}")
    return value


def check_text(name: str, value: object) -> str | None:
    """None or a non-empty string (a name, a device, a path)."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, not {value!r}")
    return value


def check_writable(path: Path) -> None:
    """Fail now, naming the file, where the muxer would fail only after ``start()``.

    Permission bits cannot tell (root writes anywhere, ``os.access`` ignores read-only
    mounts and /proc), so the file is created and removed, or opened without truncation if
    it exists: exactly what the muxer will do, minus the data.
    """
    folder = path.parent
    if not folder.exists():
        raise ConfigError(f"cannot write {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: {folder} is not a folder")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise ConfigError(f"cannot write {path}: it is not a regular file")
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            os.close(os.open(path, os.O_WRONLY))  # no O_TRUNC: leave what is there intact
        else:
            os.close(fd)
            os.unlink(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}; choose a folder you can write to"
        ) from None
