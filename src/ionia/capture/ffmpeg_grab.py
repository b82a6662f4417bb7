"""FFmpeg's native screen grabbers through PyAV: x11grab on Linux (tested here), and the
arguments for ddagrab/gdigrab on Windows and avfoundation on macOS.

Frames stay in the grabber's pixel format (``bgr0`` for x11grab): the encoder's scaler
converts them, never Python.
"""

from __future__ import annotations

from collections.abc import Generator

import av

from ionia.capture.base import VideoSource
from ionia.capture.devices import default_display
from ionia.capture.latest_frame import LatestFrameSource
from ionia.capture.region import Region, resolve_area
from ionia.errors import CaptureError

__all__ = ["FFmpegGrabSource", "ScreenSource", "macos_grabbers", "windows_grabbers"]


class FFmpegGrabSource(LatestFrameSource):
    """Any FFmpeg capture device PyAV can open (x11grab, gdigrab, avfoundation, lavfi)."""

    def __init__(self, url: str, fmt: str, options: dict[str, str], *, fps: int, name: str):
        super().__init__(fps)
        self._url, self._fmt, self._options = url, fmt, options
        self.name = name
        self._container: av.container.InputContainer | None = None

    def _open_device(self) -> tuple[int, int]:
        try:
            self._container = av.open(self._url, format=self._fmt, options=self._options)
        except (av.FFmpegError, OSError) as e:
            raise CaptureError(f"{self.name}: cannot open {self._fmt} {self._url!r}: {e}") from e
        ctx = self._container.streams.video[0].codec_context
        return ctx.width, ctx.height

    def _frames(self) -> Generator[av.VideoFrame, None, None]:
        assert self._container is not None
        yield from self._container.decode(video=0)

    def _close_device(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class ScreenSource(FFmpegGrabSource):
    """Linux/X11 through ``x11grab`` (XShm; frames are ``bgr0``, the cursor drawn in)."""

    x11 = True
    #: x11grab sleeps only until its own next frame time, ``framerate`` past the last one;
    #: told this rate it never sleeps, and grabs the moment the capture thread asks
    #: (``LatestFrameSource.on_demand``: one grab per slot, ending just before it)
    on_demand = True
    UNPACED_RATE = 1000

    def __init__(
        self,
        display: str | None = None,
        *,
        monitor: int | None = None,
        region: Region | None = None,
        cursor: bool = True,
        fps: int = 30,
    ) -> None:
        self.display = display or default_display()
        self.monitor, self.region, self.cursor = monitor, region, cursor
        super().__init__("", "x11grab", {}, fps=fps, name=f"x11grab {self.display}")

    def _open_device(self) -> tuple[int, int]:
        area = resolve_area(self.display, self.monitor, self.region)
        self._url = f"{self.display}+{area.x},{area.y}"
        # draw_mouse blends the XFixes cursor image into the pointer's rectangle only (a
        # cursor-sized box; nothing when the pointer is on another screen or outside the
        # area). On Xvfb that is the server's X cursor (or the ARGB one a client set), drawn
        # over the true picture: measured with draw_mouse 1 vs 0, frames differ only there.
        self._options = {
            "framerate": str(self.UNPACED_RATE if self.on_demand else self.grab_rate),
            "video_size": f"{area.width}x{area.height}",
            "draw_mouse": "1" if self.cursor else "0",
        }
        return super()._open_device()


# --- Windows and macOS: UNTESTED HERE (CI is Linux). Kept to building FFmpeg's arguments;
# the grabbing itself is the same FFmpegGrabSource as x11grab. When they fail to open,
# ``auto`` falls back to mss.


def windows_grabbers(area: Region | None, cursor: bool, fps: int) -> list[VideoSource]:
    mouse = "1" if cursor else "0"
    dda = f"ddagrab=framerate={fps}:draw_mouse={mouse}"
    gdi = {"framerate": str(fps), "draw_mouse": mouse}
    if area is not None:
        dda += f":offset_x={area.x}:offset_y={area.y}:video_size={area.width}x{area.height}"
        gdi |= {"offset_x": str(area.x), "offset_y": str(area.y)}
        gdi["video_size"] = f"{area.width}x{area.height}"
    return [
        # Desktop Duplication delivers GPU frames: download them for the software scaler
        FFmpegGrabSource(f"{dda},hwdownload,format=bgra", "lavfi", {}, fps=fps, name="ddagrab"),
        FFmpegGrabSource("desktop", "gdigrab", gdi, fps=fps, name="gdigrab"),
    ]


def macos_grabbers(monitor: int | None, cursor: bool, fps: int) -> list[VideoSource]:
    options = {"framerate": str(fps), "capture_cursor": "1" if cursor else "0"}
    options["pixel_format"] = "bgr0"
    screen = f"Capture screen {max(0, (monitor or 1) - 1)}"
    return [FFmpegGrabSource(screen, "avfoundation", options, fps=fps, name="avfoundation")]
