"""A stream's settings against a service's limits: clamped with a warning where the service
would only cap or re-encode them, refused where it would refuse the stream."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ionia.errors import ConfigError
from ionia.services.catalog import Service

__all__ = ["StreamShape", "fit_limits"]

log = logging.getLogger("ionia")


@dataclass(frozen=True, kw_only=True)
class StreamShape:
    """The settings a service has limits on."""

    video_bitrate: int
    audio_bitrate: int
    fps: int
    keyint_s: float
    #: None: the source's own size (not known before it opens)
    size: tuple[int, int] | None = None
    codec: str = "h264"


def fit_limits(service: Service, shape: StreamShape) -> StreamShape:
    """``shape`` within ``service``'s limits, or a ``ConfigError`` naming the setting."""
    limits, name = service.limits, service.name
    if limits.codecs and shape.codec not in limits.codecs:
        raise ConfigError(
            f"{name} does not ingest {shape.codec}: it takes {', '.join(limits.codecs)}"
        )
    if limits.max_keyint is not None and shape.keyint_s > limits.max_keyint:
        raise ConfigError(
            f"keyint {shape.keyint_s:g} s is more than {name} accepts "
            f"({limits.max_keyint:g} s at most; it recommends {limits.keyint or 2:g} s): "
            f"use --keyint {limits.keyint or limits.max_keyint:g}"
        )
    if limits.resolutions and shape.size is not None:
        largest = max(limits.resolutions, key=lambda s: s[0] * s[1])
        if shape.size[0] * shape.size[1] > largest[0] * largest[1]:
            sizes = ", ".join(f"{w}x{h}" for w, h in limits.resolutions)
            raise ConfigError(
                f"size {shape.size[0]}x{shape.size[1]} is larger than {name} takes: use {sizes}"
            )
    return replace(
        shape,
        video_bitrate=_clamp("video bitrate", shape.video_bitrate, limits.max_video_bitrate,
                             " bit/s", name),
        audio_bitrate=_clamp("audio bitrate", shape.audio_bitrate, limits.max_audio_bitrate,
                             " bit/s", name),
        fps=_clamp("fps", shape.fps, limits.max_fps, " fps", name),
    )  # fmt: skip


def _clamp(what: str, value: int, limit: int | None, unit: str, service: str) -> int:
    if limit is None or value <= limit:
        return value
    log.warning(
        "%s %d%s is more than %s takes: using its maximum, %d%s",
        what, value, unit, service, limit, unit,
    )  # fmt: skip
    return limit
