"""From a measured uplink to settings: a video bitrate the link holds with room to spare,
and the picture size, frame rate and encoder that bitrate and this machine can carry,
within a service's limits."""

from __future__ import annotations

from dataclasses import dataclass

from ionia.autoconfig.uplink import TEST_FPS, TEST_SIZE, UplinkResult
from ionia.checks import format_bitrate, parse_size
from ionia.output.bitrate_control import AdaptiveSettings
from ionia.services import Limits

__all__ = ["OVERHEAD", "Proposal", "propose"]

#: share of the link that RTMP/FLV framing and the measurement's error take
OVERHEAD = 0.03
#: share of the measured link given to audio + video: the adaptive controller's margin, so
#: a stream at the proposal is one adaptive bitrate would not cut
MARGIN = AdaptiveSettings.margin
#: (least video bitrate, size, fps), best first: about 0.1 bit per pixel for H.264
LADDER = (
    (9_000_000, (1920, 1080), 60),
    (6_000_000, (1920, 1080), 30),
    (4_500_000, (1280, 720), 60),
    (2_500_000, (1280, 720), 30),
    (1_200_000, (854, 480), 30),
    (0, (640, 360), 30),
)
#: a machine may spend this share of its CPUs on the stream, as the test measured it
CPU_BUDGET = 0.7


@dataclass(frozen=True, kw_only=True)
class Proposal:
    video_bitrate: int
    audio_bitrate: int
    size: tuple[int, int]
    fps: int
    encoder: str
    #: why, in a line or two a user reads
    reasons: tuple[str, ...] = ()

    def as_settings(self) -> dict[str, str | int]:
        """The ``--config`` file's keys."""
        return {
            "video-bitrate": format_bitrate(self.video_bitrate),
            "audio-bitrate": format_bitrate(self.audio_bitrate),
            "size": f"{self.size[0]}x{self.size[1]}",
            "fps": self.fps,
            "encoder": self.encoder,
        }


def propose(
    result: UplinkResult, *, audio_bitrate: int, limits: Limits | None = None, cpus: int = 1
) -> Proposal:
    """Video = ``MARGIN`` of the link less audio (at most the service's maximum), which is
    under the link less audio and ``OVERHEAD`` and within a quarter of it; then the best
    rung of ``LADDER`` that bitrate, the service and this machine allow."""
    limits = limits or Limits()
    reasons = []
    if limits.max_audio_bitrate is not None:
        audio_bitrate = min(audio_bitrate, limits.max_audio_bitrate)
    video = int(result.link_bps * MARGIN) - audio_bitrate
    if not result.saturated:
        reasons.append(
            f"the link carried the whole test ({result.link_bps / 1e6:.1f} Mbit/s): it may "
            "carry more"
        )
    if limits.max_video_bitrate is not None and video > limits.max_video_bitrate:
        video = limits.max_video_bitrate
        reasons.append("video at the service's maximum bitrate")
    video = max(100_000, video // 10_000 * 10_000)
    test_w, test_h = parse_size(TEST_SIZE) or (0, 0)
    test_rate = test_w * test_h * TEST_FPS
    # what encoding cost here, per pixel per second, scaled to each rung
    load_per_pixel = result.cpu_load / test_rate if result.frames_in_time > 0.95 else None
    size, fps = LADDER[-1][1], LADDER[-1][2]
    for least, rung_size, rung_fps in LADDER:
        rung_fps = min(rung_fps, limits.max_fps or rung_fps)
        if video < least or not _size_allowed(rung_size, limits):
            continue
        rate = rung_size[0] * rung_size[1] * rung_fps
        if load_per_pixel is not None and load_per_pixel * rate > CPU_BUDGET * cpus:
            reasons.append(f"{rung_size[0]}x{rung_size[1]}@{rung_fps} is too much for this CPU")
            continue
        if load_per_pixel is None and rate > test_rate:
            continue  # the test itself was late: nothing bigger than it
        size, fps = rung_size, rung_fps
        break
    return Proposal(
        video_bitrate=video,
        audio_bitrate=audio_bitrate,
        size=size,
        fps=fps,
        encoder=result.encoder or "auto",
        reasons=tuple(reasons),
    )


def _size_allowed(size: tuple[int, int], limits: Limits) -> bool:
    if not limits.resolutions:
        return True
    return any(w * h >= size[0] * size[1] for w, h in limits.resolutions)
