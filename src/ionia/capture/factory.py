"""Turn ``video_source`` / ``audio_mode`` settings into sources. Device modules load lazily,
so a machine without a display or a sound server can still stream test patterns and files."""

from __future__ import annotations

from pathlib import Path

from ionia.capture.base import AudioSource, VideoSource
from ionia.capture.media_file import FileAudioSource, FileVideoSource
from ionia.capture.testsrc import TestPatternSource, ToneSource
from ionia.config import StreamConfig
from ionia.errors import CaptureError, ConfigError

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
        options = _options(config, SCREEN_OPTIONS)
        return create_screen_source(str(options.pop("capture", "auto")), fps=config.fps, **options)
    return FileVideoSource(Path(config.video_source), config.fps, loop=config.loop)


def create_audio_source(config: StreamConfig) -> AudioSource | None:
    mode = config.audio_mode
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
        return create_device_source(mode, **_audio_device_options(config))
    return FileAudioSource(Path(mode), loop=config.loop)


SCREEN_OPTIONS = ("display", "monitor", "region", "cursor", "capture")


def _audio_device_options(config: StreamConfig) -> dict[str, object]:
    """``audio_device`` names the one device of ``system``/``mic``; ``both`` names each."""
    opts = config.capture
    system, mic = opts.get("system_device"), opts.get("mic_device")
    if opts.get("audio_device"):
        if config.audio_mode == "both":
            raise ConfigError("with audio 'both', pick devices with system_device / mic_device")
        if config.audio_mode == "system":
            system = opts["audio_device"]
        else:
            mic = opts["audio_device"]
    return {
        "system_device": system,
        "mic_device": mic,
        "system_gain_db": float(opts.get("system_gain") or 0.0),
        "mic_gain_db": float(opts.get("mic_gain") or 0.0),
    }


def _options(config: StreamConfig, names: tuple[str, ...]) -> dict[str, object]:
    return {k: v for k, v in config.capture.items() if k in names and v is not None}
