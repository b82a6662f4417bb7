"""The one configuration object, validated once, at the edge.

``StreamConfig.create(...)`` turns what a user typed (API keywords, CLI flags, config.json)
into a frozen, checked record, or raises ``ConfigError`` naming the problem and the fix.
Nothing is opened or started before this succeeds.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ionia.buffer import BufferConfig
from ionia.capture.options import CaptureOptions
from ionia.checks import (
    check_flag,
    check_number,
    check_text,
    check_whole,
    even_size,
    parse_bitrate,
    parse_size,
)
from ionia.encoding.codec_options import DEFAULT_PRESETS, PRESETS_BY_CODEC
from ionia.encoding.fit import FIT_MODES
from ionia.encoding.selection import CODECS
from ionia.encoding.video import X264_PRESETS, EncoderOptions
from ionia.errors import ConfigError
from ionia.output.destination import Destination, parse_destination
from ionia.services import StreamShape, find_service, fit_limits, service_url
from ionia.whip.ice import IceServer, parse_ice_server

log = logging.getLogger("ionia")

AUDIO_MODES = ("both", "system", "mic", "none", "tone")
VIDEO_SOURCES = ("screen", "testsrc")

FPS_RANGE = (1, 120)
VIDEO_BITRATE_RANGE = (100_000, 100_000_000)
AUDIO_BITRATE_RANGE = (32_000, 512_000)
KEYINT_RANGE_S = (0.1, 20.0)
TIMEOUT_RANGE_S = (0.0, 120.0)  # more than 0
BUFFER_MS_RANGE = (50, 120_000)
BUFFER_PACKETS_RANGE = (2, 1_000_000)


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    """Every setting of a stream, checked. Build it with ``StreamConfig.create``.

    The defaults below are the only ones: ``create()``, ``initialize()`` and the CLI's flags
    take theirs from these fields (``StreamConfig.fps``), from ``EncoderOptions`` (the
    encoder's), ``CaptureOptions`` and ``ReconnectPolicy``. Names are the internal ones; the
    public keywords that differ are mapped once, in ``create()``: ``use_nvenc`` →
    ``encoding.allow_hardware``, ``keyint`` → ``encoding.keyint_s``, ``stall_timeout`` →
    ``io_timeout``, ``capture`` → ``capture.backend``.
    """

    #: where the stream goes: one or more ingests (multistreaming) or files
    destinations: tuple[Destination, ...]
    #: a local recording alongside, which never drops a packet
    record: Destination | None = None
    #: "off"; "on": the encoder follows the link (with one destination; with several, only
    #: when "shared": it then follows the slowest healthy destination); "auto" (the
    #: default) is "shared" with a WHIP destination, whose receiver's estimate WebRTC
    #: streams follow, and "off" otherwise
    adaptive_bitrate: str = "auto"
    min_video_bitrate: int = 300_000
    #: "screen", "testsrc" or a media file
    video_source: str = "screen"
    #: one of ``AUDIO_MODES`` or a media file
    audio_mode: str = "both"
    fps: int = 30
    #: output size; None = the source's own size (rounded to even)
    size: tuple[int, int] | None = None
    video_bitrate: int = 5_000_000
    audio_bitrate: int = 192_000
    #: the video encoder's choices (codec, keyframe interval, encoder, preset, fit, ...)
    encoding: EncoderOptions = field(default_factory=EncoderOptions)
    #: the send buffer's video span limit (``BufferConfig.max_latency_ms``), milliseconds
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
    #: the service ``service=`` named (its id); the settings were fitted to its limits
    service: str | None = None
    capture: CaptureOptions = field(default_factory=CaptureOptions)
    #: STUN/TURN servers for WHIP destinations (none: host candidates only)
    ice_servers: tuple[IceServer, ...] = ()

    # The keyword defaults of create() are the fields' above (names in the class body).
    @classmethod
    def create(
        cls,
        target: str | os.PathLike[str] | Sequence[str] = (),
        *,
        record: str | os.PathLike[str] | None = None,
        adaptive_bitrate: str | bool = adaptive_bitrate,
        min_video_bitrate: int | str = min_video_bitrate,
        fps: int = fps,
        video_bitrate: int | str = video_bitrate,
        audio_bitrate: int | str = audio_bitrate,
        use_nvenc: bool = EncoderOptions.allow_hardware,
        audio_mode: str = audio_mode,
        video_source: str = video_source,
        size: str | tuple[int, int] | None = None,
        fit: str = EncoderOptions.fit,
        encoder: str = EncoderOptions.encoder,
        codec: str = EncoderOptions.codec,
        fallback_to_h264: bool = False,
        preset: str | None = None,
        keyint: float = EncoderOptions.keyint_s,
        buffer_ms: int = buffer_ms,
        buffer_packets: int | None = None,
        loop: bool = loop,
        connect_timeout: float = connect_timeout,
        stop_timeout: float = stop_timeout,
        stall_timeout: float = io_timeout,
        tls_verify: bool = tls_verify,
        ca_file: str | None = None,
        service: str | None = None,
        stream_key: str | None = None,
        ingest: str | None = None,
        whip_token: str | None = None,
        ice_servers: Sequence[str] = (),
        **capture: Any,
    ) -> StreamConfig:
        chosen = find_service(service) if service is not None else None
        if chosen is not None:
            others = [target] if isinstance(target, str | os.PathLike) else list(target)
            target = [service_url(chosen, stream_key, ingest=ingest), *others]
        elif stream_key is not None or ingest is not None:
            raise ConfigError("stream_key and ingest go with service=: a URL carries its own key")
        if whip_token is not None and (not isinstance(whip_token, str) or not whip_token.strip()):
            # not check_text: its message shows the value, and this one is a secret
            raise ConfigError("the WHIP token (--whip-token, WHIP_TOKEN) must be non-empty text")
        record_to = parse_destination(record) if record else None
        destinations = _destinations(target, recording=record_to is not None, whip_token=whip_token)
        if record_to is not None and record_to.is_network:
            raise ConfigError("--record takes a file (.mp4, .mkv, .flv), not a URL")
        if isinstance(ice_servers, str):
            ice_servers = [ice_servers]
        ice = tuple(parse_ice_server(str(s)) for s in ice_servers)
        if record_to is not None and record_to.identity in {d.identity for d in destinations}:
            raise ConfigError(
                f"--record {record_to.display} is also a stream destination: two writers "
                "would corrupt one file; record to another file"
            )
        adaptive = _adaptive_mode(adaptive_bitrate)
        if adaptive == "auto":
            adaptive = "shared" if _has_whip(destinations) else "off"
        fps = check_whole("fps", fps, FPS_RANGE)
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
        if codec not in CODECS:
            raise ConfigError(f"codec {codec!r} is not one of {', '.join(CODECS)}")
        if codec != "h264" and _has_whip(destinations):
            raise ConfigError(
                f"a WHIP destination takes H.264, the codec every WebRTC receiver decodes: "
                f"drop --codec {codec} (one encode feeds every destination)"
            )
        fallback_to_h264 = check_flag("fallback_to_h264", fallback_to_h264)
        if codec == "h264":
            preset = EncoderOptions.preset if preset is None else preset
            if preset not in X264_PRESETS:
                raise ConfigError(
                    f"preset {preset!r} is not an x264 preset: use one of {', '.join(X264_PRESETS)}"
                )
        else:
            preset = DEFAULT_PRESETS[codec] if preset is None else str(preset)
            if preset not in PRESETS_BY_CODEC[codec]:
                raise ConfigError(
                    f"preset {preset!r} is not a {codec} preset: "
                    f"use one of {', '.join(PRESETS_BY_CODEC[codec])} (fastest first)"
                )
        keyint_s = check_number(
            "keyint (seconds between keyframes)", keyint, *KEYINT_RANGE_S, unit=" s"
        )
        if chosen is not None:
            shape = StreamShape(
                video_bitrate=vbr,
                audio_bitrate=abr,
                fps=fps,
                keyint_s=keyint_s,
                size=out_size,
                codec=codec,
            )
            fitted = fit_limits(chosen, shape)
            vbr, abr, fps = fitted.video_bitrate, fitted.audio_bitrate, fitted.fps
        buffer_span = check_whole("buffer ms (--buffer-ms)", buffer_ms, BUFFER_MS_RANGE, " ms")
        packets = None
        if buffer_packets is not None:
            packets = check_whole(
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
        ca_file = check_text("CA file (--ca-file)", ca_file)
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"CA file not found: {ca_file}")
        use_nvenc = check_flag("use_nvenc", use_nvenc)
        software = ("x264", "libx264", "x265", "libx265", "svtav1", "libsvtav1", "software")
        if encoder != "auto" and not use_nvenc and encoder not in software:
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
            video_bitrate=vbr,
            audio_bitrate=abr,
            encoding=EncoderOptions(
                codec=codec,
                fallback_to_h264=fallback_to_h264,
                keyint_s=keyint_s,
                encoder=encoder,
                allow_hardware=use_nvenc,
                preset=preset,
                fit=fit,
            ),
            buffer_ms=buffer_span,
            buffer_packets=packets,
            loop=loop,
            connect_timeout=connect_s,
            io_timeout=stall_s,
            stop_timeout=stop_s,
            tls_verify=tls_verify,
            ca_file=ca_file,
            service=chosen.id if chosen is not None else None,
            capture=capture_options,
            ice_servers=ice,
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
    def buffer(self) -> BufferConfig:
        """A stream destination's send-buffer limits (a recording's never drop)."""
        return BufferConfig(max_packets=self.max_packets, max_latency_ms=self.buffer_ms)

    @property
    def has_audio(self) -> bool:
        return self.audio_mode != "none"

    @property
    def has_whip(self) -> bool:
        """A destination is a WHIP endpoint (Opus beside AAC, Constrained Baseline video)."""
        return _has_whip(self.destinations)

    @property
    def destination(self) -> Destination:
        """The first destination (the only one, unless multistreaming), else the recording."""
        if self.destinations:
            return self.destinations[0]
        assert self.record is not None
        return self.record


def _destinations(
    target: str | os.PathLike[str] | Sequence[str], *, recording: bool, whip_token: str | None
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
    destinations = tuple(parse_destination(t, whip_token=whip_token) for t in targets)
    if len({d.identity for d in destinations}) != len(destinations):
        shown = ", ".join(d.display for d in destinations)
        raise ConfigError(f"the same destination is given twice: {shown}")
    return destinations


def _has_whip(destinations: Sequence[Destination]) -> bool:
    return any(d.whip is not None for d in destinations)


def _bitrate(name: str, value: str | int | float, bounds: tuple[int, int]) -> int:
    return int(check_number(name, parse_bitrate(value, what=name), *bounds, unit=" bit/s"))


def _adaptive_mode(value: str | bool) -> str:
    if value is True:
        return "on"
    if value is False or value is None:
        return "off"
    mode = str(value).lower()
    if mode not in ("auto", "off", "on", "shared"):
        raise ConfigError(f"adaptive bitrate must be auto, off, on or shared, not {value!r}")
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
