"""The real job, side by side: the desktop and system audio, streamed live by Ionia, the
ffmpeg CLI and GStreamer into one nginx-rtmp, at 720p30 and 1080p30.

The stage (``_desktop.py``): an Xvfb screen of the stream's size with a moving scene painted
at 60 ticks/s, PulseAudio with sound playing into its system sink, nginx-rtmp recording what
it receives. Each publisher captures the whole screen (x11grab / ximagesrc) and the sink's
monitor, encodes libx264 veryfast/zerolatency CBR 4.5 Mbit/s with a keyframe every 2 s and
AAC 160 kbit/s, and is stopped with SIGINT (Ctrl-C) after ``--seconds``. Figures per run:

- CPU of the publisher's process tree (its threads and children: Ionia's ``parec``) over the
  steady window, from /proc, divided by the frames nginx recorded per second: **CPU ms per
  delivered frame**. The whole-run figure divides ``os.wait4``'s total by all frames.
- the same with the X server's and PulseAudio's extra CPU (over an idle baseline with only
  the painter and the sound), which the grabbing causes there;
- frames delivered per second, and fresh pictures per second (the painter's tick number
  read back from every decoded picture: a repeat shows the previous tick);
- peak RSS (``ru_maxrss``).

Rounds run ABC, CBA, ...; the doc shows medians and the min–max of the rounds.

    python benchmarks/realjob.py [--rounds 5] [--seconds 15] [--sizes 1280x720,1920x1080]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as common
import _desktop as desk

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
SKELETON = (
    "# Performance\n\n<!-- BEGIN realjob (generated: do not edit) -->\n<!-- END realjob -->\n"
)
LABELS = {"ionia": "Ionia", "ffmpeg": "ffmpeg CLI", "gstreamer": "GStreamer"}


def tree_cpu(pid: int) -> float | None:
    """CPU seconds of ``pid``, its live descendants and the children they reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    total = sum(int(f) for f in fields[11:15]) / common.TICKS  # utime stime cutime cstime
    for task in os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else []:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
            for child in f.read().split():
                total += tree_cpu(int(child)) or 0.0
    return total


def steady_window(seconds: float) -> tuple[float, float]:
    return min(3.0, 0.3 * seconds), seconds - 0.3


def run_publisher(
    argv: list[str], env: dict[str, str], seconds: float, others: dict[str, int]
) -> dict:
    """Spawn, sample CPU over the steady window, SIGINT at ``seconds``, reap with wait4."""
    lo, hi = steady_window(seconds)
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    samples = []
    for at in (lo, hi):
        time.sleep(max(0.0, start + at - time.monotonic()))
        samples.append(
            (time.monotonic(), tree_cpu(proc.pid), {k: tree_cpu(p) for k, p in others.items()})
        )
    time.sleep(max(0.0, start + seconds - time.monotonic()))
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 20
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            deadline = float("inf")
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")[-1500:]
    proc.stderr.close()
    (t0, c0, o0), (t1, c1, o1) = samples
    window = t1 - t0
    steady = (c1 - c0) / window if c0 is not None and c1 is not None else None
    extra = {k: (o1[k] - o0[k]) / window for k in others if o0[k] is not None and o1[k]}
    return {
        "rc": proc.returncode,
        "cpu_total": usage.ru_utime + usage.ru_stime,
        "steady": steady,
        "servers": extra,
        "rss_mb": usage.ru_maxrss * 1024 / 1e6,
        "wall": time.monotonic() - start,
        "stderr": err.strip(),
    }


def baseline(stage: desk.Stage, seconds: float = 3.0) -> dict[str, float]:
    """Xvfb's and PulseAudio's CPU with the painter and the sound but no publisher."""
    pids = stage.pids()
    c0, t0 = {k: tree_cpu(p) or 0.0 for k, p in pids.items()}, time.monotonic()
    time.sleep(seconds)
    c1, t1 = {k: tree_cpu(p) or 0.0 for k, p in pids.items()}, time.monotonic()
    return {k: (c1[k] - c0[k]) / (t1 - t0) for k in pids}


def one_run(stage: desk.Stage, peer: str, r: int, args: argparse.Namespace, tmp: Path) -> dict:
    key = f"{peer}{stage.height}r{r}"
    stats = tmp / f"{key}.json"
    argv = desk.peer_argv(peer, stage.nginx.url(key), stage, args.fps, stats)
    player = stage.play(args.seconds + 8)
    try:
        time.sleep(0.3)
        base = baseline(stage, 1.5)
        run = run_publisher(argv, stage.env, args.seconds, stage.pids())
    finally:
        player.terminate()
        player.wait(5)
    result: dict = {"case": f"{stage.height}p{args.fps}", "peer": peer, "round": r}
    ok = run["rc"] in (0, 130, 255)  # 130: Ionia after SIGINT; 255: ffmpeg
    try:
        got = desk.read_recording(stage.nginx.recording(key, timeout=10), skip_s=2.0)
    except (TimeoutError, OSError, IndexError) as e:
        ok, got = False, None
        run["stderr"] += f" | recording: {e}"
    extra = sum(max(0.0, run["servers"].get(k, 0.0) - base[k]) for k in base)
    result |= {
        "ok": ok and got is not None and got.frames > 0,
        "rc": run["rc"],
        "steady_cpu": run["steady"],
        "server_cpu": extra,
        "servers": {k: round(run["servers"].get(k, 0.0) - base[k], 4) for k in base},
        "cpu_total": run["cpu_total"],
        "rss_mb": run["rss_mb"],
    }
    if got is not None:
        fps = got.fps or None
        result |= {
            "frames": got.frames,
            "fresh": got.fresh,
            "span_s": got.span_s,
            "fps": got.fps,
            "fresh_fps": got.fresh_fps,
            "audio_packets": got.audio_packets,
            "decode_errors": got.decode_errors,
            "ms_per_frame": 1000 * run["steady"] / fps if run["steady"] and fps else None,
            "ms_per_frame_servers": (
                1000 * (run["steady"] + extra) / fps if run["steady"] and fps else None
            ),
            "ms_per_frame_whole": 1000 * run["cpu_total"] / got.frames if got.frames else None,
        }
    if peer == "ionia" and stats.exists():
        s = json.loads(stats.read_text())
        keys = ("frames_captured", "frames_duplicated", "frames_late", "latency_p50_ms",
                "latency_p99_ms", "first_byte_s")  # fmt: skip
        result |= {k: s.get(k) for k in keys}
    if not result["ok"]:
        result["stderr"] = run["stderr"]
    return result


def benchmark(args: argparse.Namespace, tmp: Path) -> list[dict]:
    runs: list[dict] = []
    for size in args.sizes.split(","):
        width, height = map(int, size.split("x"))
        stage = desk.Stage(tmp, width, height)
        try:
            time.sleep(0.5)
            for r, peer in desk.order(args.rounds, args.peers):
                runs.append(one_run(stage, peer, r, args, tmp))
                log(runs[-1])
        finally:
            stage.close()
    return runs


def log(run: dict) -> None:
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}
    print("  " + " ".join(f"{k}={v}" for k, v in shown.items()), file=sys.stderr, flush=True)


# -- the table -----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(runs: list[dict], args: argparse.Namespace) -> str:
    rows = []
    for case in dict.fromkeys(r["case"] for r in runs):

        def values(peer: str, key: str, case: str = case) -> list[float]:
            return [r[key] for r in runs if r["case"] == case and r["peer"] == peer
                    and r["ok"] and r.get(key) is not None]  # fmt: skip

        def med(peer: str, key: str, case: str = case) -> float | None:
            found = values(peer, key, case)
            return statistics.median(found) if found else None

        others = [p for p in args.peers if p != "ionia"]
        best = min((m for p in others if (m := med(p, "ms_per_frame")) is not None), default=None)
        for peer in args.peers:
            ms, fps = med(peer, "ms_per_frame"), med(peer, "fps")
            ratio = ms / best if ms is not None and best else None
            verdict = ""
            if peer == "ionia" and ratio is not None and fps is not None:
                met = ratio <= 0.90 and fps >= 29.5
                verdict = f"{'PASS' if met else 'MISS'} (≤ 0.90 × best peer, ≥ 29.5 fps)"
                if ratio > 0.90:  # by how much: the CPU per frame to shed to meet it
                    verdict += f": {ms - 0.90 * best:.1f} ms/frame over ({ratio / 0.90 - 1:.0%})"
            failed = sum(1 for r in runs if r["case"] == case and r["peer"] == peer and not r["ok"])
            rows.append([
                case, LABELS[peer],
                f"{_fmt(ms)} ({desk.spread(values(peer, 'ms_per_frame'))})",
                _fmt(ratio, 2),
                f"{_fmt(med(peer, 'ms_per_frame_servers'))} "
                f"({desk.spread(values(peer, 'ms_per_frame_servers'))})",
                _fmt(med(peer, "ms_per_frame_whole")),
                f"{_fmt(fps)} ({desk.spread(values(peer, 'fps'))})",
                _fmt(med(peer, "fresh_fps")),
                _fmt(med(peer, "rss_mb")),
                f"{len(values(peer, 'ms_per_frame'))}" + (f" ({failed} failed)" if failed else ""),
                verdict,
            ])  # fmt: skip
    header = ["case", "publisher", "CPU ms / delivered frame (min–max)", "÷ best peer",
              "+ Xvfb & PulseAudio, ms/frame", "whole run, ms/frame", "frames/s delivered",
              "fresh pictures/s", "peak RSS MB", "rounds", "target"]  # fmt: skip
    return common.markdown_table(header, rows)


def block(args: argparse.Namespace, tab: str, runs: list[dict]) -> str:
    url = "rtmp://127.0.0.1:PORT/live/KEY"
    stage = argparse.Namespace(width=1920, height=1080, xvfb=argparse.Namespace(display=":N"))
    lines = []
    for peer in args.peers:
        argv = desk.peer_argv(peer, url, stage, args.fps, Path("stats.json"))  # type: ignore[arg-type]
        lines.append(f"{LABELS[peer]}:\n  {desk.shown_argv(argv)}")
    machine = common.machine()
    gst = subprocess.run(["gst-launch-1.0", "--version"], capture_output=True, text=True)
    found = [line for line in gst.stdout.splitlines() if line.startswith("GStreamer ")]
    machine["GStreamer"] = found[0].removeprefix("GStreamer ") if found else "not installed"
    info = "\n".join(f"- **{k}**: {v}" for k, v in machine.items())
    lo, hi = steady_window(args.seconds)
    raw = "\n".join(json.dumps(r) for r in runs)
    command = " ".join(["python", "benchmarks/realjob.py", *sys.argv[1:]])
    return f"""\
Generated by `{command}` on {time.strftime("%Y-%m-%d %H:%M %Z")}: {args.rounds} rounds in
ABC/CBA order, {args.seconds:g} s per stream (stopped by SIGINT), CPU over the window
{lo:g}–{hi:g} s after spawn; video {desk.VIDEO_BITRATE} CBR, keyframe every {desk.KEYINT_S} s,
AAC {desk.AUDIO_BITRATE}; medians, with the min–max of the rounds in brackets.

{info}

{tab}

Command lines (1080p shown; 720p differs only in the size; `DISPLAY` and `PULSE_SERVER` in the
environment of each):

```
{chr(10).join(lines)}
```

<details><summary>Every run</summary>

```
{raw}
```
</details>"""


# -- the profile (--profile; needs perf, and py-spy to name Ionia's threads) ---------------


PERF_HZ = 499


def task_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` now."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError, IndexError), open(f"/proc/{pid}/task/{task}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            out[int(task)] = (int(fields[11]) + int(fields[12])) / common.TICKS
    return out


def library(dso: str) -> str:
    """What a shared object does: pipeline.py's names, plus GStreamer's."""
    import pipeline  # its attribution of samples to libraries

    base = os.path.basename(dso)
    if "libgstvideo" in base or "orcexec" in base:
        return "colour conversion (GStreamer videoconvert: libgstvideo, ORC code)"
    if base.startswith(("libgst", "libglib", "libgobject", "libgio", "libpulse")):
        return "GStreamer, GLib and libpulse plumbing"
    what = pipeline.category(dso)
    return f"other: {base.split('.so')[0]}" if what.startswith("other (") else what


def profile_one(stage: desk.Stage, peer: str, args: argparse.Namespace, tmp: Path) -> dict:
    """``perf record`` one publisher over its steady window; samples by thread and library."""
    import collections
    import re

    import pipeline  # py-spy's thread names

    key = f"prof{peer}"
    argv = desk.peer_argv(peer, stage.nginx.url(key), stage, args.fps, tmp / f"{key}.json")
    player = stage.play(args.seconds + 8)
    proc = subprocess.Popen(argv, env=stage.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    lo, hi = steady_window(args.seconds)
    time.sleep(lo)
    names = pipeline.thread_names(proc.pid) if peer == "ionia" else {}
    for task in os.listdir(f"/proc/{proc.pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{proc.pid}/task/{task}/comm") as f:
            names.setdefault(int(task), f.read().strip())
    data = tmp / f"{key}.data"
    own0, k0 = common.proc_cpu(proc.pid), task_cpu(proc.pid)
    c0, t0 = tree_cpu(proc.pid), time.monotonic()
    perf = subprocess.Popen(["perf", "record", "-q", "-F", str(PERF_HZ), "-p", str(proc.pid),
                             "-o", str(data)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(max(0.5, hi - lo))
    c1, t1 = tree_cpu(proc.pid), time.monotonic()
    own1, k1 = common.proc_cpu(proc.pid), task_cpu(proc.pid)
    perf.send_signal(signal.SIGINT)
    perf.wait(30)
    proc.send_signal(signal.SIGINT)
    proc.wait(20)
    player.terminate()
    player.wait(5)
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "tid,ip,dso"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    window = t1 - t0
    libs: collections.Counter[str] = collections.Counter()
    threads: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for tid, dso in re.findall(r"^\s*(\d+)\s+[0-9a-f]+\s+\((.*)\)\s*$", script, re.M):
        what = library(dso)
        libs[what] += 1 / (PERF_HZ * window)
        name = names.get(int(tid), "short-lived threads")
        if name == "python":  # x264's workers carry the process's name
            name = "x264 worker threads"
        threads[re.sub(r"-\d+$", "", name)][what] += 1 / (PERF_HZ * window)
    # threads that started and ended inside the window (perf -p does not follow them): the
    # process's CPU less what the threads alive at the end spent in it
    alive = sum(v - k0.get(t, 0.0) for t, v in k1.items())
    gone = ((own1 or 0.0) - (own0 or 0.0) - alive) / window
    return {"peer": peer, "libs": libs, "threads": threads, "gone": max(0.0, gone),
            "tree": (c1 - c0) / window if c0 is not None and c1 is not None else None}  # fmt: skip


#: the work every publisher does alike, whatever its plumbing: the encoders and the scaler
COMMON_WORK = ("x264 encoder", "colour conversion", "AAC encoder")


def floor_note(found: list[dict]) -> str:
    """What the ≤ 0.90 × target leaves Ionia for everything but the common work, from this
    profile: the common work is what no publisher can skip at equal encoder settings."""

    def common_work(f: dict) -> float:
        return sum(v for k, v in f["libs"].items() if k.startswith(COMMON_WORK))

    by_peer = {f["peer"]: f for f in found}
    if "ionia" not in by_peer or len(by_peer) < 2 or any(f["tree"] is None for f in found):
        return "(the floor needs Ionia and a peer profiled)"
    ionia = by_peer.pop("ionia")
    best = min(by_peer.values(), key=lambda f: f["tree"])
    budget = 0.90 * best["tree"]
    rest = budget - common_work(ionia)
    rows = [
        [LABELS[f["peer"]], f"{f['tree']:.3f}", f"{common_work(f):.3f}",
         f"{f['tree'] - common_work(f):.3f}"]
        for f in (ionia, *by_peer.values())
    ]  # fmt: skip
    table = common.markdown_table(
        ["publisher", "/proc CPU s/s", "x264 + colour conversion + AAC", "everything else"], rows
    )
    return (
        f"{table}\n\nThe target, 0.90 × {LABELS[best['peer']]}'s {best['tree']:.3f}, is "
        f"{budget:.3f} CPU s/s. Ionia's own x264, colour conversion and AAC took "
        f"{common_work(ionia):.3f} of it, which leaves {rest:.3f} for capture, audio, "
        "buffering, sending and the interpreter, against "
        f"{best['tree'] - common_work(best):.3f} that {LABELS[best['peer']]} spends on its own "
        "plumbing."
    )


def profile(args: argparse.Namespace, tmp: Path) -> str:
    width, height = map(int, args.sizes.split(",")[-1].split("x"))
    stage = desk.Stage(tmp, width, height)
    try:
        found = [profile_one(stage, peer, args, tmp) for peer in args.peers]
    finally:
        stage.close()
    every = sorted({k for f in found for k in f["libs"]}, key=lambda k: -found[0]["libs"][k])
    # a library under 0.5 ms/s for every publisher is noise in this table
    shown = [k for k in every if max(f["libs"][k] for f in found) >= 0.0005]
    rows = [[k, *(f"{f['libs'][k]:.3f}" for f in found)] for k in shown]
    rows.append(["total sampled", *(f"{sum(f['libs'].values()):.3f}" for f in found)])
    rows.append(["threads that started and ended in the window (from /proc; perf misses them)",
                 *(f"{f['gone']:.3f}" for f in found)])  # fmt: skip
    rows.append(["/proc CPU of the process tree", *(f"{f['tree'] or 0:.3f}" for f in found)])
    lo, hi = steady_window(args.seconds)
    command = " ".join(["python", "benchmarks/realjob.py", *sys.argv[1:]])
    out = [
        f"""\
Generated by `{command}` on {time.strftime("%Y-%m-%d %H:%M %Z")}: each publisher streaming
{height}p{args.fps} on the stage above, `perf record -F {PERF_HZ} -p PID` over {lo:g}–{hi:g} s
after spawn, samples by shared object, CPU s per stream-second (child processes, Ionia's
`parec`, are only in the /proc row).

{common.markdown_table(["what", *(LABELS[f["peer"]] for f in found)], rows)}"""
    ]
    out.append(floor_note(found))
    for f in found:
        trows = []
        for name, libs in sorted(f["threads"].items(), key=lambda kv: -sum(kv[1].values())):
            total = sum(libs.values())
            if total < 0.001:
                continue
            top = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in libs.most_common(3))
            trows.append([name, f"{total:.3f}", top])
        out.append(f"{LABELS[f['peer']]} by thread:\n\n"
                   + common.markdown_table(["thread", "CPU s/s", "top shares"], trows))  # fmt: skip
    return "\n\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="ABC/CBA rounds (default 5)")
    p.add_argument("--seconds", type=float, default=15.0, help="stream length (default 15)")
    p.add_argument("--sizes", default="1280x720,1920x1080", help="comma-separated WxH")
    p.add_argument("--fps", type=int, default=desk.FPS)
    p.add_argument("--peers", default=",".join(desk.PEERS), help="ionia,ffmpeg,gstreamer")
    p.add_argument("--no-doc", action="store_true", help=f"do not rewrite {DOC.name}")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--profile", action="store_true",
                   help="perf-profile each publisher at the last size (needs perf)")  # fmt: skip
    args = p.parse_args()
    args.peers = tuple(args.peers.split(","))
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="ionia-realjob-") as tmp:
            text = profile(args, Path(tmp))
        print(text)
        if not args.no_doc:
            common.replace_block(args.doc, "realjob-profile", text, SKELETON)
        return
    with tempfile.TemporaryDirectory(prefix="ionia-realjob-") as tmp:
        runs = benchmark(args, Path(tmp))
    tab = table(runs, args)
    print(tab)
    if not args.no_doc:
        common.replace_block(args.doc, "realjob", block(args, tab, runs), SKELETON)
        print(f"written to {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
