"""The portable screen grabber: ``mss`` screenshots, for when no FFmpeg grabber opens."""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import av
import numpy as np

from ionia.capture.devices import default_display
from ionia.capture.latest_frame import LatestFrameSource
from ionia.capture.region import Region, resolve_area

__all__ = ["MssScreenSource"]


class MssScreenSource(LatestFrameSource):
    """The portable fallback: ``mss`` screenshots (one copy per frame into a ``bgra`` frame)."""

    #: one screenshot each time the capture thread asks (``GrabTimer`` times them)
    on_demand = True

    def __init__(
        self,
        display: str | None = None,
        *,
        monitor: int | None = None,
        region: Region | None = None,
        cursor: bool = True,
        fps: int = 30,
    ) -> None:
        super().__init__(fps)
        self.display = display or default_display()
        self.monitor, self.region, self.cursor = monitor, region, cursor
        self.name = f"mss {self.display}".strip()
        self.x11 = sys.platform.startswith("linux")
        self._area: Region | None = None

    def _open_device(self) -> tuple[int, int]:
        self._area = resolve_area(self.display, self.monitor, self.region)
        return self._area.width, self._area.height

    def _frames(self) -> Generator[av.VideoFrame, None, None]:
        import mss
        from mss.exception import ScreenShotError

        assert self._area is not None
        a = self._area
        box = {"left": a.x, "top": a.y, "width": a.width, "height": a.height}
        kwargs: dict[str, Any] = (
            {"display": self.display} if sys.platform.startswith("linux") else {}
        )
        try:
            # mss handles are per thread: create it here, in the capture thread
            with mss.MSS(with_cursor=self.cursor, **kwargs) as grabber:
                while True:  # one grab each time the capture thread asks (on_demand)
                    shot = grabber.grab(box)
                    pixels = np.frombuffer(shot.raw, dtype=np.uint8)
                    image = pixels.reshape(shot.height, shot.width, 4)
                    yield av.VideoFrame.from_ndarray(image, format="bgra")
        except ScreenShotError as e:
            raise RuntimeError(str(e)) from e

    def _close_device(self) -> None:
        pass
