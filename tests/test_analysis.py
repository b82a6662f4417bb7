"""The measuring tool the demo and the tests rely on: it must find every marker where it is,
and say why when a flash or a beep has no partner.

The files are made here: a flash on the first frame of every second and the 1 kHz beep of
``ToneSource`` at the same instants, encoded continuously (as the engine does) and then cut
the way a stream is: packets left out for a hole, timestamps moved for a shift or for a
server that appends a new session at its last timestamp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from ionia.analysis import Reason, analyze
from ionia.capture.testsrc import ToneSource

FPS = 30
RATE = 48_000
AAC_FRAME = 1024
W, H = 128, 72
PAD_S = 0.1
FRAME_S = 1 / FPS

Span = tuple[float, float]


def _inside(t: float, spans: Sequence[Span]) -> bool:
    return any(a <= t < b for a, b in spans)


def write_markers(
    path: Path,
    *,
    seconds: float,
    audio_shift_s: float = 0.0,
    video_shift_s: float = 0.0,
    audio_holes: Sequence[Span] = (),
    video_holes: Sequence[Span] = (),
    muted: Sequence[int] = (),
    unflashed: Sequence[int] = (),
    join: Span | None = None,
    join_video_lag_s: float = 0.0,
) -> None:
    """Flash + beep markers at every second of ``seconds``, written to ``path``.

    ``*_holes``: packets whose source time lies in a span are left out (the decoder then
    meets the hole as it does in a recording). ``muted``/``unflashed``: seconds whose beep
    is silence / whose flash frame is an ordinary one. ``join=(at, resume)``: both tracks
    lose ``(at, resume)`` and what follows is stamped from ``at`` on (its video
    ``join_video_lag_s`` later), as nginx-rtmp's ``record_append`` stamps a new session
    that starts at 0: no hole in the timeline, the markers' phase jumps.
    """
    tone = ToneSource()
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.time_base = Fraction(1, FPS)
        video.codec_context.gop_size = 2 * FPS  # as the engine's keyint 2
        video.codec_context.max_b_frames = 0  # pts = dts: packets can be re-stamped alone
        video.codec_context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",  # a frame marked I is a keyframe: video resumes on one
        }
        # the frames video resumes on after a hole or a join, as a stream does: keyframes
        resumes = {math.ceil(b * FPS - 1e-9) for _, b in video_holes}
        if join is not None:
            resumes.add(math.ceil(join[1] * FPS - 1e-9))
        audio = out.add_stream("aac", rate=RATE, layout="stereo")
        audio.bit_rate = 128_000

        frames: list[tuple[float, int, av.VideoFrame | av.AudioFrame]] = []
        for index in range(int(seconds * FPS)):
            second, slot = divmod(index, FPS)
            luma = 235 if slot == 0 and second not in unflashed else 40 + 3 * slot
            image = np.full((H * 3 // 2, W), 128, np.uint8)
            image[:H] = luma
            picture = av.VideoFrame.from_ndarray(image, format="yuv420p")
            picture.pts, picture.time_base = index, Fraction(1, FPS)
            if index in resumes:
                picture.pict_type = PictureType.I
            frames.append((index / FPS, 0, picture))
        for start in range(0, int(seconds * RATE) - AAC_FRAME, AAC_FRAME):
            block = np.array(tone.read(start, AAC_FRAME))
            for second in muted:
                lo, hi = second * RATE - start, second * RATE + RATE // 10 - start
                block[max(0, lo) : max(0, hi)] = 0.0
            sound = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block.T), format="fltp", layout="stereo"
            )
            sound.sample_rate, sound.pts = RATE, start
            sound.time_base = Fraction(1, RATE)
            frames.append((start / RATE, 1, sound))
        frames.sort(key=lambda item: (item[0], item[1]))

        last_ms = [-1, -1]  # per track: a muxer takes no timestamp going back

        def mux(packets: list[av.Packet], kind: int) -> None:
            for packet in packets:
                if packet.pts is None or packet.time_base is None:
                    continue
                source = float(packet.pts * packet.time_base)
                if _inside(source, video_holes if kind == 0 else audio_holes):
                    continue
                t = source + (video_shift_s if kind == 0 else audio_shift_s)
                if join is not None:
                    if join[0] <= source < join[1]:
                        continue
                    if source >= join[1]:
                        t -= join[1] - join[0] - (join_video_lag_s if kind == 0 else 0.0)
                # milliseconds, as FLV has them; +100 ms: nothing stamped before 0
                ms = max(math.floor((t + PAD_S) * 1000 + 0.5), last_ms[kind] + 1)
                last_ms[kind] = ms
                packet.time_base = Fraction(1, 1000)
                packet.pts = packet.dts = ms
                out.mux(packet)

        for _, kind, frame in frames:
            if isinstance(frame, av.VideoFrame):
                mux(video.encode(frame), kind)
            else:
                mux(audio.encode(frame), kind)
        mux(video.encode(None), 0)
        mux(audio.encode(None), 1)


def near(values: Sequence[float], targets: Sequence[float], tolerance: float) -> bool:
    return len(values) == len(targets) and all(
        abs(v - t) <= tolerance for v, t in zip(values, targets, strict=True)
    )


# -- sync -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "audio_shift", "video_shift", "offset_ms"),
    [
        ("flv", 0.040, 0.0, 40),
        ("mp4", 0.040, 0.0, 40),
        ("flv", 0.0, 0.100, -100),  # audio 100 ms early: the video is the one moved
        ("flv", 0.600, 0.0, 600),  # beyond half the marker period: read from the start
    ],
)
def test_a_shifted_track_is_reported_as_that_offset_on_every_flash(
    tmp_path, suffix, audio_shift, video_shift, offset_ms
):
    path = tmp_path / f"shifted.{suffix}"
    write_markers(path, seconds=5.9, audio_shift_s=audio_shift, video_shift_s=video_shift)
    report = analyze(path)
    assert len(report.pairs) == 6, report.summary()  # flashes at 0..5 s, each paired
    for offset in report.av_offsets_ms:
        assert abs(offset - offset_ms) <= 1.5, report.summary()  # 1 ms blocks, 1 ms FLV ticks
    assert not report.unpaired_flashes and not report.unpaired_beeps, report.summary()
    assert len(report.segments) == 1 and not report.audio_holes and not report.video_holes


# -- holes -------------------------------------------------------------------------------------


#: AAC packets sit on a grid of 1024 samples: a hole resumes on the first one after it
PACKET_S = AAC_FRAME / RATE
HOLES = [
    (2.02, 2.06),  # inside beep 2: its onset stands, the audio resumes mid-beep
    (2.9, 3.05),  # over flash 3's beep instant, ending inside that beep
    (3.5, 3.96),  # just before beep 4: it starts in the second frame after the hole
    (4.05, 4.96),  # from inside beep 4 to just before beep 5
    (6.5, 6.98),  # just before beep 7: it starts in the first frame after the hole
    (8.3, 8.6),  # the window of flash 8 (its beep muted) runs into this hole
]


def test_every_flash_and_beep_is_paired_or_has_its_reason(tmp_path):
    path = tmp_path / "holey.flv"
    write_markers(
        path,
        seconds=11.9,
        muted=[1, 8],
        audio_holes=HOLES,
        video_holes=[(5.8, 6.2)],  # over flash 6
        unflashed=[9],
    )
    report = analyze(path)
    base = report.pairs[0].flash_s  # flash 0, where the file's padding put it
    paired = [round(p.flash_s - base) for p in report.pairs]
    assert paired == [0, 2, 4, 5, 10, 11], report.summary()
    assert all(abs(o) <= 1.5 for o in report.av_offsets_ms), report.summary()
    flashes = {round(u.at_s - base): u.reason for u in report.unpaired_flashes}
    assert flashes == {
        1: Reason.NO_BEEP,
        3: Reason.AUDIO_HOLE,
        7: Reason.SEGMENT_START,
        8: Reason.AUDIO_EDGE,
    }, report.summary()
    beeps = {round(u.at_s - base): u.reason for u in report.unpaired_beeps}
    assert beeps == {6: Reason.VIDEO_HOLE, 9: Reason.NO_FLASH}, report.summary()
    # no onset from the decoder's first frame after a hole: it resumed inside beeps 2 and
    # 3, just before beep 7, and at 4.97 s it fades out the tail of beep 4 (from before the
    # hole), which the old analysis took for an onset and merged beep 5 into
    assert [round(c - base, 1) for c in report.cut_beeps_s] == [2.1, 3.1, 5.0, 7.0], (
        report.summary()
    )
    # the holes as they are in the timeline: the AAC packets left out
    left_out = sum(
        sum(1 for m in range(-1, int(11.9 / PACKET_S)) if a <= m * PACKET_S < b) for a, b in HOLES
    )
    assert report.audio_hole_ms == pytest.approx(left_out * PACKET_S * 1000, abs=len(HOLES))
    assert len(report.audio_holes) == len(HOLES) and len(report.video_holes) == 1
    afters = [s.after for s in report.segments]
    assert afters.count("audio hole") == len(HOLES) and afters.count("video hole") == 1


def test_the_real_beep_just_after_a_hole_is_kept(tmp_path):
    """The audit's case: a beep starting a few tens of ms after the audio resumes is an
    onset. The old order (merge near onsets, then drop each stretch's first onset under
    0.1 s) threw it away."""
    path = tmp_path / "resume.flv"
    write_markers(path, seconds=3.9, audio_holes=[(1.5, 1.96)])
    report = analyze(path)
    base = report.pairs[0].flash_s
    assert [round(p.flash_s - base) for p in report.pairs] == [0, 1, 2, 3], report.summary()
    assert not report.unpaired_flashes and not report.unpaired_beeps


def test_a_new_session_appended_without_a_hole_is_found_from_the_markers(tmp_path):
    """nginx-rtmp's ``record_append`` stamps a returning publisher from the file's last
    timestamp: no hole, and here the video even steps on by about a frame (as measured in
    an appended recording: +43 ms). The flashes' phase shows the join, which starts on the
    new session's keyframe; the markers on either side pair only with their own."""
    path = tmp_path / "appended.flv"
    write_markers(path, seconds=9.9, join=(3.3, 6.45), join_video_lag_s=-0.01)
    report = analyze(path)
    joins = [h for h in report.video_holes if h.join]
    assert len(joins) == 1 and abs(joins[0].ms) < FRAME_S * 1000 / 2, report.video_holes
    base = report.pairs[0].flash_s
    # the new session's keyframe: source 6.467 s, stamped 3.307 s
    assert joins[0].at_s - base == pytest.approx(3.307, abs=0.002), joins
    assert len(report.audio_holes) == 1 and report.audio_hole_ms < 10  # no outage in it
    before = [p.offset_ms for p in report.pairs if p.flash_s < joins[0].at_s]
    after = [p.offset_ms for p in report.pairs if p.flash_s >= joins[0].at_s]
    assert len(before) == 4 and len(after) == 3, report.summary()  # 0-3 s, then 7-9 s
    assert all(abs(o) <= 1.5 for o in before), report.summary()
    assert all(abs(o - 10) <= 1.5 for o in after), report.summary()  # the video lag
    assert not report.unpaired_flashes and not report.unpaired_beeps, report.summary()
    # the audio resumes 7 ms late: less than a frame, so a new clock too
    assert [s.after for s in report.segments] == ["start", "video join", "audio join"]


def test_beeps_are_placed_by_timestamps_across_a_hole(tmp_path):
    path = tmp_path / "holey.mkv"
    write_markers(path, seconds=5.9, audio_holes=[(2.5, 3.5)])
    report = analyze(path)
    base = report.pairs[0].beep_s
    # every beep where it was made, to within a few ms; none lost to the hole but the cut one
    assert near([b - base for b in report.beeps_s], [0, 1, 2, 4, 5], 0.003), report.beeps_s
    assert [round(u.at_s - base) for u in report.unpaired_flashes] == [3]


@pytest.mark.parametrize("late_s", [0.2, 0.5])
def test_the_sync_check_fails_a_session_that_resumes_out_of_sync(tmp_path, late_s):
    """The audit's case: audio late after a reconnect must fail the fault scenarios' check,
    naming the segment, whether the markers still pair (+200 ms) or no longer do (+500)."""
    from tests.reliability.scenario import check_sync

    path = tmp_path / "late.flv"
    write_markers(path, seconds=9.9, join=(3.3, 6.45), join_video_lag_s=-late_s)
    report = analyze(path)
    named = r"segment \d+ of \d+ \(.* s, after the .*\): \d+ faults"
    with pytest.raises(AssertionError, match=named):
        check_sync(report)
    in_sync = tmp_path / "in-sync.flv"
    write_markers(in_sync, seconds=9.9, join=(3.3, 6.45), join_video_lag_s=-0.01)
    check_sync(analyze(in_sync))


def test_a_beep_whose_flash_falls_after_the_last_frame_is_at_the_recording_edge(tmp_path):
    # the audio runs a frame past the video's end: beep 6 is in it, flash 6 is not
    path = tmp_path / "ends-on-a-beep.flv"
    write_markers(path, seconds=6.02)
    report = analyze(path)
    assert not report.unpaired_flashes, report.summary()
    assert [u.reason for u in report.unpaired_beeps] == [Reason.RECORDING_EDGE], report.summary()
    assert report.unpaired_beeps[0].at_s > report.video_start_s + report.video_duration_s - 0.05
