"""What arrived: decode a recording and measure it (duration, frames, A/V sync).

Used by ``ionia receive``/``ionia demo`` to report on a stream, and by the tests to check
one. Sync is measured from the synthetic sources' markers: the white flash on the first
frame of every second and the 1 kHz beep starting at the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

#: mean luma above which a frame is the white flash (testsrc2 averages far below)
FLASH_LUMA = 200
#: 1 ms audio blocks: the beep onset is found to within a millisecond
BLOCK_S = 0.001
BEEP_RMS = 0.05
#: a jump in audio timestamps larger than this starts a new segment (a hole in the stream)
GAP_S = 0.05


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
    flashes_s: list[float] = field(default_factory=list)
    beeps_s: list[float] = field(default_factory=list)
    #: beep − flash for each flash with a beep within half a second, milliseconds
    av_offsets_ms: list[float] = field(default_factory=list)

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
    def av_offset_ms(self) -> float | None:
        """Median A/V offset (positive: audio late)."""
        return float(np.median(self.av_offsets_ms)) if self.av_offsets_ms else None

    @property
    def av_offset_max_ms(self) -> float | None:
        return max(abs(o) for o in self.av_offsets_ms) if self.av_offsets_ms else None

    def summary(self) -> str:
        lines = [
            f"received {self.path}",
            f"  video: {self.video_codec or 'none'} {self.width}x{self.height}, "
            f"{self.video_frames} frames over {self.video_duration_s:.2f} s",
            f"  audio: {self.audio_codec or 'none'}, {self.audio_duration_s:.2f} s",
            f"  decode errors: {self.decode_errors}",
        ]
        if self.av_offset_ms is not None:
            lines.append(
                f"  A/V offset: {self.av_offset_ms:+.1f} ms median, "
                f"{self.av_offset_max_ms:.1f} ms worst, "
                f"over {len(self.av_offsets_ms)} flash/beep pairs"
            )
        return "\n".join(lines)


def analyze(path: str | Path) -> MediaReport:
    """Decode every frame of ``path`` and measure it."""
    report = MediaReport(path=str(path))
    with av.open(str(path)) as container:
        if container.streams.video:
            _video(container, report)
    with av.open(str(path)) as container:
        if container.streams.audio:
            _audio(container, report)
    report.av_offsets_ms = _pair(report.flashes_s, report.beeps_s)
    return report


def _decode(container: av.container.InputContainer, stream: av.stream.Stream, report: MediaReport):
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.FFmpegError:
            report.decode_errors += 1


def _video(container: av.container.InputContainer, report: MediaReport) -> None:
    stream = container.streams.video[0]
    report.video_codec = stream.codec_context.name
    times = []
    for frame in _decode(container, stream, report):
        t = float(frame.time or 0.0)
        times.append(t)
        report.width, report.height = frame.width, frame.height
        luma = frame.to_ndarray(format="gray")
        if luma.mean() > FLASH_LUMA:
            report.flashes_s.append(t)
    report.video_frames = len(times)
    if times:
        step = (times[-1] - times[0]) / max(1, len(times) - 1)
        report.video_start_s, report.video_end_s = times[0], times[-1] + step


def _audio(container: av.container.InputContainer, report: MediaReport) -> None:
    """Beep onsets from each frame's own timestamp, so a hole in the audio (a reconnect)
    does not shift every later onset; the first onset of a segment is skipped, since a
    beep may have been cut in half by the hole."""
    stream = container.streams.audio[0]
    report.audio_codec = stream.codec_context.name
    resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
    segments: list[tuple[float, list[np.ndarray]]] = []
    expected: float | None = None
    for frame in _decode(container, stream, report):
        t = float(frame.time or 0.0)
        if expected is None or abs(t - expected) > GAP_S:
            segments.append((t, []))
            expected = t
        for out in resampler.resample(frame):
            samples = out.to_ndarray().reshape(-1)
            segments[-1][1].append(samples)
            expected += len(samples) / 48_000
    if not segments:
        return
    report.audio_start_s = segments[0][0]
    report.audio_end_s = expected if expected is not None else segments[0][0]
    for number, (start, chunks) in enumerate(segments):
        onsets = _onsets(np.concatenate(chunks) if chunks else np.zeros(0, np.float32))
        for index, onset in enumerate(onsets):
            if number > 0 and index == 0 and onset < 0.1:
                continue  # the segment starts inside a beep: not an onset
            report.beeps_s.append(round(start + onset, 4))


def _onsets(samples: np.ndarray) -> list[float]:
    """Seconds (from the first sample) where a beep starts; ignores restarts within a beep."""
    block = int(BLOCK_S * 48_000)
    usable = len(samples) - len(samples) % block
    rms = np.sqrt((samples[:usable].reshape(-1, block) ** 2).mean(axis=1))
    loud = rms > BEEP_RMS
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    if len(loud) and loud[0]:
        starts = np.concatenate([[0], starts])
    onsets: list[float] = []
    for index in starts:
        t = index * BLOCK_S
        if not onsets or t - onsets[-1] > 0.5:  # a beep lasts 100 ms
            onsets.append(t)
    return onsets


def _pair(flashes: list[float], beeps: list[float]) -> list[float]:
    offsets = []
    for flash in flashes:
        nearest = min(beeps, key=lambda b: abs(b - flash), default=None)
        if nearest is not None and abs(nearest - flash) < 0.5:
            offsets.append(round((nearest - flash) * 1000, 2))
    return offsets
