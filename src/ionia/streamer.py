"""``VideoAudioStreamer``: capture → encode → one StreamBuffer + sender per destination.

``start()`` opens everything that can fail (sources, encoders, the first connection to
every destination) before any thread runs, so a bad key or a missing device raises there
and leaves nothing behind. ``stop()`` stops the producers, lets every sender drain to the
same deadline, and joins every thread it started, within ``stop_timeout`` + 1 s even with
a dead network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from ionia.buffer import BufferConfig
from ionia.capture.base import AudioSource, VideoSource
from ionia.capture.factory import create_audio_source, create_video_source
from ionia.checks import check_number, even_size
from ionia.clock import MasterClock
from ionia.config import StreamConfig
from ionia.encoding.audio import AacEncoder, AudioEngine
from ionia.encoding.video import VideoEncoder, VideoEncoderSettings
from ionia.encoding.video_pump import VideoPump
from ionia.errors import ConfigError, IoniaError
from ionia.output.adaptive import AdaptiveBitrate, AdaptiveSettings
from ionia.output.destination import Destination, parse_destination
from ionia.output.output import Output, SinkOptions
from ionia.output.reconnect import ReconnectPolicy
from ionia.output.sink import StreamHeaders
from ionia.packet import EncodedPacket, MediaKind
from ionia.worker import describe

log = logging.getLogger("ionia")

#: statistics summed over destinations
_SUMMED = (
    "video_packets_sent", "audio_packets_sent", "video_packets_dropped", "audio_packets_dropped",
    "bytes_sent", "bytes_acked", "bitrate_kbps", "buffer_packets", "reconnects",
)  # fmt: skip
#: statistics that take the worst destination's value
_WORST = ("buffer_latency_ms", "buffer_max_latency_ms", "congestion", "disconnected_s")


class VideoAudioStreamer:
    """Streams a video source and an audio source live to RTMP(S) ingests or files.

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
        self._start_called = 0.0
        self._started_at = 0.0
        self._final_stats: dict[str, Any] = {}
        self._codec_name = ""
        self._headers: StreamHeaders | None = None
        self._video_packets = self._audio_packets = 0
        self._adaptive_error = ""
        self._failures: list[IoniaError] = []
        self._reset_parts()

    def _reset_parts(self) -> None:
        self._video_source: VideoSource | None = None
        self._audio_source: AudioSource | None = None
        self._video_encoder: VideoEncoder | None = None
        self._audio_encoder: AacEncoder | None = None
        #: replaced, never mutated, so the producer threads can read it without a lock
        self._outputs: tuple[Output, ...] = ()
        self._pump: VideoPump | None = None
        self._engine: AudioEngine | None = None
        self._adaptive: AdaptiveBitrate | None = None
        self._clock: MasterClock | None = None

    # -- configuration ---------------------------------------------------------------------

    def initialize(
        self,
        rtmp_url: str | Sequence[str],
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

        ``rtmp_url`` is one URL or a list (multistreaming); a file path ending in .flv,
        .mp4 or .mkv writes the stream to that file. Keyword extras: ``record`` (a file
        recorded alongside, never dropping), ``encoder``, ``preset``, ``keyint``,
        ``buffer_ms``, ``buffer_packets``, ``loop``, ``connect_timeout``, ``stall_timeout``,
        ``stop_timeout``, ``tls_verify``, ``ca_file``, ``adaptive_bitrate``,
        ``min_video_bitrate``, and the capture options (``display``, ``monitor``,
        ``region``, ``cursor``, ``capture``, ``audio_device``, ``system_device``,
        ``mic_device``, ``system_gain``, ``mic_gain``). ``clock_offset`` (seconds) starts
        the stream clock late, for testing long streams.
        """
        clock_offset = check_number("clock offset", options.pop("clock_offset", 0.0), 0, 2**32)
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
        """Open sources, encoders and the first sessions; then start the threads."""
        config = self.config
        with self._lock:
            if self._running:
                raise ConfigError("already running")
            self._start_called = time.monotonic()
            self._error, self._source_ended = None, False
            self._failures = []
            self._finished.clear()
            self._final_stats = {}
            self._video_packets = self._audio_packets = 0
            self._adaptive_error = ""
            try:
                self._open(config)
            except BaseException:
                self._close_parts()
                raise
            self._running = True
            self._started_at = time.monotonic()
            assert self._clock and self._pump
            self._clock.start()
            for output in self._outputs:
                output.start()
            if self._engine is not None:
                self._engine.start()
            self._pump.start()
            if self._adaptive is not None:
                self._adaptive.start()
            shown = ", ".join(o.destination.display for o in self._outputs)
            log.info("streaming to %s with %s", shown, self.get_codec_name())

    def _open(self, config: StreamConfig) -> None:
        self._video_source = create_video_source(
            config.video_source,
            fps=config.fps,
            size=config.size,
            loop=config.loop,
            capture=config.capture,
        )
        self._video_source.open()
        self._audio_source = create_audio_source(
            config.audio_mode, loop=config.loop, capture=config.capture
        )
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
                fit=config.fit,
            )
        )
        self._video_encoder = video
        video.open()
        if self._audio_source is not None:
            self._audio_encoder = AacEncoder(config.audio_bitrate)
            self._audio_encoder.open()
        self._headers = StreamHeaders(
            width=width,
            height=height,
            fps=config.fps,
            video_bitrate=config.video_bitrate,
            video_config=video.extradata,
            audio_bitrate=config.audio_bitrate if self._audio_encoder else None,
            audio_config=self._audio_encoder.extradata if self._audio_encoder else None,
            encoder=f"Ionia ({video.name})",
        )
        outputs = [self._new_output(d) for d in config.destinations]
        if config.record is not None:
            outputs.append(self._new_output(config.record, recording=True))
        self._outputs = tuple(outputs)
        for output in outputs:
            output.connect(wait_for_ingest=self._policy.wait_for_ingest)
        self._clock = MasterClock(offset=self._clock_offset)
        self._pump = VideoPump(
            self._video_source, video, self._clock, config.fps, self._deliver, self._fail
        )
        if self._audio_source is not None and self._audio_encoder is not None:
            self._engine = AudioEngine(
                self._audio_source,
                self._audio_encoder,
                self._clock,
                self._deliver,
                self._fail,
                video_latency_s=self._video_source.latency_s,
            )
        self._adaptive = self._new_adaptive(config, video)

    def _new_adaptive(self, config: StreamConfig, video: VideoEncoder) -> AdaptiveBitrate | None:
        network = [d for d in config.destinations if d.url is not None]
        if config.adaptive_bitrate == "off" or not network:
            return None
        if config.adaptive_bitrate == "on" and len(network) > 1:
            log.warning(
                "adaptive bitrate is off with several destinations: the slow one drops video "
                "instead (use adaptive_bitrate='shared' to follow the slowest)"
            )
            return None
        settings = AdaptiveSettings(
            target=config.video_bitrate,
            floor=config.min_video_bitrate,
            audio_bitrate=config.audio_bitrate if config.has_audio else 0,
        )
        return AdaptiveBitrate(
            settings, lambda: self._outputs, video.set_bitrate, on_crash=self._adaptive_crashed
        )

    def _adaptive_crashed(self, exc: BaseException) -> None:
        """A bug in the controller: the stream goes on at the bitrate it had, and says so."""
        bitrate = self._video_encoder.bitrate if self._video_encoder else 0
        self._adaptive_error = f"adaptive bitrate stopped: {describe(exc)}"
        log.error("%s; the video bitrate stays at %d bit/s", self._adaptive_error, bitrate)

    def _new_output(
        self,
        destination: Destination,
        *,
        recording: bool = False,
        joins_running_stream: bool = False,
    ) -> Output:
        assert self._video_encoder is not None and self._headers is not None
        config = self.config
        return Output(
            destination,
            limits=BufferConfig(max_packets=config.max_packets, max_latency_ms=config.buffer_ms),
            sink_options=SinkOptions(
                connect_timeout=config.connect_timeout,
                io_timeout=config.io_timeout,
                tls_verify=config.tls_verify,
                ca_file=config.ca_file,
                bitrate=config.video_bitrate + (config.audio_bitrate if config.has_audio else 0),
            ),
            headers=self._headers,
            policy=self._policy,
            on_keyframe_request=self._video_encoder.request_keyframe,
            on_fatal=self._output_failed,
            recording=recording,
            joins_running_stream=joins_running_stream,
        )

    def _deliver(self, packet: EncodedPacket) -> None:
        # one producer thread per kind: each counter has a single writer
        if packet.kind is MediaKind.VIDEO:
            self._video_packets += 1
        else:
            self._audio_packets += 1
        for output in self._outputs:
            output.put(packet)

    def _output_failed(self, output: Output, exc: IoniaError) -> None:
        """One destination gave up: the stream goes on while another can still carry it."""
        self._failures.append(exc)
        alive = [o for o in self._outputs if o.failed is None and not o.recording]
        if alive or (output.recording and any(not o.recording for o in self._outputs)):
            log.error("%s: %s (the other destinations go on)", output.destination.display, exc)
            return
        self._fail(exc)

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
            if self._adaptive is not None:
                self._adaptive.stop()
            pump_stopped = self._pump is None or self._pump.stop(timeout=1.0)
            if self._engine is not None:
                self._engine.stop(timeout=1.0)
            # A pump still inside encode() owns the codec context: flushing it from here
            # would race on it, so its last frames are given up instead.
            if self._video_encoder is not None and pump_stopped:
                for packet in self._video_encoder.flush():
                    self._deliver(packet)
            # Every destination drains at once, to the same deadline.
            for output in self._outputs:
                output.request_stop(self.config.stop_timeout)
            for output in self._outputs:
                output.join()
            self._final_stats = self._collect_statistics()
            self._close_parts()
            self._finished.set()

    def _close_parts(self) -> None:
        for output in self._outputs:
            output.abort()  # idempotent: after a drain it only closes the buffer
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

    # -- live changes ----------------------------------------------------------------------

    def rotate(self, url: str, *, index: int = 0) -> None:
        """Move destination ``index`` to a new URL/key without a gap: open a session to the
        new one, switch at the next keyframe, close the old one. No encoder restart."""
        new_destination = parse_destination(url)
        with self._lock:
            if not self._running:
                raise ConfigError("rotate() needs a running stream")
            streams = [o for o in self._outputs if not o.recording]
            if not 0 <= index < len(streams):
                raise ConfigError(f"no destination {index}: there are {len(streams)}")
            old = streams[index]
            new = self._new_output(new_destination, joins_running_stream=True)
            new.connect(wait_for_ingest=False)  # a bad new key fails here; the old one goes on
            new.start()
            # The new buffer takes video from a keyframe on; ask for one now.
            self._outputs = (*(new if o is old else o for o in self._outputs), old)
            assert self._video_encoder is not None
            self._video_encoder.request_keyframe()
        self._retire(old, new)

    def _retire(self, old: Output, new: Output) -> None:
        """Keep feeding the old session until the new one has sent its first keyframe."""
        deadline = time.monotonic() + 2 * self.config.keyint_s + 1
        while new.sender.video_sent == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._lock:
            self._outputs = tuple(o for o in self._outputs if o is not old)
        old.request_stop(self.config.stop_timeout)
        old.join()
        log.info("switched %s → %s", old.destination.display, new.destination.display)

    def reconnect_now(self) -> None:
        for output in self._outputs:
            output.sender.reconnect_now()

    # -- state -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        """True while the stream runs: started, not failed, its source not ended, and its
        producer threads alive (derived from them, not remembered)."""
        if not self._running or self._error is not None or self._source_ended:
            return False
        workers = [w for w in (self._pump, self._engine) if w is not None]
        return all(w.alive for w in workers)

    def is_connected(self) -> bool:
        """True while every live destination is connected."""
        outputs = [o for o in self._outputs if o.failed is None]
        return self._running and bool(outputs) and all(o.connected for o in outputs)

    def is_backpressure(self) -> bool:
        return any(o.buffer.backpressure() for o in self._outputs if not o.recording)

    @property
    def error(self) -> IoniaError | None:
        """What ended the stream, if it did not end by ``stop()`` or the source's end."""
        return self._error

    @property
    def source_ended(self) -> bool:
        return self._source_ended

    @property
    def failures(self) -> list[IoniaError]:
        """Errors of destinations (or the recording) that ended for good while the stream
        went on; what ended the stream itself is :attr:`error`."""
        return list(self._failures)

    def get_codec_name(self) -> str:
        encoder = self._video_encoder
        return encoder.name if encoder is not None else self._codec_name

    def get_statistics(self) -> dict[str, Any]:
        """A snapshot with snake_case keys; after ``stop()`` the final figures."""
        if not self._outputs and self._final_stats:
            return dict(self._final_stats)
        return self._collect_statistics()

    def _last_error(self, per_output: list[dict[str, Any]]) -> str:
        """What ended the stream; else every destination's last error and the recording's
        failure, so a failure alongside a stream that goes on is still in the statistics."""
        if self._error is not None:
            return str(self._error)
        errors = [s["last_error"] for s in per_output if s["last_error"]]
        if self._adaptive_error:
            errors.append(self._adaptive_error)
        return "; ".join(errors)

    def _collect_statistics(self) -> dict[str, Any]:
        pump, encoder, outputs = self._pump, self._video_encoder, self._outputs
        if encoder is not None:
            self._codec_name = encoder.name
        per_output = [o.stats() for o in outputs]
        streams = [s for s in per_output if not s["recording"]] or per_output
        uptime = time.monotonic() - self._started_at if self._started_at else 0.0
        first = [s["first_byte_at"] for s in streams if s["first_byte_at"]]
        live = [s for s in streams if not s["failed"]]
        stats: dict[str, Any] = {
            "destination": ", ".join(s["destination"] for s in streams),
            "running": self.is_running(),
            # a failed destination is not connected; all() of none would say it is
            "connected": bool(live) and all(s["connected"] for s in live),
            "backpressure": any(s["backpressure"] for s in streams),
            "encoder": self._codec_name,
            "video_packets": self._video_packets,
            "audio_packets": self._audio_packets,
            "keyframes_forced": encoder.keyframes_forced if encoder else 0,
            "video_bitrate_target": encoder.bitrate if encoder else 0,
            "uptime_s": round(uptime, 3),
            "fps": self._config.fps if self._config else 0,
            "frames_captured": pump.frames_captured if pump else 0,
            "frames_duplicated": pump.frames_duplicated if pump else 0,
            "frames_late": pump.frames_late if pump else 0,
            "frames_encoded": encoder.frames_encoded if encoder else 0,
            "latency_p50_ms": max((s["latency_p50_ms"] or 0 for s in streams), default=None),
            "latency_p99_ms": max((s["latency_p99_ms"] or 0 for s in streams), default=None),
            # from start() (imports excluded) to the first media byte on the wire
            "first_byte_s": round(min(first) - self._start_called, 4) if first else None,
            "last_error": self._last_error(per_output),
        }
        for key in _SUMMED:
            stats[key] = sum(s[key] for s in streams)
        for key in _WORST:
            stats[key] = max((s[key] for s in streams), default=0)
        stats["destinations"] = [
            {k: v for k, v in s.items() if k != "first_byte_at"} for s in per_output
        ]
        return stats
