"""Live key rotation: ``rotate(url)`` in the API, SIGHUP re-reading ./config.json in the CLI.

The new session starts at a keyframe, the old one ends cleanly, the encoder is not
restarted and a recording alongside has no gap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import av

from ionia import VideoAudioStreamer
from ionia.pipeline.destinations import Destinations
from tests.fixtures.media import probe
from tests.test_record import FPS, MEDIA, check_continuous


def first_video_packet_is_keyframe(path: Path) -> bool:
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            if packet.size:
                return bool(packet.is_keyframe)
    return False


def test_rotate_moves_the_stream_to_a_new_key_without_a_gap(nginx_rtmp, tmp_path):
    server = nginx_rtmp(on_publish_key=None)
    record = tmp_path / "alongside.mp4"
    streamer = VideoAudioStreamer()
    streamer.initialize(server.url("key-one"), record=str(record), **MEDIA)
    seconds = 7.0
    with streamer:
        start = time.monotonic()
        assert not streamer.wait(3.0), streamer.error
        before = streamer.get_statistics()
        streamer.rotate(server.url("key-two"))  # returns once the new session is up
        switched = time.monotonic() - start
        old_done = server.recording("key-one", timeout=1.0)  # nginx finished the old key
        during = streamer.get_statistics()
        assert not streamer.wait(max(0.0, start + seconds - time.monotonic())), streamer.error
    stats = streamer.get_statistics()

    # the old session was closed once the new one had sent its first keyframe, asked for
    # at once
    assert switched - 3.0 < 1.5, switched
    assert stats["keyframes_forced"] >= before["keyframes_forced"] + 1
    # one encoder all along: its frame count never restarted and matches the clock
    assert before["frames_encoded"] < during["frames_encoded"] < stats["frames_encoded"]
    assert stats["frames_encoded"] >= 0.97 * seconds * FPS
    assert stats["encoder"] == before["encoder"]
    shown = [d["destination"] for d in stats["destinations"] if not d["recording"]]
    assert shown == [f"rtmp://127.0.0.1:{server.port}/live/****"]
    assert stats["video_packets_dropped"] == 0

    old, new = probe(old_done), probe(server.recording("key-two"))
    assert old.decode_errors == 0, old.error_text
    assert new.decode_errors == 0, new.error_text
    assert first_video_packet_is_keyframe(server.recording("key-two"))
    # together they cover the stream (the two overlap by the switch-over)
    assert old.video_frames >= 0.97 * 3.0 * FPS
    assert new.video_frames >= 0.97 * (seconds - switched) * FPS
    # the recording alongside saw nothing of it
    check_continuous(record, seconds)


def test_sighup_rereads_config_json_and_rotates(nginx_rtmp, tmp_path):
    server = nginx_rtmp(on_publish_key=None)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"rtmpUrl": server.url("first-key")}))
    env = {k: v for k, v in os.environ.items() if k != "RTMP_URL"}
    cmd = [sys.executable, "-m", "ionia", "stream", "--video", "testsrc", "--audio", "tone",
           "--size", "320x180", "--video-bitrate", "500k", "--duration", "7"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        first = tmp_path / "nginx0" / "rec" / "first-key.flv"
        deadline = time.monotonic() + 10
        while not (first.exists() and first.stat().st_size > 20_000):
            assert proc.poll() is None and time.monotonic() < deadline, "no stream arrived"
            time.sleep(0.1)  # a subprocess has no readiness signal to wait on
        config.write_text(json.dumps({"rtmpUrl": server.url("second-key")}))
        os.kill(proc.pid, signal.SIGHUP)
        server.recording("first-key", timeout=5.0)  # the old session ended
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert proc.returncode == 0, err
    assert "second-key" not in err and "first-key" not in err  # keys are never printed
    got = probe(server.recording("second-key"))
    assert got.decode_errors == 0, got.error_text
    assert got.video_frames > 2 * FPS
    assert first_video_packet_is_keyframe(server.recording("second-key"))


# -- the retirement of the old session, stepped without a network ----------------------------


class FakeOutput:
    """What ``Destinations`` uses of an ``Output``: its sender's video count and its stop."""

    def __init__(self, name: str) -> None:
        self.destination = SimpleNamespace(display=name)
        self.recording = False
        self.failed = None
        self.sender = SimpleNamespace(video_sent=0)
        self.stop_requested: float | None = None
        self.joined = threading.Event()

    def put(self, packet: object) -> None: ...

    def request_stop(self, timeout: float) -> None:
        self.stop_requested = timeout

    def join(self) -> None:
        self.joined.set()

    def abort(self) -> None: ...


def retirements() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ionia-retire")]


def test_rotate_returns_at_once_and_the_old_session_closes_after_the_new_one_sends():
    destinations = Destinations()
    old, new = FakeOutput("old"), FakeOutput("new")
    destinations.outputs = (old,)
    fed_at_request: list[tuple[object, ...]] = []
    destinations.rotate(
        old,
        new,
        request_keyframe=lambda: fed_at_request.append(destinations.outputs),
        keyint_s=2.0,
        stop_timeout=3.0,
    )
    assert fed_at_request == [(new, old)]  # the keyframe is asked for once new is fed
    # returned with the new session not having sent anything: both are fed
    assert destinations.outputs == (new, old) and old.stop_requested is None
    assert destinations.streams == [new]  # a second rotate() moves the new one
    new.sender.video_sent = 1  # its first keyframe went out
    assert old.joined.wait(5.0)
    assert destinations.outputs == (new,) and old.stop_requested == 3.0
    destinations.drain(1.0)
    assert retirements() == []


def test_stop_during_a_rotation_drains_the_old_session_and_joins_the_worker():
    destinations = Destinations()
    old, new = FakeOutput("old"), FakeOutput("new")
    destinations.outputs = (old,)
    # the new one never sends
    destinations.rotate(old, new, request_keyframe=lambda: None, keyint_s=20.0, stop_timeout=3.0)
    assert retirements()
    started = time.monotonic()
    destinations.drain(0.5)
    assert time.monotonic() - started < 2.0  # not the 41 s of the keyframe wait
    assert retirements() == []
    assert old.stop_requested == 0.5 and old.joined.is_set()  # drained with the others
    assert new.stop_requested == 0.5 and new.joined.is_set()


def test_stop_right_after_rotate_leaves_no_thread_and_two_clean_files(tmp_path):
    first, second = tmp_path / "first.flv", tmp_path / "second.flv"
    streamer = VideoAudioStreamer()
    streamer.initialize(str(first), video_source="testsrc", audio_mode="tone", size="320x240")
    with streamer:
        assert not streamer.wait(1.0), streamer.error
        streamer.rotate(str(second))
        stats = streamer.get_statistics()
        shown = [d["destination"] for d in stats["destinations"]]
        assert shown[0] == str(second)  # the new one is fed at once
        started = time.monotonic()
    assert time.monotonic() - started < streamer.config.stop_timeout + 1.5
    assert retirements() == []
    old, new = probe(first), probe(second)
    assert old.decode_errors == 0 and old.video_frames > FPS // 2, old.error_text
    assert new.decode_errors == 0, new.error_text  # stopped before its first keyframe, maybe
