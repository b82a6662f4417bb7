"""What arrived: decode a recording and measure it (duration, frames, A/V sync, holes).

Used by ``ionia receive``/``ionia demo`` to report on a stream, and by the tests to check
one. Sync is measured from the synthetic sources' markers: the white flash on the first
frame of every second and the 1 kHz beep starting at the same instant.

Every flash is accounted for: paired with a beep (an offset), or listed as unpaired with
the reason. The same holds for every beep. A recording is cut into *segments* wherever
either track stops running on: a hole, a jump back, or a join where a server appended a
new session without a hole (found from the flashes' phase). A flash and a beep are only
paired within one stretch of continuous audio and never across a video join: on either
side of a reconnect the timestamps need not share a clock.
"""

from __future__ import annotations

from pathlib import Path

import av

from ionia.analysis.pairing import pair_markers, segments
from ionia.analysis.report import Hole, MediaReport, Pair, Reason, Segment, Unpaired
from ionia.analysis.tracks import Stretch, audio_stretches, video_stretches

__all__ = ["Hole", "MediaReport", "Pair", "Reason", "Segment", "Unpaired", "analyze"]


def analyze(path: str | Path) -> MediaReport:
    """Decode every frame of ``path`` and measure it."""
    report = MediaReport(path=str(path))
    video: list[Stretch] = []
    audio: list[Stretch] = []
    with av.open(str(path)) as container:
        if container.streams.video:
            video = video_stretches(container, report)
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = audio_stretches(container, report)
    report.segments = segments(video, audio)
    report.video_spans = [(v.start, v.end) for v in video]
    report.audio_spans = [(a.start, a.end) for a in audio]
    pair_markers(report, video, audio)
    return report
