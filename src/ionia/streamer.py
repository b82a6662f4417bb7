"""``VideoAudioStreamer``: capture → encode → one StreamBuffer + sender per destination.

The lifecycle it shares with the recorder (``start()``, ``stop()``, the statistics) is
:class:`~ionia.pipeline.session.MediaSession`; what only a live stream has is here: the
connection state, the send buffers' backpressure, and moving a destination to a new URL
or key while it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ionia.config import StreamConfig
from ionia.encoding.video import EncoderOptions
from ionia.errors import ConfigError, StateConflict
from ionia.output.destination import parse_destination
from ionia.output.reconnect import ReconnectPolicy
from ionia.pipeline.session import MediaSession


class VideoAudioStreamer(MediaSession):
    """Streams a video source and an audio source live to RTMP(S) ingests or files.

    >>> s = VideoAudioStreamer()
    >>> s.initialize("rtmp://a.rtmp.youtube.com/live2/KEY", fps=30, video_bitrate=4_500_000)
    >>> s.start(); ...; s.stop()
    """

    def initialize(
        self,
        rtmp_url: str | Sequence[str] = (),
        fps: int = StreamConfig.fps,
        video_bitrate: int | str = StreamConfig.video_bitrate,
        use_nvenc: bool = EncoderOptions.allow_hardware,
        audio_bitrate: int | str = StreamConfig.audio_bitrate,
        audio_mode: str = StreamConfig.audio_mode,
        *,
        video_source: str = StreamConfig.video_source,
        size: str | tuple[int, int] | None = None,
        reconnect: ReconnectPolicy | None = None,
        **options: Any,
    ) -> None:
        """Check every setting now (``ConfigError`` names the bad one); open nothing yet.

        ``rtmp_url`` is one URL or a list (multistreaming); a file path ending in .flv,
        .mp4 or .mkv writes the stream to that file. ``service="youtube"`` (``ionia
        services`` lists them) with ``stream_key=`` (and ``ingest=``, an ingest's name or
        a server URL) goes to that service instead, or as well, its key's shape checked
        and the settings fitted to its limits. Keyword extras: ``record`` (a file
        recorded alongside, never dropping), ``codec`` ("h264", "hevc", "av1"),
        ``fallback_to_h264``, ``encoder``, ``preset``, ``keyint``,
        ``buffer_ms``, ``buffer_packets``, ``loop``, ``connect_timeout``, ``stall_timeout``,
        ``stop_timeout``, ``tls_verify``, ``ca_file``, ``adaptive_bitrate``,
        ``min_video_bitrate``, and the capture options (``display``, ``monitor``,
        ``region``, ``cursor``, ``capture``, ``audio_device``, ``system_device``,
        ``mic_device``, ``system_gain``, ``mic_gain``). ``clock_offset`` (seconds) starts
        the stream clock late, for testing long streams. Defaults: ``StreamConfig``'s.
        """
        self._configure(
            rtmp_url,
            reconnect=reconnect,
            fps=fps,
            video_bitrate=video_bitrate,
            audio_bitrate=audio_bitrate,
            use_nvenc=use_nvenc,
            audio_mode=audio_mode,
            video_source=video_source,
            size=size,
            **options,
        )

    # -- live changes ----------------------------------------------------------------------

    def rotate(self, url: str, *, index: int = 0) -> None:
        """Move destination ``index`` to a new URL/key without a gap. Returns once the new
        session is up (a bad new key raises here and the old one goes on); the old one is
        fed until the new one has sent its first keyframe, then closed, by a worker that
        ``stop()`` joins. No encoder restart."""
        with self._lock:
            pipeline = self._pipeline
            if not self._running or pipeline is None:
                raise ConfigError("rotate() needs a running stream")
            streams = pipeline.destinations.streams
            if not 0 <= index < len(streams):
                raise ConfigError(f"no destination {index}: there are {len(streams)}")
            old = streams[index]
            token = old.destination.whip.token if old.destination.whip is not None else None
            new_destination = parse_destination(url, whip_token=token)
            if (new_destination.whip is None) != (old.destination.whip is None):
                # the audio codec (Opus or AAC) and the video profile were chosen for it
                raise ConfigError(
                    "rotate() keeps the kind of destination: a WHIP endpoint moves to "
                    "another WHIP endpoint, an RTMP ingest to another ingest"
                )
            new = pipeline.new_output(new_destination, joins_running_stream=True)
            new.connect(wait_for_ingest=False)
            new.start()
            config = self.config
            pipeline.destinations.rotate(
                old,
                new,
                request_keyframe=pipeline.request_keyframe,
                keyint_s=config.encoding.keyint_s,
                stop_timeout=config.stop_timeout,
            )

    def set_video_bitrate(self, bitrate: int) -> None:
        """Change the running video encoder's bitrate (bit/s), from the next frame; it stays
        under the bitrate the stream started with (the encoder's VBV ceiling). For uplink
        tests; with ``adaptive_bitrate`` on, the controller moves it too."""
        with self._lock:
            pipeline = self._pipeline
            if not self._running or pipeline is None or pipeline.video_encoder is None:
                raise ConfigError("set_video_bitrate() needs a running stream")
            pipeline.video_encoder.set_bitrate(int(bitrate))

    def request_keyframe(self) -> None:
        """Ask the video encoder for a keyframe at the next frame (counted in
        ``keyframes_forced``): a viewer or a server waiting to join gets a picture now."""
        with self._lock:
            pipeline = self._pipeline
            if not self._running or pipeline is None or pipeline.video_encoder is None:
                raise StateConflict("request_keyframe() needs a running stream")
            pipeline.request_keyframe()

    def reconnect_now(self) -> None:
        """Drop every live session and reconnect at once (skipping a backoff wait)."""
        pipeline = self._pipeline
        for output in pipeline.destinations.outputs if pipeline else ():
            output.sender.reconnect_now()

    # -- state -----------------------------------------------------------------------------

    def is_connected(self) -> bool:
        """True while every live destination is connected."""
        pipeline = self._pipeline
        outputs = [o for o in pipeline.destinations.outputs if o.failed is None] if pipeline else []
        return self._running and bool(outputs) and all(o.connected for o in outputs)

    def is_backpressure(self) -> bool:
        """True while a stream's send buffer is over a limit (video is being dropped)."""
        pipeline = self._pipeline
        return pipeline is not None and any(
            o.buffer.backpressure() for o in pipeline.destinations.streams
        )
