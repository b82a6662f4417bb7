"""What a WebRTC receiver's reports allow the stream to send (GCC's two halves).

The delay-based half is the receiver's: its estimate (REMB) follows the queueing delay it
sees. A link whose queue stays full and drops the rest (a tail-drop bottleneck) shows no
growing delay, only loss; so the loss-based half is ours, as every WebRTC sender has it
(draft-ietf-rmcat-gcc-02 §6): at each reception report, more than 10 % lost cuts the rate
by half the loss; under 2 % lets it grow by 5 %; in between it holds. The stream sends
the lower of the two.
"""

from __future__ import annotations

from ionia.whip.feedback import Feedback

#: loss above this cuts the rate; below ``GROW_BELOW`` it may grow
CUT_ABOVE = 0.10
GROW_BELOW = 0.02
#: growth per report with little loss
GROWTH = 1.05


class ReceiverRate:
    """The rate (video + audio, bit/s) one receiver's reports allow, between ``floor``
    and ``ceiling``."""

    def __init__(self, *, start: int, floor: int, ceiling: int) -> None:
        self.floor, self.ceiling = floor, ceiling
        self.loss_based = max(floor, min(start, ceiling))
        self._reports = 0

    def update(self, feedback: Feedback) -> int:
        if feedback.reports != self._reports:
            self._reports = feedback.reports
            if feedback.loss > CUT_ABOVE:
                self.loss_based = int(self.loss_based * (1 - 0.5 * feedback.loss))
            elif feedback.loss < GROW_BELOW:
                self.loss_based = int(self.loss_based * GROWTH)
            self.loss_based = max(self.floor, min(self.loss_based, self.ceiling))
        allowed = self.loss_based
        if feedback.estimate_bps is not None:
            allowed = min(allowed, feedback.estimate_bps)
        return max(self.floor, allowed)
