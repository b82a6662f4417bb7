"""The AudioEngine (the stream's clock master) and its encoders: AAC for RTMP and files,
Opus for WebRTC, both from the same samples.

The engine produces exactly ``elapsed × 48000`` samples: it pulls from its source whatever
the master clock says is due, whether or not the device kept up (a late device is silence,
not a shifted timeline). Audio timestamps are therefore sample counts, and video, stamped
from the same clock, stays in sync by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np

from ionia.capture.base import SAMPLE_RATE, AudioSource
from ionia.clock import MasterClock
from ionia.errors import CaptureError, EncoderError
from ionia.packet import EncodedPacket, MediaKind
from ionia.worker import Worker, describe

log = logging.getLogger("ionia.encoding")

#: AAC-LC codes 1024 samples per frame.
AAC_FRAME = 1024


#: codec → (FFmpeg encoder, its sample format, options, the highest bitrate it takes)
ENCODERS = {
    "aac": ("aac", "fltp", {"flags": "+global_header"}, 512_000),
    # 20 ms frames (PyAV re-chunks our 1024-sample frames into them), tuned for music and
    # speech alike, as browsers send it
    "opus": ("libopus", "flt", {"application": "audio", "frame_duration": "20"}, 510_000),
}


class AudioEncoder:
    """48 kHz stereo AAC-LC (AudioSpecificConfig in ``extradata``) or Opus."""

    def __init__(self, bitrate: int, codec: str = "aac") -> None:
        self.codec = codec
        self._bitrate = min(bitrate, ENCODERS[codec][3])
        self._ctx: av.AudioCodecContext | None = None

    def open(self) -> None:
        name, sample_format, options, _ = ENCODERS[self.codec]
        try:
            ctx = cast(av.AudioCodecContext, av.CodecContext.create(name, "w"))
            ctx.sample_rate = SAMPLE_RATE
            ctx.layout = "stereo"
            ctx.format = sample_format
            ctx.bit_rate = self._bitrate
            ctx.time_base = Fraction(1, SAMPLE_RATE)
            ctx.options = dict(options)
            ctx.open()
        except (av.FFmpegError, ValueError) as exc:
            raise EncoderError(
                f"the {self.codec.upper()} encoder could not be opened: {exc}"
            ) from None
        self._ctx = ctx

    @property
    def extradata(self) -> bytes:
        assert self._ctx is not None, "open() first"
        return bytes(self._ctx.extradata or b"")

    def encode(self, samples: np.ndarray, start: int, capture_time: float) -> list[EncodedPacket]:
        """Encode float32 ``(1024, 2)`` samples that start at engine sample ``start``."""
        ctx = self._ctx
        assert ctx is not None, "open() first"
        planar = np.ascontiguousarray(samples.T, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = ctx.time_base
        try:
            packets = ctx.encode(frame)
        except av.FFmpegError as exc:
            raise EncoderError(f"{self.codec.upper()} encoding failed: {exc}") from None
        # The encoder's first packet (AAC: pts -1024) holds only its priming delay. FLV has
        # no edit list to skip it, so a player would play it and shift all audio 21 ms late
        # (RTP has none either, for Opus's).
        return [self._wrap(p, capture_time) for p in packets if (p.pts or 0) >= 0]

    def flush(self) -> list[EncodedPacket]:
        """Drain the encoder's look-ahead at the end of the stream."""
        if self._ctx is None:
            return []
        try:
            return [self._wrap(p, 0.0) for p in self._ctx.encode(None) if (p.pts or 0) >= 0]
        except av.FFmpegError:
            return []

    def _wrap(self, packet: av.Packet[Any], capture_time: float) -> EncodedPacket:
        ms = round((packet.pts or 0) * 1000 / SAMPLE_RATE)
        return EncodedPacket(
            kind=MediaKind.AUDIO,
            data=bytes(packet),
            pts_ms=ms,
            dts_ms=ms,
            keyframe=True,
            capture_time=capture_time,
            codec=self.codec,
        )

    def close(self) -> None:
        self._ctx = None


class AudioEngine:
    """Thread ``ionia-audio``: pulls due samples from the source, encodes, hands packets on."""

    def __init__(
        self,
        source: AudioSource,
        encoders: Sequence[AudioEncoder],
        clock: MasterClock,
        deliver: Callable[[EncodedPacket], None],
        on_error: Callable[[BaseException], None],
        *,
        video_latency_s: float = 0.0,
    ) -> None:
        self._source = source
        #: each codec an output takes (AAC, Opus), encoded from the same samples
        self._encoders = tuple(encoders)
        self._clock = clock
        self._deliver = deliver
        self._on_error = on_error
        self._worker = Worker("ionia-audio", self._run, on_crash=self._crashed)
        self._stop = self._worker.stopping
        self.samples_produced = 0
        # Audio is stamped at its capture time less the video source's own staleness, so
        # what was captured together plays together. Constant for the stream: a varying
        # shift would make audio timestamps jitter.
        self._latency_samples = round((source.latency_s - video_latency_s) * SAMPLE_RATE)

    def start(self) -> None:
        self._worker.start()

    @property
    def alive(self) -> bool:
        return self._worker.alive

    def _run(self) -> None:
        # A clock started at an offset (long-stream tests) begins the timeline there.
        self.samples_produced = int(self._clock.offset * SAMPLE_RATE) // AAC_FRAME * AAC_FRAME
        while not self._stop.is_set():
            due = int(self._clock.now() * SAMPLE_RATE)
            while self.samples_produced + AAC_FRAME <= due and not self._stop.is_set():
                self._produce_one()
            next_frame_t = (self.samples_produced + AAC_FRAME) / SAMPLE_RATE
            # one wake-up per AAC frame: stop() sets the event, so no polling is needed
            self._stop.wait(max(0.001, next_frame_t - self._clock.now()))

    def _crashed(self, exc: BaseException) -> None:
        """What escaped the loop ends the stream: typed errors as they are, anything else
        (a mixer or drift-buffer bug, an unexpected PyAV error) as an ``EncoderError``."""
        if isinstance(exc, EOFError):
            self._on_error(EOFError("audio source ended"))
        elif isinstance(exc, CaptureError | EncoderError):
            self._on_error(exc)
        else:
            self._on_error(EncoderError(f"audio pipeline failed: {describe(exc)}"))

    def _produce_one(self) -> None:
        start = self.samples_produced
        samples = self._source.read(start, AAC_FRAME)
        capture_time = self._clock.monotonic_at((start + AAC_FRAME) / SAMPLE_RATE)
        # Stamp samples at their capture time: a device's buffering is not an A/V offset.
        # The first frames then fall before zero and the encoder leaves them out.
        for encoder in self._encoders:
            for packet in encoder.encode(samples, start - self._latency_samples, capture_time):
                self._deliver(packet)
        self.samples_produced = start + AAC_FRAME

    def stop(self, timeout: float = 2.0) -> None:
        """Stop producing, then hand on what the encoder still holds (its last frame)."""
        if not self._worker.stop(timeout):
            return  # still running: the encoder is not ours to flush
        for encoder in self._encoders:
            for packet in encoder.flush():
                self._deliver(packet)
