"""Fitting a source's pictures into the output size, in one pass of FFmpeg's filters.

``pad`` keeps the aspect ratio with black bars, ``crop`` fills the frame and cuts the
overflow, ``stretch`` scales each axis on its own. The conversion to the encoder's pixel
format happens in the same pass, in C: no pixel is touched by Python.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import cast

import av
from av.video.reformatter import VideoReformatter

FIT_MODES = ("pad", "crop", "stretch")


class Fitter:
    """Turns any frame into ``width`` × ``height`` in ``pix_fmt``; a no-op when it already is."""

    def __init__(self, width: int, height: int, pix_fmt: str, mode: str = "pad") -> None:
        if mode not in FIT_MODES:
            raise ValueError(f"fit must be one of {', '.join(FIT_MODES)}, not {mode!r}")
        self.width, self.height, self.pix_fmt, self.mode = width, height, pix_fmt, mode
        self._graph: av.filter.Graph | None = None
        self._input: tuple[int, int, str] | None = None
        # One scaler for every frame: ``frame.reformat()`` keeps its scaler on the frame,
        # and a grabber's frames are new objects, so each would build a new one (and
        # start its thread pool) per frame: 12-14 % of the process's CPU (measured).
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        size = (frame.width, frame.height)
        if size == (self.width, self.height):
            if frame.format.name == self.pix_fmt:
                return frame
            return self._reformatter.reformat(frame, format=self.pix_fmt)
        if self.mode == "stretch":
            return self._reformatter.reformat(frame, self.width, self.height, self.pix_fmt)
        key = (frame.width, frame.height, frame.format.name)
        if key != self._input:
            self._graph, self._input = self._build(*key), key
        assert self._graph is not None
        self._graph.push(frame)
        return cast(av.VideoFrame, self._graph.pull())

    def _build(self, width: int, height: int, pix_fmt: str) -> av.filter.Graph:
        w, h = self.width, self.height
        graph = av.filter.Graph()
        source = graph.add_buffer(
            width=width, height=height, format=av.VideoFormat(pix_fmt), time_base=Fraction(1, 1000)
        )
        chain = [source]
        if self.mode == "pad":
            chain += [
                graph.add("scale", f"w={w}:h={h}:force_original_aspect_ratio=decrease"
                                   ":force_divisible_by=2"),
                graph.add("pad", f"w={w}:h={h}:x=(ow-iw)/2:y=(oh-ih)/2:color=black"),
            ]  # fmt: skip
        else:
            chain += [
                graph.add("scale", f"w={w}:h={h}:force_original_aspect_ratio=increase"),
                graph.add("crop", f"w={w}:h={h}"),
            ]
        chain += [graph.add("format", f"pix_fmts={self.pix_fmt}"), graph.add("buffersink")]
        for upstream, downstream in itertools.pairwise(chain):
            upstream.link_to(downstream)
        graph.configure()
        return graph
