"""``ionia stream [URL ...]``: capture, encode and publish until stopped."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ionia.checks import check_number, check_writable, parse_bitrate
from ionia.cli import exitcodes
from ionia.cli.status import StatusLine
from ionia.errors import ConfigError, IoniaError
from ionia.output.reconnect import ReconnectPolicy
from ionia.recorder import VideoAudioRecorder
from ionia.redact import redact
from ionia.streamer import VideoAudioStreamer

log = logging.getLogger("ionia.cli")

CONFIG_FILE = "config.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "url",
        nargs="*",
        help="rtmp[s]://host/app/<stream key> or a file (.flv/.mp4/.mkv); several to multistream; "
        "default: $RTMP_URL, then rtmpUrl in ./config.json",
    )
    p.add_argument("--record", help="also record to this file (never drops, even offline)")
    add_media_arguments(p, video="screen", audio="both")
    g = p.add_argument_group("network")
    g.add_argument(
        "--buffer-ms",
        type=int,
        default=2000,
        help="max queued video span before dropping video, ms (default 2000)",
    )
    g.add_argument(
        "--buffer-packets",
        type=int,
        help="max queued packets (default: 20 %% above what --buffer-ms holds, at least 100)",
    )
    g.add_argument("--connect-timeout", type=float, default=5.0, help="seconds (default 5)")
    g.add_argument(
        "--stall-timeout",
        type=float,
        default=5.0,
        help="no send progress for this long = connection lost, reconnect (default 5 s)",
    )
    g.add_argument(
        "--stop-timeout",
        type=float,
        default=3.0,
        help="seconds to send what is queued at stop (default 3)",
    )
    g.add_argument("--ca-file", help="CA bundle to verify an rtmps:// server with")
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
        default=1.0,
        help="first reconnect wait, s (default 1; doubles up to the max)",
    )
    g.add_argument("--reconnect-max-delay", type=float, default=10.0, help="s (default 10)")
    g.add_argument("--reconnect-attempts", type=int, default=0, help="0 = unlimited (default)")
    g.add_argument(
        "--wait-for-ingest",
        action="store_true",
        help="retry a refused/unreachable ingest at start instead of exiting",
    )
    g.add_argument(
        "--adaptive-bitrate",
        nargs="?",
        const="on",
        default="off",
        choices=["off", "on", "shared"],
        help="lower the video bitrate to what the link carries (shared: with several "
        "destinations, follow the slowest healthy one)",
    )
    g.add_argument(
        "--min-video-bitrate", default="300k", help="adaptive bitrate floor (default 300k)"
    )
    g.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    g.add_argument("--stats-json", type=Path, help="write the final statistics here on exit")


def add_media_arguments(p: argparse.ArgumentParser, *, video: str, audio: str) -> None:
    g = p.add_argument_group("media")
    g.add_argument(
        "--video", default=video, help=f"screen, testsrc or a media file (default {video})"
    )
    g.add_argument(
        "--audio",
        default=audio,
        help=f"both, system, mic, none, tone or a media file (default {audio})",
    )
    g.add_argument("--loop", action="store_true", help="loop media files")
    g.add_argument("--size", help="output WIDTHxHEIGHT (default: the source's size)")
    g.add_argument(
        "--fit",
        choices=["pad", "crop", "stretch"],
        default="pad",
        help="a source of another aspect ratio than --size: black bars (default), crop, stretch",
    )
    g.add_argument("--fps", type=int, default=30)
    g.add_argument("--video-bitrate", default="5M", help="e.g. 4500k, 6M (default 5M)")
    g.add_argument("--audio-bitrate", default="192k", help="(default 192k)")
    g.add_argument(
        "--encoder",
        default="auto",
        help="auto (hardware if one opens, else x264), x264, nvenc, qsv, amf, vaapi or an "
        "FFmpeg encoder name",
    )
    g.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    g.add_argument(
        "--keyint", type=float, default=2.0, help="seconds between keyframes (default 2)"
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


def resolve_urls(args: list[str]) -> list[str]:
    """URLs from the command line, else ``$RTMP_URL``, else ``rtmpUrl`` in ./config.json."""
    return list(args) if args else [resolve_url(None)]


def resolve_url(arg: str | None) -> str:
    if arg:
        return arg
    env = os.environ.get("RTMP_URL", "").strip()
    if env:
        return env
    path = Path(CONFIG_FILE)
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:  # a folder, no permission, an unreadable device
            raise ConfigError(f"cannot read ./{CONFIG_FILE}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"./{CONFIG_FILE} is not UTF-8 text") from None
        try:
            value = json.loads(text).get("rtmpUrl")
        except (ValueError, AttributeError):
            raise ConfigError(f"./{CONFIG_FILE} is not a JSON object with rtmpUrl") from None
        if value is not None and not isinstance(value, str):
            raise ConfigError(
                f"rtmpUrl in ./{CONFIG_FILE} must be a string URL like rtmp://host/app/<stream key>"
            )
        if value and value.strip():
            return value
    raise ConfigError("no stream URL: pass one, set RTMP_URL, or put rtmpUrl in ./config.json")


def _rotate(streamer: VideoAudioStreamer, reload_url: bool) -> None:
    if not reload_url:
        log.warning("SIGHUP: the URL was given on the command line; nothing to reload")
        return
    try:
        streamer.rotate(resolve_url(None))
    except IoniaError as exc:
        log.error("SIGHUP: key rotation failed, the stream goes on as it was: %s", exc)


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
        "preset": args.preset,
        "keyint": args.keyint,
        "loop": args.loop,
        **{k: v for k, v in capture.items() if v is not None},
    }


def check_duration(duration: float | None) -> float | None:
    """``--duration``: None (until Ctrl-C) or a finite number of seconds above 0.

    Without this, -1 ends after one frame with exit 0, and 0 or nan stream forever.
    """
    if duration is None:
        return None
    return check_number("--duration", duration, 0, math.inf, unit=" s", above=True)


def run(args: argparse.Namespace) -> int:
    duration = check_duration(args.duration)
    streamer = VideoAudioStreamer()
    policy = ReconnectPolicy(
        enabled=not args.no_reconnect,
        delay=args.reconnect_delay,
        max_delay=args.reconnect_max_delay,
        max_attempts=args.reconnect_attempts,
        wait_for_ingest=args.wait_for_ingest,
    )
    from_environment = not args.url
    streamer.initialize(
        resolve_urls(args.url),
        record=args.record,
        adaptive_bitrate=args.adaptive_bitrate,
        min_video_bitrate=parse_bitrate(args.min_video_bitrate, what="--min-video-bitrate"),
        buffer_ms=args.buffer_ms,
        buffer_packets=args.buffer_packets,
        connect_timeout=args.connect_timeout,
        stall_timeout=args.stall_timeout,
        stop_timeout=args.stop_timeout,
        tls_verify=not args.insecure,
        ca_file=args.ca_file,
        reconnect=policy,
        **media_options(args),
    )
    return run_until_done(
        streamer,
        duration=duration,
        stats_json=args.stats_json,
        reload_url=from_environment,
    )


def run_until_done(
    streamer: VideoAudioStreamer,
    *,
    duration: float | None,
    stats_json: Path | None,
    reload_url: bool = False,
) -> int:
    """Start, show status, stop on Ctrl-C / SIGTERM / --duration / failure / end of source.

    SIGTERM (what systemd and ``docker stop`` send) stops exactly like Ctrl-C: drain, close,
    finalize the recording, write ``--stats-json``. With ``reload_url``, SIGHUP re-reads
    ``$RTMP_URL`` / ./config.json and moves the stream to the new URL or key without a gap
    (live key rotation).
    """
    if stats_json is not None:
        _check_writable(stats_json)
    stop_signal: list[int] = []
    stopped = threading.Event()
    hangup = threading.Event()

    def on_stop_signal(signum: int, _frame: object) -> None:
        stop_signal.append(signum)
        stopped.set()

    previous = {sig: signal.signal(sig, on_stop_signal) for sig in STOP_SIGNALS}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: hangup.set())
    status = StatusLine()
    try:
        streamer.start()
        end = time.monotonic() + duration if duration else None
        while not stopped.is_set():
            remaining = end - time.monotonic() if end is not None else 1.0
            if remaining <= 0 or streamer.wait(min(1.0, remaining)):
                break
            if hangup.is_set():
                hangup.clear()
                _rotate(streamer, reload_url)
            status.update(streamer.get_statistics())
    finally:
        status.close()
        streamer.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stats_json is not None:
            _write_stats(stats_json, streamer.get_statistics())
    code = _exit_code(streamer, stop_signal[0] if stop_signal else None)
    stats = streamer.get_statistics()
    for dest in stats["destinations"]:
        if len(stats["destinations"]) > 1:
            log.info(
                "%s: sent %d video / %d audio packets, dropped %d video; %d reconnects%s",
                dest["destination"], dest["video_packets_sent"], dest["audio_packets_sent"],
                dest["video_packets_dropped"], dest["reconnects"],
                f"; {dest['last_error']}" if dest["failed"] else "",
            )  # fmt: skip
    log.info(
        "sent %d video / %d audio packets, %.1f MB; dropped %d video, %d audio; %d reconnects",
        stats["video_packets_sent"],
        stats["audio_packets_sent"],
        stats["bytes_sent"] / 1e6,
        stats["video_packets_dropped"],
        stats["audio_packets_dropped"],
        stats["reconnects"],
    )
    return code


#: signals that end a stream cleanly, and the exit code each gives (128 + the signal)
STOP_SIGNALS = {signal.SIGINT: exitcodes.INTERRUPTED, signal.SIGTERM: exitcodes.TERMINATED}


def _exit_code(streamer: VideoAudioStreamer, stop_signal: int | None) -> int:
    """What ended the stream decides; a destination or recording that failed while the
    stream went on still makes the run a failure; then a stop signal; else success."""
    if streamer.error is not None:
        report_error(streamer.error)
        return exitcodes.for_error(streamer.error)
    failures = streamer.failures
    if failures:
        for failure in failures:
            report_error(failure)
        return exitcodes.for_error(failures[0])
    if stop_signal is not None:
        return STOP_SIGNALS[signal.Signals(stop_signal)]
    return exitcodes.OK


def report_error(exc: BaseException) -> None:
    """The one line a user reads: ``ionia: error: …``, keys masked, whatever ``-q`` says."""
    print(f"ionia: error: {redact(str(exc))}", file=sys.stderr)


def _check_writable(path: Path) -> None:
    """Fail before anything starts if the statistics file cannot be written at the end."""
    try:
        check_writable(path)
    except ConfigError as exc:
        raise ConfigError(f"--stats-json: {exc}") from None


def _write_stats(path: Path, stats: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(stats, indent=2) + "\n")
    except OSError as exc:  # the disk changed under us since the check: say so, go on
        log.error("could not write the statistics to %s: %s", path, exc.strerror or exc)


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="where to record: .mp4 (fragmented while written), .mkv, .flv")
    add_media_arguments(p, video="screen", audio="both")
    p.add_argument("--duration", type=float, help="stop cleanly after this many seconds")
    p.add_argument("--stats-json", type=Path, help="write the final statistics here on exit")


def run_record(args: argparse.Namespace) -> int:
    duration = check_duration(args.duration)
    recorder = VideoAudioRecorder()
    recorder.initialize(args.file, **media_options(args))
    return run_until_done(recorder, duration=duration, stats_json=args.stats_json)
