"""Which video codecs a server takes, from what it said while we connected.

An Enhanced RTMP server should list its codecs in the ``connect`` result
(``fourCcList``, or the newer ``videoFourCcInfoMap``). Few do yet: FFmpeg's listen mode
reads HEVC and AV1 but answers ``connect`` exactly as nginx-rtmp does, which takes only
H.264 (it relays Enhanced RTMP tags as if they were legacy ones, to viewers that cannot
play them). The two differ in their ``NetStream.Publish.Start`` description, nginx-rtmp's
being its fixed "Start publishing", so that is how a server without Enhanced RTMP is told.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CODEC_BY_FOURCC", "LEGACY_PUBLISH_DESCRIPTIONS", "video_codecs"]

CODEC_BY_FOURCC = {"avc1": "h264", "hvc1": "hevc", "av01": "av1"}
#: the Publish.Start descriptions of servers known to take H.264 only (nginx-rtmp's)
LEGACY_PUBLISH_DESCRIPTIONS = frozenset({"Start publishing"})


def _listed(server_info: dict[str, Any]) -> list[str] | None:
    listed = server_info.get("videoFourCcInfoMap", server_info.get("fourCcList"))
    if isinstance(listed, dict):
        return [str(k) for k in listed]
    if isinstance(listed, list):
        return [str(v) for v in listed]
    return None


def video_codecs(
    server_info: dict[str, Any], publish_info: dict[str, Any]
) -> tuple[str, ...] | None:
    """The codecs (``h264``, ``hevc``, ``av1``) the server takes; None if it does not say
    and is not one known to take H.264 only (then it gets what we send, as from OBS)."""
    fourccs = _listed(server_info)
    if fourccs is not None:
        if "*" in fourccs:
            return tuple(dict.fromkeys(CODEC_BY_FOURCC.values()))
        codecs = ["h264", *(CODEC_BY_FOURCC[f] for f in fourccs if f in CODEC_BY_FOURCC)]
        return tuple(dict.fromkeys(codecs))
    if publish_info.get("description") in LEGACY_PUBLISH_DESCRIPTIONS:
        return ("h264",)
    return None
