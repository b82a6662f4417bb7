"""``ionia receive``, ``ionia demo`` and ``ionia encoders``."""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from ionia.analysis import analyze
from ionia.cli import exitcodes
from ionia.encoding.codec_options import DEFAULT_PRESETS
from ionia.encoding.selection import (
    CODECS,
    HARDWARE_BY_PLATFORM,
    SOFTWARE_BY_CODEC,
    EncoderProbe,
    hardware_names,
)
from ionia.encoding.video import EncoderOptions, VideoEncoder, VideoEncoderSettings
from ionia.errors import ConnectionFailed, EncoderError
from ionia.receiver import receive
from ionia.streamer import VideoAudioStreamer

log = logging.getLogger("ionia.cli")


def run_receive(args: argparse.Namespace) -> int:
    result = receive(args.url, args.output, listen_timeout=args.listen_timeout)
    print(
        f"got {result.video_packets} video and {result.audio_packets} audio packets, "
        f"{result.bytes_received / 1e6:.2f} MB"
    )
    if result.video_packets or result.audio_packets:
        print(analyze(result.output).summary())
    return exitcodes.OK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(args: argparse.Namespace) -> int:
    """Receive on loopback, stream testsrc + tone to it, report what arrived."""
    workdir = Path(args.output_dir or tempfile.mkdtemp(prefix="ionia-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "received.flv"
    url = f"rtmp://127.0.0.1:{free_port()}/live/demo-key"
    receiver = subprocess.Popen(
        [sys.executable, "-m", "ionia", "-q", "receive", url, "--output", str(output)],
        stdout=subprocess.DEVNULL,
    )
    try:
        streamer = VideoAudioStreamer()
        streamer.initialize(
            url,
            fps=30,
            video_bitrate="2M",
            audio_mode="tone",
            video_source="testsrc",
            size=args.size,
        )
        _start_when_listening(streamer, deadline=time.monotonic() + 10)
        print(
            f"streaming testsrc + tone to {url.rsplit('/', 1)[0]}/**** for {args.duration:g} s ..."
        )
        streamer.wait(args.duration)
        streamer.stop()
        receiver.wait(timeout=10)
    finally:
        if receiver.poll() is None:
            receiver.terminate()
            receiver.wait(timeout=5)
    stats = streamer.get_statistics()
    print(
        f"sent: {stats['video_packets_sent']} video + {stats['audio_packets_sent']} audio "
        f"packets, {stats['bytes_sent'] / 1e6:.2f} MB, encoder {stats['encoder']}, "
        f"dropped {stats['video_packets_dropped']} video / {stats['audio_packets_dropped']} audio"
    )
    report = analyze(output)
    print(report.summary())
    ok = report.decode_errors == 0 and report.video_frames > 0 and report.audio_duration_s > 0
    print("demo OK" if ok else "demo FAILED: the received stream is incomplete")
    return exitcodes.OK if ok else exitcodes.FAILURE


def _start_when_listening(streamer: VideoAudioStreamer, deadline: float) -> None:
    # FFmpeg's listen mode takes the first connection as the publisher, so it cannot be
    # probed: try to publish until the receiver's port accepts.
    while True:
        try:
            streamer.start()
            return
        except ConnectionFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_encoders(args: argparse.Namespace) -> int:
    print(f"{'encoder':22} {'in build':9} {'opens':6} {'codec':6} note")
    for codec in CODECS:
        hardware = {n for platform in HARDWARE_BY_PLATFORM for n in hardware_names(platform, codec)}
        for name in sorted(hardware | {SOFTWARE_BY_CODEC[codec]}):
            probe = probe_encoder(name, codec)
            print(
                f"{probe.name:22} {'yes' if probe.in_build else 'no':9} "
                f"{'yes' if probe.opens else 'no':6} {codec:6} {probe.reason}"
            )
    return exitcodes.OK


def probe_encoder(name: str, codec: str = "h264") -> EncoderProbe:
    if name not in av.codecs_available:
        return EncoderProbe(name=name, in_build=False, opens=False, reason="not in this build")
    preset = DEFAULT_PRESETS.get(codec, EncoderOptions.preset)
    encoder = VideoEncoder(
        VideoEncoderSettings(
            width=640,
            height=360,
            fps=30,
            bitrate=1_000_000,
            encoder=name,
            codec=codec,
            preset=preset,
        )
    )
    try:
        encoder.open()
    except EncoderError:
        return EncoderProbe(
            name=name, in_build=True, opens=False, reason=encoder.fallback_reasons.get(name, "")
        )
    finally:
        encoder.close()
    return EncoderProbe(name=name, in_build=True, opens=True)


def add_receive_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="rtmp://127.0.0.1:PORT/app/name to listen on")
    p.add_argument("--output", "-o", required=True, help="file to write (.flv, .mkv, .mp4)")
    p.add_argument(
        "--listen-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for a publisher (default 60)",
    )


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--output-dir", help="keep the received file here")
