"""From the command line to the first video byte on the wire: ``ionia stream`` cold.

Each round runs ``python -m ionia stream rtmp://127.0.0.1:PORT/live/startup ...`` as a user
types it, against a loopback RTMP ingest in this process (``tests/fixtures/rtmp_server.py``)
that notes ``time.monotonic()`` when the first video message of the publish has arrived;
the clock is the machine's, so the child's start and the ingest's arrival are on one clock.
The figure is that arrival minus the instant just before the child was spawned: the
interpreter's start, the imports, the settings, opening the source and the encoder, the
RTMP handshake and the first encoded frame, all included.

Two cases: the test pattern (no devices), and the real job's defaults on the real job's
stage (an Xvfb desktop at the size given, PulseAudio with a system sink, ``--audio
system``). Alongside, ``python -X importtime`` of ``ionia.cli.main`` (the imports' share)
is reported as a median over the rounds.

    python benchmarks/startup.py [--rounds 10] [--cases testsrc,screen]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common as common

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.rtmp_server import RtmpServer, RtmpSession  # noqa: E402

from ionia.rtmp.message import Message, MessageType  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
SKELETON = (
    "# Performance\n\n<!-- BEGIN startup (generated: do not edit) -->\n<!-- END startup -->\n"
)
#: the target, printed beside the figure
TARGET_S = 1.0
#: a child that has sent nothing by then has failed
FIRST_BYTE_TIMEOUT_S = 15.0


class FirstVideo(RtmpSession):
    def on_media(self, message: Message, now: float) -> None:
        # the sequence header (AVC packet type 0) is not a picture: the first coded frame
        video = message.type_id == MessageType.VIDEO and len(message.payload) > 5
        if video and message.payload[1] == 1:
            assert isinstance(self.server, StartupServer)
            self.server.first_video(time.monotonic())


class StartupServer(RtmpServer):
    def __init__(self) -> None:
        super().__init__()
        self._arrived = threading.Event()
        self.arrived_at = 0.0

    def _make_session(self, sock, index, now):  # type: ignore[no-untyped-def]
        return FirstVideo(self, sock, index, now, quirky=False)

    def first_video(self, at: float) -> None:
        if not self._arrived.is_set():
            self.arrived_at = at
            self._arrived.set()

    def wait(self, timeout: float) -> bool:
        return self._arrived.wait(timeout)


def one_round(argv: list[str], env: dict[str, str] | None) -> float | None:
    server = StartupServer().start()
    try:
        full = [*argv[:4], server.url("startup"), *argv[4:]]
        started = time.monotonic()
        child = subprocess.Popen(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        arrived = server.wait(FIRST_BYTE_TIMEOUT_S)
        child.terminate()
        _, err = child.communicate(timeout=10)
        if not arrived:
            print(f"  no video arrived: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
            return None
        return server.arrived_at - started
    finally:
        server.stop()


def import_time_s() -> float:
    """What ``import ionia.cli.main`` takes, from ``-X importtime``'s cumulative column."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ionia.cli.main"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    for line in out.splitlines():
        if line.rstrip().endswith("| ionia.cli.main"):
            return int(line.split("|")[1]) / 1e6
    raise RuntimeError("no ionia.cli.main line in -X importtime's output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--cases", default="testsrc,screen")
    parser.add_argument("--size", default="1920x1080", help="the desktop's size (screen case)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave the doc")
    # make bench passes one BENCH_ARGS to every benchmark; a round here lasts as long as
    # start-up takes, so this one has no use for a duration
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    base = [sys.executable, "-m", "ionia", "stream"]
    cases = args.cases.split(",")
    rows, shown = [], []
    for case in cases:
        if case == "testsrc":
            argv = [*base, "--video", "testsrc", "--audio", "tone", "--size", "1280x720"]
            stage = None
        elif case == "screen":
            import _desktop as desk

            width, height = (int(v) for v in args.size.split("x"))
            stage = desk.Stage(Path(tempfile.mkdtemp(prefix="ionia-startup-")), width, height)
            argv = [*base, "--audio", "system"]
        else:
            raise SystemExit(f"unknown case {case!r}: testsrc or screen")
        try:
            env = None if stage is None else {**os.environ, **stage.env}
            times = [one_round(argv, env) for _ in range(args.rounds)]
        finally:
            if stage is not None:
                stage.close()
        got = [t for t in times if t is not None]
        failed = len(times) - len(got)
        if not got:
            raise SystemExit(f"{case}: no round delivered video")
        p50 = statistics.median(got)
        rows.append([
            case, f"{p50:.3f}", f"{min(got):.3f}–{max(got):.3f}", str(len(got)), str(failed),
            f"{'met' if p50 <= TARGET_S else 'missed'} (≤ {TARGET_S:g} s)",
        ])  # fmt: skip
        shown.append(f"- {case}: `{desk_argv(argv)} rtmp://127.0.0.1:PORT/live/startup`")
        print(rows[-1])
    imports = statistics.median(import_time_s() for _ in range(args.rounds))
    table = common.markdown_table(
        ["case", "median (s)", "range (s)", "rounds", "failed", "target"], rows
    )
    text = "\n".join([
        f"Command line → first coded video frame at a loopback RTMP ingest, {args.rounds} "
        f"rounds per case, cold interpreter each time (`python benchmarks/startup.py "
        f"--rounds {args.rounds}`). `import ionia.cli.main` alone: {imports:.3f} s "
        "(median of `-X importtime`).", "", table, "", *shown,
    ])  # fmt: skip
    print(text)
    if not args.no_doc:
        common.replace_block(DOC, "startup", text, SKELETON)


def desk_argv(argv: list[str]) -> str:
    return " ".join(["ionia", *argv[3:]])


if __name__ == "__main__":
    main()
