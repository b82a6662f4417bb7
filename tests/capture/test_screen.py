"""Screen capture against a real X server (Xvfb) with a real window drawn on it."""

from __future__ import annotations

import logging
import time

import av
import numpy as np
import pytest

from ionia.capture.devices import list_monitors
from ionia.capture.ffmpeg_grab import ScreenSource
from ionia.capture.mss_grab import MssScreenSource
from ionia.capture.region import Region
from ionia.capture.screen import FallbackScreenSource, create_screen_source
from ionia.errors import CaptureError, ConfigError
from tests.fixtures.desktop import ScreenPainter, XvfbServer

pytestmark = [pytest.mark.capture, pytest.mark.timeout(20)]

BACKENDS = {"x11grab": ScreenSource, "mss": MssScreenSource}


def fresh_frame(source, timeout: float = 2.0) -> np.ndarray:
    """The first frame grabbed after now (so after the last drawing), as RGB."""
    asked = time.monotonic()
    deadline = asked + timeout
    while time.monotonic() < deadline:
        frame = source.read(0)
        if frame is not None and source.last_capture_time > asked + 0.02:
            return frame.to_ndarray(format="rgb24")
        time.sleep(0.005)
    raise AssertionError("no fresh frame")


def colour_at(image: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in image[y, x])


@pytest.mark.parametrize("backend", BACKENDS)
def test_colours_come_back_at_their_places(
    backend: str, xvfb: str, screen_painter: ScreenPainter
) -> None:
    screen_painter.fill("#ff0000")
    screen_painter.rect("green", 100, 100, 200, 150, "#00ff00")
    screen_painter.rect("blue", 900, 400, 200, 200, "#0000ff")
    source = BACKENDS[backend](xvfb, fps=30)  # the default: the pointer drawn in
    source.open()
    try:
        assert source.size == (1280, 720)
        image = fresh_frame(source)
        assert image.shape == (720, 1280, 3)
        assert colour_at(image, 20, 20) == (255, 0, 0)
        assert colour_at(image, 200, 175) == (0, 255, 0)
        assert colour_at(image, 1000, 500) == (0, 0, 255)
        assert colour_at(image, 1279, 719) == (255, 0, 0)
    finally:
        source.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_pointer_is_drawn_over_the_true_picture(
    backend: str, xvfb: str, screen_painter: ScreenPainter
) -> None:
    """By default the pointer is drawn where it is, and only there (Xvfb's X cursor)."""
    screen_painter.fill("#ff0000")
    screen_painter.rect("blue", 640, 0, 640, 720, "#0000ff")
    screen_painter.pointer(300, 200)
    images = {}
    for cursor in (True, False):
        source = BACKENDS[backend](xvfb, cursor=cursor, fps=30)
        source.open()
        try:
            images[cursor] = fresh_frame(source)
        finally:
            source.close()
    ys, xs = np.nonzero(np.any(images[True] != images[False], axis=2))
    assert len(xs) > 20, "no pointer drawn"
    # a cursor-sized box around the hotspot; everything else is the picture itself
    assert xs.min() >= 300 - 32 and xs.max() <= 300 + 32, (xs.min(), xs.max())
    assert ys.min() >= 200 - 32 and ys.max() <= 200 + 32, (ys.min(), ys.max())
    assert (images[False][::40, :640:40] == (255, 0, 0)).all()
    assert (images[True][::40, 680::40] == (0, 0, 255)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_black_screen_earns_a_notice(
    backend: str, xvfb: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing on the X screen (Xvfb's root after a reset): one line says why it is black."""
    source = BACKENDS[backend](xvfb, fps=30)
    with caplog.at_level(logging.INFO, logger="ionia.capture"):
        source.open()
        source.close()
    notices = [r.getMessage() for r in caplog.records if "black" in r.getMessage()]
    assert len(notices) == 1 and "-noreset" in notices[0], caplog.text


def test_no_notice_for_a_painted_screen(
    xvfb: str, screen_painter: ScreenPainter, caplog: pytest.LogCaptureFixture
) -> None:
    screen_painter.fill("#203040")
    source = ScreenSource(xvfb, fps=30)
    with caplog.at_level(logging.INFO, logger="ionia.capture"):
        source.open()
        source.close()
    assert "black" not in caplog.text


def box_centre(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(np.all(image == (255, 255, 255), axis=2))
    assert len(xs) > 1000, "box not visible"
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize("backend", BACKENDS)
def test_moving_box_moves(backend: str, xvfb: str, screen_painter: ScreenPainter) -> None:
    screen_painter.fill("#000000")
    # no pointer: the white outline of Xvfb's X cursor would count as part of the white box
    source = BACKENDS[backend](xvfb, cursor=False, fps=30)
    source.open()
    try:
        centres = []
        for x in (100, 400, 700, 1000):
            screen_painter.rect("box", x, 300, 100, 100, "#ffffff")
            centres.append(box_centre(fresh_frame(source)))
        assert [round(cx) for cx, _ in centres] == [150, 450, 750, 1050]
        assert all(round(cy) == 350 for _, cy in centres)
    finally:
        source.close()


def test_frame_is_bgr0_and_repeats_give_none(xvfb: str, screen_painter: ScreenPainter) -> None:
    source = ScreenSource(xvfb, fps=30)
    source.open()
    try:
        fresh_frame(source)
        time.sleep(0.1)
        frame = source.read(2)
        assert isinstance(frame, av.VideoFrame) and frame.format.name == "bgr0"
        # the newest frame was handed out: asking again for the slot is "nothing new"
        assert source.read(2) is None
    finally:
        source.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_region_with_odd_size(backend: str, xvfb: str, screen_painter: ScreenPainter) -> None:
    screen_painter.fill("#000000")
    screen_painter.rect("mark", 200, 100, 50, 40, "#ffff00")
    region = Region(x=101, y=51, width=333, height=201)
    source = BACKENDS[backend](xvfb, region=region, fps=30)
    source.open()
    try:
        assert source.size == (333, 201)
        image = fresh_frame(source)
        assert image.shape == (201, 333, 3)
        # the mark's top-left corner, shifted by the region's origin
        assert colour_at(image, 200 - 101, 100 - 51) == (255, 255, 0)
        assert colour_at(image, 200 - 101 - 1, 100 - 51) == (0, 0, 0)
    finally:
        source.close()


def test_region_outside_the_screen_is_a_config_error(xvfb: str) -> None:
    source = ScreenSource(xvfb, region=Region(x=1200, y=0, width=200, height=100))
    with pytest.raises(ConfigError):
        source.open()
    with pytest.raises(ConfigError):
        ScreenSource(xvfb, monitor=7).open()
    with pytest.raises(ConfigError):
        Region.parse("1,2,3")


def test_monitors_of_the_display(xvfb: str) -> None:
    screens = list_monitors(xvfb)
    assert screens[0].width == 1280 and screens[0].height == 720
    assert len(screens) >= 2 and screens[1].width == 1280


def test_auto_prefers_x11grab_on_linux(xvfb: str, screen_painter: ScreenPainter) -> None:
    source = create_screen_source("auto", display=xvfb, region="0,0,640,360", fps=30)
    assert isinstance(source, FallbackScreenSource)
    source.open()
    try:
        assert source.name.startswith("x11grab") and source.size == (640, 360)
    finally:
        source.close()
    with pytest.raises(ConfigError):
        create_screen_source("vnc", display=xvfb)


def test_missing_display_is_a_capture_error() -> None:
    with pytest.raises(CaptureError):
        ScreenSource(":4711").open()
    with pytest.raises(CaptureError):
        create_screen_source("auto", display=":4711").open()


@pytest.mark.parametrize("backend", BACKENDS)
def test_x_server_killed_mid_capture(backend: str, xvfb_server: XvfbServer) -> None:
    source = BACKENDS[backend](xvfb_server.display, fps=30)
    source.open()
    try:
        fresh_frame(source)
        xvfb_server.kill()
        deadline = time.monotonic() + 5
        with pytest.raises(CaptureError, match="lost"):
            while time.monotonic() < deadline:
                source.read(0)
                time.sleep(0.01)
    finally:
        source.close()
