"""``VideoAudioRecorder``: the same capture and encoders into a file, with guaranteed delivery.

It is the streamer with no network destination: its only output is a recording, whose
buffer never drops a packet. ``.mp4`` is fragmented while it is written (a crash costs at
most the last fragment) and finished as a clean, seekable file on ``stop()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ionia.errors import ConfigError
from ionia.output.destination import FILE_OUTPUTS
from ionia.streamer import VideoAudioStreamer


class VideoAudioRecorder(VideoAudioStreamer):
    """Records a video source and an audio source to ``.mp4``, ``.mkv`` or ``.flv``."""

    def initialize(  # type: ignore[override]
        self,
        path: str | Path,
        fps: int = 30,
        video_bitrate: int | str = 5_000_000,
        use_nvenc: bool = True,
        audio_bitrate: int | str = 192_000,
        audio_mode: str = "both",
        **options: Any,
    ) -> None:
        path = Path(path)
        if path.suffix.lower() not in FILE_OUTPUTS:
            raise ConfigError(
                f"cannot record to {path}: use a file ending in {', '.join(FILE_OUTPUTS)}"
            )
        if "record" in options:
            raise ConfigError("a recorder records to its own path: drop record=")
        super().initialize(
            [],
            fps,
            video_bitrate,
            use_nvenc,
            audio_bitrate,
            audio_mode,
            record=str(path),
            **options,
        )
