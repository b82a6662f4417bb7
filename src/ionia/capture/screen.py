"""The desktop as a video source: FFmpeg's native grabbers through PyAV, ``mss`` as fallback.

Each grabber (``ffmpeg_grab``, ``mss_grab``) runs in its own ``ionia-capture`` thread at
the stream's frame rate and keeps only the newest frame (``latest_frame``); this module
picks the platform's grabbers and falls back from one to the next when it will not open.
"""

from __future__ import annotations

import logging
import sys
from functools import partial

import av

from ionia.capture.base import VideoSource
from ionia.capture.ffmpeg_grab import ScreenSource, macos_grabbers, windows_grabbers
from ionia.capture.mss_grab import MssScreenSource
from ionia.capture.region import Region, resolve_area
from ionia.errors import CaptureError, ConfigError

__all__ = ["FallbackScreenSource", "create_screen_source"]

log = logging.getLogger("ionia.capture")


class FallbackScreenSource(VideoSource):
    """Tries each grabber in turn at ``open()``; behaves as the first that opens."""

    def __init__(self, candidates: list[VideoSource]) -> None:
        self.candidates = candidates
        self.active: VideoSource | None = None
        self.name = "screen"

    def open(self) -> None:
        failures = []
        for source in self.candidates:
            try:
                source.open()
            except CaptureError as e:
                log.warning("%s did not open (%s), trying the next grabber", source.name, e)
                failures.append(str(e))
                continue
            self.active, self.name = source, source.name
            return
        raise CaptureError("no screen grabber could open: " + "; ".join(failures))

    @property
    def size(self) -> tuple[int, int]:
        return self.active.size if self.active else (0, 0)

    @property
    def latency_s(self) -> float:
        return self.active.latency_s if self.active else 0.0

    def read(self, index: int) -> av.VideoFrame | None:
        assert self.active is not None, "open() first"
        return self.active.read(index)

    def close(self) -> None:
        if self.active is not None:
            self.active.close()


def create_screen_source(
    backend: str = "auto",
    *,
    display: str | None = None,
    monitor: int | None = None,
    region: Region | str | None = None,
    cursor: bool = True,
    fps: int = 30,
) -> VideoSource:
    """The screen grabber for ``--capture auto|x11grab|mss``; not opened yet.

    ``auto`` prefers the platform's FFmpeg grabber (x11grab on Linux, ddagrab then gdigrab
    on Windows, avfoundation on macOS) and falls back to mss when it will not open.
    """
    if isinstance(region, str):
        region = Region.parse(region)
    x11grab = partial(ScreenSource, display, monitor=monitor, region=region, cursor=cursor, fps=fps)
    mss_source = MssScreenSource(display, monitor=monitor, region=region, cursor=cursor, fps=fps)
    if backend == "mss":
        return mss_source
    if backend == "x11grab":
        return x11grab()
    if backend != "auto":
        raise ConfigError(f"--capture must be auto, x11grab or mss, not {backend!r}")
    if sys.platform.startswith("linux"):
        return FallbackScreenSource([x11grab(), mss_source])
    if sys.platform == "win32":
        # monitors and regions come from mss's coordinates; ddagrab/gdigrab take offsets
        area = resolve_area("", monitor, region) if (monitor or region) else None
        return FallbackScreenSource([*windows_grabbers(area, cursor, fps), mss_source])
    if sys.platform == "darwin" and region is None:
        return FallbackScreenSource([*macos_grabbers(monitor, cursor, fps), mss_source])
    return mss_source
