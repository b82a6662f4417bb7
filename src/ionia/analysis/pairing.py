"""The timeline cut into segments, and every flash paired with its beep or listed with
the reason it has none."""

from __future__ import annotations

from ionia.analysis.report import MediaReport, Pair, Reason, Segment, Unpaired
from ionia.analysis.tracks import Stretch

__all__ = ["pair_markers", "segments"]

#: markers repeat every second: a flash and a beep pair within half of that
WINDOW_S = 0.5
#: the first beep onset must lie this close to the start of the audio for the file to
#: count as starting on both markers (the encoder's priming may move it by a frame)
START_MARKER_S = 0.05


def segments(video: list[Stretch], audio: list[Stretch]) -> list[Segment]:
    """The timeline cut wherever either track resumes after a hole."""
    cuts: dict[float, set[str]] = {}
    for kind, stretches in (("video", video), ("audio", audio)):
        for stretch in stretches[1:]:
            what = f"{kind} {'join' if stretch.joined else 'hole'}"
            cuts.setdefault(round(stretch.start, 4), set()).add(what)
    firsts = [s[0].start for s in (video, audio) if s]
    lasts = [s[-1].end for s in (video, audio) if s]
    if not firsts:
        return []
    points = sorted(cuts)
    starts = [min(firsts), *points]
    ends = [*points, max(lasts)]
    afters = ["start", *(" and ".join(sorted(cuts[p], reverse=True)) for p in points)]
    return [
        Segment(start_s=a, end_s=b, after=why)
        for a, b, why in zip(starts, ends, afters, strict=True)
        if b > a
    ]


def pair_markers(report: MediaReport, video: list[Stretch], audio: list[Stretch]) -> None:
    """Pair every flash with the nearest unpaired beep of the same stretch of audio within
    the window around ``flash + expected offset``; list everything else with the reason.

    Markers repeat every second, so an offset is only known modulo a second, except at a
    stream's start: when the file begins on a flash and a beep, those are both the first
    second's markers, and their offset is what every later pair is expected around (a
    +600 ms error then reads +600, not −400).
    """
    expected = 0.0
    first_flash = video[0].marks[0] if video and video[0].marks else None
    first_beep = audio[0].marks[0] if audio and audio[0].marks else None
    if (
        first_flash is not None
        and first_beep is not None
        and abs(first_flash - report.video_start_s) < 1e-6
        and first_beep - report.audio_start_s <= START_MARKER_S
        and abs(first_beep - first_flash) < 2 * WINDOW_S
    ):
        expected = first_beep - first_flash
    report.expected_offset_ms = round(expected * 1000, 2)

    # where the video's clock starts anew: a flash and a beep on either side are from
    # different sessions (audio's are its stretch boundaries: every one is a reconnect)
    joins = [v.start for v in video[1:] if v.joined]

    def across(a: float, b: float) -> bool:
        return any(min(a, b) < j <= max(a, b) for j in joins)

    def off_the_edge(centre: float, stretches: list[Stretch]) -> bool:
        """The window around ``centre`` runs past the other track's first or last frame."""
        return bool(stretches) and (
            centre - WINDOW_S < stretches[0].start or centre + WINDOW_S > stretches[-1].end
        )

    taken: set[float] = set()
    flashes = sorted(t for stretch in video for t in stretch.marks)
    for flash in flashes:
        centre = flash + expected  # where its beep should be
        home = next((a for a in audio if a.start - 1e-9 <= centre < a.end), None)
        if home is None:
            edge = off_the_edge(centre, audio)
            why = Reason.RECORDING_EDGE if edge else Reason.AUDIO_HOLE
            report.unpaired_flashes.append(Unpaired(at_s=flash, reason=why))
            continue
        candidates = [
            b for b in home.marks
            if abs(b - centre) < WINDOW_S and b not in taken and not across(flash, b)
        ]  # fmt: skip
        if candidates:
            beep = min(candidates, key=lambda b: abs(b - centre))
            taken.add(beep)
            report.pairs.append(Pair(flash_s=flash, beep_s=beep))
            continue
        if home.cut_beep and home.start > centre - WINDOW_S:
            reason = Reason.SEGMENT_START
        elif across(centre - WINDOW_S, centre + WINDOW_S):
            reason = Reason.JOIN
        elif not home.covers(centre - WINDOW_S, centre + WINDOW_S):
            reason = Reason.AUDIO_EDGE
        else:
            reason = Reason.NO_BEEP
        report.unpaired_flashes.append(Unpaired(at_s=flash, reason=reason))
    for stretch in audio:
        for beep in stretch.marks:
            if beep in taken:
                continue
            centre = beep - expected
            if not any(v.covers(centre - WINDOW_S, centre + WINDOW_S) for v in video):
                edge = off_the_edge(centre, video)
                reason = Reason.RECORDING_EDGE if edge else Reason.VIDEO_HOLE
            elif across(centre - WINDOW_S, centre + WINDOW_S):
                reason = Reason.JOIN
            else:
                reason = Reason.NO_FLASH
            report.unpaired_beeps.append(Unpaired(at_s=beep, reason=reason))
