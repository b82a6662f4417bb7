"""``ionia stream [URL ...]`` and ``ionia record FILE``: capture, encode and publish (or
record) until stopped."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys

from ionia.checks import check_number, parse_bitrate
from ionia.cli.arguments import media_options
from ionia.cli.run import run_until_done
from ionia.cli.serve import with_control
from ionia.cli.urls import resolve_target
from ionia.output.reconnect import ReconnectPolicy
from ionia.recorder import VideoAudioRecorder
from ionia.streamer import VideoAudioStreamer

log = logging.getLogger("ionia.cli")

__all__ = ["check_duration", "configure", "run", "run_record"]


def check_duration(duration: float | None) -> float | None:
    """``--duration``: None (until Ctrl-C) or a finite number of seconds above 0.

    Without this, -1 ends after one frame with exit 0, and 0 or nan stream forever.
    """
    if duration is None:
        return None
    return check_number("--duration", duration, 0, math.inf, unit=" s", above=True)


def run(args: argparse.Namespace) -> int:
    duration = check_duration(args.duration)
    streamer, reload_url = configure(args)
    return with_control(
        args,
        streamer,
        lambda: run_until_done(
            streamer,
            duration=duration,
            stats_json=args.stats_json,
            reload_url=reload_url,
        ),
    )


def configure(args: argparse.Namespace) -> tuple[VideoAudioStreamer, bool]:
    """A streamer initialized from the flags (and ``--config``), nothing opened yet; and
    whether SIGHUP should re-read the URL (it came from ``RTMP_URL`` or ./config.json)."""
    streamer = VideoAudioStreamer()
    policy = ReconnectPolicy(
        enabled=not args.no_reconnect,
        delay=args.reconnect_delay,
        max_delay=args.reconnect_max_delay,
        max_attempts=args.reconnect_attempts,
        wait_for_ingest=args.wait_for_ingest,
    )
    target = resolve_target(args)
    if "--whip-token" in sys.argv:
        log.warning(
            "--whip-token puts the token in this command line, which any local user can "
            "read (ps): prefer WHIP_TOKEN in the environment"
        )
    whip_token = args.whip_token or os.environ.get("WHIP_TOKEN", "").strip() or None
    streamer.initialize(
        target.urls,
        service=target.service,
        stream_key=target.stream_key,
        ingest=target.ingest,
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
        whip_token=whip_token,
        ice_servers=args.ice_server,
        reconnect=policy,
        **media_options(args),
    )
    return streamer, target.reload


def run_record(args: argparse.Namespace) -> int:
    duration = check_duration(args.duration)
    recorder = VideoAudioRecorder()
    recorder.initialize(args.file, **media_options(args))
    return run_until_done(recorder, duration=duration, stats_json=args.stats_json)
