"""Render the measured rows of the fault-injection suite into ``docs/reliability.md``.

``make reliability`` runs ``pytest -m reliability`` (each scenario writes one JSON row into
``build/reliability/``) and then this script. Every figure in the document comes from those
rows: nothing in the table is typed by hand. Rerun both to refresh it.

    python benchmarks/reliability_report.py [--results DIR] [--doc docs/reliability.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import machine, markdown_table  # noqa: E402
from tests.fixtures.reliability import (  # noqa: E402
    COLUMNS,
    HOSTILE_COLUMNS,
    HOSTILE_DIR,
    RESULTS_DIR,
)

#: what each scenario does, by its ``order`` (tests/reliability/test_faults.py)
SCENARIOS = {
    1: "nginx-rtmp (master and worker) is SIGKILLed mid-stream: the connection drops without "
    "an RTMP goodbye; 3 s later it is started again on the same port. The sender must see "
    "the loss, retry every 0.25 s while the port refuses, and publish again by itself; "
    "nginx appends the new session to the same recording.",
    2: "nginx-rtmp is SIGSTOPped for 15 s behind the fault proxy, then SIGCONTed. Nothing "
    "closes and the socket buffers on the way keep taking bytes for a while, but the "
    "server's RTMP acknowledgements stop. The default stall timeout (5 s), counted from "
    "the last acknowledgement, must call the session lost; retries time out in the handshake "
    "(the kernel still accepts connections for the frozen process) until it resumes.",
    3: "The proxy throttles the link to half of the bitrate the stream measured on the wire "
    "for 10 s. The connection stays up: the send buffer must keep its queued video span "
    "under `buffer_ms` (2000 ms) by dropping video up to the next keyframe, never audio, "
    "report `congestion`, and ask the encoder for a keyframe once the queue has drained so "
    "the picture comes back within a frame.",
    4: "The proxy resets the connection (TCP RST both ways) 5 times, every 10 s. Each time "
    "the sender must reconnect at once (first retry within 0.5 s) with fresh headers and a "
    "forced keyframe.",
    5: "Two servers that never speak RTMP: one accepts TCP and never answers the handshake, "
    "one answers it with random bytes. `start()` must raise `ConnectionFailed` within the "
    "connect timeout, and `ionia stream` must exit with code 3.",
    6: "A wrong stream key at the first connect (nginx's `on_publish` denies it) must be "
    "fatal at once: `PublishRejected`, exit code 4, exactly one attempt. After a good start, "
    "the key is revoked and the connection cut: the reconnect is rejected, retried "
    "`rejected_retries` (3) times, then the stream ends with `PublishRejected`.",
    7: "`start()`/`stop()` 50 times in a row on one streamer against nginx-rtmp: no thread, "
    "file descriptor or socket may be left, and RSS may not grow beyond noise (5 MB).",
    8: "Ten minutes of 1280x720 at 30 fps, 2.5 Mbit/s, to nginx-rtmp: RSS sampled every "
    "10 s must stay flat after a 60 s warm-up (growth under 5 MB) and the A/V offset "
    "measured on every flash/beep pair of the recording must stay within one frame.",
    20: "`--adaptive-bitrate` through the fault proxy throttled to half of the 1.5 Mbit/s "
    "video target for 20 s, then freed: the encoder's bitrate must get below what the link "
    "carries within 5 s, without needing to drop video, and climb back to the target "
    "after. Detect = throttle on → target below the link; recover = link back → target.",
    21: "Three nginx-rtmp ingests fed by one encode: one healthy, one behind a proxy at "
    "30 % of the stream's rate, one killed and restarted. The healthy one's recording "
    "must be complete and error-free: a slow or dead destination never slows, drops or "
    "disconnects the others.",
    22: "`--record` alongside a stream whose ingest is killed and restarted twice: the "
    "recording must never drop a packet and have no gap; then the recorder itself is "
    "`kill -9`ed and its fragmented MP4 must play, missing at most the last second.",
    30: "A test server that behaves like a widely used ingest: it keeps a dropped publish "
    "alive for a 30 s grace period and offsets a returning publisher by the previous "
    "session's last timestamp (`tests/fixtures/grace_server.py`). The proxy cuts the link "
    "3 times for 3 s while an HTTP-FLV viewer pulls through the server: the viewer's "
    "timeline must never run ahead of its wall clock by more than 1 s, never step back, "
    "and the stream must be back within 1 s of each cut's end.",
    31: "nginx-rtmp with `record_append on` appends every returning session to one file; "
    "the proxy cuts the connection (RST) 20 times, every 2 s. The file must decode with "
    "zero errors and its DTS must increase strictly, per kind, over all 21 sessions.",
    40: "Scenario 3 with `--codec hevc` (libx265), `--buffer-ms 1000`, for 8 s "
    "(`tests/reliability/test_codecs.py`). nginx-rtmp takes no HEVC, so the ingest is a "
    "test server that lists hvc1/av01 in its connect answer and records the Enhanced FLV "
    "it receives. Audio must arrive whole; video holes must end on an IRAP picture (read "
    "from the bitstream); the recording must decode with zero errors.",
    41: "The same with `--codec av1` (SVT-AV1): video holes must end on an AV1 key frame.",
    50: "WHIP to a real WebRTC receiver (aiortc behind an aiohttp WHIP endpoint, "
    "`tests/reliability/test_whip.py`) through a UDP relay that drops 5 % of our packets "
    "for 10 s. The receiver's NACKs must get video repaired and its PLIs a keyframe: no "
    "wait between decoded pictures over 1 s, nothing undecodable once the loss ends, and "
    "the sound whole before and after (aiortc, like browsers, asks again for video only: "
    "lost audio is lost). Recover = the longest wait between pictures; audio lost = Opus "
    "frames the receiver did not decode × 20 ms.",
    51: "The same receiver behind a tail-drop bottleneck of 30 % of the stream's rate "
    "(2 Mbit/s video + 64 kbit/s Opus; 200 ms of queue) for 15 s. Its estimate (REMB) and "
    "the loss in its reception reports must bring the video + audio bitrate below the "
    "link within 5 s; the climb back after follows the receiver's estimate, measured and "
    "not held to a figure.",
}

#: how each column is measured
MEASURES = {
    "time_to_detect_s": "from the instant the fault starts to the first statistics sample "
    "(`get_statistics()`, polled every 50 ms) showing the destination disconnected; for the "
    "throttled link, to the first sample with `congestion` >= 0.5; for the bad servers, how "
    "long `start()` took to raise.",
    "time_to_recover_s": "from the instant the fault ends (ingest restarted, SIGCONT, "
    "throttle lifted; a cut ends as it starts) to the first sample showing the destination "
    "connected again *and* a video packet sent on the new session; for the throttled link, "
    "to the first sample with `congestion` below 0.25.",
    "audio_lost_ms": "AAC frames missing from the received recording (the frames the "
    "encoder made minus the frames the recording holds) × 21.3 ms, i.e. what a listener "
    "does not hear. Each run checks it against the sender: at least its "
    "`audio_packets_dropped`, at most that plus what every aborted session can have had in "
    "flight (our `SO_SNDBUF` as Linux doubles it, the fault proxy's buffers where it is on "
    "the path, nginx's receive buffer; as stream time of the recording's sparsest stretch); "
    "and no hole in the recording's audio timeline may be larger than what is missing. "
    "(nginx appends a returning publisher at the file's last timestamp, so an outage need "
    "not show as a hole: the frame count is what is measured.)",
    "video_dropped_frames": "the send buffer's `video_packets_dropped` (discarded while "
    "disconnected, refused until the next keyframe, or dropped under congestion). The "
    "recording holds `video_packets_sent` frames minus at most what an aborted session "
    "had in flight.",
    "decode_errors": "lines printed by `ffmpeg -v error -i recording -enc_time_base:v -1 -f "
    "null -` plus one if it fails; the suite asserts 0. The file's own time base is kept: "
    "re-stamped in 1/fps ticks, increasing timestamps off the frame grid (a server "
    "appending sessions at its last timestamp) would share a tick and read as errors; a "
    "repeated timestamp is still one (tests/fixtures/test_media.py).",
}


def load_rows(results: Path) -> list[dict[str, Any]]:
    rows = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    return sorted(rows, key=lambda r: (r["order"], r["scenario"]))


def load_hostile_rows(results: Path) -> list[dict[str, Any]]:
    rows = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    return sorted(rows, key=lambda r: (r["order"], r["case"]))


def render_hostile(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["## Hostile inputs", "", "Not measured in this run.", ""]
    table = markdown_table(
        list(HOSTILE_COLUMNS.values()),
        [[cell(r.get(k)) for k in HOSTILE_COLUMNS] for r in rows],
    )
    return [
        "## Hostile inputs",
        "",
        "What a broken or hostile server makes of a stream, measured by "
        "`tests/reliability/test_hostile.py` against `tests/fixtures/hostile_server.py`: a "
        "server that completes the RTMP handshake and then sends a Set Chunk Size of 0, "
        "random bytes, AMF0 nested 3,000 deep, a createStream result with an impossible "
        "stream id, or endless partial messages each on a new chunk stream. *connect*: at "
        "the first connect (the command's exit code); *live*: a second into a good session "
        "(time from the misbehaviour to the statistics showing the session lost); "
        "*reconnect*: on every reconnect after a good first session, with "
        "`--reconnect-delay 0.1 --reconnect-max-delay 0.2 --reconnect-attempts 3`. Times "
        "include the interpreter's start-up for the command-line rows; peak RSS is the "
        "`ionia` process's own high-water mark (`VmHWM`, read every 20 ms).",
        "",
        table,
        "",
    ]


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def render(rows: list[dict[str, Any]], info: dict[str, str], hostile: list[dict[str, Any]]) -> str:
    header = ["#", "scenario", *COLUMNS.values()]
    table = markdown_table(
        header,
        [[str(r["order"]), r["scenario"], *(cell(r.get(k)) for k in COLUMNS)] for r in rows],
    )
    measured = [r["measured_at"] for r in rows]
    when = (
        dt.datetime.fromtimestamp(max(measured), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if measured
        else "never"
    )
    missing = sorted(set(SCENARIOS) - {r["order"] for r in rows})
    out = [
        "# Reliability",
        "",
        "<!-- Generated by benchmarks/reliability_report.py from build/reliability/*.json: "
        "do not edit. -->",
        "",
        "What the engine does when the network or the ingest fails, measured by the "
        "fault-injection suite (`tests/reliability/test_faults.py`) against a real "
        "nginx-rtmp on loopback, through a TCP proxy that throttles, stalls or cuts. "
        "`make reliability` runs the scenarios (`pytest -m reliability`), each of which "
        "asserts the behaviour, decodes what nginx recorded and writes one row; then this "
        "document is generated from those rows. Short versions of some of these scenarios "
        "run in the default `make test`.",
        "",
        f"Measured {when}.",
        "",
        table,
        "",
        "— : not applicable to the scenario (nothing was streamed, or nothing was lost).",
        "",
    ]
    if missing:
        out += [f"Not measured in this run: scenarios {', '.join(map(str, missing))}.", ""]
    out += ["## The scenarios", ""]
    for r in rows:
        if r["order"] not in SCENARIOS:
            raise SystemExit(f"scenario {r['order']} ({r['scenario']}) has no description here")
        out.append(f"{r['order']}. **{r['scenario']}.** {SCENARIOS[r['order']]}")
        if r.get("notes"):
            out.append(f"   Measured: {r['notes']}.")
    out += ["", *render_hostile(hostile)]
    out += ["## How each figure is measured", ""]
    for key, heading in COLUMNS.items():
        out.append(f"- **{heading}**: {MEASURES[key]}")
    out += [
        "",
        "All scenarios stream FFmpeg's `testsrc2` pattern with a white flash on the first "
        "frame of every second and a 1 kHz beep at the same instant (640x360 at 30 fps, "
        "1 Mbit/s, keyframe every 2 s, AAC 192 kbit/s, unless the scenario says otherwise), "
        "with the default reconnect policy: first retry after 1 s × 50–100 % jitter, then "
        "every 0.25 s while the ingest refuses, backing off (doubling to 10 s) on other "
        "failures. Every recording is also checked for monotonic timestamps, video resuming "
        "on a keyframe after every hole or session join, and, in every segment between "
        "holes and joins, all but at most one flash paired with its beep within one frame "
        "(33 ms), using the packets' own timestamps; every unpaired flash is listed with "
        "its reason (`ionia.analysis`).",
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [[k, v] for k, v in info.items()]),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=ROOT / RESULTS_DIR)
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "reliability.md")
    args = p.parse_args(argv)
    rows = load_rows(args.results)
    hostile = load_hostile_rows(args.results / HOSTILE_DIR.relative_to(RESULTS_DIR))
    if not rows:
        print(f"no rows in {args.results}: run `pytest -m reliability` first", file=sys.stderr)
        return 1
    text = render(rows, machine(), hostile)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text)
    print(f"wrote {args.doc} ({len(rows)} scenarios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
