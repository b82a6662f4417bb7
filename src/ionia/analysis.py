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

import enum
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

#: mean luma above which a frame is the white flash (testsrc2 averages far below)
FLASH_LUMA = 200
#: 1 ms audio blocks: the beep onset is found to within a millisecond
BLOCK_S = 0.001
BEEP_RMS = 0.05
#: the beep lasts 100 ms; a shorter loud run that the stretch does not cut is no beep
MIN_BEEP_S = 0.03
#: onsets closer than this are one beep (a level dip inside it), not two
MERGE_S = 0.5
#: markers repeat every second: a flash and a beep pair within half of that
WINDOW_S = 0.5
#: an audio frame more than this away from where the previous one ended starts a new
#: stretch (FLV rounds timestamps to 1 ms; a lost AAC frame is 21.3 ms)
AUDIO_JUMP_S = 0.005
#: the first beep onset must lie this close to the start of the audio for the file to
#: count as starting on both markers (the encoder's priming may move it by a frame)
START_MARKER_S = 0.05
RATE = 48_000


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
    #: no onset is taken from there (see ``_onsets``)
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


def analyze(path: str | Path) -> MediaReport:
    """Decode every frame of ``path`` and measure it."""
    report = MediaReport(path=str(path))
    video: list[_Stretch] = []
    audio: list[_Stretch] = []
    with av.open(str(path)) as container:
        if container.streams.video:
            video = _video(container, report)
    with av.open(str(path)) as container:
        if container.streams.audio:
            audio = _audio(container, report)
    report.segments = _segments(video, audio)
    report.video_spans = [(v.start, v.end) for v in video]
    report.audio_spans = [(a.start, a.end) for a in audio]
    _pair(report, video, audio)
    return report


@dataclass
class _Stretch:
    """Where one track runs on without a hole: [start, end) seconds."""

    start: float
    end: float
    #: video: flash onsets; audio: beep onsets
    marks: list[float] = field(default_factory=list)
    #: audio only: a loud run began in the stretch's first frame (see ``_onsets``)
    cut_beep: bool = False
    #: video only: the clock is new from here (a new session), not just frames missing
    joined: bool = False

    def covers(self, a: float, b: float) -> bool:
        return self.start - 1e-9 <= a and b <= self.end + 1e-9


def _decode(
    container: av.container.InputContainer, stream: av.stream.Stream, report: MediaReport
) -> Iterator[av.VideoFrame | av.AudioFrame]:
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame | av.AudioFrame):
                    yield frame
        except av.FFmpegError:
            report.decode_errors += 1


def _video(container: av.container.InputContainer, report: MediaReport) -> list[_Stretch]:
    stream = container.streams.video[0]
    report.video_codec = stream.codec_context.name
    times: list[float] = []
    flashes: list[float] = []
    keys: list[int] = []
    for frame in _decode(container, stream, report):
        assert isinstance(frame, av.VideoFrame)
        t = float(frame.time or 0.0)
        if frame.key_frame:
            keys.append(len(times))
        times.append(t)
        report.width, report.height = frame.width, frame.height
        if frame.to_ndarray(format="gray").mean() > FLASH_LUMA:
            flashes.append(t)
    report.video_frames = len(times)
    report.flashes_s = flashes
    if not times:
        return []
    steps = np.diff(times)
    # constant frame rate: the usual step is the frame duration
    step = float(np.median(steps)) if len(steps) else 1 / 30
    report.video_start_s, report.video_end_s = times[0], times[-1] + step
    # frame index → is the clock new there (a join), or only frames missing (a hole)
    cuts: dict[int, bool] = {}
    for index in range(1, len(times)):
        gap = times[index] - times[index - 1]
        if gap > 1.5 * step:
            cuts[index] = False
        elif gap < 0.5 * step:  # squeezed or back: a server appended a new session
            cuts[index] = True
    flash_set = set(flashes)
    onsets = [  # a flash shown for several frames is one flash
        i for i, t in enumerate(times)
        if t in flash_set and (i == 0 or times[i - 1] not in flash_set or i in cuts)
    ]  # fmt: skip
    # Flashes come once a second of the stream's clock: two that are not a whole number
    # of seconds apart have a new session between them, even where the timestamps run on
    # (an appended session can land a frame after the last one). It starts on a keyframe.
    for a, b in itertools.pairwise(onsets):
        apart = times[b] - times[a]
        if round(apart) >= 1 and abs(apart - round(apart)) <= step:
            continue
        inside = [i for i in cuts if a < i <= b]
        if inside:
            cuts[max(inside)] = True
        else:
            cuts[next((k for k in keys if a < k <= b), b)] = True
    stretches = [_Stretch(times[0], times[0] + step)]
    onset_set = set(onsets)
    for index, t in enumerate(times):
        if index in cuts:
            gap = t - times[index - 1]
            join = cuts[index]
            report.video_holes.append(Hole(at_s=t, ms=round((gap - step) * 1000, 1), join=join))
            stretches[-1].end = min(stretches[-1].end, t)
            stretches.append(_Stretch(t, t + step, joined=join))
        stretches[-1].end = t + step
        if index in onset_set:
            stretches[-1].marks.append(t)
    return stretches


def _audio(container: av.container.InputContainer, report: MediaReport) -> list[_Stretch]:
    """Beep onsets from each frame's own timestamp, so a hole in the audio (a reconnect)
    does not shift every later onset."""
    stream = container.streams.audio[0]
    report.audio_codec = stream.codec_context.name
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    #: (start, samples of its first frame, decoded samples) per stretch
    stretches: list[tuple[float, int, list[np.ndarray]]] = []
    expected: float | None = None
    for frame in _decode(container, stream, report):
        assert isinstance(frame, av.AudioFrame)
        t = float(frame.time or 0.0)
        if expected is None or abs(t - expected) > AUDIO_JUMP_S:
            if expected is not None:
                ms = round((t - expected) * 1000, 1)
                # lost frames leave a hole of whole frames; anything short of one (or a
                # jump back) is a new clock: a server appended a new session
                frame_ms = frame.samples / frame.sample_rate * 1000
                join = ms < frame_ms - AUDIO_JUMP_S * 1000
                report.audio_holes.append(Hole(at_s=t, ms=ms, join=join))
            stretches.append((t, round(frame.samples * RATE / frame.sample_rate), []))
        # where the next frame should start, from the samples this one holds
        expected = t + frame.samples / frame.sample_rate
        for out in resampler.resample(frame):
            stretches[-1][2].append(out.to_ndarray().reshape(-1))
    if not stretches:
        return []
    report.audio_start_s = stretches[0][0]
    report.audio_end_s = expected if expected is not None else stretches[0][0]
    result: list[_Stretch] = []
    for number, (start, first_frame, chunks) in enumerate(stretches):
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        end = start + len(samples) / RATE
        if result:  # a jump back: the earlier stretch ends where the later one begins
            result[-1].end = min(result[-1].end, start)
        onsets, cut = _onsets(samples, guard=0 if number == 0 else first_frame)
        joined = number > 0 and report.audio_holes[number - 1].join
        stretch = _Stretch(start, end, [round(start + o, 4) for o in onsets], cut, joined)
        result.append(stretch)
        report.beeps_s += stretch.marks
        if cut:
            report.cut_beeps_s.append(round(start, 4))
    return result


def _onsets(samples: np.ndarray, *, guard: int) -> tuple[list[float], bool]:
    """Seconds (from the first sample) where a beep starts, and whether a loud run began
    within the first ``guard`` samples.

    After a hole the AAC decoder fades its first frame in (it overlaps the frame with one
    that was not the previous in time), so a loud run starting there has no measurable
    onset: the beep may have begun in the hole, or a few ms in. Such a run is set aside
    *before* nearby onsets are merged, or the real beep just after it would be merged into
    it and thrown away with it. The recording's first stretch has no guard: the stream
    starts there, on a beep, after the encoder's priming frame.
    """
    block = int(BLOCK_S * RATE)
    usable = len(samples) - len(samples) % block
    rms = np.sqrt((samples[:usable].reshape(-1, block) ** 2).mean(axis=1))
    loud = rms > BEEP_RMS
    if not len(loud):
        return [], False
    edges = np.flatnonzero(np.diff(loud.astype(np.int8)))
    starts = list(edges[~loud[edges]] + 1)  # silent → loud
    stops = list(edges[loud[edges]] + 1)  # loud → silent
    if loud[0]:
        starts.insert(0, 0)
    if loud[-1]:
        stops.append(len(loud))
    cut = False
    onsets: list[float] = []
    for begin, stop in zip(starts, stops, strict=True):
        if begin * block < guard:
            cut = True
            continue
        # too short for a beep, and not cut short by the end of the stretch
        if (stop - begin) * BLOCK_S < MIN_BEEP_S and stop < len(loud):
            continue
        t = begin * BLOCK_S
        if not onsets or t - onsets[-1] > MERGE_S:
            onsets.append(t)
    return onsets, cut


def _segments(video: list[_Stretch], audio: list[_Stretch]) -> list[Segment]:
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


def _pair(report: MediaReport, video: list[_Stretch], audio: list[_Stretch]) -> None:
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

    taken: set[float] = set()
    flashes = sorted(t for stretch in video for t in stretch.marks)
    for flash in flashes:
        centre = flash + expected  # where its beep should be
        home = next((a for a in audio if a.start - 1e-9 <= centre < a.end), None)
        if home is None:
            report.unpaired_flashes.append(Unpaired(at_s=flash, reason=Reason.AUDIO_HOLE))
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
                reason = Reason.VIDEO_HOLE
            elif across(centre - WINDOW_S, centre + WINDOW_S):
                reason = Reason.JOIN
            else:
                reason = Reason.NO_FLASH
            report.unpaired_beeps.append(Unpaired(at_s=beep, reason=reason))
