import av
import numpy as np
import pytest

from ionia.config import StreamConfig
from ionia.encoding.fit import Fitter
from ionia.errors import ConfigError


def white(width, height, fmt="bgra"):
    return av.VideoFrame.from_ndarray(np.full((height, width, 4), 255, np.uint8), format=fmt)


def luma(frame):
    return frame.to_ndarray(format="gray")


def test_pad_keeps_the_aspect_with_black_bars():
    out = Fitter(640, 360, "yuv420p", "pad")(white(1000, 300))  # wider than 16:9
    assert (out.width, out.height, out.format.name) == (640, 360, "yuv420p")
    y = luma(out)
    assert y[0, 320] < 30 and y[-1, 320] < 30  # bars above and below
    assert y[180, 0] > 200 and y[180, 639] > 200  # the picture spans the width


def test_crop_fills_the_frame():
    y = luma(Fitter(640, 360, "yuv420p", "crop")(white(1000, 300)))
    assert y.min() > 200


def test_stretch_and_passthrough():
    fitter = Fitter(640, 360, "yuv420p", "stretch")
    assert luma(fitter(white(1000, 300))).min() > 200
    same = white(640, 360).reformat(format="yuv420p")
    assert Fitter(640, 360, "yuv420p")(same) is same  # nothing to do: no copy


def test_odd_capture_sizes_are_fine():
    out = Fitter(640, 360, "yuv420p", "pad")(white(1279, 719))
    assert (out.width, out.height) == (640, 360)


def test_fit_is_validated():
    with pytest.raises(ConfigError, match="fit 'zoom'"):
        StreamConfig.create("rtmp://h/app/key", fit="zoom")
