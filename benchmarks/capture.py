"""Screen capture cost at 1080p30 on Xvfb: x11grab vs mss.

Per backend: CPU seconds per stream-second (this process, all threads; and the X server
separately), frames delivered vs duplicated when pulled at 30 fps from the master-clock
slots, the time from the grabber receiving a frame to ``read()`` handing it out, and
what converting it to yuv420p costs (the encoder's scaler does that, not capture).

    python benchmarks/capture.py [--seconds 10] [--size 1920x1080]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from ionia.capture.ffmpeg_grab import ScreenSource
from ionia.capture.mss_grab import MssScreenSource

TICKS = os.sysconf("SC_CLK_TCK")


def start_xvfb(size: str) -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", f"{size}x24"],
        pass_fds=(write_fd,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as numbers:
        return proc, f":{numbers.readline().strip()}"


def cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def measure(source, seconds: float, fps: int, xvfb_pid: int) -> dict[str, float]:
    source.open()
    try:
        delays, converts, fresh, repeats = [], [], 0, 0
        cpu0, x0, t0 = time.process_time(), cpu_of(xvfb_pid), time.monotonic()
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
        xcpu = cpu_of(xvfb_pid) - x0
        elapsed = time.monotonic() - t0
        for _ in range(20):
            begin = time.perf_counter()
            frame.reformat(format="yuv420p")
            converts.append(time.perf_counter() - begin)
    finally:
        source.close()
    return {
        "cpu": cpu / elapsed,
        "xcpu": xcpu / elapsed,
        "fresh": fresh,
        "repeats": repeats,
        "delay_ms": statistics.median(delays) * 1e3,
        "delay_p95_ms": sorted(delays)[int(len(delays) * 0.95)] * 1e3,
        "yuv_ms": statistics.median(converts) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    xvfb, display = start_xvfb(args.size)
    try:
        time.sleep(0.5)
        rows = {
            "x11grab": measure(
                ScreenSource(display, fps=args.fps), args.seconds, args.fps, xvfb.pid
            ),
            "mss": measure(
                MssScreenSource(display, fps=args.fps), args.seconds, args.fps, xvfb.pid
            ),
        }
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=5)
    header = f"screen capture {args.size} @ {args.fps} fps, {args.seconds:g} s on Xvfb"
    print(f"{header}, {os.cpu_count()} CPUs")
    print(
        f"{'backend':<9} {'CPU s/s':>8} {'Xvfb s/s':>9} {'fresh':>6} {'repeat':>7} "
        f"{'cap->read ms':>13} {'p95 ms':>7} {'->yuv420p ms':>13}"
    )
    for name, r in rows.items():
        print(
            f"{name:<9} {r['cpu']:>8.3f} {r['xcpu']:>9.3f} {r['fresh']:>6} {r['repeats']:>7} "
            f"{r['delay_ms']:>13.2f} {r['delay_p95_ms']:>7.2f} {r['yuv_ms']:>13.2f}"
        )


if __name__ == "__main__":
    main()
