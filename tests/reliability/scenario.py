"""Helpers of the fault-injection scenarios: a streamer to break, a statistics sampler that
timestamps what the engine reports, and the figures of a reliability row.

Every figure is measured, never assumed:

- *time to detect*: from the instant the fault starts to the first statistics sample that
  shows the destination disconnected (sampled every 50 ms, so ±50 ms);
- *time to recover*: from the instant the fault ends to the first sample that shows the
  destination connected again *and* a video packet sent on the new session;
- *audio lost*: the holes in the received audio timeline (gaps between consecutive AAC
  packets beyond one frame), which is what a viewer hears missing;
- *video dropped*: the send buffer's dropped video packets (frames), cross-checked against
  the encoded frames minus the frames in the recording.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import resource
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ionia import VideoAudioStreamer
from ionia.analysis import analyze
from tests.fixtures.media import Probe

FPS = 30
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


def audio_gaps_ms(probed: Probe) -> float:
    """Milliseconds of audio missing from the recording: gaps beyond one AAC frame.

    nginx's ``record_append`` closes the timeline of a new publish onto the end of the old
    one, so a gap of a reconnect shows as the audio packets the buffer discarded, not as a
    hole in the DTS: callers add the buffer's counted audio drops (see ``audio_lost_ms``).
    """
    dts = probed.audio_dts_ms
    lost = 0.0
    for a, b in itertools.pairwise(dts):
        step = b - a
        if step > AAC_FRAME_MS * 1.5:
            lost += step - AAC_FRAME_MS
    return lost


def audio_lost_ms(stats: dict[str, Any], probed: Probe | None = None) -> float:
    """Audio a listener misses: packets the buffer dropped (disconnected) plus holes in the
    recording's timeline. Counted per AAC frame of 1024 samples."""
    dropped = stats["audio_packets_dropped"] * AAC_FRAME_MS
    holes = audio_gaps_ms(probed) if probed is not None else 0.0
    return round(dropped + holes, 1)


# -- A/V sync across reconnects ---------------------------------------------------------------

#: 1 ms blocks, the beep threshold of ``ionia.analysis``
BLOCK = 48
BEEP_RMS = 0.05


def av_offsets_ms(path: Path) -> list[float]:
    """Beep − flash (ms) for every flash with a beep within 0.5 s.

    ``ionia.analysis`` places every audio frame at its own timestamp and ignores an onset
    at the start of a segment after a hole: there the decoder's overlap with the last frame
    before the hole can sound like the start of a beep.
    """
    return analyze(path).av_offsets_ms


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
