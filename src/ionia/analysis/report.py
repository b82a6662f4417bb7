"""What :func:`ionia.analysis.analyze` reports: the markers paired or not (and why), the
holes of each track, and the segments between them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Hole", "MediaReport", "Pair", "Reason", "Segment", "Unpaired"]


class Reason(enum.StrEnum):
    """Why a flash or a beep has no partner."""

    #: the audio is continuous around the flash and holds no beep near it: out of sync
    #: by more than the window, or the beep is missing
    NO_BEEP = "no beep within the window"
    #: no audio at the flash's instant
    AUDIO_HOLE = "in a hole of the audio"
    #: the window around the flash runs into a hole of the audio (the beep may be in it)
    AUDIO_EDGE = "next to a hole of the audio"
    #: the beep would start in the first audio frame after a hole, which the decoder
    #: fades in: no onset can be placed there
    SEGMENT_START = "at a segment start (its beep is in the decoder's first frame)"
    #: the video is continuous around the beep and holds no flash near it
    NO_FLASH = "no flash within the window"
    #: the video around the beep has a hole (the flash may be in it)
    VIDEO_HOLE = "in a hole of the video"
    #: a new session's video starts within the window: its partner, if any, is across
    #: the join and belongs to the other session
    JOIN = "at a join of two sessions"
    #: the window runs past the first or the last frame of the other track: the
    #: recording starts or ends there (a stream stopped between a flash and its beep)
    RECORDING_EDGE = "at the recording's start or end"


@dataclass(frozen=True, kw_only=True)
class Pair:
    flash_s: float
    beep_s: float

    @property
    def offset_ms(self) -> float:
        """Beep − flash: positive when the audio is late."""
        return round((self.beep_s - self.flash_s) * 1000, 2)


@dataclass(frozen=True, kw_only=True)
class Unpaired:
    at_s: float
    reason: Reason


@dataclass(frozen=True, kw_only=True)
class Hole:
    """Where a track's timestamps stop running on: ``at_s`` is where it resumes."""

    at_s: float
    #: missing time: the resume point minus where the track would have gone on (negative
    #: for a jump back, e.g. a server appending a new session at its last timestamp)
    ms: float
    #: the clock is new from here (a new session), not just media missing: video steps
    #: less than half a frame on, or the flashes' phase changes; audio jumps back or
    #: steps less than a frame on
    join: bool = False


@dataclass(frozen=True, kw_only=True)
class Segment:
    """A stretch of the timeline between two holes (of either track)."""

    start_s: float
    end_s: float
    #: what starts it: "start", or "video hole", "audio join", ... (a join: the clock is
    #: new from there, a new session; a hole: only media missing), "and"-ed if both
    after: str


@dataclass(kw_only=True)
class MediaReport:
    path: str
    video_codec: str = ""
    audio_codec: str = ""
    width: int = 0
    height: int = 0
    video_frames: int = 0
    video_start_s: float = 0.0
    video_end_s: float = 0.0
    audio_start_s: float = 0.0
    audio_end_s: float = 0.0
    decode_errors: int = 0
    #: every frame that is a flash (a capture may show one for several frames)
    flashes_s: list[float] = field(default_factory=list)
    #: every beep onset that counts (see ``cut_beeps_s`` for the ones that do not)
    beeps_s: list[float] = field(default_factory=list)
    #: stretches of audio after a hole whose first frame holds the start of a loud run:
    #: no onset is taken from there (see :mod:`ionia.analysis.tracks`)
    cut_beeps_s: list[float] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    #: flashes (first frame of each run of flash frames) without a beep, and why
    unpaired_flashes: list[Unpaired] = field(default_factory=list)
    #: beeps without a flash, and why
    unpaired_beeps: list[Unpaired] = field(default_factory=list)
    video_holes: list[Hole] = field(default_factory=list)
    audio_holes: list[Hole] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    #: where each track runs on without a hole, [start, end) seconds
    video_spans: list[tuple[float, float]] = field(default_factory=list)
    audio_spans: list[tuple[float, float]] = field(default_factory=list)
    #: the offset the markers were paired around: beep − flash of the file's first markers
    #: when it starts on both (a stream's start), else 0
    expected_offset_ms: float = 0.0

    @property
    def av_offsets_ms(self) -> list[float]:
        """Beep − flash for every paired flash, in order, milliseconds."""
        return [p.offset_ms for p in self.pairs]

    @property
    def video_duration_s(self) -> float:
        return self.video_end_s - self.video_start_s

    @property
    def audio_duration_s(self) -> float:
        return self.audio_end_s - self.audio_start_s

    @property
    def duration_s(self) -> float:
        return max(self.video_end_s, self.audio_end_s) - min(self.video_start_s, self.audio_start_s)

    @property
    def audio_hole_ms(self) -> float:
        """Audio missing from the timeline: the sum of its holes (jumps back excluded)."""
        return round(sum(h.ms for h in self.audio_holes if h.ms > 0), 1)

    @property
    def av_offset_ms(self) -> float | None:
        """Median A/V offset (positive: audio late)."""
        return float(np.median(self.av_offsets_ms)) if self.pairs else None

    @property
    def av_offset_max_ms(self) -> float | None:
        return max(abs(o) for o in self.av_offsets_ms) if self.pairs else None

    def video_seconds(self, start: float, end: float) -> float:
        """How much of [start, end) the video covers."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.video_spans)

    def segment_of(self, t: float) -> int:
        """Index of the segment holding instant ``t`` (the last one that starts by then)."""
        index = 0
        for number, segment in enumerate(self.segments):
            if segment.start_s <= t + 1e-9:
                index = number
        return index

    def summary(self) -> str:
        lines = [
            f"received {self.path}",
            f"  video: {self.video_codec or 'none'} {self.width}x{self.height}, "
            f"{self.video_frames} frames over {self.video_duration_s:.2f} s",
            f"  audio: {self.audio_codec or 'none'}, {self.audio_duration_s:.2f} s",
            f"  decode errors: {self.decode_errors}",
        ]
        if len(self.segments) > 1:
            lines.append(
                f"  {len(self.segments)} segments: {len(self.video_holes)} video and "
                f"{len(self.audio_holes)} audio hole(s), {self.audio_hole_ms:.0f} ms of audio "
                "missing from the timeline"
            )
        if self.pairs:
            lines.append(
                f"  A/V offset: {self.av_offset_ms:+.1f} ms median, "
                f"{self.av_offset_max_ms:.1f} ms worst, "
                f"over {len(self.pairs)} flash/beep pairs"
            )
        for label, items in (("flash", self.unpaired_flashes), ("beep", self.unpaired_beeps)):
            for item in items:
                lines.append(f"  unpaired {label} at {item.at_s:.3f} s: {item.reason}")
        return "\n".join(lines)
