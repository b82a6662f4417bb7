"""Adaptive bitrate: follow what the link actually carries, and climb back when it recovers.

Congestion shows first in what the ingest has not acknowledged yet: a server acknowledges
what its application has read, so bytes sent but unacknowledged are the backlog on the way
(our socket, the path's buffers, the server's), seen seconds before the path's buffers are
full and our own queue grows. While that backlog stands, what the server acknowledges per
second is what the link carries, measured at the far end, so the path's buffers filling
cannot inflate it. From a server that never acknowledges, the socket's accepted bytes and
the send queue stand in (seen later: the path's buffers hide the onset).

Above the last measured link the bitrate climbs only by short probes: a pulse well above
it for ``pulse_s``, ended early as soon as the backlog grows. A pulse the link carries
becomes the new ceiling (and the next one comes soon, so a recovered link is followed up
to the target in seconds); one it cannot carry measures the link and waits twice as long
before the next, so a steady slow link is rarely exceeded.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ionia.output.sink import Delivery
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
    #: seconds of stream on the way, unacknowledged, beyond the path's usual least (its
    #: round trip and acknowledgement window), that count as a backlog...
    backlog_s: float = 0.2
    #: ... and as congestion, once the link is measured
    congested_s: float = 0.4
    #: seconds over which the usual least on the way is taken (a backlog that stood this
    #: long would become the usual: cuts drain it well before)
    floor_window_s: float = 30.0
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
    #: a probe goes to at least this many times the ceiling...
    pulse_gain: float = 1.5
    #: ... or the ceiling plus this fraction of the target, whichever is more
    step: float = 0.10
    #: seconds a probe lasts, at most (the encoder follows in ~0.5 s)
    pulse_s: float = 1.5
    #: a probe failed once the backlog grew by this many seconds of the probed rate...
    pulse_growth_s: float = 0.08
    #: ... its least over this many seconds, so a keyframe on its way is not growth
    backlog_floor_s: float = 0.4
    #: healthy seconds between a probe the link carried and the next one
    raise_every_s: float = 2.0
    #: healthy seconds before probing above what the link carried at the last cut; each
    #: probe the link could not carry doubles the wait, up to ``probe_max_s``
    probe_after_s: float = 5.0
    probe_max_s: float = 20.0
    #: seconds after a cut before another cut (the queue needs time to drain)
    settle_s: float = 1.0


@dataclass(frozen=True)
class _Pulse:
    started: float
    #: the backlog (queued plus unacknowledged bytes, its least) when it started
    backlog: int


class BitrateController:
    """Decides the video bitrate from (time, delivery, queue fill) samples.

    A cut goes to what the link carried over the window (minus audio, a margin and the
    backlog's drain); that rate, without the drain, becomes the *ceiling*. Once the backlog
    is gone the bitrate returns to the ceiling at once; above it, only a probe that the
    link carried raises the ceiling (see the module's text).
    """

    def __init__(self, settings: AdaptiveSettings, *, start: int | None = None) -> None:
        self.settings = settings
        #: a destination added while the encoder is already lowered starts from there
        self.bitrate = settings.target if start is None else start
        self.ceiling = settings.target
        #: (time, bytes delivered, a backlog was waiting)
        self._samples: deque[tuple[float, int, bool]] = deque()
        #: (time, queued plus unacknowledged bytes) over the last ``backlog_floor_s``
        self._backlogs: deque[tuple[float, int]] = deque()
        #: (time, least of those) over the last ``floor_window_s``
        self._leasts: deque[tuple[float, int]] = deque()
        self._acknowledged: bool | None = None
        self._healthy_since: float | None = None
        self._last_change = float("-inf")
        self._last_cut = float("-inf")
        self._provisional_cut = False
        self._ceiling_guessed = False
        self._probe_wait = settings.probe_after_s
        self._pulse: _Pulse | None = None
        self.cuts = 0
        self.probes = 0

    def link_bps(self) -> float | None:
        """Bits per second the link carried while a backlog waited (None until measured).

        Only samples taken while a backlog waited count: the link was then the limit, so
        what was delivered is what it carries. Before that, delivery followed what the
        encoder produced, which says nothing about the link."""
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

    def update(
        self, now: float, delivery: Delivery | int, fill: float, queued_bytes: int = 0
    ) -> int | None:
        """Feed one sample; return a new bitrate when it should change, else None.

        ``delivery`` is what the destination has taken (a plain count: bytes the socket
        took, from a server that does not acknowledge); ``fill`` how full the send queue
        is (0 empty, 1 at the drop threshold); ``queued_bytes`` the payload waiting in it."""
        s = self.settings
        if isinstance(delivery, int):
            delivery = Delivery(delivery)
        rate = self.bitrate + s.audio_bitrate
        acknowledged = delivery.in_flight is not None
        samples = self._samples
        if acknowledged != self._acknowledged or (samples and delivery.bytes < samples[-1][1]):
            # another counter (the first acknowledgement, a new session): start again
            samples.clear()
            self._backlogs.clear()
            self._leasts.clear()
        self._acknowledged = acknowledged
        least = _windowed(
            self._backlogs, now, s.backlog_floor_s, queued_bytes + (delivery.in_flight or 0)
        )
        usual = _windowed(self._leasts, now, s.floor_window_s, least)
        # what waits beyond the path's usual: in our queue and on the way
        waiting = least - usual if acknowledged else queued_bytes
        path_s = waiting * 8 / rate if acknowledged else 0.0
        backlog = fill > s.healthy_below or path_s > s.backlog_s
        samples.append((now, delivery.bytes, backlog))
        while samples and now - samples[0][0] > s.window_s:
            samples.popleft()
        if self._pulse is not None:
            return self._probing(now, fill, least, waiting)
        if fill >= s.congested_at or (path_s >= s.congested_s and self.link_bps() is not None):
            return self._congested(now, waiting)
        if backlog:
            self._healthy_since = None
            return None
        self._provisional_cut = False
        if self._healthy_since is None:
            self._healthy_since = now
        if self.bitrate >= s.target:
            return None
        if self.bitrate < self.ceiling:
            # what the link carried at the last cut: safe to return to at once
            return self._set(now, self.ceiling, "backlog drained")
        if (
            now - self._healthy_since < self._probe_wait
            or now - self._last_change < s.raise_every_s
        ):
            return None
        probe = min(
            s.target, max(int(self.ceiling * s.pulse_gain), self.ceiling + int(s.step * s.target))
        )
        self._pulse = _Pulse(now, least)
        self.probes += 1
        return self._set(now, probe, "probing the link")

    def _probing(self, now: float, fill: float, backlog: int, waiting: int) -> int | None:
        """During a probe: end it when the backlog (its least over ``backlog_floor_s``)
        grows, as the link cannot carry it, or when it has lasted ``pulse_s`` without."""
        s, pulse = self.settings, self._pulse
        assert pulse is not None
        grown = backlog - pulse.backlog > s.pulse_growth_s * (self.bitrate + s.audio_bitrate) / 8
        if not grown and fill < s.congested_at:
            if now - pulse.started < s.pulse_s:
                return None
            self._pulse = None
            self.ceiling = self.bitrate
            self._probe_wait = s.raise_every_s if self.bitrate < s.target else s.probe_after_s
            log.info("video bitrate %d kbit/s: the link carries it", self.bitrate // 1000)
            return None
        self._pulse = None
        self._healthy_since = None
        self._provisional_cut = True  # this was the cut: refine it once the link is measured
        self._probe_wait = min(s.probe_max_s, 2 * self._probe_wait)
        # the link was the limit while the backlog grew: what it delivered is its rate
        link = self.link_bps()
        if link is not None:
            fits = int(link * s.margin) - s.audio_bitrate
            self.ceiling = max(s.floor, min(self.bitrate, max(self.ceiling, fits)))
        why = "the link did not carry the probe"
        return self._set(now, max(s.floor, self.ceiling - int(waiting * 8 / s.drain_s)), why)

    def _congested(self, now: float, waiting: int) -> int | None:
        s = self.settings
        self._healthy_since = None
        link = self.link_bps()
        if link is None:
            # Not measured yet, and the path's buffers are already full: halve now (the
            # encoder takes ~0.5 s to follow), refine once the link is measured.
            if self._provisional_cut:
                return None
            self._provisional_cut = True
            new = max(s.floor, int(self.bitrate * s.backoff))
            self.ceiling = min(self.ceiling, new)
            self._ceiling_guessed = True
            why = "queue growing"
        else:
            if now - self._last_cut < s.settle_s:
                return None
            fits = int(link * s.margin) - s.audio_bitrate
            # a measurement replaces the guess of a provisional cut
            known = self.bitrate if self._ceiling_guessed else self.ceiling
            self.ceiling = max(s.floor, min(known, fits))
            self._ceiling_guessed = False
            new = max(s.floor, fits - int(waiting * 8 / s.drain_s))
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

    #: often enough to end a failed probe within a few hundred milliseconds
    TICK_S = 0.1

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
            controller.update(now, output.sender.delivery(), fill, stats.bytes)
            bitrates.append(controller.bitrate)
        if bitrates and min(bitrates) != self.bitrate:
            self.bitrate = min(bitrates)
            self._set_bitrate(self.bitrate)

    def _crashed(self, exc: BaseException) -> None:
        log.error("adaptive bitrate stopped (%s): the video bitrate stays at %d", exc, self.bitrate)

    def stop(self) -> None:
        self._worker.stop(2.0)


def _windowed(values: deque[tuple[float, int]], now: float, span: float, value: int) -> int:
    """Add ``value`` at ``now`` to a window of ``span`` seconds; the least in it."""
    values.append((now, value))
    while now - values[0][0] > span:
        values.popleft()
    return min(v for _, v in values)
