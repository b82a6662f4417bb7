"""Streaming settings for the HEVC and AV1 encoders: the same contract as H.264's.

CBR (or the encoder's closest: a VBV-capped average for x265), one keyframe every
``keyint_s`` seconds and none elsewhere (no scene cuts, closed GOPs), no B-frames or
other reordering, a realtime preset, and a requested keyframe that is one a decoder can
join at (an IDR for HEVC, a key frame for AV1).

Presets: x265 takes x264's names; SVT-AV1 takes numbers, 0 (slowest) to 13 (fastest).
The defaults are the slowest that still run in real time at 720p30 on two cores (see
README "Codecs").
"""

from __future__ import annotations

from typing import Protocol

#: x265's presets, fastest first (the same names as x264's)
X265_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip
SVTAV1_PRESETS = tuple(str(n) for n in range(13, -1, -1))
#: each codec's presets, fastest first
PRESETS_BY_CODEC = {"hevc": X265_PRESETS, "av1": SVTAV1_PRESETS}
#: the default preset of each codec other than H.264 (whose default is EncoderOptions')
DEFAULT_PRESETS = {"hevc": "ultrafast", "av1": "10"}
#: encoders whose FFmpeg wrapper ignores a bitrate change once open (FFmpeg 8.1: libx265
#: and libsvtav1 never reconfigure; libx264 and the hardware encoders do)
FIXED_BITRATE_ENCODERS = frozenset({"libx265", "libsvtav1"})


class StreamShape(Protocol):
    """What the options depend on (``VideoEncoderSettings`` has all of it)."""

    @property
    def keyint_s(self) -> float: ...
    @property
    def fps(self) -> int: ...
    @property
    def bitrate(self) -> int: ...
    @property
    def bufsize_s(self) -> float: ...
    @property
    def preset(self) -> str: ...


def gop_frames(s: StreamShape) -> int:
    return max(1, round(s.keyint_s * s.fps))


def hevc_av1_options(name: str, s: StreamShape) -> dict[str, str]:
    """FFmpeg options of encoder ``name`` (an HEVC or AV1 encoder) for a live stream."""
    gop = gop_frames(s)
    common = {
        "b": str(s.bitrate),
        "maxrate": str(s.bitrate),
        "bufsize": str(int(s.bitrate * s.bufsize_s)),
        "g": str(gop),
        "bf": "0",
        "flags": "+global_header",
    }
    if name == "libx265":
        # zerolatency: no lookahead, no B-frames, one frame thread. open-gop=0 makes every
        # GOP start at an IDR (a CRA would leave RASL pictures a joining viewer cannot
        # decode); log-level keeps x265's banner out of the user's terminal.
        params = f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:bframes=0:log-level=error"
        return {
            **common,
            "preset": s.preset,
            "tune": "zerolatency",
            "forced-idr": "1",
            "x265-params": params,
        }
    if name == "libsvtav1":
        # rtc=1: SVT-AV1's real-time mode (its fast presets are meant for it); rc=2 is its
        # CBR, which it allows only with the low-delay prediction structure (pred-struct=1:
        # no frame waits for a later one); scd=0: no scene-cut keyframes off the grid.
        # No maxrate: SVT-AV1 caps only capped-CRF streams and warns about it otherwise.
        del common["maxrate"]
        return {**common, "preset": s.preset, "svtav1-params": "rtc=1:rc=2:pred-struct=1:scd=0"}
    if name.endswith("_nvenc"):
        return {**common, "preset": "p4", "tune": "ll", "rc": "cbr", "forced-idr": "1",
                "zerolatency": "1"}  # fmt: skip
    if name.endswith("_qsv"):
        return {**common, "preset": "veryfast", "forced_idr": "1"}
    if name.endswith("_amf"):
        return {**common, "usage": "ultralowlatency", "rc": "cbr"}
    return common
