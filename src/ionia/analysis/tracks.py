"""Each track decoded into stretches, where it runs on without a hole: the video's
flashes and the audio's beep onsets in each, and the holes and joins between them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np

from ionia.analysis.report import Hole, MediaReport

__all__ = ["Stretch", "audio_stretches", "video_stretches"]

#: mean luma above which a frame is the white flash (testsrc2 averages far below)
FLASH_LUMA = 200
#: 1 ms audio blocks: the beep onset is found to within a millisecond
BLOCK_S = 0.001
BEEP_RMS = 0.05
#: the beep lasts 100 ms; a shorter loud run that the stretch does not cut is no beep
MIN_BEEP_S = 0.03
#: onsets closer than this are one beep (a level dip inside it), not two
MERGE_S = 0.5
#: an audio frame more than this away from where the previous one ended starts a new
#: stretch (FLV rounds timestamps to 1 ms; a lost AAC frame is 21.3 ms)
AUDIO_JUMP_S = 0.005
RATE = 48_000


@dataclass
class Stretch:
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


def video_stretches(container: av.container.InputContainer, report: MediaReport) -> list[Stretch]:
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
    stretches = [Stretch(times[0], times[0] + step)]
    onset_set = set(onsets)
    for index, t in enumerate(times):
        if index in cuts:
            gap = t - times[index - 1]
            join = cuts[index]
            report.video_holes.append(Hole(at_s=t, ms=round((gap - step) * 1000, 1), join=join))
            stretches[-1].end = min(stretches[-1].end, t)
            stretches.append(Stretch(t, t + step, joined=join))
        stretches[-1].end = t + step
        if index in onset_set:
            stretches[-1].marks.append(t)
    return stretches


def audio_stretches(container: av.container.InputContainer, report: MediaReport) -> list[Stretch]:
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
    result: list[Stretch] = []
    for number, (start, first_frame, chunks) in enumerate(stretches):
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        end = start + len(samples) / RATE
        if result:  # a jump back: the earlier stretch ends where the later one begins
            result[-1].end = min(result[-1].end, start)
        onsets, cut = _onsets(samples, guard=0 if number == 0 else first_frame)
        joined = number > 0 and report.audio_holes[number - 1].join
        stretch = Stretch(start, end, [round(start + o, 4) for o in onsets], cut, joined)
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
