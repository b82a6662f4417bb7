"""Thread ``ionia-abr``: runs a bitrate controller (``bitrate_control``) for each live
network output and sets the video encoder to the slowest one's bitrate."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ionia.output.bitrate_control import AdaptiveSettings, BitrateController
from ionia.output.receiver_rate import ReceiverRate
from ionia.worker import Worker

if TYPE_CHECKING:
    from ionia.output.output import Output

__all__ = ["AdaptiveBitrate", "AdaptiveSettings", "BitrateController"]

log = logging.getLogger("ionia.adaptive")


@dataclass
class _Following:
    """One live network output and the controllers that follow it."""

    output: Output
    controller: BitrateController
    #: what its WebRTC receiver's reports allow; None for an output whose peer reports nothing
    receiver: ReceiverRate | None = None


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
        self._controllers: dict[int, _Following] = {}
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
                entry = _Following(output, BitrateController(self._settings, start=self.bitrate))
                self._controllers[id(output)] = entry
            controller = entry.controller
            stats, limits = output.buffer.stats(), output.buffer.config
            # Congestion by count matters: with audio queued alongside, 100 packets is
            # about 1.3 s, well before the 2 s span limit.
            fill = max(stats.latency_ms / limits.max_latency_ms, stats.packets / limits.max_packets)
            controller.update(now, output.sender.delivery(), fill, stats.bytes)
            bitrates.append(self._heeding_receiver(entry, controller.bitrate))
        if bitrates and min(bitrates) != self.bitrate:
            self.bitrate = min(bitrates)
            self._set_bitrate(self.bitrate)

    def _heeding_receiver(self, entry: _Following, bitrate: int) -> int:
        """At most what a WebRTC receiver's reports allow (``receiver_rate``): UDP queues
        nothing on our side, so the receiver is where congestion shows."""
        feedback = entry.output.sender.feedback()
        if feedback is None:
            return bitrate
        settings = self._settings
        rate = entry.receiver
        if rate is None:  # from the first report on
            audio = settings.audio_bitrate
            rate = entry.receiver = ReceiverRate(
                start=bitrate + audio, floor=settings.floor + audio, ceiling=settings.target + audio
            )
        return max(settings.floor, min(bitrate, rate.update(feedback) - settings.audio_bitrate))

    def _crashed(self, exc: BaseException) -> None:
        log.error("adaptive bitrate stopped (%s): the video bitrate stays at %d", exc, self.bitrate)

    def stop(self) -> None:
        self._worker.stop(2.0)
