"""The one configuration object, validated once, at the edge.

``StreamConfig.create(...)`` turns what a user typed (API keywords, CLI flags, config.json)
into a frozen, checked record, or raises ``ConfigError`` naming the problem and the fix.
Nothing is opened or started before this succeeds.
"""

from __future__ import annotations

import inspect
import logging
import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ionia.encoding.fit import FIT_MODES
from ionia.encoding.video import X264_PRESETS
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
KEYINT_RANGE_S = (0.1, 20.0)
TIMEOUT_RANGE_S = (0.0, 120.0)  # more than 0
BUFFER_MS_RANGE = (50, 120_000)
BUFFER_PACKETS_RANGE = (2, 1_000_000)
MONITOR_RANGE = (0, 99)

_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:bps|b|bit/s)?\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_bitrate(value: str | int | float, *, what: str = "bitrate") -> int:
    """``4500k`` → 4_500_000, ``4.5M`` → 4_500_000, ``192000`` → 192_000 (bit/s, >= 0)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = check_number(what, value, 0, math.inf, unit=" bit/s")
    else:
        match = None if isinstance(value, bool) else _BITRATE.match(str(value))
        if not match:
            raise ConfigError(
                f"{what} {value!r} is not a bitrate: write it like 4500k, 5M or 192000"
            )
        scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
        # a 400-digit number is a float infinity
        number = check_number(what, float(match.group(1)) * scale, 0, math.inf, unit=" bit/s")
    return int(number)


def parse_size(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``1280x720`` or ``(1280, 720)`` → (1280, 720), each side checked."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ConfigError(f"size {value!r} is not (width, height), for example (1280, 720)")
        sides = tuple(value)
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ConfigError(f"size {value!r} is not WIDTHxHEIGHT, for example 1280x720")
        sides = (int(match.group(1)), int(match.group(2)))
    width, height = (_whole("size", side, SIZE_RANGE, unit=" px") for side in sides)
    return width, height


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 4:2:0 needs even dimensions: round odd ones down, with a note."""
    even = (width - width % 2, height - height % 2)
    if even != (width, height):
        log.info("size %dx%d rounded to %dx%d (4:2:0 needs even dimensions)", width, height, *even)
    return even


def check_number(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    unit: str = "",
    whole: bool = False,
    above: bool = False,
) -> float:
    """``value`` if it is a finite number in ``low..high`` (``above``: more than ``low``).

    Anything else is a ``ConfigError`` naming the setting, before it reaches a clock, a
    socket or PyAV as a bare ValueError. A bool is no number (True would be 1), and neither
    is a string: the CLI converts its flags, so "5" comes from a caller's mistake.
    """
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be {kind}{_of(unit)}, not {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond a float's range
        number = -math.inf if value < 0 else math.inf
    if math.isnan(number) or (whole and math.isfinite(number) and not number.is_integer()):
        raise ConfigError(f"{name} must be {kind}{_of(unit)}, not {value!r}")
    if math.isinf(number) and math.isinf(high):
        raise ConfigError(f"{name} must be a finite number{_of(unit)}, not {value!r}")
    inside = (number > low if above else number >= low) and number <= high
    if not inside:
        if math.isinf(high):
            bounds = f"more than {_show(low)}{unit}" if above else f"at least {_show(low)}{unit}"
        elif above:
            bounds = f"more than {_show(low)}{unit} and at most {_show(high)}{unit}"
        else:
            bounds = f"{_show(low)}{unit} to {_show(high)}{unit}"
        raise ConfigError(f"{name} {_show(number)}{unit} is out of range: use {bounds}")
    return number


def _whole(name: str, value: object, bounds: tuple[float, float], unit: str = "") -> int:
    """A whole number in ``bounds``; 30.0 is 30 (JSON and NumPy hand out floats)."""
    return int(check_number(name, value, *bounds, unit=unit, whole=True))


def _of(unit: str) -> str:
    return {" s": " of seconds", " ms": " of milliseconds", " dB": " of dB"}.get(unit, "")


def _show(number: float) -> str:
    number = float(number)
    return str(int(number)) if number.is_integer() else str(number)


def check_flag(name: str, value: object) -> bool:
    """True or False only: "false" is a truthy string, and tls_verify="no" must not verify."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, not {value!r}")
    return value


def _text(name: str, value: object) -> str | None:
    """None or a non-empty string (a name, a device, a path)."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, not {value!r}")
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
        if monitor is not None:
            # 0 = the whole screen, 1..n = one monitor
            monitor = _whole("monitor", monitor, MONITOR_RANGE)
        if region is not None:
            match = _REGION.match(str(region))
            if not match or int(match.group(3)) == 0 or int(match.group(4)) == 0:
                raise ConfigError(f"region {region!r} is not x,y,width,height, e.g. 0,0,1280,720")
        backend = capture or "auto"
        if backend not in SCREEN_BACKENDS:
            raise ConfigError(f"screen capture backend must be one of {', '.join(SCREEN_BACKENDS)}")
        display = _text("display (--display)", display)
        audio_device = _text("audio device (--audio-device)", audio_device)
        system_device = _text("system device (--system-device)", system_device)
        mic_device = _text("mic device (--mic-device)", mic_device)
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
            cursor=True if cursor is None else check_flag("cursor", cursor),
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
        # out.flv, ./out.flv and a symlink to it are one file, which two muxers would corrupt
        return (os.path.realpath(str(self.path)),)

    @property
    def display(self) -> str:
        """Safe to show: the key is masked."""
        return self.url.masked if self.url is not None else str(self.path)


def parse_destination(target: str | os.PathLike[str]) -> Destination:
    """An ``rtmp[s]://`` URL or a file (.flv/.mp4/.mkv/.mov) that can be written now."""
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    if not isinstance(target, str):
        raise ConfigError(
            f"a destination must be an rtmp[s]:// URL or a file path, not {type(target).__name__}"
        )
    if "://" in target:
        return Destination(url=parse_rtmp_url(target))
    suffix = Path(target).suffix.lower()
    if suffix in FILE_OUTPUTS:
        path = Path(target)
        check_writable(path)
        return Destination(path=path, file_format=FILE_OUTPUTS[suffix])
    return Destination(url=parse_rtmp_url(target))  # raises a clear scheme error


def check_writable(path: Path) -> None:
    """Fail now, naming the file, where the muxer would fail only after ``start()``.

    Permission bits cannot tell (root writes anywhere, ``os.access`` ignores read-only
    mounts and /proc), so the file is created and removed, or opened without truncation if
    it exists: exactly what the muxer will do, minus the data.
    """
    folder = path.parent
    if not folder.exists():
        raise ConfigError(f"cannot write {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: {folder} is not a folder")
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise ConfigError(f"cannot write {path}: it is not a regular file")
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            os.close(os.open(path, os.O_WRONLY))  # no O_TRUNC: leave what is there intact
        else:
            os.close(fd)
            os.unlink(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}; choose a folder you can write to"
        ) from None


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
        target: str | os.PathLike[str] | Sequence[str],
        *,
        record: str | os.PathLike[str] | None = None,
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
        if record_to is not None and record_to.identity in {d.identity for d in destinations}:
            raise ConfigError(
                f"--record {record_to.display} is also a stream destination: two writers "
                "would corrupt one file; record to another file"
            )
        adaptive = _adaptive_mode(adaptive_bitrate)
        fps = _whole("fps", fps, FPS_RANGE)
        vbr = _bitrate("video bitrate (--video-bitrate)", video_bitrate, VIDEO_BITRATE_RANGE)
        abr = _bitrate("audio bitrate (--audio-bitrate)", audio_bitrate, AUDIO_BITRATE_RANGE)
        out_size = parse_size(size)
        if out_size is not None:
            out_size = even_size(*out_size)
        if fit not in FIT_MODES:
            raise ConfigError(f"fit {fit!r} is not one of {', '.join(FIT_MODES)}")
        _check_source("video source", video_source, VIDEO_SOURCES)
        _check_source("audio mode", audio_mode, AUDIO_MODES)
        if not isinstance(encoder, str) or not encoder:
            raise ConfigError(
                f"encoder must be auto, x264, nvenc... or an FFmpeg name, not {encoder!r}"
            )
        if preset not in X264_PRESETS:
            raise ConfigError(
                f"preset {preset!r} is not an x264 preset: use one of {', '.join(X264_PRESETS)}"
            )
        keyint_s = check_number(
            "keyint (seconds between keyframes)", keyint, *KEYINT_RANGE_S, unit=" s"
        )
        buffer_span = _whole("buffer ms (--buffer-ms)", buffer_ms, BUFFER_MS_RANGE, " ms")
        packets = None
        if buffer_packets is not None:
            packets = _whole(
                "buffer packets (--buffer-packets)", buffer_packets, BUFFER_PACKETS_RANGE
            )
        known = set(inspect.signature(CaptureOptions.create).parameters) - {"audio_mode"}
        unknown = sorted(set(capture) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)}: "
                f"capture options are {', '.join(sorted(known))}"
            )
        capture_options = CaptureOptions.create(audio_mode, **capture)
        ca_file = _text("CA file (--ca-file)", ca_file)
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"CA file not found: {ca_file}")
        use_nvenc = check_flag("use_nvenc", use_nvenc)
        if encoder != "auto" and not use_nvenc and encoder not in ("x264", "libx264"):
            raise ConfigError(f"encoder {encoder!r} conflicts with use_nvenc=False")
        connect_s, stop_s, stall_s = (
            check_number(name, value, *TIMEOUT_RANGE_S, unit=" s", above=True)
            for name, value in (
                ("connect timeout (--connect-timeout)", connect_timeout),
                ("stop timeout (--stop-timeout)", stop_timeout),
                ("stall timeout (--stall-timeout)", stall_timeout),
            )
        )
        loop = check_flag("loop", loop)
        tls_verify = check_flag("tls_verify", tls_verify)
        min_vbr = _bitrate(
            "min video bitrate (--min-video-bitrate)", min_video_bitrate, VIDEO_BITRATE_RANGE
        )
        if adaptive != "off" and min_vbr > vbr:
            raise ConfigError(
                f"min video bitrate (--min-video-bitrate) {min_vbr} bit/s must be between "
                f"{VIDEO_BITRATE_RANGE[0]} and the video bitrate ({vbr})"
            )
        if not tls_verify and any(d.url is not None and d.url.tls for d in destinations):
            # once per initialize(), when everything else is valid and the stream can start
            log.warning(
                "TLS certificate verification is off (--insecure): "
                "the connection can be intercepted"
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
            keyint_s=keyint_s,
            buffer_ms=buffer_span,
            buffer_packets=packets,
            loop=loop,
            connect_timeout=connect_s,
            io_timeout=stall_s,
            stop_timeout=stop_s,
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


def _destinations(
    target: str | os.PathLike[str] | Sequence[str], *, recording: bool
) -> tuple[Destination, ...]:
    if isinstance(target, str | os.PathLike):
        targets: list[Any] = [target]  # each checked by parse_destination
    elif isinstance(target, Sequence):
        targets = list(target)
    else:
        raise ConfigError(
            f"rtmp_url must be a URL, a file path or a list of them, not {type(target).__name__}"
        )
    if not targets and not recording:
        raise ConfigError(
            "no stream URL given: pass rtmp://host/app/<stream key> (or set RTMP_URL)"
        )
    destinations = tuple(parse_destination(t) for t in targets)
    if len({d.identity for d in destinations}) != len(destinations):
        shown = ", ".join(d.display for d in destinations)
        raise ConfigError(f"the same destination is given twice: {shown}")
    return destinations


def _bitrate(name: str, value: str | int | float, bounds: tuple[int, int]) -> int:
    return int(check_number(name, parse_bitrate(value, what=name), *bounds, unit=" bit/s"))


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
