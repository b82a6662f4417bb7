"""Helpers of the fault-injection scenarios: a streamer to break, a statistics sampler that
timestamps what the engine reports, and the figures of a reliability row.

Every figure is measured, never assumed:

- *time to detect*: from the instant the fault starts to the first statistics sample that
  shows the destination disconnected (sampled every 50 ms, so ±50 ms);
- *time to recover*: from the instant the fault ends to the first sample that shows the
  destination connected again *and* a video packet sent on the new session;
- *audio lost*: the AAC frames missing from the received recording (the encoder's count
  minus the recording's), which is what a listener misses; checked against the buffer's
  drops plus what the aborted sessions can have had in flight, and against the holes in
  the recording's audio timeline (``measure_audio_loss``);
- *sync*: every segment of the recording (split at each hole) in sync within a frame
  (``check_sync``);
- *video dropped*: the send buffer's dropped video packets (frames), cross-checked against
  the encoded frames minus the frames in the recording.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import resource
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from ionia import VideoAudioStreamer
from ionia.analysis import MediaReport, Reason
from ionia.output.rtmp_sink import send_buffer_size
from tests.fixtures.media import Probe
from tests.fixtures.proxy import RECV_SIZE, SOCKET_BUFFER

FPS = 30
#: one frame: the sync every segment must hold
FRAME_MS = 1000 / FPS
#: one AAC frame: 1024 samples at 48 kHz
AAC_FRAME_MS = 1024 / 48_000 * 1000
SAMPLE_S = 0.05
#: the scenarios' stream: small enough for two cores, big enough to congest a throttled link
BITRATE = 1_000_000
SIZE = "640x360"


def make_streamer(url: str, **options: Any) -> VideoAudioStreamer:
    """A test pattern + beep streamer; ``options`` override the scenario defaults."""
    settings: dict[str, Any] = {
        "fps": FPS,
        "video_bitrate": BITRATE,
        "audio_mode": "tone",
        "video_source": "testsrc",
        "size": SIZE,
        "keyint": 2,
    }
    settings.update(options)
    fps = settings.pop("fps")
    bitrate = settings.pop("video_bitrate")
    streamer = VideoAudioStreamer()
    streamer.initialize(url, fps=fps, video_bitrate=bitrate, **settings)
    MADE.append(streamer)
    return streamer


#: every streamer made, so a failing scenario's teardown still stops it (``stop_all``)
MADE: list[VideoAudioStreamer] = []


def stop_all() -> None:
    while MADE:
        MADE.pop().stop()


@dataclass(frozen=True)
class Sample:
    t: float
    connected: bool
    video_sent: int
    stats: dict[str, Any] = field(repr=False)


class StatsSampler:
    """Thread ``stats-sampler``: ``get_statistics()`` every 50 ms, for the whole scenario.

    Only the first destination is followed (the scenarios have one). Use as a context manager
    around the streaming part; ``stop()`` joins it.
    """

    def __init__(self, streamer: VideoAudioStreamer, interval: float = SAMPLE_S) -> None:
        self._streamer = streamer
        self._interval = interval
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._new = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="stats-sampler", daemon=True)

    def __enter__(self) -> StatsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._new:
            self._new.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = self._streamer.get_statistics()
            dests = stats.get("destinations") or [{}]
            dest = dests[0]
            sample = Sample(
                t=time.monotonic(),
                connected=bool(dest.get("connected")),
                video_sent=int(dest.get("video_packets_sent", 0)),
                stats=stats,
            )
            with self._new:
                self.samples.append(sample)
                self._new.notify_all()
            self._stop.wait(self._interval)

    # -- queries ---------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[Sample], bool], timeout: float) -> Sample | None:
        """The first sample from now on that satisfies ``predicate`` (None on timeout)."""
        deadline = time.monotonic() + timeout
        with self._new:
            seen = len(self.samples)
            while True:
                for sample in self.samples[seen:]:
                    if predicate(sample):
                        return sample
                seen = len(self.samples)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return None
                self._new.wait(remaining)

    def wait_disconnected(self, timeout: float) -> Sample | None:
        return self.wait_for(lambda s: not s.connected, timeout)

    def wait_recovered(self, timeout: float) -> Sample | None:
        """Connected again and a video packet sent on the new session."""
        with self._lock:
            down = [s for s in self.samples if not s.connected]
            baseline = down[-1].video_sent if down else 0
        return self.wait_for(lambda s: s.connected and s.video_sent > baseline, timeout)

    def last(self) -> Sample:
        with self._lock:
            return self.samples[-1]

    def max_of(self, key: str) -> float:
        with self._lock:
            return max((s.stats["destinations"][0].get(key) or 0) for s in self.samples)

    def connected_samples(self) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.connected]


# -- what arrived: sync in every segment, audio lost ------------------------------------------


def check_sync(report: MediaReport, *, tolerance_ms: float = FRAME_MS) -> None:
    """Every segment of the recording (split at each hole or jump of either track, so at
    every reconnect) is in sync: all but at most one of its flashes paired with a beep
    within ``tolerance_ms``, no beep without a flash in continuous video, and a flash for
    every second its video covers. The one exception is the marker a hole may cut."""
    assert report.segments, f"nothing to measure in {report.path}"
    assert report.pairs, report.summary()
    failures = []
    for number, segment in enumerate(report.segments):

        def inside(t: float, n: int = number) -> bool:
            return report.segment_of(t) == n

        flashes = [p.flash_s for p in report.pairs if inside(p.flash_s)]
        flashes += [u.at_s for u in report.unpaired_flashes if inside(u.at_s)]
        bad = [
            f"flash at {p.flash_s:.3f} s: beep {p.offset_ms:+.0f} ms"
            for p in report.pairs
            if inside(p.flash_s) and abs(p.offset_ms) > tolerance_ms
        ]
        bad += [f"flash at {u.at_s:.3f} s: {u.reason}" for u in report.unpaired_flashes
                if inside(u.at_s)]  # fmt: skip
        bad += [f"beep at {u.at_s:.3f} s: {u.reason}" for u in report.unpaired_beeps
                if inside(u.at_s) and u.reason is Reason.NO_FLASH]  # fmt: skip
        seen = report.video_seconds(segment.start_s, segment.end_s)
        # markers come once a second: continuous video of L s shows at least floor(L)
        if len(flashes) < int(seen):
            bad.append(f"{len(flashes)} flashes in {seen:.2f} s of video")
        if len(bad) > 1:
            failures.append(
                f"segment {number + 1} of {len(report.segments)} ({segment.start_s:.3f}-"
                f"{segment.end_s:.3f} s, after the {segment.after}): {len(bad)} faults "
                f"among {len(flashes)} flashes, at most 1 allowed within {tolerance_ms:.0f} "
                "ms:\n    " + "\n    ".join(bad)
            )
    assert not failures, f"{report.path} out of sync:\n  " + "\n  ".join(failures)


def in_flight_bytes(streamer: VideoAudioStreamer, *, proxied: bool) -> int:
    """What one aborted session can take with it: the bytes that can sit between our
    ``send()`` and nginx's ``read()``, from the buffers' own sizes.

    Our ``SO_SNDBUF`` (``send_buffer_size`` of the stream's bitrate, doubled by Linux for
    its bookkeeping); the fault proxy's, when on the path (its receive and send buffers,
    doubled likewise, and the chunk in its hands); nginx's receive buffer (the kernel's
    default, ``tcp_rmem``: nginx sets none).
    """
    config = streamer.config
    ours = 2 * send_buffer_size(config.video_bitrate + config.audio_bitrate)
    proxy = 2 * (2 * SOCKET_BUFFER) + RECV_SIZE if proxied else 0
    with open("/proc/sys/net/ipv4/tcp_rmem") as f:
        nginx = int(f.read().split()[1])
    return ours + proxy + nginx


def stream_seconds_in(path: Path, nbytes: int) -> float:
    """The longest stretch of this stream that ``nbytes`` can hold: the shortest window
    of the recording's own packets that carries ``nbytes`` (its sparsest part; the wire
    adds FLV/RTMP headers, so this errs long)."""
    times, sizes = [], []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size and packet.dts is not None and packet.time_base is not None:
                times.append(float(packet.dts * packet.time_base))
                sizes.append(packet.size)
    order = np.argsort(times, kind="stable")
    t = np.asarray(times)[order]
    total = np.concatenate([[0], np.cumsum(np.asarray(sizes)[order])])

    def fewest(span: float) -> int:
        """The fewest bytes any window of ``span`` seconds inside the recording holds."""
        starts = np.flatnonzero(t + span <= t[-1])
        ends = np.searchsorted(t, t[starts] + span, side="left")
        return int((total[ends] - total[starts]).min(initial=total[-1]))

    lo, hi = 0.0, max(float(t[-1] - t[0]), 0.0) if len(t) else 0.0
    if fewest(hi) < nbytes:
        return hi  # the whole recording is smaller than the buffers
    for _ in range(40):  # bisect to well under a millisecond
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if fewest(mid) < nbytes else (lo, mid)
    return hi


@dataclass(frozen=True, kw_only=True)
class AudioLoss:
    """Audio missing from a recording, measured from it, against what the streamer says."""

    #: AAC frames the encoder made, and the ones in the recording
    encoded: int
    recorded: int
    #: frames the send buffer discarded while disconnected (``audio_packets_dropped``),
    #: or left unsent at the stop deadline (``audio_packets_unsent``)
    dropped: int
    #: holes in the recording's audio timeline, ms (a server that appends a returning
    #: publisher at its last timestamp closes them: the frames are missing all the same)
    timeline_ms: float
    #: frames aborted sessions may have lost in flight: ``in_flight_s`` of stream each
    bound: int
    in_flight_s: float

    @property
    def missing(self) -> int:
        return self.encoded - self.recorded

    @property
    def lost_ms(self) -> float:
        """What a listener misses: every AAC frame absent from the recording."""
        return round(self.missing * AAC_FRAME_MS, 1)


def measure_audio_loss(path: Path, got: Probe, report: MediaReport, stats: dict[str, Any], *,
                       lost_sessions: int, in_flight: int) -> AudioLoss:  # fmt: skip
    """Audio lost, from the recording, checked against the streamer's drops: everything it
    dropped is missing, and nothing more is missing than the ``lost_sessions`` aborted
    sessions can have had in flight (``in_flight`` bytes each, as stream time from the
    recording's sparsest stretch). No hole in the timeline is larger than what is missing
    (else timestamps ran ahead)."""
    in_flight_s = stream_seconds_in(path, in_flight) if lost_sessions else 0.0
    # per session: its frames in flight, plus one cut by the window's edge and one
    # half-received in nginx's hands
    per_session = math.ceil(in_flight_s * 1000 / AAC_FRAME_MS) + 2
    loss = AudioLoss(
        encoded=stats["audio_packets"],
        recorded=len(got.audio_dts_ms),
        dropped=stats["audio_packets_dropped"] + stats["audio_packets_unsent"],
        timeline_ms=report.audio_hole_ms,
        bound=lost_sessions * per_session,
        in_flight_s=in_flight_s,
    )
    assert loss.missing >= loss.dropped, (
        f"the recording holds {loss.recorded} of {loss.encoded} AAC frames: more than the "
        f"{loss.encoded - loss.dropped} the streamer did not drop"
    )
    assert loss.missing - loss.dropped <= loss.bound, (
        f"{loss.missing} AAC frames missing from the recording, {loss.dropped} dropped by "
        f"the buffer: {loss.missing - loss.dropped} lost beyond that, more than "
        f"{lost_sessions} aborted session(s) can hold ({loss.bound}: {in_flight} bytes "
        f"in flight = {in_flight_s:.2f} s of this stream each)"
    )
    # per hole, the timestamps' rounding to 1 ms and a frame the new session starts with
    slack = len(report.audio_holes) * (AAC_FRAME_MS + 1)
    assert loss.timeline_ms <= loss.missing * AAC_FRAME_MS + slack, (
        f"the audio timeline has {loss.timeline_ms:.0f} ms of holes but only "
        f"{loss.lost_ms:.0f} ms of audio is missing: timestamps ran ahead\n{report.summary()}"
    )
    return loss


# -- leak checks ---------------------------------------------------------------------------


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds() -> dict[int, str]:
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return fds


def sockets(fds: dict[int, str]) -> int:
    return sum(1 for target in fds.values() if target.startswith("socket:"))


def ionia_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("ionia"))


def fd_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as took: ...``; ``took[0]`` is the elapsed seconds afterwards."""
    took: list[float] = []
    start = time.monotonic()
    try:
        yield took
    finally:
        took.append(time.monotonic() - start)


def nginx_errors(error_log: Path) -> list[str]:
    """Lines of nginx's error log at level [error] or worse (its [info] chatter excluded)."""
    try:
        text = error_log.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if re.search(r"\[(error|crit|alert|emerg)\]", line)]
