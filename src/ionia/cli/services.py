"""``ionia services``: the services ``--service`` knows, their ingests and limits."""

from __future__ import annotations

import argparse

from ionia.cli import exitcodes
from ionia.services import Service, load_services


def run(args: argparse.Namespace) -> int:
    services = load_services()
    for service in services.values():
        print(format_service(service, verbose=args.verbose > 0))
    if not args.verbose:
        print("\n(-v shows every ingest)")
    return exitcodes.OK


def format_service(service: Service, *, verbose: bool = False) -> str:
    limits = service.limits
    facts = []
    if limits.max_video_bitrate:
        facts.append(f"video ≤ {limits.max_video_bitrate // 1000}k")
    if limits.max_audio_bitrate:
        facts.append(f"audio ≤ {limits.max_audio_bitrate // 1000}k")
    if limits.keyint:
        most = f", ≤ {limits.max_keyint:g} s" if limits.max_keyint else ""
        facts.append(f"keyint {limits.keyint:g} s{most}")
    if limits.max_fps:
        facts.append(f"≤ {limits.max_fps} fps")
    if limits.resolutions:
        facts.append("sizes " + "/".join(f"{w}x{h}" for w, h in limits.resolutions))
    facts.append("codecs " + ",".join(limits.codecs))
    if service.key_example:
        facts.append(f"key {service.key_example}")
    ingests = service.ingests if verbose else service.ingests[:1]
    lines = [f"{service.id:11} {service.name}: {'; '.join(facts)}"]
    lines += [f"{'':11}   --ingest {i.name:17} {i.url}" for i in ingests]
    if not verbose and len(service.ingests) > 1:
        others = ", ".join(i.name for i in service.ingests[1:])
        lines.append(f"{'':11}   also: {others}")
    return "\n".join(lines)
