"""What to capture from the screen and the audio devices: checked once, with the config."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ionia.checks import check_flag, check_number, check_text, check_whole
from ionia.errors import ConfigError

MONITOR_RANGE = (0, 99)
SCREEN_BACKENDS = ("auto", "x11grab", "mss")
GAIN_RANGE_DB = (-60.0, 30.0)
_REGION = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")


@dataclass(frozen=True, kw_only=True)
class CaptureOptions:
    """What to capture from the screen and the audio devices (checked, typed)."""

    #: X display (default: $DISPLAY)
    display: str | None = None
    #: 0 = the whole X screen, 1..n = one monitor; None = the primary monitor
    monitor: int | None = None
    #: "x,y,w,h" inside the monitor
    region: str | None = None
    cursor: bool = True
    #: screen grabber: auto, x11grab or mss
    backend: str = "auto"
    #: device name substrings (None = the default output's loopback / the default input)
    system_device: str | None = None
    mic_device: str | None = None
    system_gain_db: float = 0.0
    mic_gain_db: float = 0.0

    @classmethod
    def create(
        cls,
        audio_mode: str,
        *,
        display: str | None = None,
        monitor: int | None = None,
        region: str | None = None,
        cursor: bool | None = None,
        capture: str | None = None,
        audio_device: str | None = None,
        system_device: str | None = None,
        mic_device: str | None = None,
        system_gain: float | None = None,
        mic_gain: float | None = None,
    ) -> CaptureOptions:
        if monitor is not None:
            # 0 = the whole screen, 1..n = one monitor
            monitor = check_whole("monitor", monitor, MONITOR_RANGE)
        if region is not None:
            match = _REGION.match(str(region))
            if not match or int(match.group(3)) == 0 or int(match.group(4)) == 0:
                raise ConfigError(f"region {region!r} is not x,y,width,height, e.g. 0,0,1280,720")
        backend = capture or cls.backend  # the field's default
        if backend not in SCREEN_BACKENDS:
            raise ConfigError(f"screen capture backend must be one of {', '.join(SCREEN_BACKENDS)}")
        display = check_text("display (--display)", display)
        audio_device = check_text("audio device (--audio-device)", audio_device)
        system_device = check_text("system device (--system-device)", system_device)
        mic_device = check_text("mic device (--mic-device)", mic_device)
        gains = [
            0.0 if gain is None else check_number(name, gain, *GAIN_RANGE_DB, unit=" dB")
            for name, gain in (
                ("system gain (--system-gain)", system_gain),
                ("mic gain (--mic-gain)", mic_gain),
            )
        ]
        if audio_device:
            if audio_mode == "both":
                raise ConfigError(
                    "with audio 'both', pick devices with --system-device/--mic-device"
                )
            if audio_mode == "system":
                system_device = audio_device
            else:
                mic_device = audio_device
        return cls(
            display=display,
            monitor=monitor,
            region=region,
            cursor=cls.cursor if cursor is None else check_flag("cursor", cursor),
            backend=backend,
            system_device=system_device,
            mic_device=mic_device,
            system_gain_db=gains[0],
            mic_gain_db=gains[1],
        )
