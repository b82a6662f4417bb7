"""What servers and viewers get of a stream across a reconnect (issue 10).

A new RTMP session must start the way servers expect (OBS's way: headers at 0, media from 0
at the session's first keyframe), or servers that build on that assumption misplace it:

- a grace-period server (``tests/fixtures/grace_server.py``) offsets a returning publisher
  by the last timestamp it had: its HTTP-FLV viewer must never run ahead of the wall clock
  (by more than 1 s), never go backwards, and decode cleanly;
- nginx-rtmp with ``record_unique on`` writes a file per session: each must start at ~0 with
  the AVC/AAC sequence headers and a keyframe, and last as long as its frames;
- nginx-rtmp appending every session to one file: DTS strictly increasing per kind and no
  decode errors over repeated cut-and-reconnect cycles. nginx's record module puts the first
  tag of an appended session (its headers, at 0) on the file's last tag; media starting at
  0 too would repeat that timestamp, or land before the other kind's last tag, which is why
  a session's media starts a little after its headers, on the frame grid (``RtmpSink``);
- FFmpeg's listen mode takes one publisher and ends with it, so a reconnect goes to a new
  listener (behind the same proxy port): its file must start at ~0 with a keyframe.

Unmarked tests are short versions for ``make test``; ``reliability`` ones are the long
scenarios and write a row for ``docs/reliability.md``.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ionia import VideoAudioStreamer
from ionia.analysis import analyze
from ionia.output.reconnect import ReconnectPolicy
from tests.fixtures.flv import TAG_AUDIO, TAG_VIDEO, read_flv_tags
from tests.fixtures.flv_viewer import ViewerTag
from tests.fixtures.grace_server import GraceServer
from tests.fixtures.media import Probe, probe
from tests.fixtures.nginx import MODULES, NginxRtmp, free_port, wait_listening
from tests.fixtures.proxy import FaultProxy
from tests.fixtures.reliability import RESULTS_DIR
from tests.reliability.scenario import FPS, StatsSampler, make_streamer, stop_all

KEY = "timeline-key-5151"
#: retry at once: these scenarios are about the timeline, not the backoff
QUICK_RETRY = ReconnectPolicy(delay=0.2, max_delay=0.5)
#: how far a viewer's timeline may run ahead of its wall clock
AHEAD_LIMIT_S = 1.0
#: "starts at ~0": the first media of a session's file within this
START_LIMIT_MS = 200.0


@pytest.fixture(autouse=True)
def _stop_streamers() -> Iterator[None]:
    """A scenario that fails half-way must not leave its threads to the next one."""
    yield
    stop_all()


@dataclass(frozen=True)
class Outage:
    detect_s: float
    recover_s: float


def ride(streamer: VideoAudioStreamer, seconds: float) -> None:
    """Stream on for ``seconds``; the stream must not end by itself meanwhile."""
    assert not streamer.wait(seconds), f"the stream ended: {streamer.error!r}"


def cut_for(
    proxy: FaultProxy,
    sampler: StatsSampler,
    seconds: float,
    between: Callable[[], None] | None = None,
) -> Outage:
    """Reset the connection and refuse new ones for ``seconds`` (``between`` runs meanwhile);
    returns when the stream is back with video on the new session."""
    start = time.monotonic()
    proxy.refuse(True)
    assert proxy.cut(rst=True) == 1
    seen = sampler.wait_disconnected(5)
    assert seen is not None, "the cut was never reported"
    if between is not None:
        between()
    time.sleep(max(0.0, start + seconds - time.monotonic()))  # the outage itself
    proxy.refuse(False)
    ended = time.monotonic()
    back = sampler.wait_recovered(10)
    assert back is not None, f"no reconnect within 10 s of the link coming back ({seconds} s)"
    return Outage(seen.t - start, back.t - ended)


def first_media_ms(path: Path) -> dict[int, int]:
    """Timestamp of the first non-header audio and video tag of an FLV file."""
    first: dict[int, int] = {}
    for tag in read_flv_tags(path):
        if tag.type in (TAG_AUDIO, TAG_VIDEO) and tag.body[1:2] != b"\x00":
            first.setdefault(tag.type, tag.timestamp_ms)
    return first


def assert_session_start(path: Path) -> None:
    """Sequence headers before any media, the first video a keyframe, all from ~0."""
    tags = [t for t in read_flv_tags(path) if t.type in (TAG_AUDIO, TAG_VIDEO)]
    video = [t for t in tags if t.type == TAG_VIDEO]
    audio = [t for t in tags if t.type == TAG_AUDIO]
    assert video and audio, f"{path.name}: no media"
    assert video[0].body[:2] == b"\x17\x00", f"{path.name}: no AVC sequence header first"
    assert audio[0].body[0] >> 4 == 10 and audio[0].body[1] == 0, f"{path.name}: no AAC header"
    frames = [t for t in video if t.body[1] != 0]
    assert frames and frames[0].body[0] >> 4 == 1, f"{path.name}: the first frame is no keyframe"
    first = first_media_ms(path)
    assert max(first.values()) <= START_LIMIT_MS, f"{path.name} starts at {first} ms"
    assert max(video[0].timestamp_ms, audio[0].timestamp_ms) <= min(first.values()), (
        f"{path.name}: headers at {video[0].timestamp_ms}/{audio[0].timestamp_ms} ms, "
        f"media from {first} ms"
    )


def assert_strictly_monotonic(got: Probe) -> None:
    for kind, dts in (("video", got.video_dts_ms), ("audio", got.audio_dts_ms)):
        back = [(a, b) for a, b in itertools.pairwise(dts) if b <= a]
        assert not back, f"{kind} DTS not increasing at {back[:5]} ({len(back)} times)"


# -- the grace-period server and its viewer ----------------------------------------------------


@dataclass(frozen=True)
class ViewerTimeline:
    #: the most the tag timestamps ran ahead of the wall clock (relative to the first tag)
    ahead_s: float
    #: steps back in a kind's timestamps
    backwards: int
    decode_errors: int


def viewer_timeline(tags: list[ViewerTag], output: Path) -> ViewerTimeline:
    timed = [t for t in tags if t.kind != "script"]
    assert timed, "the viewer received no media"
    t0 = timed[0]
    ahead = max((t.timestamp_ms - t0.timestamp_ms) / 1000 - (t.arrived - t0.arrived) for t in timed)
    backwards = 0
    for kind in ("audio", "video"):
        stamps = [t.timestamp_ms for t in timed if t.kind == kind]
        backwards += sum(1 for a, b in itertools.pairwise(stamps) if b < a)
    # Decoder errors (what a player suffers): ``ffmpeg -f null`` also flags the one packet
    # per reconnect that this server lands on the previous session's last timestamp.
    return ViewerTimeline(round(ahead, 3), backwards, analyze(output).decode_errors)


def scenario_grace(
    grace_server: Callable[..., GraceServer],
    fault_proxy: Callable[[int], FaultProxy],
    tmp_path: Path,
    *,
    cuts: int,
    before_s: float,
    after_s: float,
) -> tuple[list[Outage], ViewerTimeline, GraceServer]:
    server = grace_server()
    proxy = fault_proxy(server.port)
    viewer = server.viewer(KEY, tmp_path / "viewer.flv")
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", reconnect=QUICK_RETRY)
    streamer.start()
    outages = []
    with StatsSampler(streamer) as sampler:
        ride(streamer, before_s)
        for _ in range(cuts):
            outages.append(cut_for(proxy, sampler, 3.0))
            ride(streamer, after_s)
        streamer.stop()
    relayed = server.wait_ended(KEY, 5)
    assert viewer.wait_for(lambda tags: len(tags) >= relayed, 5), (len(viewer.tags), relayed)
    viewer.stop()
    assert len(server.publishes) == cuts + 1
    assert all(p.offset_ms > 0 for p in server.publishes[1:])  # the grace kept the stream
    timeline = viewer_timeline(viewer.tags, viewer.output)
    assert timeline.ahead_s <= AHEAD_LIMIT_S, (
        f"the viewer's timeline ran {timeline.ahead_s} s ahead of the wall clock "
        f"(offsets {[p.offset_ms for p in server.publishes]})"
    )
    assert timeline.backwards == 0
    assert timeline.decode_errors == 0
    return outages, timeline, server


# in make reliability (beside its three-cut version), to keep make test within its budget
@pytest.mark.reliability
def test_grace_server_viewer_across_a_3s_cut(grace_server, fault_proxy, tmp_path):
    scenario_grace(grace_server, fault_proxy, tmp_path, cuts=1, before_s=3, after_s=3)


@pytest.mark.reliability
def test_reliability_grace_server_viewer(grace_server, fault_proxy, tmp_path, reliability_row):
    outages, timeline, _ = scenario_grace(
        grace_server, fault_proxy, tmp_path, cuts=3, before_s=10, after_s=10
    )
    assert max(o.recover_s for o in outages) <= 1.0, outages
    reliability_row(
        "Grace-period server (30 s), HTTP-FLV viewer, 3 cuts of 3 s",
        order=30,
        notes=f"the viewer's timeline at most {timeline.ahead_s:+.2f} s ahead of its wall "
        f"clock (limit {AHEAD_LIMIT_S} s), {timeline.backwards} steps back",
        time_to_detect_s=round(max(o.detect_s for o in outages), 2),
        time_to_recover_s=round(max(o.recover_s for o in outages), 2),
        decode_errors=timeline.decode_errors,
    )


# -- nginx-rtmp, a file per session (record_unique on) -----------------------------------------


class UniqueNginx(NginxRtmp):
    """nginx-rtmp writing a new ``rec/KEY-<unix time>.flv`` per publish.

    The ``nginx_rtmp`` fixture has no ``record_unique`` option (yet): its configuration is
    patched here."""

    def _config(self, check_key: bool) -> str:
        config = super()._config(check_key)
        assert "record_unique off;" in config
        return config.replace("record_unique off;", "record_unique on;")

    def unique_files(self, key: str) -> list[Path]:
        return sorted((self.root / "rec").glob(f"{key}-*.flv"))


@pytest.fixture
def nginx_unique(tmp_path: Path) -> Iterator[Callable[[], UniqueNginx]]:
    if not (MODULES / "ngx_rtmp_module.so").exists():
        pytest.fail("nginx-rtmp is not installed: run `make test` (it installs it)")
    made: list[UniqueNginx] = []

    def start() -> UniqueNginx:
        root = tmp_path / f"nginx-unique{len(made)}"
        server = UniqueNginx(root, record=True, on_publish_key=KEY, tls=False)
        made.append(server)
        return server

    try:
        yield start
    finally:
        for server in made:
            server.close()


@pytest.mark.reliability  # ~9 s: in make reliability, to keep make test within its budget
def test_nginx_record_unique_files_start_at_zero(nginx_unique, fault_proxy):
    server = nginx_unique()
    proxy = fault_proxy(server.port)
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", reconnect=QUICK_RETRY)
    streamer.start()
    with StatsSampler(streamer) as sampler:
        ride(streamer, 3)
        cut_for(proxy, sampler, 2.0)  # > 1 s: nginx names the files by the second
        ride(streamer, 3)
        server.auth.done_event(KEY).clear()
        streamer.stop()
    server.recording(KEY, timeout=10)  # waits for the last session's file to be closed
    files = server.unique_files(KEY)
    assert len(files) == 2, files
    for path in files:
        assert_session_start(path)
        got = probe(path)
        assert got.decode_errors == 0, (path.name, got.error_text)
        assert got.codecs == {"video": "h264", "audio": "aac"}
        frames_s = got.video_frames / FPS
        span_s = (got.video_dts_ms[-1] - got.video_dts_ms[0]) / 1000 + 1 / FPS
        # "an 11.3 s file holding 5.8 s of frames" is the failure this catches
        assert span_s == pytest.approx(frames_s, abs=0.25), (path.name, span_s, frames_s)
        assert got.duration <= frames_s + 0.5, (path.name, got.duration, frames_s)


# -- nginx-rtmp, every session appended to one file ----------------------------------------------


def scenario_appended(
    nginx_rtmp: Callable[..., NginxRtmp],
    fault_proxy: Callable[[int], FaultProxy],
    *,
    cycles: int,
    every_s: float,
) -> tuple[list[Outage], dict[str, Any], Probe]:
    server = nginx_rtmp(on_publish_key=KEY, record_append=True)
    proxy = fault_proxy(server.port)
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", reconnect=QUICK_RETRY)
    streamer.start()
    outages = []
    with StatsSampler(streamer) as sampler:
        for _ in range(cycles):
            ride(streamer, every_s)
            outages.append(cut_for(proxy, sampler, 0.0))
        ride(streamer, every_s)
        server.auth.done_event(KEY).clear()  # set by the earlier sessions
        streamer.stop()
    stats = streamer.get_statistics()
    recording = server.recording(KEY, timeout=10)
    got = probe(recording)
    try:
        assert stats["destinations"][0]["reconnects"] == cycles
        assert got.codecs == {"video": "h264", "audio": "aac"}
        assert_strictly_monotonic(got)
        assert got.decode_errors == 0, got.error_text
    except AssertionError as exc:
        kept = keep_failed(recording, f"appended-{cycles}-cuts")
        raise AssertionError(f"{exc} (recording kept in {kept})") from None
    return outages, stats, got


def keep_failed(path: Path, name: str) -> Path:
    """Copy a recording that failed a check where it outlives the test's server."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    kept = RESULTS_DIR / f"failed-{name}-{time.strftime('%H%M%S')}{path.suffix}"
    shutil.copyfile(path, kept)
    return kept


# in make reliability (beside its 20-cut version), to keep make test within its budget
@pytest.mark.reliability
def test_nginx_appended_recording_over_cuts(nginx_rtmp, fault_proxy):
    scenario_appended(nginx_rtmp, fault_proxy, cycles=3, every_s=1.5)


@pytest.mark.reliability
def test_reliability_nginx_appended_20_cuts(nginx_rtmp, fault_proxy, reliability_row):
    outages, stats, got = scenario_appended(nginx_rtmp, fault_proxy, cycles=20, every_s=2.0)
    reliability_row(
        "nginx-rtmp appended recording, 20 cut-and-reconnect cycles",
        order=31,
        notes=f"DTS strictly increasing per kind over {len(got.video_dts_ms)} video and "
        f"{len(got.audio_dts_ms)} audio packets",
        time_to_detect_s=round(max(o.detect_s for o in outages), 2),
        time_to_recover_s=round(max(o.recover_s for o in outages), 2),
        video_dropped_frames=int(stats["video_packets_dropped"]),
        decode_errors=got.decode_errors,
    )


# -- FFmpeg's listen mode: one publisher per listener ---------------------------------------------


class Receiver:
    """``ionia receive`` (FFmpeg's listen mode through PyAV) in a child process: it records
    one publish, unchanged, and exits when the publisher has gone."""

    def __init__(self, root: Path, name: str) -> None:
        self.port = free_port()
        self.output = root / f"{name}.flv"
        self.log = root / f"{name}.log"
        with self.log.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ionia", "-q", "receive",
                 f"rtmp://127.0.0.1:{self.port}/live/{KEY}", "--output", str(self.output),
                 "--listen-timeout", "20"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        wait_listening(self.port, self.proc, 10, self.log)

    def finish(self, timeout: float = 10) -> Path:
        assert self.proc.wait(timeout) == 0, self.log.read_text(errors="replace")
        return self.output

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.mark.reliability  # ~10 s: in make reliability, to keep make test within its budget
def test_ffmpeg_listen_mode_across_a_reconnect(fault_proxy, tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg CLI is not installed: `make test` installs it")
    receivers = [Receiver(tmp_path, "session1")]
    try:
        proxy = fault_proxy(receivers[0].port)

        def next_listener() -> None:
            # The first listener has ended with its publisher; the proxy's port stays the
            # URL, and the reconnect goes to a new one.
            receivers.append(Receiver(tmp_path, "session2"))
            proxy.upstream = ("127.0.0.1", receivers[1].port)

        url = f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}"
        streamer = make_streamer(url, reconnect=QUICK_RETRY)
        streamer.start()
        with StatsSampler(streamer) as sampler:
            ride(streamer, 3)
            cut_for(proxy, sampler, 2.0, between=next_listener)
            ride(streamer, 3)
            streamer.stop()
        first, second = (r.finish() for r in receivers)
    finally:
        for receiver in receivers:
            receiver.close()
    for path in (first, second):
        got = probe(path)
        assert got.decode_errors == 0, (path.name, got.error_text)
        assert_strictly_monotonic(got)
    assert_session_start(second)
