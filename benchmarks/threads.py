"""Thread counts on the latency path: libx264's and swscale's, CPU against wall time.

Both run once per frame, one after the other, so their wall time is on the glass-to-glass
path and their CPU on the bill. Ionia leaves both at 0 (auto); this measures what 1, 2, 3
and 4 would give instead, at 720p30:

- libx264 through Ionia's own ``VideoEncoder`` (its settings: veryfast, zerolatency, CBR
  4.5 Mbit/s), fed testsrc2 frames paced at 30 fps;
- BGRA → yuv420p through ``Fitter``'s ``VideoReformatter`` on fresh random frames.

    python benchmarks/threads.py [--size 1280x720] [--rounds 3] [--no-doc]

Rounds alternate the order of the thread counts. Writes the ``threads`` block of
docs/performance.md unless ``--no-doc``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import _common as common
import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ionia.capture.testsrc import TestPatternSource
from ionia.encoding.video import VideoEncoder, VideoEncoderSettings

FPS = 30
THREADS = (0, 1, 2, 3, 4)


def spread(walls: list[float]) -> tuple[float, float]:
    """Median and p95 of wall times, in ms."""
    walls = sorted(walls)
    return statistics.median(walls) * 1e3, walls[len(walls) * 95 // 100] * 1e3


def x264_run(width: int, height: int, threads: int, frames: list[av.VideoFrame]):
    """CPU ms per frame, and the encode call's wall ms (median, p95)."""
    encoder = VideoEncoder(
        VideoEncoderSettings(width=width, height=height, fps=FPS, bitrate=4_500_000,
                             encoder="x264", allow_hardware=False, threads=threads)
    )  # fmt: skip
    encoder.open()
    walls = []
    cpu0, start = common.self_cpu(), time.monotonic()
    for n, frame in enumerate(frames):
        time.sleep(max(0.0, start + n / FPS - time.monotonic()))
        t = time.perf_counter()
        encoder.encode(frame, n)
        walls.append(time.perf_counter() - t)
    cpu = common.self_cpu() - cpu0
    encoder.flush()
    return cpu / len(frames) * 1e3, *spread(walls)


def swscale_run(image: np.ndarray, threads: int, count: int):
    reformatter = VideoReformatter()
    fresh = [av.VideoFrame.from_ndarray(image, format="bgra") for _ in range(count)]
    walls = []
    cpu0 = common.self_cpu()
    for frame in fresh:
        t = time.perf_counter()
        reformatter.reformat(frame, format="yuv420p", threads=threads)
        walls.append(time.perf_counter() - t)
    cpu = common.self_cpu() - cpu0
    return cpu / count * 1e3, *spread(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=150, help="x264 frames per run")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    source = TestPatternSource(width, height, FPS)
    source.open()
    frames = [source.read(n) for n in range(args.frames)]
    image = np.random.default_rng(0).integers(0, 255, (height, width, 4), dtype=np.uint8)
    found: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for r in range(args.rounds):
        for threads in THREADS if r % 2 == 0 else tuple(reversed(THREADS)):
            found.setdefault(("libx264", threads), []).append(
                x264_run(width, height, threads, frames)
            )
            found.setdefault(("swscale", threads), []).append(swscale_run(image, threads, 90))
    rows = []
    for (what, threads), runs in sorted(found.items()):
        cpu, wall, p95 = (statistics.median(r[i] for r in runs) for i in range(3))
        rows.append([what, "0 (auto: Ionia's)" if threads == 0 else str(threads),
                     f"{cpu:.2f}", f"{wall:.2f}", f"{p95:.2f}"])  # fmt: skip
    header = ["stage", "threads", "CPU ms per frame", "wall ms per call, median", "p95"]
    text = (
        f"{args.size}, {args.rounds} rounds in alternating order (libx264: {args.frames} "
        f"testsrc2 frames paced at {FPS} fps through `VideoEncoder`; swscale: 90 fresh BGRA "
        f"frames through one `VideoReformatter`), medians of the rounds "
        f"(`python benchmarks/threads.py`, {time.strftime('%Y-%m-%d')}):\n\n"
        + common.markdown_table(header, rows)
    )
    print(text)
    if not args.no_doc:
        common.replace_block(args.doc, "threads", text, "# Performance\n")


if __name__ == "__main__":
    main()
