"""The uplink test: publish a test stream, ramp its bitrate, and measure what the link
carries from what the server acknowledged, not from what the socket accepted.

RTMP servers acknowledge what their application has read, so while a backlog waits (our
send queue, or bytes sent and not acknowledged beyond the path's usual) the acknowledged
bytes per second are the link's rate, measured at the far end. That judgement is the
adaptive bitrate controller's (``BitrateController.link_bps``), fed the same samples here.
The ramp starts low, so a slow link is not flooded at once, and doubles until the link
gives way or the ceiling is reached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ionia.errors import ConnectionFailed
from ionia.output.bitrate_control import AdaptiveSettings, BitrateController
from ionia.output.sink import Delivery
from ionia.streamer import VideoAudioStreamer

__all__ = ["UplinkResult", "UplinkTest", "measure_uplink"]

log = logging.getLogger("ionia.autoconfig")

#: the test picture: testsrc2 at 720p fills up to ~8 Mbit/s of H.264 (measured; at 360p it
#: stops near 3.7 Mbit/s), so the ramp's bitrate is what is really sent
TEST_SIZE = "1280x720"
TEST_FPS = 30
TICK_S = 0.1


@dataclass(frozen=True, kw_only=True)
class UplinkTest:
    """How to run the test."""

    #: the ramp's top, bit/s of video (the encoder's ceiling)
    ceiling: int = 8_000_000
    #: the ramp's first step, bit/s of video
    start: int = 1_000_000
    #: seconds per step: long enough for the encoder to reach a raised bitrate
    step_s: float = 1.0
    #: seconds the link is measured for, once it is the limit
    hold_s: float = 2.0
    #: the whole test, at most
    max_s: float = 12.0
    audio_bitrate: int = 128_000
    connect_timeout: float = 5.0
    tls_verify: bool = True
    ca_file: str | None = None


@dataclass(frozen=True, kw_only=True)
class UplinkResult:
    #: bit/s the link carried (saturated), else what was delivered at the ramp's top
    link_bps: float
    #: the link gave way before the ramp's top (else ``link_bps`` is a lower bound)
    saturated: bool
    #: (video bitrate asked, bit/s acknowledged over that step)
    ramp: tuple[tuple[int, float], ...]
    #: the clock's (start, end) of the measurement
    window: tuple[float, float]
    encoder: str
    #: share of frame slots the machine encoded in time at the test's size
    frames_in_time: float
    #: CPU seconds per second of the test (the process: capture, encode, send)
    cpu_load: float
    seconds: float


def measure_uplink(
    url: str, test: UplinkTest = UplinkTest(), *, clock: Callable[[], float] = time.monotonic
) -> UplinkResult:
    """Publish testsrc + tone to ``url`` and measure the link; ``ConnectionFailed`` /
    ``PublishRejected`` as for a stream."""
    streamer = VideoAudioStreamer()
    streamer.initialize(
        url,
        fps=TEST_FPS,
        size=TEST_SIZE,
        video_source="testsrc",
        audio_mode="tone",
        video_bitrate=test.ceiling,
        audio_bitrate=test.audio_bitrate,
        connect_timeout=test.connect_timeout,
        stop_timeout=0.5,  # what is still queued at the end is of no use
        tls_verify=test.tls_verify,
        ca_file=test.ca_file,
    )
    max_packets = streamer.config.max_packets
    controller = BitrateController(
        AdaptiveSettings(target=test.ceiling, floor=test.start, audio_bitrate=test.audio_bitrate)
    )
    cpu0, began = time.process_time(), clock()
    # the controller only measures here: its "video bitrate ... →" lines would claim cuts
    # that nobody makes (records of other threads, another stream's, still pass)
    quiet = _NotFromThisThread()
    logging.getLogger("ionia.adaptive").addFilter(quiet)
    streamer.start()
    try:
        ramp, link, saturated, window = _ramp(streamer, controller, test, max_packets, clock)
        stats = streamer.get_statistics()
    finally:
        logging.getLogger("ionia.adaptive").removeFilter(quiet)
        streamer.stop()
    if streamer.error is not None:
        raise streamer.error
    seconds = clock() - began
    slots = stats["frames_encoded"] + stats["frames_late"]
    return UplinkResult(
        link_bps=link,
        saturated=saturated,
        ramp=tuple(ramp),
        window=window,
        encoder=stats["encoder"],
        frames_in_time=stats["frames_encoded"] / slots if slots else 0.0,
        cpu_load=(time.process_time() - cpu0) / max(seconds, 1e-3),
        seconds=seconds,
    )


def _ramp(
    streamer: VideoAudioStreamer,
    controller: BitrateController,
    test: UplinkTest,
    max_packets: int,
    clock: Callable[[], float],
) -> tuple[list[tuple[int, float]], float, bool, tuple[float, float]]:
    bitrate = min(test.start, test.ceiling)
    streamer.set_video_bitrate(bitrate)
    began = step_began = clock()
    step_acked = 0
    ramp: list[tuple[int, float]] = []
    #: (time, bytes acknowledged) when an acknowledgement came in while the link was the
    #: limit: acknowledgements come a window (1/32 s of the ceiling) at a time, so the rate
    #: is taken between two of them, never between two arbitrary instants
    acks: list[tuple[float, int]] = []
    while True:
        if streamer.wait(TICK_S):
            raise streamer.error or ConnectionFailed("the test stream ended early")
        now, dest = clock(), streamer.get_statistics()["destinations"][0]
        if dest["failed"]:
            raise ConnectionFailed(f"the test stream failed: {dest['last_error']}")
        acked, sent = dest["bytes_acked"], dest["bytes_sent"]
        delivery = Delivery(acked, sent - acked) if acked else Delivery(sent)
        fill = max(dest["congestion"], dest["buffer_packets"] / max_packets)
        controller.update(now, delivery, fill)
        if controller.link_bps() is None:
            acks = []
        elif not acks or acked != acks[-1][1]:
            acks.append((now, acked))
            if acks[-1][0] - acks[0][0] >= test.hold_s:
                ramp.append((bitrate, _rate(step_acked, acked, now - step_began)))
                (t0, b0), (t1, b1) = acks[0], acks[-1]
                return ramp, (b1 - b0) * 8 / (t1 - t0), True, (t0, t1)
        if now - step_began >= test.step_s and not acks and bitrate < test.ceiling:
            ramp.append((bitrate, _rate(step_acked, acked, now - step_began)))
            bitrate = min(test.ceiling, bitrate * 2)
            streamer.set_video_bitrate(bitrate)
            log.info("uplink test: %d kbit/s", bitrate // 1000)
            step_began, step_acked = now, acked
        elif now - began >= test.max_s and not acks:
            # the link carried the ramp's top: what it delivered there is a lower bound
            ramp.append((bitrate, _rate(step_acked, acked, now - step_began)))
            return ramp, ramp[-1][1], False, (step_began, now)


class _NotFromThisThread(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self._thread


def _rate(before: int, after: int, seconds: float) -> float:
    return (after - before) * 8 / seconds if seconds > 0 else 0.0
