"""Turn ``video_source`` / ``audio_mode`` settings into sources. Device modules load lazily,
so a machine without a display or a sound server can still stream test patterns and files."""

from __future__ import annotations

from pathlib import Path

from ionia.capture.base import AudioSource, VideoSource
from ionia.capture.media_file import FileAudioSource, FileVideoSource
from ionia.capture.testsrc import TestPatternSource, ToneSource
from ionia.config import StreamConfig
from ionia.errors import CaptureError

#: size of the test pattern when no ``size`` is given
TESTSRC_SIZE = (1280, 720)


def create_video_source(config: StreamConfig) -> VideoSource:
    if config.video_source == "testsrc":
        width, height = config.size or TESTSRC_SIZE
        return TestPatternSource(width, height, config.fps)
    if config.video_source == "screen":
        try:
            from ionia.capture.screen import create_screen_source
        except ImportError as exc:
            raise CaptureError(
                f"screen capture is not available on this machine ({exc}); "
                "use video_source='testsrc' or a media file"
            ) from None
        return create_screen_source(fps=config.fps, **_options(config, SCREEN_OPTIONS))
    return FileVideoSource(Path(config.video_source), config.fps, loop=config.loop)


def create_audio_source(config: StreamConfig) -> AudioSource | None:
    mode = config.audio_mode
    if mode == "none":
        return None
    if mode == "tone":
        return ToneSource()
    if mode in ("system", "mic", "both"):
        try:
            from ionia.capture.audio_devices import create_audio_device_source
        except ImportError as exc:
            raise CaptureError(
                f"audio capture is not available on this machine ({exc}); "
                "use audio_mode='tone', 'none' or a media file"
            ) from None
        return create_audio_device_source(mode, **_options(config, AUDIO_OPTIONS))
    return FileAudioSource(Path(mode), loop=config.loop)


SCREEN_OPTIONS = ("display", "monitor", "region", "cursor", "capture")
AUDIO_OPTIONS = ("audio_device", "system_gain", "mic_gain")


def _options(config: StreamConfig, names: tuple[str, ...]) -> dict[str, object]:
    return {k: v for k, v in config.capture.items() if k in names and v is not None}
