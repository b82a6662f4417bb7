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
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ionia.worker import Worker

if TYPE_CHECKING:
    from ionia.output.output import Output

log = logging.getLogger("ionia.adaptive")


@dataclass(frozen=True, kw_only=True)
class AdaptiveSettings:
    target: int
    floor: int
    audio_bitrate: int = 0
    #: queue fill (the larger of span / ``max_latency_ms`` and packets / ``max_packets``)
    #: that counts as congestion; the count limit is usually the first one a backlog meets
    congested_at: float = 0.1
    #: queue fill below which the link is called healthy
    healthy_below: float = 0.05
    #: seconds of throughput measurement, at most
    window_s: float = 1.5
    #: seconds of backlog needed before the link's throughput counts as measured
    measure_s: float = 0.75
    #: share of the measured throughput given to video (headroom for bursts and audio)
    margin: float = 0.85
    #: a cut also makes room to send the backlog within this many seconds, so the queue
    #: drains instead of growing into the buffer's drop threshold
    drain_s: float = 2.0
    #: a cut before the link is measured multiplies the bitrate by this
    backoff: float = 0.5
    #: step up, as a fraction of the target
    step: float = 0.10
    #: each step above the ceiling that the link keeps up with is this much bigger
    step_growth: float = 1.5
    #: healthy seconds between steps up (the path's buffers hide an overshoot for ~2 s)
    raise_every_s: float = 2.0
    #: healthy seconds before stepping above what the link carried at the last cut; each
    #: probe the link could not carry doubles the wait, up to ``probe_max_s``
    probe_after_s: float = 5.0
    probe_max_s: float = 20.0
    #: seconds after a cut before another cut (the queue needs time to drain)
    settle_s: float = 1.0


class BitrateController:
    """Decides the video bitrate from (time, bytes sent, queue fill) samples.

    A cut goes to what the link carried over the window (minus audio, a margin and the
    backlog's drain); that rate, without the drain, becomes the *ceiling*. Once the queue is
    short again the bitrate returns to the ceiling at once, and climbs above it only after
    ``probe_after_s`` of health, in steps that grow while the link keeps up: a steady slow
    link is probed rarely, a link that came back is followed up to the target in seconds.
    """

    def __init__(self, settings: AdaptiveSettings, *, start: int | None = None) -> None:
        self.settings = settings
        #: a destination added while the encoder is already lowered starts from there
        self.bitrate = settings.target if start is None else start
        self.ceiling = settings.target
        #: (time, bytes sent, a backlog was queued)
        self._samples: deque[tuple[float, int, bool]] = deque()
        self._healthy_since: float | None = None
        self._last_change = float("-inf")
        self._last_cut = float("-inf")
        self._provisional_cut = False
        self._step = settings.step
        self._probe_wait = settings.probe_after_s
        self._probing = False
        self.cuts = 0

    def link_bps(self) -> float | None:
        """Bits per second the link carried while a backlog waited (None until measured).

        Only samples taken while the queue held a backlog count: the sender was then
        blocked on the socket, so what it accepted is what the link carries. Before that,
        the socket accepted what the encoder produced (less than the link, or more while
        the kernel's and the path's buffers filled), which says nothing about the link."""
        samples = self._samples
        if len(samples) < 2 or not samples[-1][2]:
            return None
        first = len(samples) - 1
        while first > 0 and samples[first - 1][2]:
            first -= 1
        (t0, b0, _), (t1, b1, _) = samples[first], samples[-1]
        if t1 - t0 < self.settings.measure_s:
            return None
        return (b1 - b0) * 8 / (t1 - t0)

    def update(self, now: float, bytes_sent: int, fill: float, queued_bytes: int = 0) -> int | None:
        """Feed one sample; return a new bitrate when it should change, else None.

        ``fill`` is how full the send queue is (0 empty, 1 at the drop threshold);
        ``queued_bytes`` the payload waiting in it."""
        s = self.settings
        self._samples.append((now, bytes_sent, fill > s.healthy_below))
        while self._samples and now - self._samples[0][0] > s.window_s:
            self._samples.popleft()
        if fill >= s.congested_at:
            return self._congested(now, queued_bytes)
        if fill > s.healthy_below:
            self._healthy_since = None
            return None
        self._provisional_cut = False
        if self._healthy_since is None:
            self._healthy_since = now
        if self.bitrate >= s.target:
            return None
        if self.bitrate < self.ceiling:
            # what the link carried at the last cut: safe to return to at once
            return self._set(now, self.ceiling, "queue drained")
        healthy_for = now - self._healthy_since
        since_change = now - self._last_change
        if self.ceiling < s.target and healthy_for < self._probe_wait:
            return None
        if since_change < s.raise_every_s:
            return None
        new = min(s.target, self.bitrate + int(self._step * s.target))
        self._step *= s.step_growth
        self.ceiling = new
        self._probing = new < s.target
        if not self._probing:
            self._probe_wait = s.probe_after_s
        return self._set(now, new, "link healthy")

    def _congested(self, now: float, queued_bytes: int) -> int | None:
        s = self.settings
        self._healthy_since = None
        self._step = s.step
        link = self.link_bps()
        if link is None:
            # Not measured yet, and the path's buffers are already full: halve now (the
            # encoder takes ~0.5 s to follow), refine once the link is measured.
            if self._provisional_cut:
                return None
            self._provisional_cut = True
            new = max(s.floor, int(self.bitrate * s.backoff))
            self.ceiling = min(self.ceiling, new)
            why = "queue growing"
        else:
            if now - self._last_cut < s.settle_s:
                return None
            if self._probing:  # the last step up was too much: probe less often
                self._probing = False
                self._probe_wait = min(s.probe_max_s, 2 * self._probe_wait)
            fits = int(link * s.margin) - s.audio_bitrate
            self.ceiling = max(s.floor, min(self.ceiling, fits))
            new = max(s.floor, fits - int(queued_bytes * 8 / s.drain_s))
            why = f"link carries {link / 1000:.0f} kbit/s"
        if new >= self.bitrate:
            return None
        self._last_cut = now
        self.cuts += 1
        return self._set(now, new, why)

    def _set(self, now: float, bitrate: int, why: str) -> int:
        log.info("video bitrate %d → %d kbit/s (%s)", self.bitrate // 1000, bitrate // 1000, why)
        self.bitrate = bitrate
        self._last_change = now
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
        on_crash: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._settings = settings
        self._outputs = outputs
        self._set_bitrate = set_bitrate
        #: by id(), each with the output it belongs to: holding the output keeps its id from
        #: being reused by a new output (after a rotation) while the entry exists
        self._controllers: dict[int, tuple[Output, BitrateController]] = {}
        self._worker = Worker("ionia-abr", self._run, on_crash=on_crash or self._crashed)
        self.bitrate = settings.target

    def start(self) -> None:
        self._worker.start()

    def _run(self) -> None:
        while not self._worker.stopping.wait(self.TICK_S):
            self.tick(time.monotonic())

    def tick(self, now: float) -> None:
        outputs = self._outputs()
        current = {id(o) for o in outputs}
        for gone in [key for key in self._controllers if key not in current]:
            del self._controllers[gone]
        live = [o for o in outputs if o.is_network and o.failed is None and o.connected]
        bitrates = []
        for output in live:
            entry = self._controllers.get(id(output))
            if entry is None:
                entry = (output, BitrateController(self._settings, start=self.bitrate))
                self._controllers[id(output)] = entry
            controller = entry[1]
            stats, limits = output.buffer.stats(), output.buffer.config
            # Congestion by count matters: with audio queued alongside, 100 packets is
            # about 1.3 s, well before the 2 s span limit.
            fill = max(stats.latency_ms / limits.max_latency_ms, stats.packets / limits.max_packets)
            controller.update(now, output.sender.bytes_sent, fill, stats.bytes)
            bitrates.append(controller.bitrate)
        if bitrates and min(bitrates) != self.bitrate:
            self.bitrate = min(bitrates)
            self._set_bitrate(self.bitrate)

    def _crashed(self, exc: BaseException) -> None:
        log.error("adaptive bitrate stopped (%s): the video bitrate stays at %d", exc, self.bitrate)

    def stop(self) -> None:
        self._worker.stop(2.0)
