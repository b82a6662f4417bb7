"""What ``ionia devices`` lists: the screens and monitors of a display, and audio devices."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from ionia.capture.audio_backend import AudioBackend, AudioDevice, DeviceNotFound
from ionia.errors import CaptureError


@dataclass(kw_only=True, frozen=True)
class ScreenInfo:
    """A capturable area: index 0 is the whole desktop, 1..n the monitors (``--monitor N``)."""

    display: str
    index: int
    x: int
    y: int
    width: int
    height: int
    primary: bool = False
    #: the output's name where known ("HDMI-1"), else "desktop" / "monitor N"
    name: str = ""


@dataclass(kw_only=True, frozen=True)
class DeviceList:
    screens: list[ScreenInfo] = field(default_factory=list)
    audio: list[AudioDevice] = field(default_factory=list)
    #: why something could not be listed ("no X display :0")
    problems: list[str] = field(default_factory=list)


def default_display() -> str:
    return os.environ.get("DISPLAY", ":0") if sys.platform.startswith("linux") else ""


def list_monitors(display: str | None = None) -> list[ScreenInfo]:
    """The desktop and its monitors. Raises ``CaptureError`` when the display is unreachable.

    ``mss`` reads the monitors from XRandR (through XCB) and is already the portable
    capture fallback, so it saves depending on python-xlib or the ``xrandr`` tool; without
    it only the whole X screen is known (from ``xdpyinfo``).
    """
    display = display if display is not None else default_display()
    try:
        import mss
        from mss.exception import ScreenShotError
    except ImportError:
        return _xdpyinfo_screen(display)
    kwargs: dict[str, Any] = {"display": display} if sys.platform.startswith("linux") else {}
    try:
        with mss.MSS(**kwargs) as grabber:
            monitors = grabber.monitors
    except ScreenShotError as e:
        raise CaptureError(f"cannot open display {display!r}: {e}") from e
    return [
        ScreenInfo(
            display=display,
            index=i,
            x=m["left"],
            y=m["top"],
            width=m["width"],
            height=m["height"],
            primary=bool(m.get("is_primary", False)),
            name="desktop" if i == 0 else str(m.get("output") or f"monitor {i}"),
        )
        for i, m in enumerate(monitors)
    ]


def _xdpyinfo_screen(display: str) -> list[ScreenInfo]:
    try:
        out = subprocess.run(
            ["xdpyinfo", "-display", display], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CaptureError(f"cannot query display {display!r}: {e}") from e
    match = re.search(r"dimensions:\s+(\d+)x(\d+) pixels", out)
    if not match:
        raise CaptureError(f"cannot open display {display!r}")
    w, h = int(match[1]), int(match[2])
    return [ScreenInfo(display=display, index=i, x=0, y=0, width=w, height=h) for i in (0, 1)]


def list_audio_devices(backend: AudioBackend | None = None) -> list[AudioDevice]:
    from ionia.capture.audio_devices import default_backend

    return (backend or default_backend()).list_devices()


def list_devices(display: str | None = None, backend: AudioBackend | None = None) -> DeviceList:
    """Everything capturable; what cannot be reached is reported in ``problems``."""
    result = DeviceList()
    try:
        result.screens.extend(list_monitors(display))
    except CaptureError as e:
        result.problems.append(str(e))
    try:
        result.audio.extend(list_audio_devices(backend))
    except DeviceNotFound as e:
        result.problems.append(f"audio: {e}")
    return result


def format_devices(devices: DeviceList) -> str:
    lines = ["Screens (--display, --monitor N):"]
    for s in devices.screens:
        flag = " primary" if s.primary else ""
        lines.append(
            f"  {s.display} monitor {s.index}: {s.width}x{s.height}+{s.x}+{s.y} {s.name}{flag}"
        )
    lines.append("Audio (--audio-device SUBSTRING):")
    for kind, title in (("loopback", "loopbacks (system)"), ("input", "inputs (mic)")):
        lines.append(f"  {title}:")
        for d in devices.audio:
            if d.kind == kind:
                mark = " [default]" if d.default else ""
                lines.append(f"    {d.id}  {d.description}{mark}")
    lines.extend(f"! {problem}" for problem in devices.problems)
    return "\n".join(lines)
