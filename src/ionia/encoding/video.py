"""Video encoding (H.264, HEVC, AV1) with streaming rate control (CBR, fixed GOP, no
B-frames, low latency); HEVC's and AV1's encoder options are in ``codec_options``.

The encoder is opened with a global header, so the SPS/PPS come out once as ``extradata``
(what FLV's sequence header needs) and every packet is Annex-B, which ``output.flv``
converts. Keyframe requests and bitrate changes come from other threads (the send buffer,
adaptive bitrate) and are applied just before the next frame is encoded.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any, cast

import av
from av.video.frame import PictureType

from ionia.encoding.codec_options import FIXED_BITRATE_ENCODERS, hevc_av1_options
from ionia.encoding.fit import Fitter
from ionia.encoding.keyframes import is_random_access
from ionia.encoding.selection import SOFTWARE, SOFTWARE_BY_CODEC, resolve
from ionia.errors import EncoderError
from ionia.packet import EncodedPacket, MediaKind

log = logging.getLogger("ionia.encoding")

#: libx264's presets, fastest first (``x264 --help``)
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class EncoderOptions:
    """How to encode video, whatever the picture's size and rate; the defaults live here."""

    #: "h264", "hevc" or "av1" (HEVC and AV1 travel over RTMP as Enhanced RTMP)
    codec: str = "h264"
    #: a server that does not take ``codec`` gets H.264 instead (with a warning)
    fallback_to_h264: bool = False
    #: seconds between keyframes (services want 2 s)
    keyint_s: float = 2.0
    #: "auto" (hardware if one opens, else the codec's software encoder), "x264", "nvenc",
    #: ... or an FFmpeg name
    encoder: str = "auto"
    #: "auto" may pick a hardware encoder (any: NVENC, QSV, AMF, VAAPI, VideoToolbox)
    allow_hardware: bool = True
    #: the encoder's preset (H.264's default; HEVC's and AV1's: codec_options.DEFAULT_PRESETS)
    preset: str = "veryfast"
    tune: str = "zerolatency"
    #: "high"; "baseline" (Constrained Baseline without B-frames) when a WebRTC receiver
    #: must decode it: Firefox's OpenH264 decodes nothing else
    profile: str = "high"
    bframes: int = 0
    #: VBV buffer in seconds of bitrate; 1 s is what services recommend for CBR
    bufsize_s: float = 1.0
    threads: int = 0
    #: how a source of another size fills the output: pad, crop or stretch
    fit: str = "pad"


@dataclass(frozen=True, kw_only=True)
class VideoEncoderSettings(EncoderOptions):
    """Everything that shapes the video stream: the options, for one picture size and rate."""

    width: int
    height: int
    fps: int
    bitrate: int

    @classmethod
    def of(
        cls, options: EncoderOptions, *, width: int, height: int, fps: int, bitrate: int
    ) -> VideoEncoderSettings:
        """``options`` for a picture known only once its source is open."""
        chosen = {f.name: getattr(options, f.name) for f in fields(EncoderOptions)}
        return cls(width=width, height=height, fps=fps, bitrate=bitrate, **chosen)


def _options(name: str, s: VideoEncoderSettings) -> dict[str, str]:
    gop = max(1, round(s.keyint_s * s.fps))
    common = {
        "b": str(s.bitrate),
        "maxrate": str(s.bitrate),
        "bufsize": str(int(s.bitrate * s.bufsize_s)),
        "g": str(gop),
        "bf": str(s.bframes),
        "flags": "+global_header",
    }
    if name == SOFTWARE:
        # scenecut=0 keeps keyframes exactly on the GOP grid that services check;
        # forced-idr makes a requested keyframe an IDR a decoder can join at. No
        # nal-hrd=cbr: with it x264 ignores bitrate changes, which adaptation needs.
        return {
            **common,
            "preset": s.preset,
            "tune": s.tune,
            "profile": s.profile,
            "forced-idr": "1",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
    if name == "h264_nvenc":
        return {
            **common,
            "preset": "p4",
            "tune": "ll",
            "rc": "cbr",
            "profile": s.profile,
            "forced-idr": "1",
            "zerolatency": "1",
        }
    if name == "h264_qsv":
        return {**common, "preset": "veryfast", "profile": s.profile, "forced_idr": "1"}
    if name == "h264_amf":
        # AMF's only Baseline is the constrained one, by that name
        profile = "constrained_baseline" if s.profile == "baseline" else s.profile
        return {**common, "usage": "ultralowlatency", "rc": "cbr", "profile": profile}
    return common


class VideoEncoder:
    """Opens the first encoder of the selection that works; encodes frames of a frame slot."""

    def __init__(self, settings: VideoEncoderSettings) -> None:
        self.settings = settings
        self._ctx: av.VideoCodecContext | None = None
        self._keyframe_requested = threading.Event()
        self._lock = threading.Lock()
        self._pending_bitrate: int | None = None
        self.bitrate = settings.bitrate
        self.fallback_reasons: dict[str, str] = {}
        self.frames_encoded = 0
        self.keyframes_forced = 0
        self._fixed_bitrate_told = False
        self._fit = Fitter(settings.width, settings.height, "yuv420p", settings.fit)

    @property
    def name(self) -> str:
        return self._ctx.name if self._ctx is not None else ""

    @property
    def codec(self) -> str:
        return self.settings.codec

    @property
    def live_bitrate(self) -> bool:
        """Whether ``set_bitrate`` takes effect while running (adaptive bitrate needs it)."""
        return self.name not in FIXED_BITRATE_ENCODERS

    @property
    def extradata(self) -> bytes:
        """The decoder configuration for the FLV sequence header: H.264 SPS/PPS or HEVC
        VPS/SPS/PPS (Annex-B), or AV1's sequence header OBU."""
        assert self._ctx is not None, "open() first"
        return bytes(self._ctx.extradata or b"")

    def open(self) -> None:
        s = self.settings
        candidates = resolve(s.encoder, allow_hardware=s.allow_hardware, codec=s.codec)
        for name in candidates:
            try:
                self._ctx = self._open_one(name)
            except (av.FFmpegError, ValueError, EncoderError) as exc:
                # FFmpeg errors repeat the whole option dict; the strerror is what tells why.
                reason = getattr(exc, "strerror", None) or str(exc).strip()
                self.fallback_reasons[name] = reason or type(exc).__name__
                log.info("encoder %s not usable here: %s", name, self.fallback_reasons[name])
                continue
            if self.fallback_reasons:
                log.info("using %s (passed over: %s)", name, ", ".join(self.fallback_reasons))
            return
        tried = "; ".join(f"{n}: {r}" for n, r in self.fallback_reasons.items())
        software = SOFTWARE_BY_CODEC[s.codec]
        if s.codec != "h264":
            hint = f"use --encoder {software} for software encoding, or check --preset"
            codec = {"hevc": "HEVC", "av1": "AV1"}[s.codec]
            raise EncoderError(f"no {codec} encoder could be opened ({tried}). {hint}")
        if SOFTWARE in self.fallback_reasons:
            # x264 was tried, so suggesting it is no help; its usual refusal is the preset
            hint = f"check --preset {s.preset!r}: x264 presets are {', '.join(X264_PRESETS)}"
        elif s.encoder != "auto":
            hint = "use --encoder x264 for software encoding"
        else:
            hint = ""
        raise EncoderError(f"no H.264 encoder could be opened ({tried}). {hint}".strip())

    def _open_one(self, name: str) -> av.VideoCodecContext:
        s = self.settings
        if name not in av.codecs_available:
            raise EncoderError("not in this FFmpeg build")
        ctx = cast(av.VideoCodecContext, av.CodecContext.create(name, "w"))
        ctx.width, ctx.height = s.width, s.height
        ctx.pix_fmt = "nv12" if name in ("h264_qsv", "h264_vaapi") else "yuv420p"
        ctx.time_base = Fraction(1, s.fps)
        ctx.framerate = Fraction(s.fps, 1)
        ctx.bit_rate = s.bitrate
        ctx.thread_count = s.threads
        ctx.options = _options(name, s) if s.codec == "h264" else hevc_av1_options(name, s)
        ctx.open()
        if not ctx.extradata:
            raise EncoderError("opened without its decoder configuration (extradata)")
        self._fit = Fitter(s.width, s.height, ctx.pix_fmt, s.fit)
        return ctx

    def request_keyframe(self) -> None:
        """Make the next encoded frame an IDR (thread-safe; called by the send buffer)."""
        self._keyframe_requested.set()

    def set_bitrate(self, bitrate: int) -> None:
        """Change the target bitrate from any thread; applied before the next frame."""
        with self._lock:
            self._pending_bitrate = int(bitrate)

    def encode(
        self, frame: av.VideoFrame, index: int, capture_time: float = 0.0
    ) -> list[EncodedPacket]:
        """Encode the picture of frame slot ``index`` (pts = index / fps on the master clock)."""
        ctx = self._ctx
        assert ctx is not None, "open() first"
        with self._lock:
            bitrate, self._pending_bitrate = self._pending_bitrate, None
        if bitrate is not None and bitrate != ctx.bit_rate and not self.live_bitrate:
            if not self._fixed_bitrate_told:
                self._fixed_bitrate_told = True
                log.warning("%s cannot change its bitrate while running: it stays at %d bit/s",
                            ctx.name, ctx.bit_rate)  # fmt: skip
        elif bitrate is not None and bitrate != ctx.bit_rate:
            # libx264 reconfigures on the next frame because VBV was on from the start.
            # PyAV cannot change maxrate once open: the VBV ceiling stays at the initial
            # bitrate, so a lowered bitrate is an average, not a hard cap.
            ctx.bit_rate = bitrate
            self.bitrate = bitrate
        # one swscale pass into the encoder's size and format (a no-op when they match)
        frame = self._fit(frame)
        frame.pts = index
        frame.time_base = ctx.time_base
        if self._keyframe_requested.is_set():
            self._keyframe_requested.clear()
            frame.pict_type = PictureType.I
            self.keyframes_forced += 1
        else:
            frame.pict_type = PictureType.NONE
        try:
            packets = ctx.encode(frame)
        except av.FFmpegError as exc:
            raise EncoderError(f"{ctx.name} failed to encode: {exc}") from None
        self.frames_encoded += 1
        return [self._wrap(p, capture_time) for p in packets]

    def flush(self) -> list[EncodedPacket]:
        if self._ctx is None:
            return []
        try:
            return [self._wrap(p, 0.0) for p in self._ctx.encode(None)]
        except av.FFmpegError:
            return []

    def _wrap(self, packet: av.Packet[Any], capture_time: float) -> EncodedPacket:
        fps = self.settings.fps
        pts = packet.pts if packet.pts is not None else 0
        dts = packet.dts if packet.dts is not None else pts
        data = bytes(packet)
        keyframe = packet.is_keyframe
        if self.settings.codec != "h264":
            random_access = is_random_access(self.settings.codec, data)
            keyframe = keyframe if random_access is None else random_access
        return EncodedPacket(
            kind=MediaKind.VIDEO,
            data=data,
            pts_ms=round(pts * 1000 / fps),
            dts_ms=round(dts * 1000 / fps),
            keyframe=keyframe,
            capture_time=capture_time,
        )

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx = None  # PyAV frees the codec context with the object
