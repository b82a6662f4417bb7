"""The grabber's timing: one grab per frame slot, ending just before the slot reads it."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from ionia.capture.ffmpeg_grab import ScreenSource
from ionia.capture.latest_frame import GrabTimer
from ionia.capture.mss_grab import MssScreenSource
from tests.fixtures.desktop import ScreenPainter

FPS = 30
PERIOD = 1 / FPS


def test_free_running_at_the_frame_rate_until_the_first_read() -> None:
    timer = GrabTimer(FPS)
    assert timer.next_grab(now=10.001, last_start=10.0) == pytest.approx(10.0 + PERIOD)


def test_the_earliest_read_fixes_the_phase_and_a_grab_ends_before_its_slot() -> None:
    timer = GrabTimer(FPS)
    origin = 100.0
    for n, late in [(3, 0.0004), (4, 0.0002), (5, 0.003)]:  # the pump wakes a little late
        timer.read_at(n, origin + n * PERIOD + late)
    for _ in range(40):
        timer.grabbed(0.004)
    start = timer.next_grab(now=origin + 5 * PERIOD + 0.005, last_start=0.0)
    slot = origin + 6 * PERIOD + 0.0002  # the phase of the least late read
    assert start == pytest.approx(slot - timer.lead)
    assert timer.lead == pytest.approx(0.004 + GrabTimer.MARGIN, abs=1e-4)
    # the next one is for the slot after, even if asked again at once
    assert timer.next_grab(now=start + 0.004, last_start=start) == pytest.approx(start + PERIOD)


def test_a_new_clock_moves_the_phase() -> None:
    timer = GrabTimer(FPS)
    timer.read_at(10, 50.0 + 10 * PERIOD)
    timer.read_at(0, 70.0123)  # a new pump, whose slot 0 is much later
    start = timer.next_grab(now=70.02, last_start=70.0)
    assert (start + timer.lead - 70.0123) / PERIOD == pytest.approx(1.0)


def test_the_lead_follows_the_grabs_and_is_at_most_half_a_frame() -> None:
    timer = GrabTimer(FPS)
    assert timer.lead == pytest.approx(GrabTimer.FIRST_GUESS + GrabTimer.MARGIN)
    for _ in range(30):
        timer.grabbed(0.003)
    steady = timer.lead
    assert 0.003 < steady < 0.003 + GrabTimer.MARGIN + 0.0005
    for _ in range(30):  # a slower grabber: the lead follows it
        timer.grabbed(0.006)
    assert 0.006 < timer.lead < 0.006 + GrabTimer.MARGIN + 0.0005
    timer.grabbed(0.5)  # a grabber stuck once does not push grabs a frame early
    assert timer.lead == pytest.approx(PERIOD / 2)
    for _ in range(30):  # and is forgotten within a second
        timer.grabbed(0.006)
    assert timer.lead < 0.006 + GrabTimer.MARGIN + 0.001


@pytest.mark.capture
@pytest.mark.timeout(20)
@pytest.mark.parametrize("backend", [ScreenSource, MssScreenSource])
def test_one_grab_per_slot_fresh_when_read(
    backend, xvfb: str, screen_painter: ScreenPainter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pump reading at 30 fps gets a new frame at nearly every slot, grabbed a few ms
    before it, from about 30 grabs a second (a free-running grabber at twice the rate
    would need 60, and one at the frame rate would hand out frames up to 33 ms old)."""
    grabs: list[float] = []
    frames = backend._frames

    def counted(source):  # type: ignore[no-untyped-def]
        for frame in frames(source):
            grabs.append(time.monotonic())
            yield frame

    monkeypatch.setattr(backend, "_frames", counted)
    screen_painter.fill("#336699")
    source = backend(xvfb, fps=FPS)
    source.open()
    ages, empty = [], 0
    try:
        origin = time.monotonic() + 0.05
        stop = threading.Event()
        for n in range(60):
            stop.wait(max(0.0, origin + n * PERIOD - time.monotonic()))
            frame = source.read(n)
            if frame is None:
                empty += 1
            elif n >= 10:  # the phase is learnt from the first reads
                ages.append(time.monotonic() - source.last_capture_time)
    finally:
        source.close()
    window = [t for t in grabs if origin + 10 * PERIOD <= t < origin + 60 * PERIOD]
    summary = f"{len(window)} grabs in 50 slots, {empty} repeats, ages (s) {sorted(ages)}"
    print(summary)
    assert 40 <= len(window) <= 60, summary
    assert empty <= 5, summary
    assert statistics.median(ages) <= 0.010, summary
