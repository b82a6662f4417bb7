"""What a WebRTC receiver reports back, as the statistics and the bitrate control read it."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, kw_only=True)
class Feedback:
    """What the receiver told us, as the statistics and the bitrate control read it."""

    #: round-trip time from its reports, milliseconds; None before the first
    rtt_ms: float | None
    #: share of our packets it lost, from its last report (0..1)
    loss: float
    #: packets it asked to be sent again
    nacks: int
    #: keyframes it asked for (PLI/FIR)
    keyframe_requests: int
    #: its estimate of what the path takes (REMB), bit/s; None if it sends none
    estimate_bps: int | None
    #: reception reports about our video so far (``loss`` is from the last one)
    reports: int = 0


def after(before: Feedback | None, now: Feedback) -> Feedback:
    """``now``'s figures with the counts of the sessions ``before`` it added."""
    if before is None:
        return now
    return replace(
        now,
        nacks=before.nacks + now.nacks,
        keyframe_requests=before.keyframe_requests + now.keyframe_requests,
    )
