"""How fast each codec's default encodes: frames per second of pre-rendered testsrc2.

Every frame is rendered first, so only the encoder is measured (the capture cost is in
``capture.py``). Real time needs >= the stream's fps; the README's "Codecs" table is
this script's output on the reference machine.

    python benchmarks/codecs.py [--seconds 4] [--sizes 1280x720,1920x1080] [--fps 30]
"""

from __future__ import annotations

import argparse
import os
import time

import av

from ionia.config import StreamConfig
from ionia.encoding.selection import CODECS
from ionia.encoding.video import VideoEncoder, VideoEncoderSettings


def frames(width: int, height: int, fps: int, count: int) -> list[av.VideoFrame]:
    graph = av.filter.Graph()
    src = graph.add("testsrc2", f"size={width}x{height}:rate={fps}")
    fmt = graph.add("format", "yuv420p")
    sink = graph.add("buffersink")
    src.link_to(fmt)
    fmt.link_to(sink)
    graph.configure()
    return [sink.pull() for _ in range(count)]  # type: ignore[misc]


def measure(codec: str, width: int, height: int, fps: int, seconds: float) -> tuple[str, float]:
    config = StreamConfig.create("out.flv", codec=codec, use_nvenc=False)
    settings = VideoEncoderSettings.of(
        config.encoding, width=width, height=height, fps=fps, bitrate=config.video_bitrate
    )
    encoder = VideoEncoder(settings)
    encoder.open()
    pictures = frames(width, height, fps, round(seconds * fps))
    start = time.perf_counter()
    for index, picture in enumerate(pictures):
        encoder.encode(picture, index)
    encoder.flush()
    elapsed = time.perf_counter() - start
    return f"{encoder.name} preset {settings.preset}", len(pictures) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--codecs", default=",".join(CODECS))
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.seconds:g} s of testsrc2 at {args.fps} fps")
    print("| codec | encoder | size | fps encoded | real-time factor |")
    print("|---|---|---|---|---|")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        for codec in args.codecs.split(","):
            name, rate = measure(codec, width, height, args.fps, args.seconds)
            print(f"| {codec} | {name} | {size} | {rate:.1f} | {rate / args.fps:.2f}x |")


if __name__ == "__main__":
    main()
