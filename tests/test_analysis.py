"""The measuring tool the demo and the tests rely on: it must find beeps where they are."""

from fractions import Fraction

import av
import numpy as np

from ionia.analysis import analyze
from ionia.capture.testsrc import ToneSource


def write_tone_with_a_hole(path, *, seconds: float, hole: tuple[float, float]) -> None:
    """AAC of the 1 kHz beep track, with the audio between ``hole`` seconds left out."""
    tone = ToneSource()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48_000, layout="stereo")
        for start in range(0, int(seconds * 48_000), 1024):
            if hole[0] * 48_000 <= start < hole[1] * 48_000:
                continue
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(tone.read(start, 1024).T), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts, frame.time_base = 48_000, start, Fraction(1, 48_000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_beeps_are_placed_by_timestamps_across_a_hole(tmp_path):
    path = tmp_path / "holey.mkv"
    write_tone_with_a_hole(path, seconds=5.9, hole=(2.5, 3.5))
    report = analyze(path)
    # every beep where it was made, to within a few ms; none lost to the hole but the cut one
    assert len(report.beeps_s) == 5  # 0, 1, 2, 4, 5 (3 is inside the hole)
    for beep in report.beeps_s:
        assert abs(beep - round(beep)) < 0.03, report.beeps_s
    assert round(report.beeps_s[-1]) == 5
