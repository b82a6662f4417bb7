"""Adaptive bitrate: follow what the link actually carries, and climb back when it recovers.

Congestion shows first in the send buffer (the kernel's buffer is kept small on purpose), so
the controller watches the queued span: when it grows past a fraction of ``--buffer-ms``,
the video bitrate drops to what the socket accepted over the last window, minus audio and a
margin, well before the buffer would have to drop frames. While the queue stays short the
bitrate climbs back in steps of 10 % of the target, never above the target, never below
the floor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ionia.output.output import Output

log = logging.getLogger("ionia.adaptive")


@dataclass(frozen=True, kw_only=True)
class AdaptiveSettings:
    target: int
    floor: int
    audio_bitrate: int = 0
    #: queued span (fraction of the buffer's limit) that counts as congestion
    congested_at: float = 0.2
    #: queued span below which the link is called healthy
    healthy_below: float = 0.05
    #: seconds of throughput measurement
    window_s: float = 1.5
    #: share of the measured throughput given to video (headroom for bursts and audio)
    margin: float = 0.85
    #: step up, as a fraction of the target
    step: float = 0.10
    #: healthy seconds between steps up
    raise_every_s: float = 2.0
    #: seconds after a cut before another cut (the queue needs time to drain)
    settle_s: float = 1.5


class BitrateController:
    """Decides the video bitrate from (time, bytes sent, queued span) samples."""

    def __init__(self, settings: AdaptiveSettings) -> None:
        self.settings = settings
        self.bitrate = settings.target
        self._samples: deque[tuple[float, int]] = deque()
        self._healthy_since: float | None = None
        self._last_cut = float("-inf")
        self.cuts = 0

    def link_bps(self) -> float | None:
        """Bits per second the socket accepted over the window (None until measured)."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.settings.window_s / 2:
            return None
        return (b1 - b0) * 8 / (t1 - t0)

    def update(self, now: float, bytes_sent: int, queued_ms: int, limit_ms: int) -> int | None:
        """Feed one sample; return a new bitrate when it should change, else None."""
        s = self.settings
        self._samples.append((now, bytes_sent))
        while self._samples and now - self._samples[0][0] > s.window_s:
            self._samples.popleft()
        fill = queued_ms / limit_ms if limit_ms else 0.0
        if fill >= s.congested_at:
            self._healthy_since = None
            link = self.link_bps()
            if link is None or now - self._last_cut < s.settle_s:
                return None
            wanted = int(link * s.margin) - s.audio_bitrate
            new = max(s.floor, min(self.bitrate, wanted))
            if new < self.bitrate:
                self._last_cut = now
                self.cuts += 1
                return self._set(new, f"link carries {link / 1000:.0f} kbit/s")
            return None
        if fill > s.healthy_below:
            self._healthy_since = None
            return None
        if self._healthy_since is None:
            self._healthy_since = now
            return None
        if self.bitrate < s.target and now - self._healthy_since >= s.raise_every_s:
            self._healthy_since = now
            return self._set(min(s.target, self.bitrate + int(s.step * s.target)), "link healthy")
        return None

    def _set(self, bitrate: int, why: str) -> int:
        log.info("video bitrate %d → %d kbit/s (%s)", self.bitrate // 1000, bitrate // 1000, why)
        self.bitrate = bitrate
        return bitrate


class AdaptiveBitrate:
    """Thread ``ionia-abr``: feeds one controller per live network output and sets the
    encoder to the lowest of their bitrates (the slowest healthy destination)."""

    TICK_S = 0.25

    def __init__(
        self,
        settings: AdaptiveSettings,
        outputs: Callable[[], Sequence[Output]],
        set_bitrate: Callable[[int], None],
    ) -> None:
        self._settings = settings
        self._outputs = outputs
        self._set_bitrate = set_bitrate
        self._controllers: dict[int, BitrateController] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.bitrate = settings.target

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ionia-abr", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.TICK_S):
            self.tick(time.monotonic())

    def tick(self, now: float) -> None:
        live = [o for o in self._outputs() if o.is_network and o.failed is None and o.connected]
        bitrates = []
        for output in live:
            controller = self._controllers.setdefault(
                id(output), BitrateController(replace(self._settings, target=self.bitrate))
            )
            controller.settings = replace(controller.settings, target=self._settings.target)
            stats = output.buffer.stats()
            controller.update(
                now, output.sender.stats().bytes_sent, stats.latency_ms, output.max_latency_ms
            )
            bitrates.append(controller.bitrate)
        if bitrates and min(bitrates) != self.bitrate:
            self.bitrate = min(bitrates)
            self._set_bitrate(self.bitrate)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
