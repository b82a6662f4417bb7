"""The one configuration object, validated once, at the edge.

``StreamConfig.create(...)`` turns what a user typed (API keywords, CLI flags, config.json)
into a frozen, checked record, or raises ``ConfigError`` naming the problem and the fix.
Nothing is opened or started before this succeeds.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ionia.encoding.fit import FIT_MODES
from ionia.errors import ConfigError
from ionia.output.url import RtmpUrl, parse_rtmp_url

log = logging.getLogger("ionia")

AUDIO_MODES = ("both", "system", "mic", "none", "tone")
VIDEO_SOURCES = ("screen", "testsrc")
FILE_OUTPUTS = {".flv": "flv", ".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}

FPS_RANGE = (1, 120)
VIDEO_BITRATE_RANGE = (100_000, 100_000_000)
AUDIO_BITRATE_RANGE = (32_000, 512_000)
SIZE_RANGE = (16, 7680)

_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:bps|b|bit/s)?\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_bitrate(value: str | int | float, *, what: str = "bitrate") -> int:
    """``4500k`` → 4_500_000, ``5M`` → 5_000_000, ``192000`` → 192_000."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a number like 4500k or 5M, not {value!r}")
    if isinstance(value, int | float):
        return int(value)
    match = _BITRATE.match(str(value))
    if not match:
        raise ConfigError(f"{what} {value!r} is not a bitrate: write it like 4500k, 5M or 192000")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * {"": 1, "k": 1_000, "m": 1_000_000}[unit])


def parse_size(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``1280x720`` → (1280, 720)."""
    if value is None or isinstance(value, tuple):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ConfigError(f"size {value!r} is not WIDTHxHEIGHT, for example 1280x720")
    return int(match.group(1)), int(match.group(2))


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 4:2:0 needs even dimensions: round odd ones down, with a note."""
    even = (width - width % 2, height - height % 2)
    if even != (width, height):
        log.info("size %dx%d rounded to %dx%d (4:2:0 needs even dimensions)", width, height, *even)
    return even


def _in_range(name: str, value: int, bounds: tuple[int, int], unit: str = "") -> int:
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{name} {value}{unit} is out of range: use {low}{unit} to {high}{unit}")
    return value


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
        if monitor is not None and (isinstance(monitor, bool) or not isinstance(monitor, int)
                                    or monitor < 0):  # fmt: skip
            raise ConfigError(
                f"monitor must be 0 (whole screen) or a monitor number, not {monitor!r}"
            )
        if region is not None:
            match = _REGION.match(str(region))
            if not match or int(match.group(3)) == 0 or int(match.group(4)) == 0:
                raise ConfigError(f"region {region!r} is not x,y,width,height, e.g. 0,0,1280,720")
        backend = capture or "auto"
        if backend not in SCREEN_BACKENDS:
            raise ConfigError(f"screen capture backend must be one of {', '.join(SCREEN_BACKENDS)}")
        gains = []
        for name, gain in (("system gain", system_gain), ("mic gain", mic_gain)):
            try:
                value = 0.0 if gain is None else float(gain)
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be a number of dB, not {gain!r}") from None
            if not GAIN_RANGE_DB[0] <= value <= GAIN_RANGE_DB[1]:
                raise ConfigError(f"{name} {value} dB is out of range: use -60 to 30 dB")
            gains.append(value)
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
            cursor=True if cursor is None else bool(cursor),
            backend=backend,
            system_device=system_device,
            mic_device=mic_device,
            system_gain_db=gains[0],
            mic_gain_db=gains[1],
        )


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where the stream goes: an RTMP(S) ingest or a local file."""

    url: RtmpUrl | None = None
    path: Path | None = None
    #: FFmpeg muxer name for file outputs ("flv", "mp4", "matroska")
    file_format: str = ""

    @property
    def identity(self) -> tuple[object, ...]:
        """Equal for two spellings of the same destination (secret: never show it)."""
        if self.url is not None:
            return (self.url.host, self.url.port, self.url.app, self.url.key)
        return (str(self.path),)

    @property
    def display(self) -> str:
        """Safe to show: the key is masked."""
        return self.url.masked if self.url is not None else str(self.path)


def parse_destination(target: str) -> Destination:
    if "://" in target:
        return Destination(url=parse_rtmp_url(target))
    suffix = Path(target).suffix.lower()
    if suffix in FILE_OUTPUTS:
        path = Path(target)
        if not path.parent.exists():
            raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
        return Destination(path=path, file_format=FILE_OUTPUTS[suffix])
    return Destination(url=parse_rtmp_url(target))  # raises a clear scheme error


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    """Every setting of a stream, checked. Build it with ``StreamConfig.create``."""

    #: where the stream goes: one or more ingests (multistreaming) or files
    destinations: tuple[Destination, ...]
    #: a local recording alongside, which never drops a packet
    record: Destination | None = None
    #: "off"; "on": the encoder follows the link (with one destination; with several, only
    #: when "shared": it then follows the slowest healthy destination)
    adaptive_bitrate: str = "off"
    min_video_bitrate: int = 300_000
    video_source: str = "testsrc"
    audio_mode: str = "tone"
    fps: int = 30
    #: output size; None = the source's own size (rounded to even)
    size: tuple[int, int] | None = None
    #: a source of another aspect ratio: "pad" (black bars), "crop" or "stretch"
    fit: str = "pad"
    video_bitrate: int = 5_000_000
    audio_bitrate: int = 192_000
    encoder: str = "auto"
    allow_hardware: bool = True
    preset: str = "veryfast"
    tune: str = "zerolatency"
    profile: str = "high"
    keyint_s: float = 2.0
    buffer_ms: int = 2000
    #: None = derived from buffer_ms (see ``max_packets``)
    buffer_packets: int | None = None
    loop: bool = False
    connect_timeout: float = 5.0
    #: no send progress for this long = a stalled connection (OBS waits 15 s)
    io_timeout: float = 5.0
    stop_timeout: float = 3.0
    tls_verify: bool = True
    ca_file: str | None = None
    capture: CaptureOptions = field(default_factory=CaptureOptions)

    @classmethod
    def create(
        cls,
        target: str | Sequence[str],
        *,
        record: str | None = None,
        adaptive_bitrate: str | bool = "off",
        min_video_bitrate: int | str = 300_000,
        fps: int = 30,
        video_bitrate: int | str = 5_000_000,
        audio_bitrate: int | str = 192_000,
        use_nvenc: bool = True,
        audio_mode: str = "tone",
        video_source: str = "testsrc",
        size: str | tuple[int, int] | None = None,
        fit: str = "pad",
        encoder: str = "auto",
        preset: str = "veryfast",
        keyint: float = 2.0,
        buffer_ms: int = 2000,
        buffer_packets: int | None = None,
        loop: bool = False,
        connect_timeout: float = 5.0,
        stop_timeout: float = 3.0,
        stall_timeout: float = 5.0,
        tls_verify: bool = True,
        ca_file: str | None = None,
        **capture: Any,
    ) -> StreamConfig:
        record_to = parse_destination(record) if record else None
        destinations = _destinations(target, recording=record_to is not None)
        if record_to is not None and record_to.url is not None:
            raise ConfigError("--record takes a file (.mp4, .mkv, .flv), not a URL")
        adaptive = _adaptive_mode(adaptive_bitrate)
        if isinstance(fps, bool) or not isinstance(fps, int | float) or fps != int(fps):
            raise ConfigError(f"fps must be a whole number, not {fps!r}")
        fps = _in_range("fps", int(fps), FPS_RANGE)
        vbr = _in_range(
            "video bitrate",
            parse_bitrate(video_bitrate, what="video bitrate"),
            VIDEO_BITRATE_RANGE,
            " bit/s",
        )
        abr = _in_range(
            "audio bitrate",
            parse_bitrate(audio_bitrate, what="audio bitrate"),
            AUDIO_BITRATE_RANGE,
            " bit/s",
        )
        out_size = parse_size(size)
        if out_size is not None:
            for dim in out_size:
                _in_range("size", dim, SIZE_RANGE, " px")
            out_size = even_size(*out_size)
        if fit not in FIT_MODES:
            raise ConfigError(f"fit {fit!r} is not one of {', '.join(FIT_MODES)}")
        _check_source("video source", video_source, VIDEO_SOURCES)
        _check_source("audio mode", audio_mode, AUDIO_MODES)
        if not 0.1 <= keyint <= 20:
            raise ConfigError(f"keyframe interval {keyint} s is out of range: use 0.1 to 20 s")
        if buffer_ms < 50 or (buffer_packets is not None and buffer_packets < 2):
            raise ConfigError("buffer too small: use --buffer-ms >= 50 and --buffer-packets >= 2")
        known = set(inspect.signature(CaptureOptions.create).parameters) - {"audio_mode"}
        unknown = sorted(set(capture) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)}: "
                f"capture options are {', '.join(sorted(known))}"
            )
        capture_options = CaptureOptions.create(audio_mode, **capture)
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"CA file not found: {ca_file}")
        if encoder != "auto" and not use_nvenc and encoder not in ("x264", "libx264"):
            raise ConfigError(f"encoder {encoder!r} conflicts with use_nvenc=False")
        timeouts = (
            ("connect timeout", connect_timeout),
            ("stop timeout", stop_timeout),
            ("stall timeout", stall_timeout),
        )
        for name, value in timeouts:
            if not 0 < value <= 120:
                raise ConfigError(
                    f"{name} {value} s is out of range: use more than 0 and at most 120 s"
                )
        min_vbr = parse_bitrate(min_video_bitrate, what="minimum video bitrate")
        if adaptive != "off" and not VIDEO_BITRATE_RANGE[0] <= min_vbr <= vbr:
            raise ConfigError(
                f"minimum video bitrate {min_vbr} bit/s must be between "
                f"{VIDEO_BITRATE_RANGE[0]} and the video bitrate ({vbr})"
            )
        return cls(
            destinations=destinations,
            record=record_to,
            adaptive_bitrate=adaptive,
            min_video_bitrate=min_vbr,
            video_source=video_source,
            audio_mode=audio_mode,
            fps=fps,
            size=out_size,
            fit=fit,
            video_bitrate=vbr,
            audio_bitrate=abr,
            encoder=encoder,
            allow_hardware=use_nvenc,
            preset=preset,
            keyint_s=float(keyint),
            buffer_ms=int(buffer_ms),
            buffer_packets=None if buffer_packets is None else int(buffer_packets),
            loop=loop,
            connect_timeout=float(connect_timeout),
            io_timeout=float(stall_timeout),
            stop_timeout=float(stop_timeout),
            tls_verify=tls_verify,
            ca_file=ca_file,
            capture=capture_options,
        )

    @property
    def max_packets(self) -> int:
        """The send buffer's packet limit.

        The original design's 100 packets is only ~1.3 s of 30 fps video + AAC, so it would
        fire before the 2000 ms span limit and make ``buffer_ms`` meaningless. By default
        the limit is derived so the span decides: 20 % above the packets ``buffer_ms``
        holds, and never below 100. An explicit ``buffer_packets`` is used as given.
        """
        if self.buffer_packets is not None:
            return self.buffer_packets
        per_second = self.fps + (48_000 / 1024 if self.has_audio else 0)
        return max(100, math.ceil(per_second * self.buffer_ms / 1000 * 1.2))

    @property
    def has_audio(self) -> bool:
        return self.audio_mode != "none"

    @property
    def destination(self) -> Destination:
        """The first destination (the only one, unless multistreaming), else the recording."""
        if self.destinations:
            return self.destinations[0]
        assert self.record is not None
        return self.record


def _destinations(target: str | Sequence[str], *, recording: bool) -> tuple[Destination, ...]:
    targets = [target] if isinstance(target, str) else list(target)
    if not targets and not recording:
        raise ConfigError("no stream URL given: pass rtmp://host/app/KEY (or set RTMP_URL)")
    destinations = tuple(parse_destination(t) for t in targets)
    if len({d.identity for d in destinations}) != len(destinations):
        shown = ", ".join(d.display for d in destinations)
        raise ConfigError(f"the same destination is given twice: {shown}")
    return destinations


def _adaptive_mode(value: str | bool) -> str:
    if value is True:
        return "on"
    if value is False or value is None:
        return "off"
    mode = str(value).lower()
    if mode not in ("off", "on", "shared"):
        raise ConfigError(f"adaptive bitrate must be off, on or shared, not {value!r}")
    return mode


def _check_source(what: str, value: str, names: tuple[str, ...]) -> None:
    if value in names:
        return
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be one of {', '.join(names)} or a media file path")
    if not Path(value).is_file():
        raise ConfigError(
            f"{what} {value!r} is neither one of {', '.join(names)} nor an existing media file"
        )
