"""The parts of one run, built from the settings: sources, encoders, outputs, threads.

``open()`` opens everything that can fail (sources, encoders, the first connection to
every destination) before any thread runs; ``start()`` starts the threads;
``stop_producers()`` stops capture and encoding; the destinations then drain; ``close()``
releases what ``open()`` took, after a stop or a failed open alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from ionia.capture.base import AudioSource, VideoSource
from ionia.capture.factory import create_audio_source, create_video_source
from ionia.checks import even_size
from ionia.clock import MasterClock
from ionia.config import StreamConfig
from ionia.encoding.audio import AudioEncoder, AudioEngine
from ionia.encoding.selection import ALIASES
from ionia.encoding.video import EncoderOptions, VideoEncoder, VideoEncoderSettings
from ionia.encoding.video_pump import VideoPump
from ionia.errors import CodecUnsupported, IoniaError
from ionia.output.adaptive import AdaptiveBitrate, AdaptiveSettings
from ionia.output.destination import Destination
from ionia.output.output import Output, SinkOptions
from ionia.output.reconnect import ReconnectPolicy
from ionia.output.sink import StreamHeaders
from ionia.packet import EncodedPacket, MediaKind
from ionia.pipeline.destinations import Destinations
from ionia.stats import ProducerStats
from ionia.worker import describe

log = logging.getLogger("ionia")


class Pipeline:
    """Capture → encode → one StreamBuffer + sender per destination, for one run."""

    def __init__(
        self,
        config: StreamConfig,
        policy: ReconnectPolicy,
        *,
        clock_offset: float,
        on_fail: Callable[[BaseException], None],
        on_output_failed: Callable[[Output, IoniaError], None],
    ) -> None:
        self.config = config
        self.policy = policy
        self.destinations = Destinations()
        #: what stopped the adaptive bitrate controller, if it did (for ``last_error``)
        self.adaptive_error = ""
        # one producer thread per kind: each counter has a single writer
        self.video_packets = self.audio_packets = 0
        self.video_encoder: VideoEncoder | None = None
        self.pump: VideoPump | None = None
        self._clock_offset = clock_offset
        self._on_fail = on_fail
        self._on_output_failed = on_output_failed
        self._video_source: VideoSource | None = None
        self._audio_source: AudioSource | None = None
        #: the AAC encoder (RTMP, files), None when every output is WebRTC or no audio
        self._audio_encoder: AudioEncoder | None = None
        self._opus_encoder: AudioEncoder | None = None
        self._headers: StreamHeaders | None = None
        self._engine: AudioEngine | None = None
        self._adaptive: AdaptiveBitrate | None = None
        self._clock: MasterClock | None = None

    # -- building --------------------------------------------------------------------------

    def open(self) -> None:
        """Open sources, encoders and the first sessions; the caller ``close()``s on error."""
        config = self.config
        self._video_source = video_source = create_video_source(
            config.video_source,
            fps=config.fps,
            size=config.size,
            loop=config.loop,
            capture=config.capture,
        )
        video_source.open()
        self._audio_source = create_audio_source(
            config.audio_mode, loop=config.loop, capture=config.capture
        )
        if self._audio_source is not None:
            self._audio_source.open()
        if self._audio_source is not None:
            # AAC for RTMP and files (a recording is always a file), Opus for WHIP
            if config.record is not None or any(d.whip is None for d in config.destinations):
                self._audio_encoder = AudioEncoder(config.audio_bitrate, "aac")
                self._audio_encoder.open()
            if config.has_whip:
                self._opus_encoder = AudioEncoder(config.audio_bitrate, "opus")
                self._opus_encoder.open()
        encoders = [e for e in (self._audio_encoder, self._opus_encoder) if e is not None]
        width, height = config.size or even_size(*video_source.size)
        video = self._open_video(config.encoding, width, height)
        try:
            self._connect_outputs()
        except CodecUnsupported as exc:
            if not config.encoding.fallback_to_h264:
                raise
            # one encoder feeds every destination: they all fall back together
            log.warning("%s; falling back to H.264 for every destination", exc)
            self.destinations.abort()
            video.close()
            encoder = config.encoding.encoder if config.encoding.encoder in ALIASES else "auto"
            h264 = replace(
                config.encoding, codec="h264", encoder=encoder, preset=EncoderOptions.preset
            )
            video = self._open_video(h264, width, height)
            self._connect_outputs()
        self._clock = clock = MasterClock(offset=self._clock_offset)
        self.pump = VideoPump(video_source, video, clock, config.fps, self.deliver, self._on_fail)
        if self._audio_source is not None and encoders:
            self._engine = AudioEngine(
                self._audio_source,
                encoders,
                clock,
                self.deliver,
                self._on_fail,
                video_latency_s=video_source.latency_s,
            )
        self._adaptive = self._new_adaptive(video)

    def _open_video(self, options: EncoderOptions, width: int, height: int) -> VideoEncoder:
        """Open the video encoder and make the headers every new session starts with."""
        config, audio = self.config, self._audio_encoder
        if config.has_whip:
            options = replace(options, profile="baseline")  # what every browser decodes
        self.video_encoder = video = VideoEncoder(
            VideoEncoderSettings.of(
                options, width=width, height=height, fps=config.fps, bitrate=config.video_bitrate
            )
        )
        video.open()
        self._headers = StreamHeaders(
            width=width,
            height=height,
            fps=config.fps,
            video_bitrate=config.video_bitrate,
            video_config=video.extradata,
            audio_bitrate=config.audio_bitrate if self._audio_source is not None else None,
            audio_config=audio.extradata if audio else None,
            encoder=f"Ionia ({video.name})",
            codec=options.codec,
        )
        return video

    def _connect_outputs(self) -> None:
        config = self.config
        outputs = [self.new_output(d) for d in config.destinations]
        if config.record is not None:
            outputs.append(self.new_output(config.record, recording=True))
        self.destinations.outputs = tuple(outputs)
        for output in outputs:
            output.connect(wait_for_ingest=self.policy.wait_for_ingest)

    def _new_adaptive(self, video: VideoEncoder) -> AdaptiveBitrate | None:
        config = self.config
        network = [d for d in config.destinations if d.is_network]
        if config.adaptive_bitrate == "off" or not network:
            return None
        if not video.live_bitrate:
            log.warning(
                "adaptive bitrate is off: %s cannot change its bitrate while running, so a "
                "slow link drops video instead (a hardware encoder or --codec h264 can adapt)",
                video.name,
            )
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
            settings,
            lambda: self.destinations.outputs,
            video.set_bitrate,
            on_crash=self._adaptive_crashed,
        )

    def _adaptive_crashed(self, exc: BaseException) -> None:
        """A bug in the controller: the stream goes on at the bitrate it had, and says so."""
        bitrate = self.video_encoder.bitrate if self.video_encoder else 0
        self.adaptive_error = f"adaptive bitrate stopped: {describe(exc)}"
        log.error("%s; the video bitrate stays at %d bit/s", self.adaptive_error, bitrate)

    def new_output(
        self,
        destination: Destination,
        *,
        recording: bool = False,
        joins_running_stream: bool = False,
    ) -> Output:
        """An output fed by this run's encoders (not connected, not started)."""
        assert self.video_encoder is not None and self._headers is not None
        config = self.config
        return Output(
            destination,
            limits=config.buffer,
            sink_options=SinkOptions(
                connect_timeout=config.connect_timeout,
                io_timeout=config.io_timeout,
                tls_verify=config.tls_verify,
                ca_file=config.ca_file,
                bitrate=config.video_bitrate + (config.audio_bitrate if config.has_audio else 0),
                ice_servers=config.ice_servers,
            ),
            headers=self._headers,
            policy=self.policy,
            on_keyframe_request=self.video_encoder.request_keyframe,
            on_fatal=self._on_output_failed,
            recording=recording,
            joins_running_stream=joins_running_stream,
        )

    def deliver(self, packet: EncodedPacket) -> None:
        if packet.kind is MediaKind.VIDEO:
            self.video_packets += 1
        elif packet.codec == ("aac" if self._audio_encoder is not None else "opus"):
            self.audio_packets += 1  # the stream's audio once, whatever codecs carry it
        self.destinations.put(packet)

    def request_keyframe(self) -> None:
        assert self.video_encoder is not None
        self.video_encoder.request_keyframe()

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        assert self._clock is not None and self.pump is not None, "open() first"
        self._clock.start()
        for output in self.destinations.outputs:
            output.start()
        if self._engine is not None:
            self._engine.start()
        self.pump.start()
        if self._adaptive is not None:
            self._adaptive.start()

    @property
    def producers_alive(self) -> bool:
        """The capture/encode threads are running (derived from them, not remembered)."""
        return all(w.alive for w in (self.pump, self._engine) if w is not None)

    def stop_producers(self) -> None:
        """Stop the bitrate control, capture and encoding; hand on what the encoders hold."""
        if self._adaptive is not None:
            self._adaptive.stop()
        pump_stopped = self.pump is None or self.pump.stop(timeout=1.0)
        if self._engine is not None:
            self._engine.stop(timeout=1.0)
        # A pump still inside encode() owns the codec context: flushing it from here
        # would race on it, so its last frames are given up instead.
        if self.video_encoder is not None and pump_stopped:
            for packet in self.video_encoder.flush():
                self.deliver(packet)

    def close(self) -> None:
        self.destinations.abort()
        for part in (
            self.video_encoder,
            self._audio_encoder,
            self._opus_encoder,
            self._video_source,
            self._audio_source,
        ):
            if part is not None:
                part.close()

    def producer_stats(self) -> ProducerStats:
        pump, encoder = self.pump, self.video_encoder
        return ProducerStats(
            encoder=encoder.name if encoder else "",
            video_packets=self.video_packets,
            audio_packets=self.audio_packets,
            keyframes_forced=encoder.keyframes_forced if encoder else 0,
            video_bitrate_target=encoder.bitrate if encoder else 0,
            fps=self.config.fps,
            frames_captured=pump.frames_captured if pump else 0,
            frames_duplicated=pump.frames_duplicated if pump else 0,
            frames_late=pump.frames_late if pump else 0,
            frames_encoded=encoder.frames_encoded if encoder else 0,
        )
