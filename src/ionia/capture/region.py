"""Which rectangle of the desktop to grab: ``--monitor`` and ``--region`` resolved against
the display's screens."""

from __future__ import annotations

from dataclasses import dataclass

from ionia.capture.devices import ScreenInfo, list_monitors
from ionia.errors import ConfigError

__all__ = ["Region", "resolve_area"]


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
