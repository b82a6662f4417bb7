"""``VideoAudioStreamer``: capture → encode → StreamBuffer → sender, with one lifecycle.

``start()`` opens everything that can fail (sources, encoders, the first connection) before
any thread runs, so a bad key or a missing device raises there and leaves nothing behind.
``stop()`` stops the producers, lets the sender drain to its deadline, and joins every
thread it started, within ``stop_timeout`` + 1 s even with a dead network.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ionia.buffer import BufferConfig, StreamBuffer
from ionia.capture.base import AudioSource, VideoSource
from ionia.capture.factory import create_audio_source, create_video_source
from ionia.clock import MasterClock
from ionia.config import StreamConfig, even_size
from ionia.encoding.audio import AacEncoder, AudioEngine
from ionia.encoding.video import VideoEncoder, VideoEncoderSettings
from ionia.encoding.video_pump import VideoPump
from ionia.errors import ConfigError, IoniaError
from ionia.output.file_sink import FileSink
from ionia.output.reconnect import ReconnectPolicy
from ionia.output.rtmp_sink import RtmpSink
from ionia.output.sender import Sender
from ionia.output.sink import Sink, StreamHeaders
from ionia.packet import EncodedPacket

log = logging.getLogger("ionia")


class VideoAudioStreamer:
    """Streams a video source and an audio source live to one RTMP(S) ingest or a file.

    >>> s = VideoAudioStreamer()
    >>> s.initialize("rtmp://a.rtmp.youtube.com/live2/KEY", fps=30, video_bitrate=4_500_000)
    >>> s.start(); ...; s.stop()
    """

    def __init__(self) -> None:
        self._config: StreamConfig | None = None
        self._policy = ReconnectPolicy()
        self._lock = threading.RLock()
        self._running = False
        self._finished = threading.Event()
        self._error: IoniaError | None = None
        self._source_ended = False
        self._clock_offset = 0.0
        self._started_at = 0.0
        self._start_called = 0.0
        self._final_stats: dict[str, Any] = {}
        self._codec_name = ""
        self._reset_parts()

    def _reset_parts(self) -> None:
        self._video_source: VideoSource | None = None
        self._audio_source: AudioSource | None = None
        self._video_encoder: VideoEncoder | None = None
        self._audio_encoder: AacEncoder | None = None
        self._buffer: StreamBuffer | None = None
        self._sender: Sender | None = None
        self._pump: VideoPump | None = None
        self._engine: AudioEngine | None = None
        self._clock: MasterClock | None = None

    # -- configuration ---------------------------------------------------------------------

    def initialize(
        self,
        rtmp_url: str,
        fps: int = 30,
        video_bitrate: int | str = 5_000_000,
        use_nvenc: bool = True,
        audio_bitrate: int | str = 192_000,
        audio_mode: str = "both",
        *,
        video_source: str = "screen",
        size: str | tuple[int, int] | None = None,
        reconnect: ReconnectPolicy | None = None,
        **options: Any,
    ) -> None:
        """Check every setting now (``ConfigError`` names the bad one); open nothing yet.

        ``rtmp_url`` may also be a file path ending in .flv, .mp4 or .mkv. Keyword extras:
        ``encoder``, ``preset``, ``keyint``, ``buffer_ms``, ``buffer_packets``, ``loop``,
        ``connect_timeout``, ``stop_timeout``, ``tls_verify``, ``ca_file`` and the capture
        options (``display``, ``monitor``, ``region``, ``cursor``, ``capture``,
        ``audio_device``, ``system_gain``, ``mic_gain``).
        """
        clock_offset = float(options.pop("clock_offset", 0.0))
        config = StreamConfig.create(
            rtmp_url,
            fps=fps,
            video_bitrate=video_bitrate,
            audio_bitrate=audio_bitrate,
            use_nvenc=use_nvenc,
            audio_mode=audio_mode,
            video_source=video_source,
            size=size,
            **options,
        )
        with self._lock:
            if self._running:
                raise ConfigError("cannot initialize a running streamer: stop() it first")
            self._config = config
            self._policy = reconnect or ReconnectPolicy()
            self._clock_offset = clock_offset

    @property
    def config(self) -> StreamConfig:
        if self._config is None:
            raise ConfigError("call initialize(url, ...) before start()")
        return self._config

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open sources, encoders and the first session; then start the threads."""
        config = self.config
        with self._lock:
            if self._running:
                raise ConfigError("already running")
            self._start_called = time.monotonic()
            self._error, self._source_ended = None, False
            self._finished.clear()
            try:
                self._open(config)
            except BaseException:
                self._close_parts()
                raise
            self._running = True
            self._started_at = time.monotonic()
            assert self._clock and self._sender and self._pump
            self._clock.start()
            self._sender.start()
            if self._engine is not None:
                self._engine.start()
            self._pump.start()
            log.info("streaming to %s with %s", config.destination.display, self.get_codec_name())

    def _open(self, config: StreamConfig) -> None:
        self._video_source = create_video_source(config)
        self._video_source.open()
        self._audio_source = create_audio_source(config)
        if self._audio_source is not None:
            self._audio_source.open()
        width, height = config.size or even_size(*self._video_source.size)
        video = VideoEncoder(
            VideoEncoderSettings(
                width=width,
                height=height,
                fps=config.fps,
                bitrate=config.video_bitrate,
                keyint_s=config.keyint_s,
                encoder=config.encoder,
                allow_hardware=config.allow_hardware,
                preset=config.preset,
                tune=config.tune,
                profile=config.profile,
            )
        )
        self._video_encoder = video
        video.open()
        if self._audio_source is not None:
            self._audio_encoder = AacEncoder(config.audio_bitrate)
            self._audio_encoder.open()
        self._buffer = StreamBuffer(
            BufferConfig(max_packets=config.buffer_packets, max_latency_ms=config.buffer_ms),
            on_keyframe_request=video.request_keyframe,
        )
        headers = StreamHeaders(
            width=width,
            height=height,
            fps=config.fps,
            video_bitrate=config.video_bitrate,
            video_config=video.extradata,
            audio_bitrate=config.audio_bitrate if self._audio_encoder else None,
            audio_config=self._audio_encoder.extradata if self._audio_encoder else None,
            encoder=f"Ionia ({video.name})",
        )
        self._sender = Sender(
            destination=config.destination.display,
            buffer=self._buffer,
            make_sink=self._make_sink,
            headers=headers,
            policy=self._policy,
            on_fatal=self._fail,
        )
        if not self._policy.wait_for_ingest or config.destination.url is None:
            self._sender.connect_first()
        self._clock = MasterClock(offset=self._clock_offset)
        self._pump = VideoPump(
            self._video_source, video, self._clock, config.fps, self._deliver, self._fail
        )
        if self._audio_source is not None and self._audio_encoder is not None:
            self._engine = AudioEngine(
                self._audio_source, self._audio_encoder, self._clock, self._deliver, self._fail
            )

    def _make_sink(self) -> Sink:
        config = self.config
        dest = config.destination
        if dest.url is not None:
            return RtmpSink(
                dest.url,
                connect_timeout=config.connect_timeout,
                io_timeout=config.io_timeout,
                tls_verify=config.tls_verify,
                ca_file=config.ca_file,
            )
        assert dest.path is not None
        return FileSink(dest.path, dest.file_format)

    def _deliver(self, packet: EncodedPacket) -> None:
        buffer = self._buffer
        if buffer is not None:
            buffer.put(packet)

    def _fail(self, exc: BaseException) -> None:
        """From a worker thread: the stream cannot go on (or its source ended)."""
        if isinstance(exc, EOFError):
            log.info("source ended: %s", exc)
            self._source_ended = True
        elif isinstance(exc, IoniaError):
            log.error("%s", exc)
            self._error = self._error or exc
        self._finished.set()

    def stop(self) -> None:
        """Drain and close within ``stop_timeout`` (+1 s at worst); idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            deadline = self.config.stop_timeout
            for worker in (self._pump, self._engine):
                if worker is not None:
                    worker.stop(timeout=1.0)
            for encoder in (self._video_encoder, self._audio_encoder):
                if isinstance(encoder, VideoEncoder):
                    for packet in encoder.flush():
                        self._deliver(packet)
            if self._sender is not None:
                self._sender.stop(deadline)
            self._final_stats = self._collect_statistics()
            self._close_parts()
            self._finished.set()

    def _close_parts(self) -> None:
        if self._buffer is not None:
            self._buffer.close()
        for part in (
            self._video_encoder,
            self._audio_encoder,
            self._video_source,
            self._audio_source,
        ):
            if part is not None:
                part.close()
        self._reset_parts()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream fails or its source ends; True if it did."""
        return self._finished.wait(timeout)

    def __enter__(self) -> VideoAudioStreamer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._running and self._error is None and not self._source_ended

    def is_connected(self) -> bool:
        sender = self._sender
        return self._running and sender is not None and sender.connected

    def is_backpressure(self) -> bool:
        buffer = self._buffer
        return buffer is not None and buffer.backpressure()

    @property
    def error(self) -> IoniaError | None:
        """What ended the stream, if it did not end by ``stop()`` or the source's end."""
        return self._error

    @property
    def source_ended(self) -> bool:
        return self._source_ended

    def reconnect_now(self) -> None:
        if self._sender is not None:
            self._sender.reconnect_now()

    def get_codec_name(self) -> str:
        encoder = self._video_encoder
        return encoder.name if encoder is not None else self._codec_name

    def get_statistics(self) -> dict[str, Any]:
        """A snapshot with snake_case keys; after ``stop()`` the final figures."""
        if self._sender is None and self._final_stats:
            return dict(self._final_stats)
        return self._collect_statistics()

    def _collect_statistics(self) -> dict[str, Any]:
        buffer, sender = self._buffer, self._sender
        pump, encoder = self._pump, self._video_encoder
        bstats = buffer.stats() if buffer is not None else None
        sstats = sender.stats() if sender is not None else None
        if encoder is not None:
            self._codec_name = encoder.name
        uptime = time.monotonic() - self._started_at if self._started_at else 0.0
        return {
            "destination": self._config.destination.display if self._config else "",
            "running": self.is_running(),
            "connected": sstats.connected if sstats else False,
            "backpressure": bstats.backpressure if bstats else False,
            "congestion": round(bstats.congestion, 3) if bstats else 0.0,
            "encoder": encoder.name if encoder is not None else self._codec_name,
            "video_packets": bstats.video_in if bstats else 0,
            "audio_packets": bstats.audio_in if bstats else 0,
            "video_packets_sent": sstats.video_sent if sstats else 0,
            "audio_packets_sent": sstats.audio_sent if sstats else 0,
            "video_packets_dropped": bstats.video_dropped if bstats else 0,
            "audio_packets_dropped": bstats.audio_dropped if bstats else 0,
            "keyframes_forced": encoder.keyframes_forced if encoder else 0,
            "bytes_sent": sstats.bytes_sent if sstats else 0,
            "bytes_acked": sstats.bytes_acked if sstats else 0,
            "bitrate_kbps": sstats.bitrate_kbps if sstats else 0.0,
            "video_bitrate_target": encoder.bitrate if encoder else 0,
            "buffer_packets": bstats.packets if bstats else 0,
            "buffer_latency_ms": bstats.latency_ms if bstats else 0,
            "buffer_max_latency_ms": bstats.max_latency_ms_seen if bstats else 0,
            "reconnects": sstats.reconnects if sstats else 0,
            "disconnected_s": sstats.disconnected_s if sstats else 0.0,
            "uptime_s": round(uptime, 3),
            "fps": self._config.fps if self._config else 0,
            "frames_captured": pump.frames_captured if pump else 0,
            "frames_duplicated": pump.frames_duplicated if pump else 0,
            "frames_late": pump.frames_late if pump else 0,
            "frames_encoded": encoder.frames_encoded if encoder else 0,
            "latency_p50_ms": sstats.latency_p50_ms if sstats else None,
            "latency_p99_ms": sstats.latency_p99_ms if sstats else None,
            # from start() (imports excluded) to the first media byte on the wire
            "first_byte_s": (
                round(sstats.first_byte_at - self._start_called, 4)
                if sstats and sstats.first_byte_at
                else None
            ),
            "last_error": str(self._error)
            if self._error
            else (sstats.last_error if sstats else ""),
        }
