"""Helpers shared by the benchmarks: measuring a child process, describing the machine, and
writing generated blocks into a Markdown document without touching the prose around them.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, kw_only=True)
class ChildRun:
    """What one child process cost, from ``os.wait4`` (it and the children it waited for)."""

    #: the exit code (negative: killed by that signal)
    returncode: int
    #: user + system CPU seconds of the whole run, start-up and shutdown included
    cpu_s: float
    #: peak resident set size, bytes (``ru_maxrss``)
    max_rss: int
    #: wall seconds from spawn to exit
    wall_s: float
    #: CPU seconds per wall second between the two steady-state samples (None: too short)
    steady_cpu: float | None


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a live process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def run_child(
    argv: Sequence[str], *, steady: tuple[float, float] | None = None, timeout: float = 600.0
) -> ChildRun:
    """Run ``argv`` to its end; sample its CPU at ``steady`` seconds after spawn (a window).

    The totals come from ``os.wait4``'s rusage, so they include every thread of the child
    and any grandchild it reaped.
    """
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    steady_cpu = None
    if steady is not None:
        samples = []
        for at in steady:
            time.sleep(max(0.0, start + at - time.monotonic()))
            samples.append((time.monotonic(), proc_cpu(proc.pid)))
        (t0, c0), (t1, c1) = samples
        if c0 is not None and c1 is not None and t1 > t0:
            steady_cpu = (c1 - c0) / (t1 - t0)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return ChildRun(
        returncode=proc.returncode,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss=usage.ru_maxrss * 1024,
        wall_s=time.monotonic() - start,
        steady_cpu=steady_cpu,
    )


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


# -- the machine ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _first_line(argv: Sequence[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def x264_build(h264: bytes) -> str:
    """``core 164 r3095 baee400`` from the version SEI libx264 writes into its first frame."""
    found = re.search(rb"x264 - core (\d+)(?: (r\d+) ?([0-9a-f]*))?", h264)
    return " ".join(p.decode() for p in found.groups() if p) if found else "unknown"


def machine() -> dict[str, str]:
    import av  # the bundled FFmpeg is what Ionia runs on

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    return {
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} logical, {affinity} usable by this process",
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": sys.version.split()[0],
        "PyAV": f"{av.__version__} (bundled FFmpeg {av.ffmpeg_version_info})",
        "FFmpeg CLI": _first_line(["ffmpeg", "-version"]).removeprefix("ffmpeg version "),
        "nginx": _first_line(["nginx", "-v"]).removeprefix("nginx version: "),
    }


def load_note(before: tuple[float, float, float]) -> str:
    """The machine's load over a run (``before`` = ``os.getloadavg()`` at its start): on a
    shared machine other work runs beside a benchmark, and a reader should know."""
    after = os.getloadavg()
    return (
        f"load average (1 min) {before[0]:.2f} at the start and {after[0]:.2f} at the end, on "
        f"{os.cpu_count()} cores: above about 1 per core, other work was competing and the "
        "figures are noisier for it"
    )


# -- output --------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
    )


def replace_block(path: Path, name: str, body: str, skeleton: str) -> None:
    """Put ``body`` between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path``.

    Everything outside the markers (the hand-written analysis) is kept; a missing document
    is created from ``skeleton``, which must hold the markers.
    """
    begin, end = f"<!-- BEGIN {name} (generated: do not edit) -->", f"<!-- END {name} -->"
    text = path.read_text() if path.exists() else skeleton
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{begin}\n{body.strip()}\n{end}{tail}")
