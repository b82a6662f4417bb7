"""CPU of ``ionia stream`` with the control server, with and without the dashboard open.

Three sides, alternating each round so none always goes first, each a fresh
``ionia stream`` of the same synthetic A/V into a local nginx-rtmp:

- ``plain``: no ``--control``;
- ``served``: ``--control`` on, nobody connected (the server idles: nothing is read);
- ``dashboard``: ``--control`` with the dashboard open in headless Chromium (the page
  reads the event stream at 2 Hz and draws its charts) and ``/metrics`` scraped each 1 s.

Only the ``ionia`` process is measured (all its threads, from /proc, over a steady window
after start-up); Chromium's own CPU is its, not the stream's.

    python benchmarks/control_cpu.py [--rounds 3] [--seconds 20] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import _common as common

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fixtures: the ingest and the browser the suite uses
TOKEN = "benchmark-token-0123456789"
SIDES = ("plain", "served", "dashboard")


def stream_argv(url: str, args: argparse.Namespace, control: bool) -> list[str]:
    argv = [sys.executable, "-m", "ionia", "-q", "stream", url, "--video", "testsrc",
            "--audio", "tone", "--size", args.size, "--video-bitrate", "3M",
            "--duration", str(args.seconds + 4)]  # fmt: skip
    return [*argv, "--control", f"127.0.0.1:{args.port}"] if control else argv


def wait_up(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=1) as reply:
                if b'"running"' in reply.read():
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)  # a child starting up gives no other signal
    raise TimeoutError("the control server did not come up")


def scrape(port: int, stop: threading.Event) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(request, timeout=2) as reply:
                reply.read()
        except OSError:
            return  # the stream ended


def one_run(side: str, url: str, args: argparse.Namespace, tmp: Path) -> float:
    """CPU seconds per second of the ionia process over the steady window."""
    env = {**os.environ, "IONIA_CONTROL_TOKEN": TOKEN}
    proc = subprocess.Popen(
        stream_argv(url, args, side != "plain"), env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    browser = None
    stop = threading.Event()
    try:
        if side != "plain":
            wait_up(args.port)
        if side == "dashboard":
            browser = open_dashboard(args.port, tmp)
            threading.Thread(target=scrape, args=(args.port, stop), daemon=True).start()
        time.sleep(2.0)  # past start-up
        t0, c0 = time.monotonic(), common.proc_cpu(proc.pid)
        time.sleep(args.seconds)
        t1, c1 = time.monotonic(), common.proc_cpu(proc.pid)
        if c0 is None or c1 is None:
            raise RuntimeError(f"{side}: the stream ended early ({proc.poll()})")
        return (c1 - c0) / (t1 - t0)
    finally:
        stop.set()
        if browser is not None:
            browser.quit()
        proc.send_signal(signal.SIGINT)
        proc.wait(15)


def open_dashboard(port: int, tmp: Path):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tempfile.mkdtemp(dir=tmp)}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(f"http://127.0.0.1:{port}/?token={TOKEN}")
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "state").text == "running")
    return driver


def control_threads_cpu(url: str, args: argparse.Namespace, tmp: Path) -> tuple[float, float]:
    """In this process: a streamer and a ControlServer with the dashboard open; the CPU of
    the server's own threads (``ionia-control-*``) and of the whole process, CPU s/s. The
    whole-process sides above are noisy at the percent level; this is the server's part."""
    from ionia import VideoAudioStreamer
    from ionia.control import ControlServer

    streamer = VideoAudioStreamer()
    streamer.initialize(url, video_source="testsrc", audio_mode="tone", size=args.size,
                        video_bitrate="3M")  # fmt: skip
    server = ControlServer(streamer, listen=f"127.0.0.1:{args.port}", token=TOKEN)
    server.start()
    streamer.start()
    stop = threading.Event()
    browser = open_dashboard(args.port, tmp)
    threading.Thread(target=scrape, args=(args.port, stop), daemon=True).start()
    try:
        time.sleep(2.0)
        threads = [t for t in threading.enumerate() if t.name.startswith("ionia-control")]
        clocks = [time.pthread_getcpuclockid(t.ident or 0) for t in threads]
        t0, p0 = time.monotonic(), time.process_time()
        c0 = sum(time.clock_gettime(c) for c in clocks)
        time.sleep(args.seconds)
        c1 = sum(time.clock_gettime(c) for c in clocks)
        t1, p1 = time.monotonic(), time.process_time()
    finally:
        stop.set()
        browser.quit()
        server.stop()
        streamer.stop()
    return (c1 - c0) / (t1 - t0), (p1 - p0) / (t1 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--port", type=int, default=18787)
    args = parser.parse_args()
    from tests.fixtures.nginx import NginxRtmp

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        nginx = NginxRtmp(tmp / "nginx", record=False, on_publish_key=None, tls=False)
        results: dict[str, list[float]] = {side: [] for side in SIDES}
        try:
            for r in range(args.rounds):
                order = SIDES if r % 2 == 0 else tuple(reversed(SIDES))
                for side in order:
                    cpu = one_run(side, nginx.url(f"{side}{r}"), args, tmp)
                    results[side].append(cpu)
                    print(f"round {r} {side:9} {cpu:.3f} CPU s/s", flush=True)
            control, process = control_threads_cpu(nginx.url("threads"), args, tmp)
        finally:
            nginx.close()
    medians = {side: common.median(values) or 0.0 for side, values in results.items()}
    print(f"\n{args.size}, {args.seconds:g} s windows, {args.rounds} rounds, medians:")
    for side in SIDES:
        ratio = medians[side] / medians["plain"] if medians["plain"] else float("nan")
        print(f"  {side:9} {medians[side]:.3f} CPU s/s  ({ratio:.3f}x plain)")
    print(
        f"in one process with the dashboard open: the control threads {control:.4f} CPU s/s "
        f"of {process:.3f} ({100 * control / process:.2f} %)"
    )


if __name__ == "__main__":
    main()
