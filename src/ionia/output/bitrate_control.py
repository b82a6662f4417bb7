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
from collections import deque
from dataclasses import dataclass

from ionia.output.sink import Delivery

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
    congested_s: float = 0.3
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
    #: seconds a probe lasts, at most: x264's average rate control takes about 2 s to
    #: reach a raised bitrate (measured), and a probe judged earlier proves nothing
    pulse_s: float = 3.0
    #: a probe failed once the backlog grew by this many seconds of the probed rate...
    pulse_growth_s: float = 0.1
    #: ... its least over this many seconds, so a keyframe on its way is not growth...
    backlog_floor_s: float = 0.5
    #: ... beyond how much that least wandered over this many seconds before the probe
    jitter_window_s: float = 2.0
    #: a probe whose delivery rises to within this share of the link measured before
    #: (the measurement's error), with a backlog growing however little, has found that
    #: link again, and failed
    link_error: float = 0.15
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
    #: how much that least wandered on the healthy link before (acknowledgements come
    #: a window at a time, frames a frame at a time)
    jitter: int


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
        #: a probe was carried since the last cut
        self._carried = False
        #: bits per second the link carried when last measured
        self._link_known: float | None = None
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

    def _delivery_bps(self) -> float:
        """What was delivered per second over the window; the bitrate until measurable."""
        samples, s = self._samples, self.settings
        nominal = self.bitrate + s.audio_bitrate
        (t0, b0, _), (t1, b1, _) = samples[0], samples[-1]
        if t1 - t0 < s.measure_s:
            return nominal
        # never below the floor's rate: a stalled link is the stall detector's business
        return max((b1 - b0) * 8 / (t1 - t0), s.floor + s.audio_bitrate)

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
        # In seconds to deliver it at the rate the link delivers now (what the encoder makes
        # can be far from its target), so a queueing delay.
        samples.append((now, delivery.bytes, False))
        while samples and now - samples[0][0] > s.window_s:
            samples.popleft()
        rate = self._delivery_bps()
        path_s = waiting * 8 / rate if acknowledged else 0.0
        backlog = fill > s.healthy_below or path_s > s.backlog_s
        samples[-1] = (now, delivery.bytes, backlog)
        if self._pulse is not None:
            return self._probing(now, fill, least - self._pulse.backlog, rate, waiting)
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
            now - self._healthy_since < (s.raise_every_s if self._carried else self._probe_wait)
            or now - self._last_change < s.raise_every_s
        ):
            return None
        probe = min(
            s.target, max(int(self.ceiling * s.pulse_gain), self.ceiling + int(s.step * s.target))
        )
        recent = [v for t, v in self._leasts if now - t <= s.jitter_window_s]
        self._pulse = _Pulse(now, least, max(recent) - min(recent))
        self.probes += 1
        return self._set(now, probe, "probing the link")

    def _probing(
        self, now: float, fill: float, grown_bytes: int, rate: float, waiting: int
    ) -> int | None:
        """During a probe: end it when the backlog (its least over ``backlog_floor_s``)
        grows, as the link cannot carry it, or when it has lasted ``pulse_s`` without: then
        it failed too if delivery stopped at the link measured before, and was carried if
        not (above it, the link got faster; below it, the encoder makes less than the link
        takes, which is safe)."""
        s, pulse = self.settings, self._pulse
        assert pulse is not None
        grown = grown_bytes > pulse.jitter + s.pulse_growth_s * rate / 8
        if not grown and fill < s.congested_at:
            if now - pulse.started < s.pulse_s:
                return None
            delivered, known = self._delivery_bps(), self._link_known
            at_known = known is not None and abs(delivered - known) <= s.link_error * known
            if at_known and grown_bytes > pulse.jitter:
                # Delivery rose to the link measured before and stopped there while the
                # backlog grew: the link is the limit again, just slowly overrun.
                grown = True
        if not grown and fill < s.congested_at:
            self._pulse = None
            if known is not None and delivered > known:
                self._link_known = delivered  # at least: the link got faster
            self.ceiling = self.bitrate
            self._carried = True
            if self.bitrate >= s.target:  # back where it started: nothing was learnt
                self._probe_wait = s.probe_after_s
                self._carried = False
            log.info("video bitrate %d kbit/s: the link carries it", self.bitrate // 1000)
            return None
        self._pulse = None
        self._healthy_since = None
        self._carried = False
        self._provisional_cut = True  # this was the cut: refine it once the link is measured
        self._probe_wait = min(s.probe_max_s, 2 * self._probe_wait)
        # the link was the limit while the backlog grew: what it delivered is its rate
        link = self.link_bps()
        if link is not None:
            self._link_known = link
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
            self._link_known = link
            fits = int(link * s.margin) - s.audio_bitrate
            # a measurement replaces the guess of a provisional cut
            known = self.bitrate if self._ceiling_guessed else self.ceiling
            self.ceiling = max(s.floor, min(known, fits))
            self._ceiling_guessed = False
            new = max(s.floor, fits - int(waiting * 8 / s.drain_s))
            why = f"link carries {link / 1000:.0f} kbit/s"
        if new >= self.bitrate:
            return None
        if self._carried:
            # a probe the link seemed to carry, until the encoder caught up: too much after
            # all, so wait as long as after one that failed at once
            self._carried = False
            self._probe_wait = min(s.probe_max_s, 2 * self._probe_wait)
        self._last_cut = now
        self.cuts += 1
        return self._set(now, new, why)

    def _set(self, now: float, bitrate: int, why: str) -> int:
        log.info("video bitrate %d → %d kbit/s (%s)", self.bitrate // 1000, bitrate // 1000, why)
        self.bitrate = bitrate
        self._last_change = now
        return bitrate


def _windowed(values: deque[tuple[float, int]], now: float, span: float, value: int) -> int:
    """Add ``value`` at ``now`` to a window of ``span`` seconds; the least in it."""
    values.append((now, value))
    while now - values[0][0] > span:
        values.popleft()
    return min(v for _, v in values)
