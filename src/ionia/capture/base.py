"""What every capture source offers the encoders.

Sources are pulled by the pipeline, never pushed: the video thread asks for the frame of a
slot of the master clock, the audio engine asks for exactly the samples it is about to
encode. That keeps one clock (the engine's) in charge, whatever the devices do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import av
import numpy as np

#: The engine's audio format: every audio source delivers this.
SAMPLE_RATE = 48_000
CHANNELS = 2


class VideoSource(ABC):
    """A picture source. ``open()`` learns the size; ``read()`` is called once per frame slot."""

    #: a short human name for logs and statistics ("testsrc", "x11grab :99", "file clip.mp4")
    name: str = "video"

    @abstractmethod
    def open(self) -> None:
        """Acquire the device or file. Raises ``CaptureError`` (or ``ConfigError``) on failure."""

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """Native (width, height) of the frames ``read()`` returns; valid after ``open()``."""

    @property
    def latency_s(self) -> float:
        """Mean age of a picture when ``read()`` hands it out (a grabber's own clock runs
        out of phase with the frame slots). The engine shifts audio by the same amount so
        a flash and a beep captured together stay together. Synthetic sources: 0."""
        return 0.0

    @abstractmethod
    def read(self, index: int) -> av.VideoFrame | None:
        """The picture for frame slot ``index`` (time ``index / fps`` on the master clock).

        Returns ``None`` when there is nothing new since the last call; the pipeline then
        repeats the previous frame (constant frame rate). Must not block for longer than
        about one frame interval. Raises ``CaptureError`` when the source is lost for good.
        """

    @abstractmethod
    def close(self) -> None:
        """Release everything; idempotent, joins any thread the source started."""


class AudioSource(ABC):
    """A 48 kHz stereo float32 source, pulled by the AudioEngine (the clock master)."""

    name: str = "audio"

    @property
    def latency_s(self) -> float:
        """How long before ``read()`` its samples were captured (device + buffering).

        The engine stamps audio that much earlier, so a device's buffering does not show
        up as an A/V offset. Synthetic and file sources have none.
        """
        return 0.0

    @abstractmethod
    def open(self) -> None:
        """Acquire the device or file. Raises ``CaptureError`` (or ``ConfigError``) on failure."""

    @abstractmethod
    def read(self, start: int, count: int) -> np.ndarray:
        """Exactly ``count`` float32 ``(count, 2)`` samples: engine samples ``start`` onwards.

        Never blocks on a device: what the device has not delivered yet is silence. A device
        source keeps its own buffer bounded against clock drift.
        """

    @abstractmethod
    def close(self) -> None:
        """Release everything; idempotent, joins any thread the source started."""
