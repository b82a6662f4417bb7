"""Broken and hostile servers, end to end: the ``ionia`` command and the library against a
server that completes the RTMP handshake and then misbehaves (``tests/fixtures/hostile_server``).

For every case, at the first connect, mid-stream and during a reconnect: the documented exit
code, or a reconnect, within 6 s; no traceback and no "internal error"; statistics that stop
saying ``connected`` once the session is gone; bounded memory. Each case writes one row of the
hostile-inputs table of ``docs/reliability.md``. The 60 s memory runs are ``reliability``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cli import SYNTHETIC
from tests.fixtures.hostile_server import HostileServer
from tests.fixtures.reliability import write_hostile_row
from tests.reliability.scenario import StatsSampler, ionia_threads, make_streamer, stop_all

KEY = "hostile-key-5521"
#: every case must reach its outcome (exit, or a reconnect) within this long
OUTCOME_S = 6.0
#: what the process may hold while a server misbehaves
RSS_LIMIT_MB = 200

HOSTILE = ["chunk-size-0", "garbage", "deep-amf", "endless-partials"]
BAD_STREAM_IDS = ["stream-id--1", "stream-id-1e300", "stream-id-2**32"]
AT_CONNECT = HOSTILE + BAD_STREAM_IDS
#: the table's order of cases: connect, then live, then reconnect
ORDER = {f"{case}@{when}": i for i, (case, when) in enumerate(
    [(c, "connect") for c in AT_CONNECT] + [(c, "live") for c in HOSTILE]
    + [(c, "reconnect") for c in AT_CONNECT]
)}  # fmt: skip


@pytest.fixture(autouse=True)
def _stop_streamers() -> Any:
    yield
    stop_all()


class Run:
    """One ``ionia`` process: exit code, stderr, wall time and its own peak RSS."""

    def __init__(self, code: int, stderr: str, took: float, peak_rss_mb: float) -> None:
        self.code, self.stderr, self.took, self.peak_rss_mb = code, stderr, took, peak_rss_mb


def run_ionia_measured(*args: str, tmp_path: Path, timeout: float = 60) -> Run:
    """Run ``ionia`` and follow its peak RSS (``VmHWM``, read every 20 ms while it runs).

    Not ``wait4``'s ``ru_maxrss``: on Linux a child starts with its parent's high-water
    mark, so every child of pytest would report pytest's own size.
    """
    err_path = tmp_path / f"stderr-{time.monotonic_ns()}.txt"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ionia", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    started = time.monotonic()
    peak_kb = 0
    status_file = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        with contextlib.suppress(OSError):  # gone between poll() and the read
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        if time.monotonic() - started > timeout:
            proc.kill()
            proc.wait(5)
            pytest.fail(f"ionia still running after {timeout} s:\n{err_path.read_text()}")
        time.sleep(0.02)  # a child process gives no other completion signal to wait on
    took = time.monotonic() - started
    assert peak_kb > 0, "never read the process's memory"
    return Run(proc.returncode, err_path.read_text(), took, peak_kb / 1024)


def assert_clean_failure_output(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr
    assert KEY not in stderr, stderr


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ionia: error:")]
    return lines[-1].removeprefix("ionia: error: ") if lines else ""


def row(case: str, when: str, outcome: str, took: float, rss: float | None) -> None:
    write_hostile_row(
        order=ORDER[f"{case}@{when}"], case=case, when=when, outcome=outcome,
        time_s=round(took, 2), peak_rss_mb=None if rss is None else round(rss, 1),
    )  # fmt: skip


# -- at the first connect: exit 3, a message naming the server's fault ---------------------


@pytest.mark.parametrize("case", AT_CONNECT)
def test_hostile_server_at_connect_exits_3(
    hostile_server: Callable[..., HostileServer], tmp_path: Path, case: str
) -> None:
    server = hostile_server(case, when="connect")
    stats = tmp_path / "stats.json"
    run = run_ionia_measured(
        "stream", server.url(KEY), *SYNTHETIC, "--duration", "20", "--stats-json", str(stats),
        tmp_path=tmp_path,
    )  # fmt: skip
    assert run.code == 3, run.stderr
    assert run.took < OUTCOME_S + 2.0, run.took  # + interpreter and import start-up
    message = error_line(run.stderr)
    assert "server sent" in message, run.stderr
    assert_clean_failure_output(run.stderr)
    assert run.peak_rss_mb < RSS_LIMIT_MB
    row(case, "connect", f"exit 3: {message}", run.took, run.peak_rss_mb)


# -- mid-stream: the session is lost, the stats say so, the sender reconnects --------------


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_server_mid_stream_is_a_lost_session(
    hostile_server: Callable[..., HostileServer], case: str
) -> None:
    server = hostile_server(case, when="live", after_s=1.0)
    streamer = make_streamer(server.url(KEY), size="320x240", video_bitrate=500_000)
    streamer.start()
    with StatsSampler(streamer) as sampler:
        up = sampler.wait_for(lambda s: s.connected and s.video_sent > 0, timeout=5)
        assert up is not None, "never published"
        lost = sampler.wait_for(lambda s: not s.connected, timeout=OUTCOME_S)
        assert lost is not None, f"still 'connected' {OUTCOME_S} s after the server broke"
        assert lost.stats["connected"] is False
        assert "server sent" in lost.stats["destinations"][0]["last_error"]
        back = sampler.wait_for(lambda s: s.stats["reconnects"] >= 1, timeout=OUTCOME_S)
        assert back is not None, "no reconnect after the lost session"
        assert streamer.is_running()
    peak_queue = max(s.stats["buffer_packets"] for s in sampler.samples)
    streamer.stop()
    assert not ionia_threads()
    # a session that is gone holds nothing: the queue never grows past the packet limit
    assert peak_queue <= streamer.config.max_packets, peak_queue
    misbehaved = server.misbehaved_at[0]
    row(case, "live", "session lost, reconnected", lost.t - misbehaved, None)


# -- during a reconnect: every attempt is made, each fails typed, then the policy ends it ----


@pytest.mark.parametrize("case", AT_CONNECT)
def test_hostile_server_during_reconnect(
    hostile_server: Callable[..., HostileServer], tmp_path: Path, case: str
) -> None:
    server = hostile_server(case, when="reconnect", after_s=0.5)
    run = run_ionia_measured(
        "stream", server.url(KEY), *SYNTHETIC, "--duration", "30", "--reconnect-delay", "0.1",
        "--reconnect-max-delay", "0.2", "--reconnect-attempts", "3", tmp_path=tmp_path,
    )  # fmt: skip
    assert run.code == 3, run.stderr
    message = error_line(run.stderr)
    assert "gave up" in message and "server sent" in message, run.stderr
    assert_clean_failure_output(run.stderr)
    # the first session and all three attempts reached the server: none died inside one
    assert server.connections >= 4, server.connections
    # 0.5 s of stream, backoffs of at most 0.1 + 0.2 + 0.2 s, three attempts that each
    # fail quickly (1.5 s), and the interpreter's start-up
    assert run.took < 0.5 + 0.5 + 3 * 1.5 + 2.0, run.took
    row(case, "reconnect", f"exit 3: {message}", run.took, run.peak_rss_mb)


# -- memory while a server misbehaves for a long time ---------------------------------------


def misbehave_for(
    hostile_server: Callable[..., HostileServer], tmp_path: Path, case: str, seconds: float
) -> Run:
    """Stream to a server that goes bad 0.5 s into every session, for ``seconds``."""
    server = hostile_server(case, when="live", after_s=0.5)
    stats_path = tmp_path / "stats.json"
    run = run_ionia_measured(
        "stream", server.url(KEY), *SYNTHETIC, "--duration", str(seconds),
        "--reconnect-delay", "0.2", "--reconnect-max-delay", "0.5", "--stats-json",
        str(stats_path), tmp_path=tmp_path, timeout=seconds + 30,
    )  # fmt: skip
    assert run.code == 0, run.stderr  # it reconnected each time and ran to the end
    assert_clean_failure_output(run.stderr)
    assert "connection lost" in run.stderr and "server sent" in run.stderr, run.stderr
    assert server.connections >= seconds / 2, server.connections  # it kept misbehaving
    assert json.loads(stats_path.read_text())["reconnects"] >= seconds / 2 - 1
    return run


def test_memory_stays_bounded_while_the_server_misbehaves(
    hostile_server: Callable[..., HostileServer], tmp_path: Path
) -> None:
    # the case that would grow memory fastest; both run for 60 s in make reliability
    case = "endless-partials"
    run = misbehave_for(hostile_server, tmp_path, case, 5)
    assert run.peak_rss_mb < RSS_LIMIT_MB, run.peak_rss_mb


@pytest.mark.reliability
@pytest.mark.parametrize("case", ["endless-partials", "garbage"])
def test_reliability_memory_for_60_s_of_misbehaviour(
    hostile_server: Callable[..., HostileServer], tmp_path: Path, case: str
) -> None:
    run = misbehave_for(hostile_server, tmp_path, case, 60)
    assert run.peak_rss_mb < RSS_LIMIT_MB, run.peak_rss_mb
    write_hostile_row(
        order=len(ORDER) + (case == "garbage"), case=case, when="every session, 60 s",
        outcome="sessions lost and reconnected for 60 s; exit 0", time_s=round(run.took, 1),
        peak_rss_mb=round(run.peak_rss_mb, 1),
    )  # fmt: skip


# -- SIGTERM stops like Ctrl-C ------------------------------------------------------------


def test_sigterm_mid_stream_drains_and_exits_143(
    nginx_rtmp: Callable[..., Any], tmp_path: Path
) -> None:
    from tests.fixtures.media import probe

    server = nginx_rtmp(on_publish_key=KEY)
    record, stats_path = tmp_path / "rec.mp4", tmp_path / "stats.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ionia", "stream", server.url(KEY), *SYNTHETIC,
         "--record", str(record), "--stats-json", str(stats_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not (record.exists() and record.stat().st_size > 50_000):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)  # a subprocess has no readiness signal to wait on
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and KEY not in err
    stats = json.loads(stats_path.read_text())
    assert stats["running"] is False and stats["video_packets_sent"] > 0
    got = probe(record)
    assert got.decode_errors == 0, got.error_text
    # finalized, not cut off: the recording holds the stream up to the signal, to within
    # one fragment (1 s)
    assert stats["uptime_s"] > 2.0
    assert got.duration >= stats["uptime_s"] - 1.0, (got.duration, stats["uptime_s"])
    server_file = server.recording(KEY, timeout=5.0)  # unpublished: nginx closed the file
    assert probe(server_file).decode_errors == 0
