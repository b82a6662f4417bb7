"""``ControlServer`` from Python beside a running streamer, and ``ionia stream --control``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ionia import VideoAudioStreamer
from ionia.control import ControlServer
from ionia.control.api import build_app
from ionia.control.controller import Controller
from ionia.control.openapi import openapi_document
from ionia.control.security import Access, parse_listen
from tests.fixtures.cli import SYNTHETIC
from tests.fixtures.control import URL_LINE, Client, EventListener
from tests.fixtures.nginx import stop_process

KEY = "sEcReT-python-key"


def test_the_openapi_document_describes_every_route_and_no_other() -> None:
    app = build_app(Controller(), Access("t" * 32, parse_listen("127.0.0.1:0")), lambda c: None)
    routed = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    described = {
        (method, path) for path, item in openapi_document()["paths"].items() for method in item
    }
    assert routed == described


def test_a_server_beside_a_streamer_in_python(nginx_rtmp) -> None:
    ingest = nginx_rtmp(on_publish_key=KEY)
    streamer = VideoAudioStreamer()
    streamer.initialize(ingest.url(KEY), fps=30, video_bitrate="800k", audio_mode="tone",
                        video_source="testsrc", size="320x240")  # fmt: skip
    server = ControlServer(streamer, listen="127.0.0.1:0")
    server.start()
    client = Client(server.base_url, server.token)
    events = EventListener(client)
    try:
        assert client.post("/api/v1/start").json()["state"] == "running"
        assert events.wait_for(lambda: "connected" in events.events()), events.messages
        assert streamer.is_connected()
        # the server stops within its deadline with a client listening, and leaves the
        # stream alone: a front end going away must not end a broadcast
        began = time.monotonic()
        assert server.stop(timeout=3.0)
        assert time.monotonic() - began < 3.5
        assert streamer.is_running()
        assert not [t.name for t in threading.enumerate() if t.name.startswith("ionia-control")]
    finally:
        events.close()
        server.stop()
        streamer.stop()
    assert streamer.get_statistics()["video_packets_sent"] > 0


def test_ionia_stream_with_control_is_stopped_over_the_api(nginx_rtmp, tmp_path: Path) -> None:
    ingest = nginx_rtmp(on_publish_key=KEY)
    token = "a-token-for-the-stream-command"
    stderr_path = tmp_path / "stream.stderr"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ionia", "stream", ingest.url(KEY), *SYNTHETIC,
             "--duration", "60", "--control", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            env={**os.environ, "IONIA_CONTROL_TOKEN": token}, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while (match := URL_LINE.search(stderr_path.read_text())) is None:
            assert proc.poll() is None and time.monotonic() < deadline, stderr_path.read_text()
            time.sleep(0.05)  # only its output says it is up
        client = Client(match.group(1), token)
        deadline = time.monotonic() + 10
        while client.get("/api/v1/status").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)  # start() is the command line's, not the API's: poll it
        assert client.post("/api/v1/configure", {"fps": 25}).status == 409
        assert client.post("/api/v1/start").status == 409
        assert client.post("/api/v1/keyframe").status == 200
        assert client.post("/api/v1/stop").json()["state"] == "stopped"
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        stop_process(proc)
    log = stderr_path.read_text()
    assert KEY not in log and token not in log
