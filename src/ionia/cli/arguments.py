"""The flags of ``ionia stream`` and ``ionia record``, and the media ones read back into
``initialize()``'s keyword arguments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ionia.checks import format_bitrate, parse_bitrate
from ionia.config import StreamConfig
from ionia.encoding.codec_options import DEFAULT_PRESETS
from ionia.encoding.selection import CODECS
from ionia.encoding.video import EncoderOptions
from ionia.output.reconnect import ReconnectPolicy

__all__ = [
    "add_media_arguments",
    "add_record_arguments",
    "add_service_arguments",
    "add_stream_arguments",
    "media_options",
]

# Every default is read from its one home: StreamConfig, EncoderOptions, ReconnectPolicy.


def add_stream_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "url",
        nargs="*",
        help="rtmp[s]://host/app/<stream key>, an http[s]:// WHIP endpoint or a file "
        "(.flv/.mp4/.mkv); several to multistream; default: $RTMP_URL, then rtmpUrl in "
        "./config.json",
    )
    p.add_argument("--record", help="also record to this file (never drops, even offline)")
    p.add_argument(
        "--config",
        type=Path,
        help='a TOML file of these flags (video-bitrate = "4500k", service, key, ...); '
        "the command line and the environment win over it",
    )
    add_service_arguments(p)
    add_media_arguments(p)
    g = p.add_argument_group("network")
    g.add_argument(
        "--buffer-ms",
        type=int,
        default=StreamConfig.buffer_ms,
        help="max queued video span before dropping video, ms (default %(default)s)",
    )
    g.add_argument(
        "--buffer-packets",
        type=int,
        help="max queued packets (default: 20 %% above what --buffer-ms holds, at least 100)",
    )
    g.add_argument(
        "--connect-timeout",
        type=float,
        default=StreamConfig.connect_timeout,
        help="seconds (default %(default)g)",
    )
    g.add_argument(
        "--stall-timeout",
        type=float,
        default=StreamConfig.io_timeout,
        help="no send progress for this long = connection lost, reconnect (default %(default)g s)",
    )
    g.add_argument(
        "--stop-timeout",
        type=float,
        default=StreamConfig.stop_timeout,
        help="seconds to send what is queued at stop (default %(default)g)",
    )
    g.add_argument("--ca-file", help="CA bundle to verify an rtmps:// server with")
    g.add_argument(
        "--whip-token",
        help="the Bearer token of an http(s):// WHIP endpoint; better $WHIP_TOKEN: any local "
        "user sees a command line in `ps`",
    )
    g.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="a STUN or TURN server for WHIP: stun:host[:port] or "
        "turn:USER:PASSWORD@host[:port][?transport=udp|tcp] (repeat for several)",
    )
    g.add_argument(
        "--insecure",
        action="store_true",
        help="rtmps:// without certificate verification (not recommended)",
    )
    g.add_argument(
        "--no-reconnect", action="store_true", help="end the stream on a lost connection"
    )
    g.add_argument(
        "--reconnect-delay",
        type=float,
        default=ReconnectPolicy.delay,
        help="first reconnect wait, s (default %(default)g; doubles up to the max)",
    )
    g.add_argument(
        "--reconnect-max-delay",
        type=float,
        default=ReconnectPolicy.max_delay,
        help="s (default %(default)g)",
    )
    g.add_argument(
        "--reconnect-attempts",
        type=int,
        default=ReconnectPolicy.max_attempts,
        help="0 = unlimited (default %(default)s)",
    )
    g.add_argument(
        "--wait-for-ingest",
        action="store_true",
        help="retry a refused/unreachable ingest at start instead of exiting",
    )
    g.add_argument(
        "--adaptive-bitrate",
        nargs="?",
        const="on",
        default=StreamConfig.adaptive_bitrate,
        choices=["auto", "off", "on", "shared"],
        help="lower the video bitrate to what the link carries (shared: with several "
        "destinations, follow the slowest healthy one; auto, the default: shared with a "
        "WHIP destination, else off)",
    )
    g.add_argument(
        "--min-video-bitrate",
        default=format_bitrate(StreamConfig.min_video_bitrate),
        help="adaptive bitrate floor (default %(default)s)",
    )
    g.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    g.add_argument("--stats-json", type=Path, help="write the final statistics here on exit")


def add_service_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("service (instead of, or beside, a URL)")
    g.add_argument("--service", help="youtube, twitch, kick, ... (`ionia services` lists them)")
    g.add_argument(
        "--ingest",
        help="the service's ingest by name (backup, a region) or a server URL rtmp[s]://host/app",
    )
    g.add_argument(
        "--key",
        help="the stream key; better $STREAM_KEY or the config file: any local user sees a "
        "command line in `ps`",
    )


def add_media_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("media")
    g.add_argument(
        "--video",
        default=StreamConfig.video_source,
        help="screen, testsrc or a media file (default %(default)s)",
    )
    g.add_argument(
        "--audio",
        default=StreamConfig.audio_mode,
        help="both, system, mic, none, tone or a media file (default %(default)s)",
    )
    g.add_argument("--loop", action="store_true", help="loop media files")
    g.add_argument("--size", help="output WIDTHxHEIGHT (default: the source's size)")
    g.add_argument(
        "--fit",
        choices=["pad", "crop", "stretch"],
        default=EncoderOptions.fit,
        help="a source of another aspect ratio than --size: black bars (default), crop, stretch",
    )
    g.add_argument("--fps", type=int, default=StreamConfig.fps, help="(default %(default)s)")
    g.add_argument(
        "--video-bitrate",
        default=format_bitrate(StreamConfig.video_bitrate),
        help="e.g. 4500k, 6M (default %(default)s)",
    )
    g.add_argument(
        "--audio-bitrate",
        default=format_bitrate(StreamConfig.audio_bitrate),
        help="(default %(default)s)",
    )
    g.add_argument(
        "--codec",
        choices=CODECS,
        default=EncoderOptions.codec,
        help="video codec (default %(default)s); hevc and av1 need a server with Enhanced RTMP",
    )
    g.add_argument(
        "--fallback-to-h264",
        action="store_true",
        help="with --codec hevc/av1: stream H.264 instead to a server without Enhanced RTMP",
    )
    g.add_argument(
        "--encoder",
        default=EncoderOptions.encoder,
        help="auto (hardware if one opens, else x264/x265/svtav1), x264, x265, svtav1, nvenc, "
        "qsv, amf, vaapi or an FFmpeg encoder name",
    )
    g.add_argument(
        "--preset",
        help=f"encoder preset (default {EncoderOptions.preset} for h264, "
        + ", ".join(f"{p} for {c}" for c, p in DEFAULT_PRESETS.items())
        + "; av1 takes 13 (fastest) to 0)",
    )
    g.add_argument(
        "--keyint",
        type=float,
        default=EncoderOptions.keyint_s,
        help="seconds between keyframes (default %(default)g)",
    )
    c = p.add_argument_group("capture")
    c.add_argument("--display", help="X display to capture (default $DISPLAY)")
    c.add_argument("--monitor", type=int, help="monitor number (see `ionia devices`)")
    c.add_argument("--region", help="x,y,w,h of the screen to capture")
    c.add_argument("--no-cursor", action="store_true", help="do not draw the mouse pointer")
    c.add_argument("--capture", help="screen capture backend: auto, x11grab, mss")
    c.add_argument("--audio-device", help="the system or mic device, by name substring")
    c.add_argument("--system-device", help="with --audio both: the output to loop back")
    c.add_argument("--mic-device", help="with --audio both: the microphone")
    c.add_argument("--system-gain", type=float, help="system audio gain in dB (default 0)")
    c.add_argument("--mic-gain", type=float, help="microphone gain in dB (default 0)")


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="where to record: .mp4 (fragmented while written), .mkv, .flv")
    add_media_arguments(p)
    p.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    p.add_argument("--stats-json", type=Path, help="write the final statistics here on exit")


def media_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``VideoAudioStreamer.initialize`` from the media flags."""
    capture = {
        "display": args.display,
        "monitor": args.monitor,
        "region": args.region,
        "cursor": False if args.no_cursor else None,
        "capture": args.capture,
        "audio_device": args.audio_device,
        "system_device": args.system_device,
        "mic_device": args.mic_device,
        "system_gain": args.system_gain,
        "mic_gain": args.mic_gain,
    }
    return {
        "fps": args.fps,
        "video_bitrate": parse_bitrate(args.video_bitrate, what="--video-bitrate"),
        "audio_bitrate": parse_bitrate(args.audio_bitrate, what="--audio-bitrate"),
        "audio_mode": args.audio,
        "video_source": args.video,
        "size": args.size,
        "fit": args.fit,
        "encoder": args.encoder,
        "codec": args.codec,
        "fallback_to_h264": args.fallback_to_h264,
        "preset": args.preset,
        "keyint": args.keyint,
        "loop": args.loop,
        **{k: v for k, v in capture.items() if v is not None},
    }
