"""Turn ``video_source`` / ``audio_mode`` settings into sources. Device modules load lazily,
so a machine without a display or a sound server can still stream test patterns and files."""

from __future__ import annotations

from pathlib import Path

from ionia.capture.base import AudioSource, VideoSource
from ionia.capture.media_file import FileAudioSource, FileVideoSource
from ionia.capture.options import CaptureOptions
from ionia.capture.testsrc import TestPatternSource, ToneSource
from ionia.errors import CaptureError

#: size of the test pattern when no ``size`` is given
TESTSRC_SIZE = (1280, 720)


def create_video_source(
    video_source: str,
    *,
    fps: int,
    size: tuple[int, int] | None = None,
    loop: bool = False,
    capture: CaptureOptions | None = None,
) -> VideoSource:
    """``screen``, ``testsrc`` or a media file's path; ``size`` is the test pattern's."""
    if video_source == "testsrc":
        width, height = size or TESTSRC_SIZE
        return TestPatternSource(width, height, fps)
    if video_source == "screen":
        try:
            from ionia.capture.screen import create_screen_source
        except ImportError as exc:
            raise CaptureError(
                f"screen capture is not available on this machine ({exc}); "
                "use video_source='testsrc' or a media file"
            ) from None
        c = capture or CaptureOptions()
        return create_screen_source(
            c.backend,
            display=c.display,
            monitor=c.monitor,
            region=c.region,
            cursor=c.cursor,
            fps=fps,
        )
    return FileVideoSource(Path(video_source), fps, loop=loop)


def create_audio_source(
    mode: str, *, loop: bool = False, capture: CaptureOptions | None = None
) -> AudioSource | None:
    """``none``, ``tone``, ``system``, ``mic``, ``both`` or a media file's path."""
    if mode == "none":
        return None
    if mode == "tone":
        return ToneSource()
    if mode in ("system", "mic", "both"):
        try:
            from ionia.capture.audio_devices import create_audio_source as create_device_source
        except ImportError as exc:
            raise CaptureError(
                f"audio capture is not available on this machine ({exc}); "
                "use audio_mode='tone', 'none' or a media file"
            ) from None
        c = capture or CaptureOptions()
        return create_device_source(
            mode,
            system_device=c.system_device,
            mic_device=c.mic_device,
            system_gain_db=c.system_gain_db,
            mic_gain_db=c.mic_gain_db,
        )
    return FileAudioSource(Path(mode), loop=loop)
