"""``VideoAudioRecorder``: the same capture and encoders into a file, with guaranteed delivery.

It shares the streamer's lifecycle (:class:`~ionia.pipeline.session.MediaSession`) with no
network destination: its only output is a recording, whose buffer never drops a packet.
``.mp4`` is fragmented while it is written (a crash costs at most the last fragment) and
finished as a clean, seekable file on ``stop()``. What only a live stream has (``rotate()``,
``reconnect_now()``, ``is_connected()``) is not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ionia.config import StreamConfig
from ionia.encoding.video import EncoderOptions
from ionia.errors import ConfigError
from ionia.output.destination import FILE_OUTPUTS
from ionia.pipeline.session import MediaSession


class VideoAudioRecorder(MediaSession):
    """Records a video source and an audio source to ``.mp4``, ``.mkv`` or ``.flv``."""

    def initialize(
        self,
        path: str | Path,
        fps: int = StreamConfig.fps,
        video_bitrate: int | str = StreamConfig.video_bitrate,
        use_nvenc: bool = EncoderOptions.allow_hardware,
        audio_bitrate: int | str = StreamConfig.audio_bitrate,
        audio_mode: str = StreamConfig.audio_mode,
        **options: Any,
    ) -> None:
        """Check every setting now; open nothing yet. The keywords are the streamer's
        (``VideoAudioStreamer.initialize``) but ``record``: the recording is ``path``."""
        path = Path(path)
        if path.suffix.lower() not in FILE_OUTPUTS:
            raise ConfigError(
                f"cannot record to {path}: use a file ending in {', '.join(FILE_OUTPUTS)}"
            )
        if "record" in options:
            raise ConfigError("a recorder records to its own path: drop record=")
        self._configure(
            [],
            fps=fps,
            video_bitrate=video_bitrate,
            use_nvenc=use_nvenc,
            audio_bitrate=audio_bitrate,
            audio_mode=audio_mode,
            record=str(path),
            **options,
        )
