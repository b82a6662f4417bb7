"""``ionia autoconfig [URL | --service NAME]``: test the uplink, propose settings, and
write them to a ``--config`` file."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ionia.autoconfig import Proposal, UplinkTest, measure_uplink, propose
from ionia.checks import format_bitrate, parse_bitrate
from ionia.cli import exitcodes
from ionia.cli.urls import resolve_target
from ionia.config import StreamConfig
from ionia.errors import ConfigError
from ionia.services import find_service, service_url

__all__ = ["add_arguments", "run"]

log = logging.getLogger("ionia.cli")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", nargs="*", help="rtmp[s]://host/app/<stream key> (or --service)")
    p.add_argument("--service", help="youtube, twitch, ... (`ionia services`)")
    p.add_argument("--ingest", help="the service's ingest by name, or a server URL")
    p.add_argument("--key", help="the stream key (better: $STREAM_KEY)")
    p.add_argument(
        "--max-bitrate",
        help="the ramp's top, video (default: the service's maximum, at most 8M)",
    )
    p.add_argument(
        "--audio-bitrate",
        default=format_bitrate(StreamConfig.audio_bitrate),
        help="the audio the stream will have (default %(default)s)",
    )
    p.add_argument("--write", type=Path, help="write the proposal to this --config file")
    p.add_argument("--force", action="store_true", help="with --write: replace the file")
    p.add_argument("--ca-file", help="CA bundle to verify an rtmps:// server with")
    p.add_argument("--insecure", action="store_true", help="rtmps:// without verification")


def run(args: argparse.Namespace) -> int:
    if args.write is not None and args.write.exists() and not args.force:
        raise ConfigError(f"{args.write} exists: pass --force to replace it")
    target = resolve_target(args)
    service = find_service(target.service) if target.service else None
    if service is not None:
        # Twitch takes a test publish that viewers never see
        url = service_url(
            service,
            target.stream_key,
            ingest=target.ingest,
            bandwidth_test=bool(service.bandwidth_test),
        )
    elif len(target.urls) == 1:
        url = target.urls[0]
    else:
        raise ConfigError("autoconfig tests one destination: give one URL or --service")
    limits = service.limits if service is not None else None
    top = limits.max_video_bitrate if limits and limits.max_video_bitrate else None
    ceiling = (
        parse_bitrate(args.max_bitrate) if args.max_bitrate else min(top or 8_000_000, 8_000_000)
    )
    audio = parse_bitrate(args.audio_bitrate, what="--audio-bitrate")
    test = UplinkTest(
        ceiling=ceiling,
        start=min(1_000_000, ceiling),
        audio_bitrate=audio,
        tls_verify=not args.insecure,
        ca_file=args.ca_file,
    )
    print(f"testing the uplink for up to {test.max_s + test.hold_s:.0f} s ...")
    result = measure_uplink(url, test)
    steps = " → ".join(f"{b // 1000}k: {r / 1e6:.2f}" for b, r in result.ramp)
    print(f"ramp (video asked: Mbit/s acknowledged): {steps}")
    state = "the link's rate" if result.saturated else "at least (the link carried the ramp)"
    print(f"link: {result.link_bps / 1e6:.2f} Mbit/s, {state}, from the server's acknowledgements")
    proposal = propose(result, audio_bitrate=audio, limits=limits, cpus=os.cpu_count() or 1)
    print(format_proposal(proposal))
    if args.write is not None:
        write_proposal(args.write, proposal, service=service.id if service else None)
        print(f"wrote {args.write}: use it with `ionia stream --config {args.write}`")
    return exitcodes.OK


def format_proposal(p: Proposal) -> str:
    lines = [
        f"proposed: --video-bitrate {format_bitrate(p.video_bitrate)} --audio-bitrate "
        f"{format_bitrate(p.audio_bitrate)} --size {p.size[0]}x{p.size[1]} --fps {p.fps} "
        f"--encoder {p.encoder}"
    ]
    lines += [f"  ({reason})" for reason in p.reasons]
    return "\n".join(lines)


def write_proposal(path: Path, p: Proposal, *, service: str | None) -> None:
    """A ``--config`` file; never the key (it belongs in $STREAM_KEY)."""
    lines = ["# written by `ionia autoconfig`; the stream key goes in $STREAM_KEY"]
    if service:
        lines.append(f'service = "{service}"')
    for key, value in p.as_settings().items():
        lines.append(f"{key} = {value}" if isinstance(value, int) else f'{key} = "{value}"')
    try:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
