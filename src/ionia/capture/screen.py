"""The desktop as a video source: FFmpeg's native grabbers through PyAV, ``mss`` as fallback.

Every grabber runs in its own ``ionia-capture`` thread at the stream's frame rate and
keeps only the newest frame; ``read()`` hands it over once (``None`` = nothing new, the
pipeline repeats the previous frame). Frames stay in the grabber's pixel format (``bgr0``
for x11grab): the encoder's scaler converts them, never Python.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import av
import numpy as np

from ionia.capture.base import VideoSource
from ionia.capture.devices import ScreenInfo, default_display, list_monitors
from ionia.errors import CaptureError, ConfigError
from ionia.worker import Worker, describe

log = logging.getLogger("ionia.capture")

#: how long ``open()`` waits for the first frame before calling the grabber broken
FIRST_FRAME_TIMEOUT = 3.0
#: below this share of non-black pixels a first frame counts as a black screen (the pointer
#: drawn on a black root is ~0.03 % of 1280x720)
BLACK_SCREEN_SHARE = 0.01


@dataclass(kw_only=True, frozen=True)
class Region:
    """A rectangle of the screen, relative to the chosen monitor."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Region:
        """``"x,y,w,h"`` as ``--region`` takes it."""
        try:
            x, y, w, h = (int(part) for part in text.split(","))
        except ValueError:
            raise ConfigError(f"--region wants x,y,width,height, not {text!r}") from None
        return cls(x=x, y=y, width=w, height=h)


def resolve_area(display: str, monitor: int | None, region: Region | None) -> Region:
    """Absolute screen rectangle for ``--monitor``/``--region`` (default: the primary monitor)."""
    screens = list_monitors(display)
    if monitor is None:
        physical = screens[1:] or screens
        screen = next((s for s in physical if s.primary), physical[0])
    elif 0 <= monitor < len(screens):
        screen = screens[monitor]
    else:
        raise ConfigError(f"monitor {monitor} does not exist (0..{len(screens) - 1})")
    if region is None:
        return Region(x=screen.x, y=screen.y, width=screen.width, height=screen.height)
    return _clip(screen, region)


def _clip(screen: ScreenInfo, region: Region) -> Region:
    inside = (
        region.x >= 0
        and region.y >= 0
        and region.width > 0
        and region.height > 0
        and region.x + region.width <= screen.width
        and region.y + region.height <= screen.height
    )
    if not inside:
        raise ConfigError(f"region {region} is not inside {screen.width}x{screen.height}")
    return Region(
        x=screen.x + region.x, y=screen.y + region.y, width=region.width, height=region.height
    )


def _mostly_black(frame: av.VideoFrame) -> bool:
    """Whether a 4-byte-per-pixel frame (``bgr0``, ``bgra``) is black but for a pointer.

    Every 4th row and column is enough for "is anything on screen" (~2 ms at 1080p).
    """
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    pixels = rows[: frame.height : 4, : 4 * frame.width].reshape(-1, frame.width, 4)[:, ::4, :3]
    lit = np.count_nonzero(pixels.any(axis=2))
    return lit < BLACK_SCREEN_SHARE * pixels.shape[0] * pixels.shape[1]


class _LatestFrameSource(VideoSource):
    """A grabber thread and a one-frame slot; subclasses say how to open and grab."""

    #: grabs an X11 screen: a black first frame gets the Xvfb notice (see ``_hint_if_black``)
    x11 = False

    def __init__(self, fps: int) -> None:
        self.fps = fps
        #: frames per second the grabber takes; more than ``fps`` makes the newest frame fresher
        self.grab_rate = fps
        self._size = (0, 0)
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self._seq = self._taken = 0
        self._error: CaptureError | None = None
        self._stop = threading.Event()
        self._first = threading.Event()
        self._worker: Worker | None = None
        #: ``time.monotonic()`` when the newest frame came from the grabber
        self.last_capture_time = 0.0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def latency_s(self) -> float:
        # A change on screen waits on average half a grab interval to be grabbed, then
        # half a frame interval for the slot that reads it (measured in
        # tests/capture/test_capture_stream.py: 18-24 ms at 30 fps with 60 grabs/s).
        return 0.5 / self.grab_rate + 0.5 / self.fps

    def _open_device(self) -> tuple[int, int]:
        """Open the grabber (in the caller's thread, so errors surface from ``open()``)."""
        raise NotImplementedError

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Frames at the grabber's pace; raises on a lost capture (in the capture thread)."""
        raise NotImplementedError

    def _close_device(self) -> None:
        raise NotImplementedError

    def open(self) -> None:
        if self._worker is not None:
            return
        self._size = self._open_device()
        self._worker = Worker(
            "ionia-capture", self._run, on_crash=self._crashed, stopping=self._stop
        )
        self._worker.start()
        if not self._first.wait(FIRST_FRAME_TIMEOUT):
            self.close()
            raise CaptureError(f"{self.name}: no frame within {FIRST_FRAME_TIMEOUT:.0f} s")
        if self._error is not None:
            self.close()
            raise self._error
        if self.x11:
            self._hint_if_black()

    def _hint_if_black(self) -> None:
        """One notice at ``open()`` when the X screen is black from the start.

        A black picture on a headless X server is the server's own state, not the grabber's:
        Xvfb (like any X server started without ``-noreset``) resets when its last client
        disconnects, and a reset repaints the root window black. ``xsetroot -solid red``
        and then a grab gives black whether the pointer is drawn or not; a browser that has
        crashed or not yet mapped its window does the same.
        """
        with self._lock:
            frame = self._frame
        if frame is not None and frame.format.name in ("bgr0", "bgra") and _mostly_black(frame):
            log.info(
                "%s: the screen is black; an Xvfb clears its root window when its last "
                "client leaves (keep the browser connected, or start Xvfb with -noreset)",
                self.name,
            )

    def _run(self) -> None:
        try:
            for frame in self._frames():
                with self._lock:
                    self._frame = frame
                    self._seq += 1
                    self.last_capture_time = time.monotonic()
                self._first.set()
                if self._stop.is_set():
                    break
        except (av.FFmpegError, OSError, RuntimeError) as e:
            if not self._stop.is_set():
                # reported once, by the stream this ends at the next read()
                self._error = CaptureError(f"{self.name}: screen capture lost ({e})")
        else:
            if not self._stop.is_set():
                self._error = CaptureError(f"{self.name}: screen capture ended")
        finally:
            self._first.set()
            self._close_device()

    def _crashed(self, exc: BaseException) -> None:
        """Anything else that escaped the grabber (a bug, an odd frame) ends the capture."""
        if not self._stop.is_set():
            self._error = CaptureError(f"{self.name}: screen capture failed ({describe(exc)})")

    def read(self, index: int) -> av.VideoFrame | None:
        if self._error is not None:
            raise self._error
        with self._lock:
            if self._seq == self._taken:
                return None
            self._taken = self._seq
            return self._frame

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            # the grabber yields every frame interval, so it sees the flag within one
            self._worker.join(2.0)


class FFmpegGrabSource(_LatestFrameSource):
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

    def _frames(self) -> Iterator[av.VideoFrame]:
        assert self._container is not None
        yield from self._container.decode(video=0)

    def _close_device(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class ScreenSource(FFmpegGrabSource):
    """Linux/X11 through ``x11grab`` (XShm; frames are ``bgr0``, the cursor drawn in)."""

    x11 = True

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
        # XShm grabs are cheap (0.007 CPU s/s at 1080p30): grabbing at twice the frame
        # rate halves how stale a frame can be when its slot comes (33 ms → 17 ms at 30 fps).
        self.grab_rate = 2 * fps

    def _open_device(self) -> tuple[int, int]:
        area = resolve_area(self.display, self.monitor, self.region)
        self._url = f"{self.display}+{area.x},{area.y}"
        # draw_mouse blends the XFixes cursor image into the pointer's rectangle only (a
        # cursor-sized box; nothing when the pointer is on another screen or outside the
        # area). On Xvfb that is the server's X cursor (or the ARGB one a client set), drawn
        # over the true picture: measured with draw_mouse 1 vs 0, frames differ only there.
        self._options = {
            "framerate": str(self.grab_rate),
            "video_size": f"{area.width}x{area.height}",
            "draw_mouse": "1" if self.cursor else "0",
        }
        return super()._open_device()


class MssScreenSource(_LatestFrameSource):
    """The portable fallback: ``mss`` screenshots (one copy per frame into a ``bgra`` frame)."""

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

    def _frames(self) -> Iterator[av.VideoFrame]:
        import mss
        from mss.exception import ScreenShotError

        assert self._area is not None
        a = self._area
        box = {"left": a.x, "top": a.y, "width": a.width, "height": a.height}
        kwargs: dict[str, Any] = (
            {"display": self.display} if sys.platform.startswith("linux") else {}
        )
        interval = 1.0 / self.fps
        next_at = time.monotonic()
        try:
            # mss handles are per thread: create it here, in the capture thread
            with mss.MSS(with_cursor=self.cursor, **kwargs) as grabber:
                while not self._stop.is_set():
                    shot = grabber.grab(box)
                    pixels = np.frombuffer(shot.raw, dtype=np.uint8)
                    image = pixels.reshape(shot.height, shot.width, 4)
                    yield av.VideoFrame.from_ndarray(image, format="bgra")
                    next_at = max(next_at + interval, time.monotonic() - interval)
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
        except ScreenShotError as e:
            raise RuntimeError(str(e)) from e

    def _close_device(self) -> None:
        pass


# --- Windows and macOS: UNTESTED HERE (CI is Linux). Kept to building FFmpeg's arguments;
# the grabbing itself is the same FFmpegGrabSource as x11grab. When they fail to open,
# ``auto`` falls back to mss.


def _windows_grabbers(area: Region | None, cursor: bool, fps: int) -> list[VideoSource]:
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


def _macos_grabbers(monitor: int | None, cursor: bool, fps: int) -> list[VideoSource]:
    options = {"framerate": str(fps), "capture_cursor": "1" if cursor else "0"}
    options["pixel_format"] = "bgr0"
    screen = f"Capture screen {max(0, (monitor or 1) - 1)}"
    return [FFmpegGrabSource(screen, "avfoundation", options, fps=fps, name="avfoundation")]


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
        return FallbackScreenSource([*_windows_grabbers(area, cursor, fps), mss_source])
    if sys.platform == "darwin" and region is None:
        return FallbackScreenSource([*_macos_grabbers(monitor, cursor, fps), mss_source])
    return mss_source
