"""Which H.264 encoder to use: hardware when one opens here, libx264 otherwise.

A hardware encoder listed by the FFmpeg build may still fail to open (no GPU, no driver,
no device node); ``auto`` tries each that the build has and falls back to libx264, logging
why each was passed over.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import av

SOFTWARE = "libx264"

#: Hardware H.264 encoders in the order ``auto`` tries them, per platform.
HARDWARE_BY_PLATFORM = {
    "linux": ("h264_nvenc", "h264_qsv", "h264_amf", "h264_vaapi"),
    "win32": ("h264_nvenc", "h264_qsv", "h264_amf", "h264_mf"),
    "darwin": ("h264_videotoolbox",),
}

#: Short names accepted by ``--encoder``.
ALIASES = {
    "x264": SOFTWARE,
    "software": SOFTWARE,
    "nvenc": "h264_nvenc",
    "qsv": "h264_qsv",
    "amf": "h264_amf",
    "vaapi": "h264_vaapi",
    "videotoolbox": "h264_videotoolbox",
    "mf": "h264_mf",
}


def hardware_candidates(platform: str = sys.platform) -> list[str]:
    """Hardware encoders this platform could use that this PyAV build includes."""
    names = HARDWARE_BY_PLATFORM.get(platform, HARDWARE_BY_PLATFORM["linux"])
    return [name for name in names if name in av.codecs_available]


def resolve(choice: str, *, allow_hardware: bool = True) -> list[str]:
    """Encoder names to try, in order, for ``--encoder`` ``choice`` (``auto`` or a name)."""
    choice = ALIASES.get(choice, choice)
    if choice == "auto":
        return [*hardware_candidates(), SOFTWARE] if allow_hardware else [SOFTWARE]
    return [choice]


@dataclass(frozen=True, kw_only=True)
class EncoderProbe:
    """What ``ionia encoders`` reports for one encoder."""

    name: str
    in_build: bool
    opens: bool
    reason: str = ""
