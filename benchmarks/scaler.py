"""The BGRA → yuv420p conversion of a grabbed frame: per-frame ``frame.reformat()`` (what
``Fitter`` did) against the one shared ``VideoReformatter`` it keeps now.

A grabber hands out a new frame object every time; ``frame.reformat()`` keeps its scaler
on the frame, so each call builds a scaler (and starts its thread pool) anew.

    python benchmarks/scaler.py [--size 1920x1080] [--frames 90] [--rounds 5] [--no-doc]

Writes its table into docs/performance.md (the ``scaler`` block) unless ``--no-doc``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import _common as common
import av
import numpy as np

from ionia.encoding.fit import Fitter


def measure(convert: Callable[[av.VideoFrame], object], image: np.ndarray, frames: int):
    fresh = [av.VideoFrame.from_ndarray(image, format="bgra") for _ in range(frames)]
    c0, t0 = common.self_cpu(), time.perf_counter()
    for frame in fresh:
        convert(frame)
    return (common.self_cpu() - c0) / frames * 1000, (time.perf_counter() - t0) / frames * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    image = np.random.default_rng(0).integers(0, 255, (height, width, 4), dtype=np.uint8)
    fitter = Fitter(width, height, "yuv420p")
    cases: dict[str, Callable[[av.VideoFrame], object]] = {
        "frame.reformat() per frame (before)": lambda f: f.reformat(format="yuv420p"),
        "Fitter's shared VideoReformatter (now)": fitter,
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for n in range(args.rounds):  # alternate the order, round by round
        order = list(cases) if n % 2 == 0 else list(reversed(cases))
        for name in order:
            results[name].append(measure(cases[name], image, args.frames))
    lines = [
        f"{args.size} BGRA → yuv420p, {args.frames} fresh frames × {args.rounds} rounds "
        f"(`python benchmarks/scaler.py`, {time.strftime('%Y-%m-%d')}):",
        "",
        "| conversion | CPU ms/frame (median, min–max) | wall ms/frame (median) |",
        "|---|---|---|",
    ]
    for name, runs in results.items():
        cpu = [c for c, _ in runs]
        wall = [w for _, w in runs]
        lines.append(
            f"| {name} | {statistics.median(cpu):.1f} ({min(cpu):.1f}–{max(cpu):.1f}) "
            f"| {statistics.median(wall):.1f} |"
        )
    print("\n".join(lines))
    if not args.no_doc:
        common.replace_block(args.doc, "scaler", "\n".join(lines), "# Performance\n")


if __name__ == "__main__":
    main()
