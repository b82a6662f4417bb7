"""The fault-injection suite of issue 4: break the network, the ingest or the lifecycle on
cue, against a real nginx-rtmp (through the fault proxy where the fault is on the link), and
check that the engine rides through by itself and that what arrived decodes cleanly.

Unmarked tests are short versions for ``make test``; the ``reliability`` ones are the full
scenarios of the issue, and each writes one measured row for ``docs/reliability.md``
(``make reliability``). Every scenario stops by itself within its pytest timeout.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from ionia import ConnectionFailed, PublishRejected, VideoAudioStreamer
from ionia.analysis import MediaReport, analyze
from ionia.config import StreamConfig
from ionia.encoding.video import VideoEncoder
from ionia.output.reconnect import ReconnectPolicy
from tests.fixtures.media import Probe, probe
from tests.fixtures.nginx import NginxRtmp
from tests.fixtures.proxy import FaultProxy
from tests.reliability.scenario import (
    FPS,
    FRAME_MS,
    AudioLoss,
    StatsSampler,
    check_sync,
    in_flight_bytes,
    ionia_threads,
    make_streamer,
    measure_audio_loss,
    open_fds,
    rss_kb,
    sockets,
    stop_all,
    stream_seconds_in,
)

KEY = "fault-key-7781"
#: fast retries for the scenarios that are about *what* happens, not about the backoff
QUICK_RETRY = ReconnectPolicy(delay=0.2, max_delay=0.5)


@pytest.fixture(autouse=True)
def _stop_streamers() -> Iterator[None]:
    """A scenario that fails half-way must not leave its threads to the next one."""
    yield
    stop_all()


# -- shared steps ----------------------------------------------------------------------------


@dataclass
class Outage:
    """Wall-clock instants of one fault and what the sampler saw, in seconds."""

    detect_s: float | None
    recover_s: float | None


def ride(streamer: VideoAudioStreamer, seconds: float) -> None:
    """Stream on for ``seconds``; the stream must not end by itself meanwhile."""
    assert not streamer.wait(seconds), f"the stream ended: {streamer.error!r}"


def finish(server: NginxRtmp, streamer: VideoAudioStreamer) -> tuple[dict[str, Any], Path]:
    """Stop the stream and wait for nginx to close the recording of its *last* session."""
    server.auth.done_event(KEY).clear()  # set by earlier sessions of the same key
    streamer.stop()
    return streamer.get_statistics(), server.recording(KEY, timeout=10)


@dataclass(frozen=True)
class Received:
    """What a scenario's recording holds, measured."""

    got: Probe
    report: MediaReport
    audio: AudioLoss


def check_recording(path: Path, stats: dict[str, Any], *, lost_sessions: int,
                    streamer: VideoAudioStreamer | None = None, proxied: bool = False,
                    ) -> Received:  # fmt: skip
    """Decodes with zero errors, monotonic timestamps, every segment in sync within a
    frame (so after every reconnect), and the frames and the audio agree with the
    statistics: an aborted session may have lost what sat in the buffers on the way
    (``in_flight_bytes``, as stream time of this recording), nothing more."""
    got = probe(path)
    assert got.decode_errors == 0, got.error_text
    assert got.codecs == {"video": "h264", "audio": "aac"}
    assert got.video_dts_monotonic and got.audio_dts_monotonic
    in_flight = 0
    if lost_sessions:
        assert streamer is not None, "the buffers in flight come from the streamer's settings"
        in_flight = in_flight_bytes(streamer, proxied=proxied)
    # per lost session: the frames of that stream time, one cut by its edge, one half-read
    per_session = math.ceil(stream_seconds_in(path, in_flight) * FPS) + 2 if in_flight else 0
    sent = stats["video_packets_sent"]
    lost = sent - got.video_frames
    assert 0 <= lost <= lost_sessions * per_session, (
        f"{got.video_frames} frames recorded of {sent} sent: {lost} lost in flight, at most "
        f"{per_session} per aborted session ({lost_sessions}, {in_flight} bytes each)"
    )
    report = analyze(path)
    assert report.decode_errors == 0, report.summary()
    # audio is never dropped while connected: a hole or a jump in it is a reconnect, as is
    # a new clock in the video; and video resumes on a keyframe after each of them
    assert len(report.audio_holes) <= stats["reconnects"], report.summary()
    assert sum(h.join for h in report.video_holes) <= stats["reconnects"], report.summary()
    _every, keys = keyframe_times(path)
    # A frame slot the encoder skipped because it fell behind (a loaded machine) is a
    # hole too, mid-GOP and harmless (the next frame refers to the last one encoded);
    # every other hole is a reconnect or a drop episode and must end on a keyframe.
    late = [h for h in report.video_holes if not any(abs(h.at_s * 1000 - k) < 0.5 for k in keys)]
    late_slots = sum(round(h.ms * FPS / 1000) for h in late)
    assert not any(h.join for h in late) and late_slots <= stats["frames_late"], (
        f"video resumes on a non-keyframe at {[f'{h.at_s:.3f} s' for h in late]} ({late}), "
        f"{late_slots} frame slots, more than the {stats['frames_late']} the encoder skipped"
    )
    check_sync(report)
    audio = measure_audio_loss(path, got, report, stats, lost_sessions=lost_sessions,
                               in_flight=in_flight)  # fmt: skip
    return Received(got, report, audio)


def video_dropped(stats: dict[str, Any]) -> int:
    return int(stats["video_packets_dropped"])


def audio_notes(audio: AudioLoss) -> str:
    """The audio figure's cross-check, for a row's notes."""
    return (
        f"audio: {audio.missing} AAC frames missing from the recording, {audio.dropped} "
        f"dropped by the buffer while disconnected, {audio.missing - audio.dropped} lost in "
        f"flight (bound {audio.bound}: {audio.in_flight_s:.2f} s of stream per aborted "
        f"session); {audio.timeline_ms:.0f} ms of holes in its timeline"
    )


def keyframe_times(path: Path) -> tuple[list[float], list[float]]:
    """DTS (ms) of every video packet and of the keyframes, from the recording."""
    every, keys = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        for packet in container.demux(stream):
            if packet.size == 0 or packet.dts is None:
                continue
            dts = float(packet.dts * stream.time_base * 1000)
            every.append(dts)
            if packet.is_keyframe:
                keys.append(dts)
    return every, keys


def gaps_end_on_keyframes(path: Path, frames_late: int) -> int:
    """Every hole in the video timeline is followed by a keyframe, but for up to
    ``frames_late`` slots the encoder skipped mid-GOP (``frames_late``); returns the holes
    that end on a keyframe."""
    every, keys = keyframe_times(path)
    key_set = set(keys)
    holes = skipped = 0
    for a, b in itertools.pairwise(every):
        if b - a > 1.5 * FRAME_MS:
            if b in key_set:
                holes += 1
                continue
            skipped += round((b - a) / FRAME_MS) - 1
            assert skipped <= frames_late, (
                f"video resumes at {b} ms on a non-keyframe ({skipped} slots missing mid-GOP; "
                f"the encoder skipped {frames_late})"
            )
    return holes


def kill_and_restart(
    server: NginxRtmp, sampler: StatsSampler, *, down_s: float, restart: Callable[[], None]
) -> Outage:
    start = time.monotonic()
    server.kill()
    seen = sampler.wait_disconnected(10)
    assert seen is not None, "the lost session was never reported"
    time.sleep(max(0.0, start + down_s - time.monotonic()))
    restart()
    ended = time.monotonic()
    back = sampler.wait_recovered(15)
    assert back is not None, "no reconnect within 15 s of the ingest coming back"
    return Outage(seen.t - start, back.t - ended)


def cli(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ionia", "stream", *args, "--video", "testsrc",
         "--audio", "tone", "--size", "320x240"],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    return result, time.monotonic() - started


# -- 1. ingest killed and restarted ------------------------------------------------------------


def scenario_kill_restart(nginx_rtmp: Callable[..., NginxRtmp], *, before_s: float,
                          after_s: float) -> tuple[Outage, dict[str, Any], Received]:  # fmt: skip
    server = nginx_rtmp(on_publish_key=KEY, record_append=True)
    streamer = make_streamer(server.url(KEY))
    streamer.start()
    with StatsSampler(streamer) as sampler:
        ride(streamer, before_s)
        outage = kill_and_restart(server, sampler, down_s=3.0, restart=server.restart)
        ride(streamer, after_s)
        stats, path = finish(server, streamer)
    dest = stats["destinations"][0]
    assert dest["reconnects"] == 1
    assert dest["disconnected_s"] >= 3.0
    assert "refused" in dest["last_error"]  # the ingest was down while we retried
    received = check_recording(path, stats, lost_sessions=1, streamer=streamer)
    # the stream continues: the recording holds what was streamed on either side (nginx
    # appends the new session; whether the outage shows as a hole depends on its timeline)
    assert received.got.duration >= before_s + after_s - 1
    assert gaps_end_on_keyframes(path, stats["frames_late"]) <= 1
    return outage, stats, received


# make test's time budget: the long version below runs in make reliability
@pytest.mark.reliability
def test_ingest_killed_and_restarted_reconnects(nginx_rtmp):
    outage, _, _ = scenario_kill_restart(nginx_rtmp, before_s=2, after_s=2)
    assert outage.detect_s is not None and outage.detect_s < 1.0
    # refused while down: retried every 0.25 s (refused_delay), so back within that
    assert outage.recover_s is not None and outage.recover_s < 2.0


@pytest.mark.reliability
def test_reliability_ingest_killed(nginx_rtmp, reliability_row):
    outage, stats, received = scenario_kill_restart(nginx_rtmp, before_s=5, after_s=5)
    assert outage.detect_s < 1.0
    assert outage.recover_s <= 1.0, outage
    reliability_row(
        "Ingest killed (SIGKILL), restarted 3 s later on the same port",
        order=1,
        notes=f"reconnects {stats['reconnects']}, disconnected {stats['disconnected_s']:.1f} s "
        f"(refused: retried every 0.25 s); {audio_notes(received.audio)}",
        time_to_detect_s=round(outage.detect_s, 2),
        time_to_recover_s=round(outage.recover_s, 2),
        audio_lost_ms=received.audio.lost_ms,
        video_dropped_frames=video_dropped(stats),
        decode_errors=received.got.decode_errors,
    )


# -- 2. ingest frozen -------------------------------------------------------------------------


def scenario_frozen(
    nginx_rtmp, fault_proxy, *, frozen_s: float, stall_timeout: float, before_s=3.0, after_s=3.0
) -> tuple[Outage, dict[str, Any], Received]:
    server = nginx_rtmp(on_publish_key=KEY, record_append=True)
    proxy = fault_proxy(server.port)
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}",
                             stall_timeout=stall_timeout)  # fmt: skip
    streamer.start()
    try:
        with StatsSampler(streamer) as sampler:
            ride(streamer, before_s)
            start = time.monotonic()
            server.sigstop()
            seen = sampler.wait_disconnected(frozen_s)
            assert seen is not None, f"no stall detected in {frozen_s} s"
            detect = seen.t - start
            # while frozen, the retries time out in the handshake (the kernel still accepts)
            time.sleep(max(0.0, start + frozen_s - time.monotonic()))
            server.sigcont()
            ended = time.monotonic()
            back = sampler.wait_recovered(15)
            assert back is not None
            ride(streamer, after_s)
            stats, path = finish(server, streamer)
    finally:
        server.sigcont()
    dest = stats["destinations"][0]
    assert dest["reconnects"] == 1
    # called stall_timeout after the server's last acknowledgement, which came at most a
    # quarter second of stream (one acknowledgement window) before it froze
    assert stall_timeout - 1.0 <= detect <= stall_timeout + 0.5, detect
    received = check_recording(path, stats, lost_sessions=1, streamer=streamer, proxied=True)
    assert gaps_end_on_keyframes(path, stats["frames_late"]) <= 1
    return Outage(detect, back.t - ended), stats, received


# in make reliability (beside its 15-s version), to keep make test within its budget
@pytest.mark.reliability
def test_frozen_ingest_stall_is_detected(nginx_rtmp, fault_proxy):
    outage, _, _ = scenario_frozen(
        nginx_rtmp, fault_proxy, frozen_s=6, stall_timeout=1.5, before_s=1.5, after_s=2
    )
    assert outage.recover_s < 5.0


@pytest.mark.reliability
def test_reliability_ingest_frozen(nginx_rtmp, fault_proxy, reliability_row):
    outage, stats, received = scenario_frozen(nginx_rtmp, fault_proxy, frozen_s=15, stall_timeout=5)
    assert outage.detect_s <= 5.0, outage
    assert outage.recover_s <= 1.0, outage
    reliability_row(
        "Ingest frozen (SIGSTOP) 15 s, then SIGCONT",
        order=2,
        notes="stall timeout 5 s (default), counted from the server's last RTMP "
        f"acknowledgement; disconnected {stats['disconnected_s']:.1f} s; "
        f"{audio_notes(received.audio)}",
        time_to_detect_s=round(outage.detect_s, 2),
        time_to_recover_s=round(outage.recover_s, 2),
        audio_lost_ms=received.audio.lost_ms,
        video_dropped_frames=video_dropped(stats),
        decode_errors=received.got.decode_errors,
    )


# -- 3. link throttled below the stream bitrate ------------------------------------------------


def scenario_throttle(
    nginx_rtmp,
    fault_proxy,
    monkeypatch,
    *,
    throttle_s: float,
    buffer_ms: int,
    before_s=3.0,
    after_s=4.0,
) -> dict[str, Any]:
    requests: list[float] = []  # monotonic time of every keyframe request the encoder got
    original = VideoEncoder.request_keyframe

    def recorded(self: VideoEncoder) -> None:
        requests.append(time.monotonic())
        original(self)

    monkeypatch.setattr(VideoEncoder, "request_keyframe", recorded)
    server = nginx_rtmp(on_publish_key=KEY)
    proxy = fault_proxy(server.port)
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", buffer_ms=buffer_ms)
    streamer.start()
    with StatsSampler(streamer) as sampler:
        ride(streamer, before_s)
        before = sampler.last().stats
        # 50 % of what the stream measured on the wire (video + audio + RTMP framing)
        rate = before["bitrate_kbps"] * 1000 / 8 * 0.5
        assert rate > 0
        proxy.throttle(rate)
        start = time.monotonic()
        congested = sampler.wait_for(lambda s: s.stats["congestion"] >= 0.5, throttle_s)
        ride(streamer, max(0.0, start + throttle_s - time.monotonic()))
        proxy.throttle(None)
        ended = time.monotonic()
        during = [s for s in sampler.samples if start <= s.t <= ended]
        ride(streamer, after_s)
        after = sampler.last().stats
        server.auth.done_event(KEY).clear()
        streamer.stop()
        stats = streamer.get_statistics()
        samples = list(sampler.samples)
    path = server.recording(KEY, timeout=10)
    dest = stats["destinations"][0]

    # connected throughout: the link was slow, never stalled
    assert all(s.connected for s in samples), "a slow link must not read as a lost one"
    assert dest["reconnects"] == 0
    # the queue stays bounded by buffer_ms, plus the frame that crossed it
    # (DTS are whole milliseconds: +1)
    bound = buffer_ms + FRAME_MS + 1
    assert max(s.stats["buffer_latency_ms"] for s in samples) <= bound
    assert dest["buffer_max_latency_ms"] <= bound
    # audio never dropped while connected; video dropped, keyframe-aligned
    assert stats["audio_packets_dropped"] == 0
    assert stats["video_packets_dropped"] > 0
    assert congested is not None, "congestion never reported"
    assert max(s.stats["congestion"] for s in during) > 0.5
    assert after["congestion"] < 0.5
    received = check_recording(path, stats, lost_sessions=0)
    got = received.got
    assert gaps_end_on_keyframes(path, stats["frames_late"]) >= 1
    assert got.video_frames + stats["video_packets_dropped"] == stats["video_packets"]
    # audio delayed, never lost: every frame in the recording, no hole in its timeline
    assert received.audio.missing == 0 and not received.report.audio_holes
    # picture back within one frame of the queue draining: the buffer asked for a keyframe
    # when it had drained, and the frame after the last hole is that forced keyframe
    assert stats["keyframes_forced"] > 0
    every, _keys = keyframe_times(path)
    resumes = [b for a, b in itertools.pairwise(every) if b - a > 1.5 * FRAME_MS]
    last_resume = resumes[-1]
    offset = samples[0].t - samples[0].stats["uptime_s"]  # stream clock 0 in monotonic time
    asked = [(t - offset) * 1000 for t in requests if (t - offset) * 1000 <= last_resume + 1]
    assert asked, "no keyframe was requested before the picture came back"
    picture_back_ms = last_resume - asked[-1]
    assert picture_back_ms <= 2 * FRAME_MS, picture_back_ms  # a frame, ± the clock read
    # time to recover: throttle off → the queue drained and video flows without drops
    recovered = next(
        (s for s in samples if s.t > ended and s.stats["congestion"] < 0.25), samples[-1]
    )
    return {
        "stats": stats,
        "received": received,
        "detect": (congested.t - start) if congested else None,
        "recover": recovered.t - ended,
        "picture_back_ms": picture_back_ms,
        "max_latency": max(s.stats["buffer_latency_ms"] for s in samples),
        "max_packets": max(s.stats["buffer_packets"] for s in samples),
        "rate": rate,
    }


# make test's time budget: the long version below runs in make reliability
@pytest.mark.reliability
def test_throttled_link_drops_video_keyframe_aligned(nginx_rtmp, fault_proxy, monkeypatch):
    scenario_throttle(
        nginx_rtmp, fault_proxy, monkeypatch, throttle_s=4, buffer_ms=1000, before_s=2, after_s=2.5
    )


@pytest.mark.reliability
def test_reliability_throttled_link(nginx_rtmp, fault_proxy, monkeypatch, reliability_row):
    r = scenario_throttle(nginx_rtmp, fault_proxy, monkeypatch, throttle_s=10, buffer_ms=2000)
    stats = r["stats"]
    reliability_row(
        "Link throttled to 50 % of the stream bitrate for 10 s",
        order=3,
        notes=f"{r['rate'] * 8 / 1000:.0f} kbit/s; queued video span peaked at "
        f"{r['max_latency']} ms, {r['max_packets']} packets (limits 2000 ms / "
        f"{StreamConfig.create('rtmp://h/live/k').max_packets} packets, derived from the span); "
        f"{stats['keyframes_forced']} keyframe(s) forced; picture back "
        f"{r['picture_back_ms']:.0f} ms after the drained queue asked for a keyframe; "
        "detect = throttle on → congestion ≥ 0.5",
        time_to_detect_s=round(r["detect"], 2) if r["detect"] is not None else None,
        time_to_recover_s=round(r["recover"], 2),
        audio_lost_ms=r["received"].audio.lost_ms,
        video_dropped_frames=video_dropped(stats),
        decode_errors=r["received"].got.decode_errors,
    )


# -- 4. connection cut (RST) again and again ----------------------------------------------------


def scenario_cuts(nginx_rtmp, fault_proxy, *, cuts: int, every_s: float,
                  ) -> tuple[list[Outage], dict[str, Any], Received, FaultProxy]:  # fmt: skip
    server = nginx_rtmp(on_publish_key=KEY, record_append=True)
    proxy = fault_proxy(server.port)
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}")
    streamer.start()
    outages = []
    with StatsSampler(streamer) as sampler:
        for _ in range(cuts):
            ride(streamer, every_s)
            start = time.monotonic()
            assert proxy.cut(rst=True) == 1
            seen = sampler.wait_disconnected(5)
            assert seen is not None
            back = sampler.wait_recovered(10)
            assert back is not None
            # the fault ends the instant it happens: recovery counts from the cut
            outages.append(Outage(seen.t - start, back.t - start))
        ride(streamer, every_s)
        stats, path = finish(server, streamer)
    dest = stats["destinations"][0]
    assert dest["reconnects"] == cuts
    assert "reset" in dest["last_error"] or "lost" in dest["last_error"]
    # what left our socket either reached the proxy or died in a cut session's own buffer
    # (ours: what the kernel sets for send_buffer_size, doubled)
    in_flight = in_flight_bytes(streamer, proxied=True)
    assert 0 <= dest["bytes_sent"] - proxy.bytes_up <= cuts * in_flight
    received = check_recording(path, stats, lost_sessions=cuts, streamer=streamer, proxied=True)
    assert gaps_end_on_keyframes(path, stats["frames_late"]) <= cuts
    return outages, stats, received, proxy


# make test's time budget: the long version below runs in make reliability
@pytest.mark.reliability
def test_connection_cut_repeatedly(nginx_rtmp, fault_proxy):
    outages, _, _, _ = scenario_cuts(nginx_rtmp, fault_proxy, cuts=3, every_s=1.5)
    assert max(o.detect_s for o in outages) < 0.5
    assert max(o.recover_s for o in outages) < 1.5  # first retry within 0.5 s


@pytest.mark.reliability
def test_reliability_connection_cut(nginx_rtmp, fault_proxy, reliability_row):
    outages, stats, received, _ = scenario_cuts(nginx_rtmp, fault_proxy, cuts=5, every_s=10)
    assert max(o.recover_s for o in outages) <= 1.0, outages
    detect = max(o.detect_s for o in outages)
    recover = max(o.recover_s for o in outages)
    reliability_row(
        "Proxy cuts the connection (RST) 5 times in a minute",
        order=4,
        notes=f"worst of 5 cuts (mean detect {sum(o.detect_s for o in outages) / 5:.2f} s, "
        f"mean recover {sum(o.recover_s for o in outages) / 5:.2f} s); the fault ends as it "
        f"starts, so recovery counts from the cut; {audio_notes(received.audio)}",
        time_to_detect_s=round(detect, 2),
        time_to_recover_s=round(recover, 2),
        audio_lost_ms=received.audio.lost_ms,
        video_dropped_frames=video_dropped(stats),
        decode_errors=received.got.decode_errors,
    )


# -- 5. servers that never speak RTMP ---------------------------------------------------------


# "silent" waits out the connect timeout: with make test's time budget it runs in make
# reliability, beside the long version below
@pytest.mark.parametrize("mode", [pytest.param("silent", marks=pytest.mark.reliability), "garbage"])
def test_bad_server_fails_the_first_connect(bad_server, mode):
    server = bad_server(mode)
    url = f"rtmp://127.0.0.1:{server.port}/live/{KEY}"
    streamer = make_streamer(url, connect_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        streamer.start()
    took = time.monotonic() - started
    assert took <= 2.0 + 0.5, took
    if mode == "garbage":
        assert took < 1.0  # a wrong answer needs no timeout
    assert KEY not in str(info.value)
    assert not ionia_threads()
    result, _ = cli(url, "--connect-timeout", "2")
    assert result.returncode == 3, result.stderr
    assert KEY not in result.stdout + result.stderr


@pytest.mark.reliability
def test_reliability_bad_servers(bad_server, reliability_row):
    figures = {}
    for mode in ("silent", "garbage"):
        server = bad_server(mode)
        url = f"rtmp://127.0.0.1:{server.port}/live/{KEY}"
        streamer = make_streamer(url)  # the default connect timeout, 5 s
        started = time.monotonic()
        with pytest.raises(ConnectionFailed):
            streamer.start()
        figures[mode] = time.monotonic() - started
        result, took = cli(url)
        assert result.returncode == 3, result.stderr
        figures[f"{mode} cli"] = took
    assert figures["silent"] <= 5.5
    reliability_row(
        "Server accepts TCP and never answers / answers garbage",
        order=5,
        notes=f"ConnectionFailed at start(): silent {figures['silent']:.2f} s (connect timeout "
        f"5 s), garbage {figures['garbage']:.2f} s; CLI exit 3 in {figures['silent cli']:.1f} / "
        f"{figures['garbage cli']:.1f} s including interpreter start-up",
        time_to_detect_s=round(max(figures["silent"], figures["garbage"]), 2),
    )


# -- 6. publish rejected -----------------------------------------------------------------------


def test_rejected_at_first_connect_is_fatal_without_a_loop(nginx_rtmp, fault_proxy):
    server = nginx_rtmp(on_publish_key=KEY, record=False)
    proxy = fault_proxy(server.port)
    url = f"rtmp://127.0.0.1:{proxy.port}/live/wrong-key-1234"
    streamer = make_streamer(url)
    started = time.monotonic()
    with pytest.raises(PublishRejected):
        streamer.start()
    assert time.monotonic() - started < 2
    assert proxy.connections == 1
    result, _took = cli(url, "--reconnect-attempts", "0")
    assert result.returncode == 4, result.stderr
    assert proxy.connections == 2  # one try, no loop
    assert "wrong-key-1234" not in result.stdout + result.stderr


def scenario_rejected_later(nginx_rtmp, fault_proxy, policy: ReconnectPolicy,
                            ) -> tuple[dict[str, Any], Probe, float, FaultProxy]:  # fmt: skip
    server = nginx_rtmp(on_publish_key=KEY, record_append=True)
    proxy = fault_proxy(server.port)
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", reconnect=policy)
    streamer.start()
    ride(streamer, 2)
    server.auth.expected_key = "rotated-key"  # the key expired mid-stream
    start = time.monotonic()
    proxy.cut(rst=True)
    assert streamer.wait(30), "a rejected reconnect must end the stream, not loop"
    gave_up = time.monotonic() - start
    assert isinstance(streamer.error, PublishRejected), streamer.error
    running = streamer.get_statistics()
    assert running["running"] is False and not streamer.is_connected()
    assert running["destinations"][0]["connected"] is False
    assert running["destinations"][0]["failed"] is True
    streamer.stop()
    stats = streamer.get_statistics()
    # the first connection, then the first reconnect and `rejected_retries` more
    assert proxy.connections == 1 + 1 + policy.rejected_retries
    got = probe(server.recording(KEY, timeout=10))
    assert got.decode_errors == 0, got.error_text
    return stats, got, gave_up, proxy


# make test's time budget: the long version below runs in make reliability
@pytest.mark.reliability
def test_rejected_after_a_good_start_is_retried_then_fatal(nginx_rtmp, fault_proxy):
    scenario_rejected_later(nginx_rtmp, fault_proxy, QUICK_RETRY)


@pytest.mark.reliability
def test_reliability_rejections(nginx_rtmp, fault_proxy, reliability_row):
    _stats, got, gave_up, _ = scenario_rejected_later(nginx_rtmp, fault_proxy, ReconnectPolicy())
    server = nginx_rtmp(on_publish_key=KEY, record=False)
    result, took = cli(server.url("wrong-key"))
    assert result.returncode == 4
    reliability_row(
        "Publish rejected: at first connect, and on reconnect after a good start",
        order=6,
        notes=f"first connect: exit 4 after {took:.1f} s (with interpreter start-up), one "
        f"attempt; after a good start: {ReconnectPolicy().rejected_retries} retries, then "
        f"fatal after {gave_up:.1f} s (PublishRejected)",
        decode_errors=got.decode_errors,
    )


# -- 7. start/stop cycles ---------------------------------------------------------------------


def scenario_cycles(nginx_rtmp, cycles: int) -> dict[str, float]:
    server = nginx_rtmp(on_publish_key=None, record=False)
    streamer = make_streamer(server.url(KEY), size="320x240")

    def cycle() -> None:
        streamer.start()
        ride(streamer, 0.3)
        assert streamer.get_statistics()["connected"]
        streamer.stop()
        assert streamer.get_statistics()["video_packets_sent"] > 0

    for _ in range(3):  # warm-up: imports, codec tables, allocator arenas
        cycle()
    threads = {t.name for t in threading.enumerate()}
    fds = open_fds()
    rss = rss_kb()
    started = time.monotonic()
    for _ in range(cycles):
        cycle()
    took = time.monotonic() - started
    assert not ionia_threads()
    assert {t.name for t in threading.enumerate()} <= threads
    after = open_fds()
    assert len(after) <= len(fds), set(after.values()) - set(fds.values())
    assert sockets(after) <= sockets(fds)
    growth_mb = (rss_kb() - rss) / 1024
    return {"growth_mb": growth_mb, "per_cycle_s": took / cycles}


# make test's time budget: the long version below runs in make reliability
@pytest.mark.reliability
def test_start_stop_cycles_leak_nothing(nginx_rtmp):
    result = scenario_cycles(nginx_rtmp, 10)
    assert result["growth_mb"] < 5, result


@pytest.mark.reliability
def test_reliability_start_stop_cycles(nginx_rtmp, reliability_row):
    result = scenario_cycles(nginx_rtmp, 50)
    assert result["growth_mb"] < 5, result
    reliability_row(
        "start()/stop() 50 times in a row",
        order=7,
        notes=f"no ionia thread, fd or socket left; RSS {result['growth_mb']:+.1f} MB over 50 "
        f"cycles (after 3 warm-up); {result['per_cycle_s']:.2f} s per cycle",
    )


# -- stop() with a dead network, true statistics, waiting for the ingest ---------------------


# make test's time budget: the frozen-ingest scenarios run in make reliability
@pytest.mark.reliability
def test_stop_returns_in_time_with_a_frozen_ingest(nginx_rtmp):
    server = nginx_rtmp(on_publish_key=None, record=False)
    streamer = make_streamer(server.url(KEY), stop_timeout=2.0, stall_timeout=30)
    streamer.start()
    try:
        ride(streamer, 1)
        server.sigstop()
        ride(streamer, 2)  # fill every buffer on the way: the sender now blocks in send()
        started = time.monotonic()
        streamer.stop()
        took = time.monotonic() - started
    finally:
        server.sigcont()
    assert took <= 2.0 + 1.0, took
    assert not ionia_threads()


def test_statistics_agree_with_the_wire_and_the_recording(nginx_rtmp, fault_proxy):
    server = nginx_rtmp(on_publish_key=KEY)
    proxy = fault_proxy(server.port)
    streamer = make_streamer(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}")
    streamer.start()
    ride(streamer, 4)
    streamer.stop()
    stats = streamer.get_statistics()
    path = server.recording(KEY)
    assert stats["bytes_sent"] == proxy.bytes_up
    # nginx acknowledges every 256 KiB window it has read (the ack window we ask for)
    assert stats["bytes_sent"] - 256 * 1024 <= stats["bytes_acked"] <= stats["bytes_sent"]
    got = check_recording(path, stats, lost_sessions=0).got
    assert len(got.audio_dts_ms) == stats["audio_packets_sent"]
    assert stats["video_packets_dropped"] == stats["audio_packets_dropped"] == 0


def test_cli_wait_for_ingest_retries_until_it_is_up(nginx_rtmp, fault_proxy, tmp_path):
    stats_path = tmp_path / "stats.json"
    server = nginx_rtmp(on_publish_key=KEY)
    proxy = fault_proxy(server.port)
    proxy.refuse(True)  # the ingest's port answers with a reset, like a service not up yet
    timer = threading.Timer(2.5, proxy.refuse, args=(False,))
    timer.start()
    try:
        result, _ = cli(f"rtmp://127.0.0.1:{proxy.port}/live/{KEY}", "--wait-for-ingest",
                        "--duration", "6", "--stats-json", str(stats_path))  # fmt: skip
    finally:
        timer.cancel()
    assert result.returncode == 0, result.stderr
    assert proxy.connections >= 2
    stats = json.loads(stats_path.read_text())
    assert stats["reconnects"] == 0  # the first session is not a reconnect
    assert stats["disconnected_s"] >= 2.0  # but the wait is counted as time down
    got = probe(server.recording(KEY))
    assert got.decode_errors == 0 and got.video_frames > 0


# -- 8. soak ----------------------------------------------------------------------------------


@pytest.mark.reliability
@pytest.mark.timeout(900)
def test_reliability_soak_720p(nginx_rtmp, reliability_row):
    seconds, warmup = 600, 60
    server = nginx_rtmp(on_publish_key=KEY)
    streamer = make_streamer(server.url(KEY), size="1280x720", video_bitrate=2_500_000)
    streamer.start()
    rss: list[tuple[float, int]] = []
    started = time.monotonic()
    with StatsSampler(streamer, interval=1.0) as sampler:
        while (elapsed := time.monotonic() - started) < seconds:
            ride(streamer, min(10.0, seconds - elapsed))
            rss.append((time.monotonic() - started, rss_kb()))
        stats, path = finish(server, streamer)
        assert all(s.connected for s in sampler.samples[:-1])
    after_warmup = [kb for t, kb in rss if t >= warmup]
    growth_mb = (max(after_warmup[len(after_warmup) // 2 :]) - after_warmup[0]) / 1024
    received = check_recording(path, stats, lost_sessions=0)
    got = received.got
    offsets = received.report.av_offsets_ms
    spread = max(offsets) - min(offsets)
    assert len(offsets) >= seconds - 5
    assert growth_mb < 5, rss
    assert spread <= FRAME_MS, offsets
    assert stats["video_packets_dropped"] == stats["audio_packets_dropped"] == 0
    reliability_row(
        "Soak: 10 minutes at 720p30",
        order=8,
        notes=f"RSS growth after a {warmup} s warm-up {growth_mb:+.1f} MB; A/V offset "
        f"{min(offsets):+.0f}..{max(offsets):+.0f} ms over {len(offsets)} flashes; "
        f"{got.video_frames} frames",
        audio_lost_ms=received.audio.lost_ms,
        video_dropped_frames=video_dropped(stats),
        decode_errors=got.decode_errors,
    )


def test_wait_for_ingest_does_not_retry_a_rejected_key(nginx_rtmp, fault_proxy):
    """--wait-for-ingest retries an ingest that is not up yet, not a wrong key: the first
    rejection before any good session is fatal (exit 4), as it is without the flag."""
    server = nginx_rtmp(on_publish_key=KEY, record=False)
    proxy = fault_proxy(server.port)
    result, took = cli(f"rtmp://127.0.0.1:{proxy.port}/live/wrong-key-99", "--wait-for-ingest")
    assert result.returncode == 4, result.stderr
    assert proxy.connections == 1
    assert took < 5
