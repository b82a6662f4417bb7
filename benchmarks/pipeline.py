"""Ionia vs the FFmpeg command line: the same synthetic stream into the same local nginx-rtmp.

A is ``ionia stream`` (testsrc2 + white flash, 1 kHz beep); B is ``ffmpeg -re -f lavfi``
with the same pattern, flash, beep, libx264 and AAC settings. Rounds run AB, BA, AB, ...
and the table shows medians with the min–max of the rounds. The floor is libx264 alone
(PyAV's build, the one Ionia uses) encoding the same frames paced in real time. The
throughput case encodes and muxes 600 frames of 1080p as fast as it can. ``make bench``
runs this and rewrites the results block of docs/performance.md; ``--profile`` rewrites
its profile block (needs ``perf``, and ``py-spy`` for the Python-level view).

    python benchmarks/pipeline.py [--rounds 5] [--seconds 20] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import _common as common

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fixtures.nginx: the ingest the test suite uses

DOC = ROOT / "docs" / "performance.md"
FPS = 30
AUDIO_BITRATE = "192k"
PERF_HZ = 499
SKELETON = """# Performance

<!-- BEGIN results (generated: do not edit) -->
<!-- END results -->

<!-- BEGIN profile (generated: do not edit) -->
<!-- END profile -->
"""


@dataclass(frozen=True)
class Case:
    width: int
    height: int

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def label(self) -> str:
        return f"{self.height}p{FPS}"


# -- command lines -------------------------------------------------------------------------


def x264_args(bitrate: str, keyint_s: float) -> list[str]:
    """FFmpeg's spelling of what ionia.encoding.video._options gives libx264."""
    gop = round(keyint_s * FPS)
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "high",
        "-pix_fmt", "yuv420p", "-bf", "0", "-b:v", bitrate, "-maxrate", bitrate,
        "-bufsize", bitrate, "-g", str(gop), "-forced-idr", "1",
        "-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0",
    ]  # fmt: skip


def video_filter(case: Case) -> str:
    # Ionia's TestPatternSource: testsrc2 in yuv420p, slot k*fps a full white frame (Y 235).
    flash = f"lutyuv=y=235:u=128:v=128:enable='eq(mod(n,{FPS}),0)'"
    return f"testsrc2=size={case.size}:rate={FPS},format=yuv420p,{flash}"


#: 1 kHz at 0.5 for the first 100 ms of each second (gated per 1024-sample frame).
AUDIO_FILTER = "sine=frequency=1000:sample_rate=48000,volume=4,volume=0:enable='gte(mod(t,1),0.1)'"


def ffmpeg_argv(url: str, case: Case, args: argparse.Namespace) -> list[str]:
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        "-re", "-f", "lavfi", "-i", video_filter(case),
        "-re", "-f", "lavfi", "-i", AUDIO_FILTER,
        "-t", str(args.seconds), "-map", "0:v", "-map", "1:a",
        *x264_args(args.video_bitrate, args.keyint),
        "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2",
        "-f", "flv", url,
    ]  # fmt: skip


def ionia_argv(url: str, case: Case, args: argparse.Namespace, stats: Path) -> list[str]:
    return [
        sys.executable, "-m", "ionia", "-q", "stream", url,
        "--video", "testsrc", "--audio", "tone", "--size", case.size, "--fps", str(FPS),
        "--video-bitrate", args.video_bitrate, "--audio-bitrate", AUDIO_BITRATE,
        "--encoder", "x264", "--preset", "veryfast", "--keyint", str(args.keyint),
        "--duration", str(args.seconds), "--stats-json", str(stats),
    ]  # fmt: skip


def worker_argv(kind: str, case: Case, args: argparse.Namespace, amount: float) -> list[str]:
    return [
        sys.executable, __file__, "--worker", kind, "--size", case.size,
        "--video-bitrate", args.video_bitrate, "--keyint", str(args.keyint),
        "--amount", str(amount),
    ]  # fmt: skip


def throughput_b_argv(case: Case, frames: int, args: argparse.Namespace) -> list[str]:
    return [
        "ffmpeg", "-hide_banner", "-nostats", "-nostdin", "-benchmark",
        "-f", "lavfi", "-i", video_filter(case), "-frames:v", str(frames),
        *x264_args(args.video_bitrate, args.keyint), "-f", "flv", "-y", os.devnull,
    ]  # fmt: skip


# -- workers (run in a child process of this script) --------------------------------------


def _encoder(case: Case, bitrate: str, keyint: float):
    from ionia.checks import parse_bitrate
    from ionia.encoding.video import VideoEncoder, VideoEncoderSettings

    settings = VideoEncoderSettings(
        width=case.width,
        height=case.height,
        fps=FPS,
        bitrate=parse_bitrate(bitrate),
        keyint_s=keyint,
        encoder="x264",
        allow_hardware=False,
    )
    return VideoEncoder(settings)


def worker_floor(case: Case, bitrate: str, keyint: float, seconds: float) -> dict[str, float]:
    """libx264 alone, paced in real time: CPU of the process minus what making frames cost."""
    from ionia.capture.testsrc import TestPatternSource

    source = TestPatternSource(case.width, case.height, FPS)
    source.open()
    encoder = _encoder(case, bitrate, keyint)
    encoder.open()
    making = 0.0
    start, cpu0 = time.monotonic(), common.self_cpu()
    for n in range(round(seconds * FPS)):
        time.sleep(max(0.0, start + n / FPS - time.monotonic()))
        t = time.thread_time()  # testsrc2 runs in this thread; x264 in its own threads
        frame = source.read(n)
        making += time.thread_time() - t
        encoder.encode(frame, n)
    encoder.flush()
    cpu = common.self_cpu() - cpu0
    return {"x264": (cpu - making) / seconds, "source": making / seconds}


def worker_throughput(case: Case, bitrate: str, keyint: float, frames: int) -> dict[str, float]:
    """Ionia's VideoEncoder and FLV packing, unpaced, into a null file sink."""
    from ionia.capture.testsrc import TestPatternSource
    from ionia.output import flv

    start = time.perf_counter()
    source = TestPatternSource(case.width, case.height, FPS)
    source.open()
    encoder = _encoder(case, bitrate, keyint)
    encoder.open()
    with open(os.devnull, "wb") as sink:
        sink.write(flv.file_header(has_audio=False))
        sink.write(flv.file_tag(flv.TagType.VIDEO, 0, flv.avc_sequence_header(encoder.extradata)))
        for n in range(frames):
            for packet in encoder.encode(source.read(n), n):
                body = flv.avc_video(packet.data, keyframe=packet.keyframe)
                sink.write(flv.file_tag(flv.TagType.VIDEO, packet.dts_ms, body))
        for packet in encoder.flush():
            body = flv.avc_video(packet.data, keyframe=packet.keyframe)
            sink.write(flv.file_tag(flv.TagType.VIDEO, packet.dts_ms, body))
    return {"fps": frames / (time.perf_counter() - start), "frames": encoder.frames_encoded}


def run_worker(args: argparse.Namespace) -> None:
    width, height = map(int, args.size.split("x"))
    case = Case(width, height)
    if args.worker == "floor":
        result = worker_floor(case, args.video_bitrate, args.keyint, args.amount)
    else:
        result = worker_throughput(case, args.video_bitrate, args.keyint, int(args.amount))
    print(json.dumps(result))


def worker_json(argv: list[str]) -> dict[str, float]:
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the measurements ----------------------------------------------------------------------


def steady_window(seconds: float) -> tuple[float, float]:
    """Seconds after spawn to sample CPU between: past start-up, before the end."""
    return min(3.0, max(1.0, 0.3 * seconds)), seconds - 0.5


def run_a(url: str, case: Case, args: argparse.Namespace, tmp: Path) -> dict:
    stats_path = tmp / f"a-{time.monotonic_ns()}.json"
    run = common.run_child(
        ionia_argv(url, case, args, stats_path), steady=steady_window(args.seconds)
    )
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    # the same test for both sides: the process ended well (frames are counted, not judged)
    return {
        "ok": run.returncode == 0,
        "cpu": run.cpu_s / args.seconds,
        "steady": run.steady_cpu,
        "rss_mb": run.max_rss / 1e6,
        "p50": stats.get("latency_p50_ms"),
        "p99": stats.get("latency_p99_ms"),
        "first_byte": stats.get("first_byte_s"),
        "encoded": stats.get("frames_encoded", 0),
        "late": stats.get("frames_late", 0),
        "dropped": stats.get("video_packets_dropped", 0),
    }


def run_b(url: str, case: Case, args: argparse.Namespace) -> dict:
    run = common.run_child(ffmpeg_argv(url, case, args), steady=steady_window(args.seconds))
    return {
        "ok": run.returncode == 0,
        "cpu": run.cpu_s / args.seconds,
        "steady": run.steady_cpu,
        "rss_mb": run.max_rss / 1e6,
    }


def throughput_b(case: Case, frames: int, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run(
        throughput_b_argv(case, frames, args), capture_output=True, text=True, timeout=600
    )
    found = re.search(r"bench: utime=\S+ stime=\S+ rtime=([\d.]+)s", out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"ffmpeg throughput run failed:\n{out.stderr[-2000:]}")
    return {"fps": frames / float(found.group(1))}


def x264_builds() -> dict[str, str]:
    """Which libx264 each side links: PyAV bundles its own, the CLI uses Debian's."""
    import av

    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 64, 64, "yuv420p"
    ctx.time_base = Fraction(1, FPS)
    ctx.open()
    pyav = b"".join(bytes(p) for p in ctx.encode(av.VideoFrame(64, 64, "yuv420p")))
    pyav += b"".join(bytes(p) for p in ctx.encode(None))
    cli = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1",
         "-c:v", "libx264", "-f", "h264", "-"],
        capture_output=True, check=False,
    ).stdout  # fmt: skip
    return {"A": common.x264_build(pyav), "B": common.x264_build(cli)}


def delivered_frames(nginx, key: str) -> int | None:  # type: ignore[no-untyped-def]
    """Video frames nginx recorded for ``key`` (both sides are counted the same way)."""
    import av

    try:
        path = nginx.recording(key, timeout=10)
        with av.open(str(path)) as container:
            return sum(1 for p in container.demux(video=0) if p.size)
    except (TimeoutError, OSError, av.FFmpegError, IndexError):
        return None


def benchmark(args: argparse.Namespace, tmp: Path) -> tuple[str, list[dict]]:
    from tests.fixtures.nginx import NginxRtmp

    runs: list[dict] = []
    nginx = NginxRtmp(tmp / "nginx", record=True, on_publish_key=None, tls=False)
    try:
        for r in range(args.rounds):
            for case in args.cases:
                # A, B in even rounds and B, A in odd ones: neither always goes first
                for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    key = f"{side}{case.height}r{r}"
                    url = nginx.url(key)
                    result = run_a(url, case, args, tmp) if side == "A" else run_b(url, case, args)
                    result["delivered"] = delivered_frames(nginx, key)
                    runs.append({"case": case.label, "side": side, "round": r, **result})
                    log(runs[-1])
                floor = worker_json(worker_argv("floor", case, args, args.floor_seconds))
                runs.append({"case": case.label, "side": "floor", "round": r, "ok": True, **floor})
                log(runs[-1])
    finally:
        nginx.close()
    big = Case(1920, 1080)
    for r in range(args.rounds):
        for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
            if side == "A":
                result = worker_json(worker_argv("throughput", big, args, args.frames))
            else:
                result = throughput_b(big, args.frames, args)
            runs.append({"case": "throughput", "side": side, "round": r, "ok": True, **result})
            log(runs[-1])
    return table(runs, args), runs


def log(run: dict) -> None:
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}
    print("  " + " ".join(f"{k}={v}" for k, v in shown.items()), file=sys.stderr, flush=True)


# -- the table -----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "MISS")


def table(runs: list[dict], args: argparse.Namespace) -> str:
    def med(case: str, side: str, key: str) -> float | None:
        return common.median(
            [r.get(key) for r in runs if r["case"] == case and r["side"] == side and r["ok"]]
        )

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    def per_round(case: str, key: str) -> str:
        """min–max over the rounds of A/B, each round's A against the same round's B."""
        got = {(r["side"], r["round"]): r.get(key) for r in runs if r["case"] == case and r["ok"]}
        ratios = [a / b for (side, n), a in got.items()
                  if side == "A" and a and (b := got.get(("B", n)))]  # fmt: skip
        return f" ({min(ratios):.3f}–{max(ratios):.3f})" if ratios else ""

    frame_ms = 1000 / FPS
    rows = []
    for case in args.cases:
        c = case.label
        a_cpu, b_cpu = med(c, "A", "cpu"), med(c, "B", "cpu")
        a_st, b_st, floor = med(c, "A", "steady"), med(c, "B", "steady"), med(c, "floor", "x264")
        a_rss, b_rss = med(c, "A", "rss_mb"), med(c, "B", "rss_mb")
        p50, p99, fb = med(c, "A", "p50"), med(c, "A", "p99"), med(c, "A", "first_byte")
        failed = sum(not r["ok"] for r in runs if r["case"] == c)
        r_cpu, r_st, r_fl = ratio(a_cpu, b_cpu), ratio(a_st, b_st), ratio(a_st, floor)
        big = case.height >= 1080
        a_runs = [r for r in runs if r["case"] == c and r["side"] == "A"]
        frames = "/".join(
            f"{r['encoded']}·{r['late']}·{r['dropped']}" for r in a_runs
        )  # per round: encoded·late·dropped
        a_got, b_got = med(c, "A", "delivered"), med(c, "B", "delivered")
        rows += [
            [c, "CPU s per stream-s, whole run", _fmt(a_cpu), _fmt(b_cpu), "",
             _fmt(r_cpu, 3) + per_round(c, "cpu"), "", "A ≤ 1.00 × B",
             _verdict(r_cpu is not None and r_cpu <= 1.00)],
            [c, "CPU s per stream-s, steady state", _fmt(a_st), _fmt(b_st), _fmt(floor),
             _fmt(r_st, 3) + per_round(c, "steady"), _fmt(r_fl, 3), "A ≤ 1.10 × floor",
             _verdict(r_fl is not None and r_fl <= 1.10)],
            [c, "video frames nginx recorded, median", _fmt(a_got, 0), _fmt(b_got, 0), "",
             "", "", "", ""],
            [c, "testsrc2 + flash making alone, CPU s/s", "", "",
             _fmt(med(c, "floor", "source")), "", "", "", ""],
            [c, "peak RSS, MB", _fmt(a_rss, 1), _fmt(b_rss, 1), "", _fmt(ratio(a_rss, b_rss), 2),
             "", "A ≤ 150 MB" if big else "",
             _verdict(a_rss is not None and a_rss <= 150) if big else ""],
            [c, "latency capture → socket p50, ms", _fmt(p50, 1), "n/a", "", "", "", "", ""],
            [c, "latency capture → socket p99, ms", _fmt(p99, 1), "n/a", "", "", "",
             f"≤ {frame_ms:.1f} ms", _verdict(p99 is not None and p99 <= frame_ms)],
            [c, "start() → first video byte, s", _fmt(fb), "n/a", "", "", "", "≤ 1 s",
             _verdict(fb is not None and fb <= 1.0)],
            [c, "A frames encoded·late·dropped per round", frames, "", "", "", "", "",
             f"{failed} failed run(s)" if failed else ""],
        ]  # fmt: skip
    a_tp, b_tp = med("throughput", "A", "fps"), med("throughput", "B", "fps")
    r_tp = ratio(a_tp, b_tp)
    rows.append(
        [f"1080p × {args.frames}", "throughput, frames/s (not paced)", _fmt(a_tp, 1),
         _fmt(b_tp, 1), "", _fmt(r_tp, 3), "", "A ≥ 0.95 × B",
         _verdict(r_tp is not None and r_tp >= 0.95)]
    )  # fmt: skip
    header = ["case", "metric", "A: Ionia", "B: FFmpeg CLI", "floor: x264 alone",
              "A/B (min–max of the rounds)", "A/floor", "target", "result"]  # fmt: skip
    return common.markdown_table(header, rows)


# -- the document --------------------------------------------------------------------------


def commands(args: argparse.Namespace) -> str:
    case = args.cases[-1]
    url = "rtmp://127.0.0.1:PORT/live/KEY"
    lines = [
        "A  " + shlex.join(ionia_argv(url, case, args, Path("stats.json"))),
        "B  " + shlex.join(ffmpeg_argv(url, case, args)),
        "floor  " + shlex.join(worker_argv("floor", case, args, args.floor_seconds)),
        "throughput A  " + shlex.join(worker_argv("throughput", Case(1920, 1080), args, 600)),
        "throughput B  " + shlex.join(throughput_b_argv(Case(1920, 1080), args.frames, args)),
    ]
    return "\n".join(lines).replace(sys.executable, "python").replace(str(ROOT) + "/", "")


def results_block(args: argparse.Namespace, tab: str, runs: list[dict]) -> str:
    builds = x264_builds()
    info = {**common.machine(), "libx264": f"A (PyAV) core {builds['A']}; B (CLI) {builds['B']}"}
    machine = "\n".join(f"- **{k}**: {v}" for k, v in info.items())
    lo, hi = steady_window(args.seconds)
    raw = "\n".join(json.dumps(r) for r in runs)
    return f"""\
Generated by `{" ".join(["python", "benchmarks/pipeline.py", *sys.argv[1:]])}` on \
{time.strftime("%Y-%m-%d %H:%M %Z")}: {args.rounds} rounds, {args.seconds:g} s per stream, \
video {args.video_bitrate} CBR, keyframe every {args.keyint:g} s, audio AAC {AUDIO_BITRATE}.

{machine}

{tab}

How each figure is taken:

- **CPU s per stream-s, whole run**: user + system CPU seconds of the child process from
  `os.wait4` (all its threads, and any child it reaped), divided by the stream duration.
  Includes start-up and shutdown: for A the interpreter, imports and encoder open.
- **steady state**: `/proc/PID/stat` CPU of the same child sampled {lo:g} s and {hi:g} s after
  spawn, over the wall time between: the pipeline alone, start-up excluded.
- **floor: x264 alone**: PyAV's libx264 (the build Ionia links) opened by Ionia's own
  `VideoEncoder` with the same settings, fed the same testsrc2 + flash frames paced at
  {FPS} fps for {args.floor_seconds:g} s in a separate process; its CPU minus the CPU the
  calling thread spent making the frames (shown on the "testsrc2 + flash making" row).
  Both A and B pay that source cost on top of the encoder.
- **peak RSS**: `ru_maxrss` from `os.wait4`.
- **frames recorded**: the video packets in nginx's recording of each run, counted the same
  way for both sides. A run counts in the medians when its process exited with 0; neither
  side has a frame threshold.
- **latency**: from Ionia's own monotonic timestamps: a frame's capture time is its slot on
  the master clock (`n / fps`, the instant it is due and read from the source); the end is
  when the sender has handed the last byte of its RTMP message to the socket
  (`output/sender.py`, `_sent`). Percentiles over every video frame of the run (the
  stats JSON's `latency_p50_ms`/`latency_p99_ms`). FFmpeg exposes nothing comparable: n/a.
- **start() → first video byte**: the stats JSON's `first_byte_s`, measured inside the
  process from `VideoAudioStreamer.start()` to the first media byte written to the socket:
  interpreter start-up and imports are excluded. It includes opening the source and both
  encoders and the RTMP handshake + publish with nginx.
- **throughput**: A is Ionia's `TestPatternSource` → `VideoEncoder` → `output.flv` tag
  packing into `/dev/null`, unpaced, timed from before the encoder opens to after the
  flush; B is the FFmpeg CLI writing FLV to `/dev/null`, timed by its `-benchmark` rtime.
- Both sides link different libx264 builds (see above); their speed is compared on the
  throughput row, which is libx264 plus frame making plus muxing and nothing else.

Command lines (1080p shown; 720p differs only in the size):

```
{commands(args)}
```

<details><summary>Every run</summary>

```
{raw}
```
</details>"""


# -- the profile ---------------------------------------------------------------------------


CATEGORIES = [
    ("libx264", "x264 encoder (libx264)"),
    ("libswscale", "colour conversion (libswscale)"),
    ("libavfilter", "testsrc2 making (libavfilter)"),
    ("libc.so", "libc: memcpy, malloc"),
    ("libavcodec", "AAC encoder (libavcodec, libm)"),
    ("libm.so", "AAC encoder (libavcodec, libm)"),
    ("libswresample", "AAC encoder (libavcodec, libm)"),
    ("libpython", "Python: interpreter"),
    (".cpython-", "Python: NumPy and other extension modules"),
    (".abi3.so", "Python: PyAV's Cython glue"),
    ("openblas", "NumPy's OpenBLAS thread pool"),
    ("kernel", "kernel: socket writes, futex wake-ups, scheduling"),
    ("libavformat", "FFmpeg utilities and muxer (libavutil, libavformat, ffmpeg)"),
    ("libavutil", "FFmpeg utilities and muxer (libavutil, libavformat, ffmpeg)"),
    ("libavdevice", "FFmpeg utilities and muxer (libavutil, libavformat, ffmpeg)"),
]


def category(dso: str) -> str:
    base = os.path.basename(dso)
    if base == "ffmpeg":
        return "FFmpeg utilities and muxer (libavutil, libavformat, ffmpeg)"
    return next((name for key, name in CATEGORIES if key in base), f"other ({base})")


def thread_names(pid: int) -> dict[int, str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(spy):
        return {}
    out = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True)
    return {int(t): n for t, n in re.findall(r'Thread (\d+) \(\w+\): "([^"]+)"', out.stdout)}


def perf_steady(argv: list[str], seconds: float, data: Path) -> dict:
    """Run ``argv``; ``perf record`` it over its steady window; samples by thread and category."""
    lo, hi = steady_window(seconds)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    time.sleep(lo)
    names = thread_names(proc.pid) if argv[0] == sys.executable else {}
    cpu0, t0 = common.proc_cpu(proc.pid), time.monotonic()
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-F", str(PERF_HZ), "-p", str(proc.pid), "-o", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(max(0.5, hi - lo))
    cpu1, t1 = common.proc_cpu(proc.pid), time.monotonic()
    perf.send_signal(signal.SIGINT)
    perf.wait(30)
    if proc.wait(seconds + 30) != 0:
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: {shlex.join(argv)}")
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "tid,ip,dso"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    samples: collections.Counter[tuple[int, str]] = collections.Counter()
    for tid, dso in re.findall(r"^\s*(\d+)\s+[0-9a-f]+\s+\((.*)\)\s*$", script, re.M):
        samples[int(tid), category(dso)] += 1
    window = t1 - t0
    rate = (cpu1 - cpu0) / window if cpu0 is not None and cpu1 is not None else None
    return {"samples": samples, "names": names, "window": window, "lo": lo, "hi": hi, "rate": rate}


def thread_label(tid: int, names: dict[int, str], cats: collections.Counter[str]) -> str:
    if tid in names:
        return names[tid]
    if not names:
        return "all threads"
    top = cats.most_common(1)[0][0]
    return "x264 worker threads" if top.startswith("x264") else "other native threads"


def profile(args: argparse.Namespace, tmp: Path) -> str:
    from tests.fixtures.nginx import NginxRtmp

    if shutil.which("perf") is None:
        raise SystemExit("--profile needs perf (Debian: linux-perf)")
    case = args.cases[-1]
    nginx = NginxRtmp(tmp / "nginx", record=False, on_publish_key=None, tls=False)
    stats = tmp / "profile.json"
    try:
        a = perf_steady(
            ionia_argv(nginx.url("pa"), case, args, stats), args.seconds, tmp / "a.data"
        )
        b = perf_steady(ffmpeg_argv(nginx.url("pb"), case, args), args.seconds, tmp / "b.data")
    finally:
        nginx.close()

    def by_category(run: dict) -> collections.Counter[str]:
        out: collections.Counter[str] = collections.Counter()
        for (_, cat), n in run["samples"].items():
            out[cat] += n / (PERF_HZ * run["window"])
        return out

    ca, cb = by_category(a), by_category(b)
    cat_rows = [
        [cat, f"{ca[cat]:.3f}", f"{cb[cat]:.3f}", f"{ca[cat] - cb[cat]:+.3f}"]
        for cat, _ in (ca + cb).most_common()
    ]
    ta, tb = sum(ca.values()), sum(cb.values())
    cat_rows.append(["total sampled", f"{ta:.3f}", f"{tb:.3f}", f"{ta - tb:+.3f}"])
    cat_rows.append(["/proc CPU over the window", _fmt(a["rate"]), _fmt(b["rate"]), ""])
    per_tid: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for (tid, cat), n in a["samples"].items():
        per_tid[tid][cat] += n
    threads: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for tid, cats in per_tid.items():
        threads[thread_label(tid, a["names"], cats)].update(cats)
    thread_rows = []
    for name, cats in sorted(threads.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(cats.values())
        top = ", ".join(f"{c} {100 * n / total:.0f} %" for c, n in cats.most_common(3))
        thread_rows.append([name, f"{total / (PERF_HZ * a['window']):.3f}", top])
    result = json.loads(stats.read_text()) if stats.exists() else {}
    return f"""\
Generated by `python benchmarks/pipeline.py --profile` on {time.strftime("%Y-%m-%d %H:%M %Z")}:
A then B at {case.label} ({args.video_bitrate}, {args.seconds:g} s), each under
`perf record -F {PERF_HZ} -p PID` over its steady window {a["lo"]:g}–{a["hi"]:g} s after
spawn. Samples are attributed by shared object (what the library does) and converted to CPU
seconds per stream-second; thread names come from `py-spy dump` (Python threads; the rest
are native threads, named by what they ran). A's run: {result.get("frames_encoded", "?")}
frames encoded, {result.get("frames_late", "?")} late, latency p99
{result.get("latency_p99_ms", "?")} ms.

Where the CPU goes, CPU s per stream-second (steady state):

{common.markdown_table(["what", "A: Ionia", "B: FFmpeg CLI", "A − B"], cat_rows)}

A by thread:

{common.markdown_table(["thread", "CPU s/s", "top shares"], thread_rows)}"""


# -- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="AB/BA rounds per case (default 5)")
    p.add_argument("--seconds", type=float, default=20.0, help="stream length (default 20)")
    p.add_argument("--floor-seconds", type=float, default=10.0, help="x264 floor run length")
    p.add_argument("--frames", type=int, default=600, help="throughput frames (default 600)")
    p.add_argument("--sizes", default="1280x720,1920x1080", help="comma-separated WxH")
    p.add_argument("--video-bitrate", default="4500k")
    p.add_argument("--keyint", type=float, default=2.0, help="seconds between keyframes")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round of 5 s, no doc")
    p.add_argument("--no-doc", action="store_true", help=f"do not rewrite {DOC.name}")
    p.add_argument("--doc", type=Path, default=DOC, help="the document to update")
    p.add_argument("--profile", action="store_true", help="profile A at the largest size")
    p.add_argument("--worker", choices=["floor", "throughput"], help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--amount", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.floor_seconds, args.frames = 1, 5.0, 3.0, 150
        args.no_doc = True
    args.cases = [Case(*map(int, s.split("x"))) for s in args.sizes.split(",")]
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        run_worker(args)
        return
    with tempfile.TemporaryDirectory(prefix="ionia-bench-") as tmp:
        if args.profile:
            block = profile(args, Path(tmp))
            print(block)
            if not args.no_doc:
                common.replace_block(args.doc, "profile", block, SKELETON)
            return
        tab, runs = benchmark(args, Path(tmp))
        print(tab)
        if not args.no_doc:
            common.replace_block(args.doc, "results", results_block(args, tab, runs), SKELETON)
            print(f"written to {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
