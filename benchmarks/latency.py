"""Glass-to-glass latency on loopback: a flash on the screen to the decoded picture.

The painter (``_desktop.py``) keeps a moving scene going on Xvfb and, at random intervals
(0.45–1.05 s, so the flashes fall at every phase of the grabbers' frame clocks), turns a
square white for 200 ms, logging ``time.monotonic()`` just before drawing and just after
``XSync`` (the server has drawn it when it answers). Each publisher (Ionia, the ffmpeg CLI,
GStreamer, with the command lines of ``realjob.py``) captures the screen and system audio and
publishes to nginx-rtmp; one low-delay PyAV viewer (a child process: FFmpeg's RTMP client,
``fflags nobuffer``, one decoder thread) plays the stream and notes, on the same monotonic
clock, when each packet arrives and when each picture is decoded. A flash's latency is the
first decoded picture showing it minus the middle of its paint bracket; the bracket's width
is the uncertainty.

A last run, "Ionia (probed)", runs the same ``ionia stream`` command in a process that wraps
a few of Ionia's methods with timestamps (instrumentation only; nothing in ``src`` changes):
when x11grab returned a frame, when the frame slot took it, when the scaler (BGR0 → yuv420p)
and libx264 were done, when the sender handed the packet to the socket; with the viewer's
times that splits each flash's path into its parts.

    python benchmarks/latency.py [--rounds 2] [--seconds 30] [--cases 1280x720@30]
"""

from __future__ import annotations

import argparse
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
    "# Performance\n\n<!-- BEGIN latency (generated: do not edit) -->\n<!-- END latency -->\n"
)
LABELS = {"ionia": "Ionia", "ffmpeg": "ffmpeg CLI", "gstreamer": "GStreamer",
          "ionia-whip": "Ionia over WHIP", "ionia-probed": "Ionia (probed)"}  # fmt: skip
#: the publishers by default: the three of realjob.py over RTMP, and Ionia over WHIP
PUBLISHERS = (*desk.PEERS, "ionia-whip")
#: the bearer token of the benchmark's WHIP endpoint (given to Ionia as $WHIP_TOKEN)
WHIP_TOKEN = "latency-bench-token"
#: seconds after the painter starts before the first flash (publisher and viewer are up)
WARM_S = 4.0
#: a flash whose paint bracket is wider (the painter was descheduled) is left out, counted
MAX_BRACKET_MS = 4.0


# -- the viewer (a child process) ----------------------------------------------------------


VIEWER_OPTIONS = {
    "rtmp_live": "live",
    "fflags": "nobuffer",
    "flags": "low_delay",
    "probesize": "1000000",
    "analyzeduration": "1000000",
    "rw_timeout": "15000000",
}


def viewer(url: str, out: Path) -> None:
    """Play ``url``; one JSON line per decoded picture: arrival and decode instants."""
    import av
    from av.codec.context import Flags

    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + 15
    while True:  # an open before the publisher's first video tag finds no video stream yet
        container = av.open(url, options=VIEWER_OPTIONS, timeout=15)
        if container.streams.video or time.monotonic() > deadline:
            break
        container.close()
    with open(out, "w") as log, container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"  # frame threads would hold pictures back
        stream.thread_count = 1
        ctx = stream.codec_context
        ctx.flags = ctx.flags | Flags.low_delay
        log.write(json.dumps({"open": time.monotonic()}) + "\n")
        for packet in container.demux(stream):
            arrived = time.monotonic()
            if stop:
                break
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue
            for frame in frames:
                decoded = time.monotonic()
                code, flash = desk.picture_marks(frame)
                log.write(json.dumps({"t": decoded, "arrived": arrived, "flash": flash,
                                      "code": code}) + "\n")  # fmt: skip
            log.flush()


# -- Ionia with timestamps (a child process) -----------------------------------------------


def probe_ionia(out: Path, argv: list[str]) -> int:
    """Run ``ionia`` with ``argv`` in this process, its stages timed; records to ``out``."""
    import numpy as np

    from ionia.capture import ffmpeg_grab, latest_frame
    from ionia.cli.main import main
    from ionia.encoding import fit, video
    from ionia.output import send_stats

    grabs: list[tuple[float, bool]] = []
    grabbed: dict[int, tuple[float, bool]] = {}
    slots: dict[float, dict] = {}
    reads: dict[int, tuple[float, float, bool]] = {}
    sent: dict[float, float] = {}
    fit_end: list[float] = [0.0]

    def white(frame) -> bool:  # type: ignore[no-untyped-def]
        plane = frame.planes[0]
        row = frame.height - desk.FLASH // 2
        data = np.frombuffer(memoryview(plane), dtype=np.uint8)
        return bool(data[row * plane.line_size + 4 * (desk.FLASH // 2)] > 128)

    grab_frames = ffmpeg_grab.FFmpegGrabSource._frames
    take = latest_frame.LatestFrameSource.read
    fitter = fit.Fitter.__call__
    encode = video.VideoEncoder.encode
    socket_sent = send_stats.Throughput.sent

    def frames(self):  # type: ignore[no-untyped-def]
        for frame in grab_frames(self):
            t = time.monotonic()
            mark = (t, white(frame))
            grabs.append(mark)
            grabbed[id(frame)] = mark
            if len(grabbed) > 32:
                grabbed.pop(next(iter(grabbed)))
            yield frame

    def read(self, index):  # type: ignore[no-untyped-def]
        frame = take(self, index)
        if frame is not None:
            t, is_white = grabbed.get(id(frame), (0.0, False))
            reads[index] = (time.monotonic(), t, is_white)
        return frame

    def fitted(self, frame):  # type: ignore[no-untyped-def]
        result = fitter(self, frame)
        fit_end[0] = time.monotonic()
        return result

    def encoded(self, frame, index, capture_time=0.0):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        packets = encode(self, frame, index, capture_time)
        slots[capture_time] = {"n": index, "due": capture_time, "start": t0,
                               "scaled": fit_end[0], "encoded": time.monotonic()}  # fmt: skip
        return packets

    def on_socket(self, packet, now, bytes_sent):  # type: ignore[no-untyped-def]
        if packet.capture_time and packet.kind.name == "VIDEO":
            sent[packet.capture_time] = now
        return socket_sent(self, packet, now, bytes_sent)

    ffmpeg_grab.FFmpegGrabSource._frames = frames
    latest_frame.LatestFrameSource.read = read
    fit.Fitter.__call__ = fitted
    video.VideoEncoder.encode = encoded
    send_stats.Throughput.sent = on_socket
    try:
        return main(argv)
    finally:
        records = []
        for due, s in slots.items():
            r = reads.get(s["n"])
            read_at, grabbed_at, is_white = r if r else (None, None, None)
            records.append({**s, "sent": sent.get(due), "read": read_at, "grabbed": grabbed_at,
                            "white": is_white})  # fmt: skip
        out.write_text(json.dumps({"slots": records, "grabs": grabs}))


# -- one run ---------------------------------------------------------------------------------


def worker_argv(kind: str, *rest: str) -> list[str]:
    return [sys.executable, __file__, "--worker", kind, "--", *rest]


def publisher_argv(
    peer: str, url: str, stage: desk.Stage, fps: int, tmp: Path, key: str
) -> list[str]:
    stats = tmp / f"{key}.json"
    if peer == "ionia-probed":
        inner = desk.ionia_argv(url, fps, stats)[3:]  # without "python -m ionia"
        return worker_argv("probe", str(tmp / f"{key}.probe.json"), *inner)
    if peer == "ionia-whip":  # the same command line; the token comes in $WHIP_TOKEN
        return desk.ionia_argv(url, fps, stats)
    return desk.peer_argv(peer, url, stage, fps, stats)


def stop(proc: subprocess.Popen, sig: int, timeout: float) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def one_run(stage: desk.Stage, peer: str, r: int, case: str, fps: int,
            args: argparse.Namespace, tmp: Path) -> dict:  # fmt: skip
    key = f"{peer.replace('-', '')}{stage.height}f{fps}r{r}"
    flashes_path, view_path = tmp / f"{key}.flashes", tmp / f"{key}.view"
    stage.start_painter(seed=1000 + 97 * r + len(key), flash_log=flashes_path,
                        flash_start=WARM_S)  # fmt: skip
    player = stage.play(args.seconds + 6)
    env, whip = stage.env, None
    if peer == "ionia-whip":  # the viewer is an aiortc WHIP endpoint in this process
        from _whip_viewer import WhipViewer

        whip = WhipViewer(token=WHIP_TOKEN).start()
        url, env = whip.url, {**env, "WHIP_TOKEN": WHIP_TOKEN}
    else:
        url = stage.nginx.url(key)
    pub = subprocess.Popen(publisher_argv(peer, url, stage, fps, tmp, key), env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(1.0)
    view = None
    if whip is None:
        view = subprocess.Popen(worker_argv("viewer", url, str(view_path)),
                                stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(args.seconds)
    rc = stop(pub, signal.SIGINT, 20)
    # the viewer waits in FFmpeg's read for a stream that has ended; it wrote every picture
    vrc = stop(view, signal.SIGTERM, 1) if view is not None else None
    stage.stop_painter()
    player.terminate()
    player.wait(5)
    result: dict = {"case": case, "peer": peer, "round": r, "rc": rc}
    flashes = [json.loads(line) for line in flashes_path.read_text().splitlines()]
    if whip is not None:
        opened, pictures = whip_pictures(whip)
    else:
        frames = [json.loads(line) for line in view_path.read_text().splitlines()] if (
            view_path.exists()) else []  # fmt: skip
        opened = next((f["open"] for f in frames if "open" in f), None)
        pictures = [f for f in frames if "t" in f]
    measured = flash_latencies(flashes, pictures)
    result |= {
        "ok": rc in (0, 130, 255) and bool(measured),
        "flashes": len(flashes),
        "found": len(measured),
        "imprecise": sum(1000 * (f["after"] - f["before"]) > MAX_BRACKET_MS for f in flashes),
        "latency_ms": [round(m["latency"], 2) for m in measured],
        "bracket_ms": [round(m["bracket"], 2) for m in measured],
        "decode_ms": [round(m["decode"], 2) for m in measured],
        "viewer_open": round(opened - pictures[0]["t"], 3) if opened and pictures else None,
    }
    if whip is not None:
        result |= {
            "pictures": len(pictures),
            **{
                f"{k}_ms": [None if m[k] is None else round(m[k], 2) for m in measured]
                for k in ("to_first", "spread", "hold")
            },
            "every_picture_median_ms": every_picture(pictures),
        }
    if not result["ok"]:
        assert pub.stderr is not None
        published = pub.stderr.read().decode(errors="replace")[-800:]
        viewed = f"{len(pictures)} pictures"
        if view is not None and view.stderr is not None:
            viewed = view.stderr.read().decode(errors="replace")[-800:]
        result["stderr"] = f"{published} | viewer {vrc}: {viewed}"
    for pipe in (pub.stderr, view.stderr if view is not None else None):
        if pipe is not None:
            pipe.close()
    stats_path = tmp / f"{key}.json"
    if peer.startswith("ionia") and stats_path.exists():
        s = json.loads(stats_path.read_text())
        result |= {k: s.get(k) for k in ("latency_p50_ms", "latency_p99_ms", "frames_late",
                                         "frames_duplicated", "video_packets_dropped")}  # fmt: skip
    probe_path = tmp / f"{key}.probe.json"
    if probe_path.exists():
        result["parts"] = breakdown(json.loads(probe_path.read_text()), flashes, measured)
    return result


def whip_pictures(whip) -> tuple[float | None, list[dict]]:  # type: ignore[no-untyped-def]
    """Stop the WHIP viewer; (its POST instant, the pictures as the RTMP viewer logs them).

    "arrived" is when the picture's last RTP packet reached aiortc's receiver (the RTMP
    viewer's is when FFmpeg's demuxer returned the packet), "released" when aiortc's jitter
    buffer let it go to the decoder: when the first packet of the next picture came.
    """
    try:
        session = whip.sessions[0] if whip.sessions else None
        if session is not None:
            session.wait_for(lambda s: s.closed, 3)  # Ionia DELETEs at stop
    finally:
        whip.stop()
    if session is None:
        return None, []
    rec = whip.pictures(session)
    pictures = []
    for p in rec.pictures:
        first_last = rec.packets.get(p["rtp"])
        pictures.append({"t": p["t"], "arrived": first_last[1] if first_last else p["t"],
                         "first": first_last[0] if first_last else None,
                         "released": rec.released(p["rtp"]), "flash": p["flash"],
                         "code": p["code"]})  # fmt: skip
    return session.created, pictures


def every_picture(pictures: list[dict]) -> dict:
    """The WHIP viewer's share for every picture, medians (ms)."""
    hold = [1000 * (p["released"] - p["arrived"]) for p in pictures if p.get("released")]
    decode = [1000 * (p["t"] - p["released"]) for p in pictures if p.get("released")]
    total = [1000 * (p["t"] - p["arrived"]) for p in pictures]
    spread = [1000 * (p["arrived"] - p["first"]) for p in pictures if p.get("first")]
    return {k: round(statistics.median(v), 2) if v else None for k, v in
            (("spread", spread), ("hold", hold), ("decode", decode), ("total", total))}  # fmt: skip


def flash_latencies(flashes: list[dict], pictures: list[dict]) -> list[dict]:
    """Per flash: first decoded picture showing it, minus the middle of the paint bracket."""
    out = []
    if not pictures:
        return out
    start = pictures[0]["t"] + 0.5  # the viewer has caught up with the live edge
    j = 0
    for i, f in enumerate(flashes):
        if f["before"] < start:
            continue
        end = flashes[i + 1]["before"] if i + 1 < len(flashes) else float("inf")
        while j < len(pictures) and pictures[j]["t"] <= f["before"]:
            j += 1
        hit = next((p for p in pictures[j:] if p["t"] < end and p["flash"]), None)
        if hit is None:
            continue
        if 1000 * (f["after"] - f["before"]) > MAX_BRACKET_MS:
            continue  # when it was drawn is not known well enough
        mid = (f["before"] + f["after"]) / 2
        # WHIP: when its first RTP packet came, when aiortc's jitter buffer let it go
        first, released = hit.get("first"), hit.get("released")
        out.append({"at": mid, "t": hit["t"], "latency": 1000 * (hit["t"] - mid),
                    "bracket": 1000 * (f["after"] - f["before"]),
                    "decode": 1000 * (hit["t"] - hit["arrived"]),
                    "to_first": 1000 * (first - mid) if first else None,
                    "spread": 1000 * (hit["arrived"] - first) if first else None,
                    "hold": 1000 * (released - hit["arrived"]) if released else None})  # fmt: skip
    return out


def breakdown(probe: dict, flashes: list[dict], measured: list[dict]) -> dict:
    """Where a flash spends its time in Ionia, and each stage's median over every frame."""
    slots = sorted((s for s in probe["slots"] if s["sent"]), key=lambda s: s["n"])
    grabs = probe["grabs"]
    parts: dict[str, list[float]] = {k: [] for k in
        ("grab", "slot", "scale", "encode", "queue_send", "to_viewer", "decode")}  # fmt: skip
    for m in measured:
        grab = next((t for t, w in grabs if w and t > m["at"] - 0.002), None)
        slot = next((s for s in slots if s["white"] and s["read"] and s["read"] >= m["at"]), None)
        if grab is None or slot is None or slot["grabbed"] is None:
            continue
        parts["grab"].append(1000 * (grab - m["at"]))
        parts["slot"].append(1000 * (slot["read"] - grab))
        parts["scale"].append(1000 * (slot["scaled"] - slot["start"]))
        parts["encode"].append(1000 * (slot["encoded"] - slot["scaled"]))
        parts["queue_send"].append(1000 * (slot["sent"] - slot["encoded"]))
        parts["to_viewer"].append(1000 * (m["t"] - m["decode"] / 1000 - slot["sent"]))
        parts["decode"].append(m["decode"])
    every = {
        "read_after_due": [1000 * (s["read"] - s["due"]) for s in slots if s["read"]],
        "frame_age_at_read": [1000 * (s["read"] - s["grabbed"]) for s in slots
                              if s["read"] and s["grabbed"]],
        "scale": [1000 * (s["scaled"] - s["start"]) for s in slots],
        "encode": [1000 * (s["encoded"] - s["scaled"]) for s in slots],
        "queue_send": [1000 * (s["sent"] - s["encoded"]) for s in slots],
        "due_to_socket": [1000 * (s["sent"] - s["due"]) for s in slots],
    }  # fmt: skip
    med = {k: round(statistics.median(v), 2) if v else None for k, v in parts.items()}
    return {"flash_median_ms": med, "flashes": len(parts["grab"]),
            "every_frame_median_ms": {k: round(statistics.median(v), 2) if v else None
                                      for k, v in every.items()}}  # fmt: skip


def benchmark(args: argparse.Namespace, tmp: Path) -> list[dict]:
    runs: list[dict] = []
    rtmp = tuple(p for p in args.peers if p != "ionia-whip")
    cases = [(case, args.rounds, args.peers, args.probe) for case in args.cases.split(",")]
    cases += [(case, 1, rtmp, False) for case in args.extra_cases.split(",") if case]
    for case, rounds, peers, probe in cases:
        size, fps = case.split("@")
        width, height = map(int, size.split("x"))
        label = f"{height}p{fps}"
        stage = desk.Stage(tmp, width, height)
        try:
            sequence = desk.order(rounds, peers)
            if probe:
                sequence.append((0, "ionia-probed"))
            for r, peer in sequence:
                runs.append(one_run(stage, peer, r, label, int(fps), args, tmp))
                log(runs[-1])
        finally:
            stage.close()
    return runs


def log(run: dict) -> None:
    shown = {k: v for k, v in run.items() if not isinstance(v, list)}
    lat = run.get("latency_ms") or []
    if lat:
        shown["p50"] = round(statistics.median(lat), 1)
        shown["max"] = max(lat)
    print("  " + " ".join(f"{k}={v}" for k, v in shown.items()), file=sys.stderr, flush=True)


# -- the tables ------------------------------------------------------------------------------


def latency_verdict(p50: float, p95: float, mx: float, peers_p50: list[float]) -> str:
    """PASS, or MISS and by how much each missed bound is exceeded."""
    over = [f"{name} {value - bound:+.1f} ms over {bound}"
            for name, value, bound in (("p50", p50, 28), ("p95", p95, 40), ("max", mx, 50))
            if value > bound]  # fmt: skip
    if any(p50 > o for o in peers_p50):
        over.append(f"p50 above a peer's ({min(peers_p50):.1f})")
    return "PASS" if not over else "MISS: " + "; ".join(over)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    lo = int(at)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def tables(runs: list[dict], args: argparse.Namespace) -> str:
    rows = []
    peers = [*args.peers, *(["ionia-probed"] if args.probe else [])]
    for case in dict.fromkeys(r["case"] for r in runs):
        results = {}
        for peer in peers:
            ran = [r for r in runs if r["case"] == case and r["peer"] == peer]
            if not ran:
                continue  # not run in this case (--extra-cases run the RTMP publishers only)
            mine = [r for r in ran if r["ok"]]
            lat = [x for r in mine for x in r["latency_ms"]]
            if not lat:
                rows.append([case, LABELS[peer], "n/a", "", "", "", "", "", "0", ""])
                continue
            p50s = [statistics.median(r["latency_ms"]) for r in mine]
            flashes = sum(r["flashes"] for r in mine)
            brackets = [x for r in mine for x in r["bracket_ms"]]
            results[peer] = (statistics.median(lat), percentile(lat, 0.95), max(lat))
            stats = ""
            if peer.startswith("ionia"):
                s50 = common.median([r.get("latency_p50_ms") for r in mine])
                s99 = common.median([r.get("latency_p99_ms") for r in mine])
                stats = f"{_fmt(s50)} / {_fmt(s99)}"
            rows.append([
                case, LABELS[peer], f"{statistics.median(lat):.1f} ({desk.spread(p50s)})",
                _fmt(percentile(lat, 0.95)), _fmt(percentile(lat, 0.99)), _fmt(max(lat)),
                f"{len(lat)}/{flashes} ({sum(r['imprecise'] for r in mine)} imprecise)",
                f"{statistics.median(brackets):.2f} / {max(brackets):.2f}",
                str(len(mine)), stats,
            ])  # fmt: skip
        if "ionia" in results and case == "720p30":  # the target is the issue's, at 720p30
            p50, p95, mx = results["ionia"]
            others = [results[p][0] for p in ("ffmpeg", "gstreamer") if p in results]
            rows.append([case, "target (Ionia)", "≤ 28 and ≤ both peers", "≤ 40", "", "≤ 50",
                         "", "", "", latency_verdict(p50, p95, mx, others)])  # fmt: skip
    header = ["case", "publisher", "p50 ms (min–max of the runs' p50)", "p95 ms", "p99 ms",
              "max ms", "flashes seen", "paint bracket ms, median / max", "runs",
              "Ionia's own capture → socket p50 / p99 ms"]  # fmt: skip
    out = common.markdown_table(header, rows) + whip_split(runs)
    probed = [r for r in runs if r.get("parts")]
    if probed:
        names = {
            "grab": "screen change → x11grab returns a frame showing it",
            "slot": "→ the frame slot takes it (`LatestFrameSource.read`)",
            "scale": "→ BGR0 → yuv420p (`Fitter`, swscale)",
            "encode": "→ libx264 returns the packet",
            "queue_send": "→ the sender hands it to the socket (StreamBuffer + RTMP chunking)",
            "to_viewer": "→ the viewer has the packet (kernel, nginx-rtmp, FFmpeg's RTMP demuxer)",
            "decode": "→ the viewer has decoded it",
        }
        every_names = {
            "read_after_due": "slot read, after the slot's due time",
            "frame_age_at_read": "age of the newest grabbed frame when the slot reads it",
            "scale": "BGR0 → yuv420p",
            "encode": "libx264 encode call",
            "queue_send": "encoded → handed to the socket",
            "due_to_socket": "slot due → socket (what `latency_p50_ms` measures)",
        }
        prow, erow = [], []
        for r in probed:
            parts = r["parts"]
            for k, text in names.items():
                prow.append([r["case"], text, _fmt(parts["flash_median_ms"].get(k), 2)])
            for k, text in every_names.items():
                erow.append([r["case"], text, _fmt(parts["every_frame_median_ms"].get(k), 2)])
        out += (
            "\n\nWhere a flash spends its time in Ionia (the probed run; medians over "
            f"{', '.join(str(r['parts']['flashes']) for r in probed)} flashes):\n\n"
            + common.markdown_table(["case", "stage", "ms, median"], prow)
            + "\n\nEvery frame of the probed run, medians:\n\n"
            + common.markdown_table(["case", "stage", "ms, median"], erow)
        )
    return out


def whip_split(runs: list[dict]) -> str:
    """The viewer's share of a flash, aiortc's (WHIP) against FFmpeg's (RTMP)."""
    rows = []
    for case in dict.fromkeys(r["case"] for r in runs):
        mine = [r for r in runs if r["case"] == case and r["ok"]]
        whip = [r for r in mine if r["peer"] == "ionia-whip"]
        if not whip:
            continue

        def got(key: str, whip: list[dict] = whip) -> list[float]:
            return [x for r in whip for x in r[key] if x is not None]

        hold = got("hold_ms")
        total = [x for r in whip for x in r["decode_ms"]]
        every = [r["every_picture_median_ms"] for r in whip]

        def med(values: list[float]) -> str:
            return _fmt(statistics.median(values), 2) if values else "n/a"

        def med_every(key: str, every: list[dict] = every) -> str:
            return _fmt(common.median([e.get(key) for e in every]), 2)

        pairs = [(t, h) for r in whip for t, h in zip(r["decode_ms"], r["hold_ms"], strict=True)]
        decode = [t - h for t, h in pairs if h is not None]
        rows += [
            [case, "WHIP: screen change → the first RTP packet of the picture showing it "
             "reaches the viewer", med(got("to_first_ms")), ""],
            [case, "WHIP: → its last RTP packet", med(got("spread_ms")), med_every("spread")],
            [case, "WHIP: → aiortc's jitter buffer lets it go "
             "(the next picture's first packet)", med(hold), med_every("hold")],
            [case, "WHIP: → decoded, handed to the consumer (PyAV decoder thread, asyncio)",
             med(decode), med_every("decode")],
            [case, "WHIP: last RTP packet → decoded picture (the viewer's share)", med(total),
             med_every("total")],
        ]  # fmt: skip
        for peer in (p for p in PUBLISHERS if p != "ionia-whip"):
            rtmp = [x for r in mine if r["peer"] == peer for x in r["decode_ms"]]
            if rtmp:
                rows.append([case, f"RTMP ({LABELS[peer]}): packet from FFmpeg's demuxer → "
                             "decoded picture", med(rtmp), ""])  # fmt: skip
    if not rows:
        return ""
    return (
        "\n\nOver WHIP: when the flashed picture reaches the viewer, and the viewer's share "
        "(aiortc, in the benchmark process; for RTMP, the PyAV viewer's):\n\n"
        + common.markdown_table(
            ["case", "step", "ms, median over the flashes seen", "ms, median over every picture"],
            rows,
        )
    )


def block(args: argparse.Namespace, tab: str, runs: list[dict]) -> str:
    raw = "\n".join(json.dumps(r) for r in runs)
    command = " ".join(["python", "benchmarks/latency.py", *sys.argv[1:]])
    viewer_opts = " ".join(f"{k}={v}" for k, v in VIEWER_OPTIONS.items())
    return f"""\
Generated by `{command}` on {time.strftime("%Y-%m-%d %H:%M %Z")}: {args.rounds} runs per
publisher in ABC/CBA order{extra_note(args)}, {args.seconds:g} s each, flashes every
0.45–1.05 s (uniform) from {WARM_S:g} s on, each white for 200 ms. Publishers' command lines:
those of the real-job table above, at the size and rate of the case. Viewer: PyAV
{common.machine()["PyAV"]}, options `{viewer_opts}`, one slice-threaded decoder.
Percentiles are over every flash seen in all runs of a publisher (some sixty flashes at the
defaults: p99 is close to the max); a flash whose paint bracket is wider than
{MAX_BRACKET_MS:g} ms is left out and counted as imprecise. During the run: {args.load}.
{whip_note(args)}
{tab}

<details><summary>Every run (latencies in ms, in flash order)</summary>

```
{raw}
```
</details>"""


def extra_note(args: argparse.Namespace) -> str:
    extra = [c for c in args.extra_cases.split(",") if c]
    if not extra:
        return ""
    return f" (for {', '.join(extra)}: one run of each RTMP publisher, in ABC order)"


def whip_note(args: argparse.Namespace) -> str:
    if "ionia-whip" not in args.peers:
        return ""
    import aiortc

    return f"""
"Ionia over WHIP" is the same `ionia stream` command with a WHIP URL (token in `$WHIP_TOKEN`),
so H.264 in Constrained Baseline and Opus instead of AAC, adaptive bitrate on (Ionia's default
with WHIP); its viewer is the tests' aiortc WHIP endpoint (`tests/fixtures/whip_server.py`,
aiortc {aiortc.__version__}, loopback ICE) running in the benchmark process, reading each
decoded picture as the RTMP viewer does. The viewer's decode cost is therefore aiortc's, and
aiortc's jitter buffer holds each picture until the next one's first packet arrives (up to
a frame interval): the split below gives that share.
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2, help="runs per publisher, ABC/CBA (2)")
    p.add_argument("--seconds", type=float, default=30.0, help="stream length (default 30)")
    p.add_argument("--cases", default="1280x720@30", help="WxH@fps, comma-separated")
    p.add_argument("--extra-cases", default="", metavar="CASES",
                   help="more WxH@fps cases, one round of the RTMP publishers each")  # fmt: skip
    p.add_argument("--peers", "--publishers", dest="peers", default=",".join(PUBLISHERS),
                   help=f"comma-separated, of {', '.join(PUBLISHERS)} (default: all)")  # fmt: skip
    p.add_argument("--no-probe", dest="probe", action="store_false",
                   help="skip the probed Ionia run (the per-stage breakdown)")  # fmt: skip
    p.add_argument("--no-doc", action="store_true", help=f"do not rewrite {DOC.name}")
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--worker", choices=["viewer", "probe"], help=argparse.SUPPRESS)
    p.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == "viewer":
        viewer(args.rest[0], Path(args.rest[1]))
        return
    if args.worker == "probe":
        sys.exit(probe_ionia(Path(args.rest[0]), args.rest[1:]))
    args.peers = tuple(args.peers.split(","))
    if unknown := set(args.peers) - set(PUBLISHERS):
        p.error(f"unknown publisher(s) {', '.join(sorted(unknown))}: use {', '.join(PUBLISHERS)}")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ionia-latency-") as tmp:
        runs = benchmark(args, Path(tmp))
    args.load = common.load_note(load)
    print(args.load, file=sys.stderr)
    tab = tables(runs, args)
    print(tab)
    if not args.no_doc:
        common.replace_block(args.doc, "latency", block(args, tab, runs), SKELETON)
        print(f"written to {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    main()
