"""Which encoder to use for a codec: hardware when one opens here, software otherwise.

A hardware encoder listed by the FFmpeg build may still fail to open (no GPU, no driver,
no device node); ``auto`` tries each that the build has and falls back to the codec's
software encoder (libx264, libx265, libsvtav1), logging why each was passed over.
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


#: the video codecs ``--codec`` takes; H.264 is the default and the one every ingest takes
CODECS = ("h264", "hevc", "av1")
#: each codec's software encoder, the last resort of ``auto``
SOFTWARE_BY_CODEC = {"h264": SOFTWARE, "hevc": "libx265", "av1": "libsvtav1"}
#: the short names of the codec-neutral ``--encoder`` choices, per codec
_SHORT = {
    "hevc": ("nvenc", "qsv", "amf", "vaapi", "videotoolbox"),
    "av1": ("nvenc", "qsv", "amf", "vaapi"),
}
_SOFTWARE_ALIASES = {"hevc": ("x265", "software"), "av1": ("svtav1", "svt-av1", "software")}


def hardware_names(platform: str, codec: str = "h264") -> tuple[str, ...]:
    """The hardware encoders of ``codec`` on ``platform``, in the order ``auto`` tries them."""
    names = HARDWARE_BY_PLATFORM.get(platform, HARDWARE_BY_PLATFORM["linux"])
    if codec == "h264":
        return names
    # the same vendors' HEVC/AV1 encoders: h264_nvenc -> hevc_nvenc, av1_nvenc
    vendors = [n.split("_", 1)[1] for n in names]
    return tuple(f"{codec}_{v}" for v in vendors if v in _SHORT[codec])


def hardware_candidates(platform: str = sys.platform, codec: str = "h264") -> list[str]:
    """Hardware encoders of ``codec`` this platform could use that this PyAV build includes."""
    return [name for name in hardware_names(platform, codec) if name in av.codecs_available]


def resolve(choice: str, *, allow_hardware: bool = True, codec: str = "h264") -> list[str]:
    """Encoder names to try, in order, for ``--encoder`` ``choice`` (``auto`` or a name)."""
    software = SOFTWARE_BY_CODEC[codec]
    if codec == "h264":
        choice = ALIASES.get(choice, choice)
    elif choice in _SOFTWARE_ALIASES[codec]:
        choice = software
    elif choice in _SHORT[codec]:
        choice = f"{codec}_{choice}"
    if choice == "auto":
        hardware = hardware_candidates(codec=codec) if allow_hardware else []
        return [*hardware, software]
    return [choice]


@dataclass(frozen=True, kw_only=True)
class EncoderProbe:
    """What ``ionia encoders`` reports for one encoder."""

    name: str
    in_build: bool
    opens: bool
    reason: str = ""
