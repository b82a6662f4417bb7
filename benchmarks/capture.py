"""Screen capture cost on Xvfb: x11grab timed to the frame slots, against x11grab
free-running at twice the frame rate (what Ionia did before) and mss.

Per grabber: CPU seconds per stream-second (this process, all threads; and the X server
separately), frames delivered vs repeated when pulled at 30 fps from the master-clock
slots, and the age of the frame ``read()`` hands out (from the grabber having it to the
read). Rounds alternate the order of the grabbers.

    python benchmarks/capture.py [--seconds 8] [--rounds 3] [--size 1920x1080] [--no-doc]

Writes its table into docs/performance.md (the ``capture`` block) unless ``--no-doc``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import _common as common
import _desktop  # noqa: F401  (puts tests.fixtures on the path: the suite's Xvfb)
from tests.fixtures.desktop import XvfbServer

from ionia.capture.ffmpeg_grab import ScreenSource
from ionia.capture.mss_grab import MssScreenSource


class FreeRunning(ScreenSource):
    """x11grab as Ionia ran it before: its own timer at twice the frame rate."""

    on_demand = False

    def __init__(self, display: str, *, fps: int) -> None:
        super().__init__(display, fps=fps)
        self.grab_rate = 2 * fps


GRABBERS = {
    "x11grab, 60 grabs/s free-running (before)": FreeRunning,
    "x11grab, one grab per slot, timed to end before it (now)": ScreenSource,
    "mss, one grab per slot (the fallback)": MssScreenSource,
}


def measure(source, seconds: float, fps: int, xvfb_pid: int) -> dict[str, float]:
    source.open()
    try:
        delays, fresh, repeats = [], 0, 0
        cpu0, x0, t0 = time.process_time(), common.proc_cpu(xvfb_pid), time.monotonic()
        for slot in range(int(seconds * fps)):
            pause = t0 + slot / fps - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            frame = source.read(slot)
            if frame is None:
                repeats += 1
                continue
            fresh += 1
            delays.append(time.monotonic() - source.last_capture_time)
        cpu = time.process_time() - cpu0
        x1 = common.proc_cpu(xvfb_pid)
        elapsed = time.monotonic() - t0
    finally:
        source.close()
    if x0 is None or x1 is None:
        raise RuntimeError("Xvfb exited during the run: its CPU cannot be measured")
    xcpu = x1 - x0
    return {
        "cpu": cpu / elapsed,
        "xcpu": xcpu / elapsed,
        "fresh": fresh,
        "repeats": repeats,
        "delay_ms": statistics.median(delays) * 1e3,
        "delay_p95_ms": sorted(delays)[int(len(delays) * 0.95)] * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--doc", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    xvfb = XvfbServer(width, height)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in GRABBERS}
    try:
        for n in range(args.rounds):
            for name in list(GRABBERS) if n % 2 == 0 else list(reversed(GRABBERS)):
                source = GRABBERS[name](xvfb.display, fps=args.fps)
                runs[name].append(measure(source, args.seconds, args.fps, xvfb.proc.pid))
    finally:
        xvfb.stop()

    def cell(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"

    rows = []
    for name, found in runs.items():
        rows.append([
            name,
            cell([r["cpu"] for r in found], ".3f"),
            cell([r["xcpu"] for r in found], ".3f"),
            f"{sum(r['fresh'] for r in found):.0f} / {sum(r['repeats'] for r in found):.0f}",
            cell([r["delay_ms"] for r in found], ".1f"),
            cell([r["delay_p95_ms"] for r in found], ".1f"),
        ])  # fmt: skip
    header = ["grabber", "grabber CPU s/s", "Xvfb CPU s/s", "new frames / repeats",
              "frame age at read, median ms", "p95 ms"]  # fmt: skip
    text = (
        f"{args.size} @ {args.fps} fps on an idle Xvfb, {args.rounds} rounds × "
        f"{args.seconds:g} s per grabber in alternating order, read at every slot of a "
        f"{args.fps} fps clock (`python benchmarks/capture.py`, "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs); medians, min–max of the "
        "rounds in brackets:\n\n" + common.markdown_table(header, rows)
    )
    print(text)
    if not args.no_doc:
        common.replace_block(args.doc, "capture", text, "# Performance\n")


if __name__ == "__main__":
    main()
