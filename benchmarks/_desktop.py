"""The real job's stage, shared by ``realjob.py`` and ``latency.py``: an Xvfb desktop with a
moving scene, PulseAudio with a system sink playing sound, nginx-rtmp, the three publishers'
command lines, and reading back what a viewer (or nginx's recording) got.

The scene is painted straight onto the root window through Xlib (``ctypes``, no toolkit) by
a painter process (``python benchmarks/_desktop.py paint ...``) at 60 ticks a second: a
band of tiles scrolling sideways, bouncing rectangles, and a strip of 12 black/white blocks
that spells the tick number, so a decoded picture says which tick it shows (fresh pictures
vs repeats). It can also flash a square white at random instants; each flash is logged with
``time.monotonic()`` taken just before drawing and just after ``XSync`` returned (the X
server has executed the drawing when it answers the sync), so the paint instant is known to
within that bracket.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import json
import os
import random
import signal
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.fixtures: the Xvfb, PulseAudio and nginx of the suite

FPS = 30
#: the painter's rate: twice the stream's, so every 30 fps grab sees a new tick
TICK_HZ = 60
VIDEO_BITRATE = "4500k"
AUDIO_BITRATE = "160k"
KEYINT_S = 2
#: the tick-number strip: BITS blocks of BLOCK px at the top left
BITS, BLOCK = 12, 32
#: the flash square (latency.py): bottom left, FLASH px
FLASH = 192
WHITE, BLACK = 0xFFFFFF, 0x000000


# -- the painter (its own process) ---------------------------------------------------------


class Xlib:
    """The few Xlib calls the painter needs, through ctypes."""

    def __init__(self, display: str) -> None:
        lib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        vp, ul, i, ui = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_uint
        lib.XOpenDisplay.restype = vp
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XDefaultRootWindow.restype = ul
        lib.XDefaultRootWindow.argtypes = [vp]
        lib.XDefaultScreen.argtypes = [vp]
        lib.XDefaultGC.restype = vp
        lib.XDefaultGC.argtypes = [vp, i]
        lib.XCreatePixmap.restype = ul
        lib.XCreatePixmap.argtypes = [vp, ul, ui, ui, ui]
        lib.XSetForeground.argtypes = [vp, vp, ul]
        lib.XFillRectangle.argtypes = [vp, ul, vp, i, i, ui, ui]
        lib.XCopyArea.argtypes = [vp, ul, ul, vp, i, i, ui, ui, i, i]
        lib.XSync.argtypes = [vp, i]
        lib.XFlush.argtypes = [vp]
        self.lib = lib
        self.dpy = lib.XOpenDisplay(display.encode())
        if not self.dpy:
            raise RuntimeError(f"cannot open X display {display}")
        self.root = lib.XDefaultRootWindow(self.dpy)
        self.gc = lib.XDefaultGC(self.dpy, lib.XDefaultScreen(self.dpy))

    def fill(self, drawable: int, colour: int, x: int, y: int, w: int, h: int) -> None:
        self.lib.XSetForeground(self.dpy, self.gc, colour)
        self.lib.XFillRectangle(self.dpy, drawable, self.gc, x, y, w, h)

    def copy(self, src: int, sx: int, sy: int, w: int, h: int, dx: int, dy: int) -> None:
        self.lib.XCopyArea(self.dpy, src, self.root, self.gc, sx, sy, w, h, dx, dy)

    def pixmap(self, w: int, h: int) -> int:
        return int(self.lib.XCreatePixmap(self.dpy, self.root, w, h, 24))

    def sync(self) -> None:
        self.lib.XSync(self.dpy, 0)


class Scene:
    """What one tick paints: the scrolling band, the bouncing boxes, the tick strip."""

    TILE, PERIOD = 32, 128

    def __init__(self, x: Xlib, width: int, height: int, seed: int) -> None:
        self.x, self.w, self.h = x, width, height
        rng = random.Random(seed)
        self.band = (BLOCK * 2, height // 2)  # y, height of the scrolling band
        self.tiles = x.pixmap(width + self.PERIOD, self.band[1])
        for ty in range(0, self.band[1], self.TILE):
            for tx in range(0, width + self.PERIOD, self.TILE):
                colour = rng.getrandbits(24) if (tx // self.TILE) % 4 else 0xFFFFFF
                x.fill(self.tiles, colour, tx, ty, self.TILE, self.TILE)
        x.fill(x.root, 0x202830, 0, 0, width, height)
        lo = self.band[0] + self.band[1]
        self.boxes = [
            [rng.randrange(FLASH + 8, width - 160), rng.randrange(lo, height - 120),
             rng.choice([-5, -3, 3, 5]), rng.choice([-4, -2, 2, 4]), rng.getrandbits(24)]
            for _ in range(4)
        ]  # fmt: skip
        self.flash = False

    def tick(self, k: int) -> None:
        x, (by, bh) = self.x, self.band
        x.copy(self.tiles, (2 * k) % self.PERIOD, 0, self.w, bh, 0, by)
        lo = by + bh
        for box in self.boxes:
            x.fill(x.root, 0x202830, box[0], box[1], 160, 120)
            box[0] += box[2]
            box[1] += box[3]
            if not FLASH + 8 <= box[0] <= self.w - 160:
                box[2] = -box[2]
                box[0] += 2 * box[2]
            if not lo <= box[1] <= self.h - 120:
                box[3] = -box[3]
                box[1] += 2 * box[3]
            x.fill(x.root, box[4], box[0], box[1], 160, 120)
        for bit in range(BITS):
            colour = WHITE if (k >> bit) & 1 else BLACK
            x.fill(x.root, colour, bit * BLOCK, 0, BLOCK, BLOCK)
        self.square()

    def square(self) -> None:
        self.x.fill(self.x.root, WHITE if self.flash else BLACK, 0, self.h - FLASH, FLASH, FLASH)


def paint(args: argparse.Namespace) -> None:
    """The painter's main: ticks at TICK_HZ; flashes at random instants if ``--flash-log``."""
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    x = Xlib(args.display)
    scene = Scene(x, args.width, args.height, args.seed)
    scene.tick(0)
    x.sync()
    rng = random.Random(args.seed)
    log = open(args.flash_log, "a") if args.flash_log else None  # noqa: SIM115 - closed below
    start = time.monotonic()
    k = 1
    flash_at = start + args.flash_start if log else float("inf")
    flash_off = float("inf")
    number = 0
    print("ready", flush=True)
    while not stop:
        tick_at = start + k / TICK_HZ
        due = min(tick_at, flash_at, flash_off)
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        now = time.monotonic()
        if now >= flash_at and log is not None:
            before = time.monotonic()
            scene.flash = True
            scene.square()
            x.sync()  # the server answers once it has drawn: the flash is in its framebuffer
            after = time.monotonic()
            log.write(json.dumps({"flash": number, "before": before, "after": after}) + "\n")
            log.flush()
            number += 1
            flash_off = after + args.flash_on
            flash_at = after + rng.uniform(args.gap_min, args.gap_max)
        elif now >= flash_off:
            scene.flash = False
            scene.square()
            x.sync()
            flash_off = float("inf")
        if now >= tick_at:
            scene.tick(k)
            x.sync()
            k = max(k + 1, int((time.monotonic() - start) * TICK_HZ))
    if log is not None:
        log.close()


# -- reading pictures back -----------------------------------------------------------------


def picture_marks(frame) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
    """(tick number mod 2**BITS, flash square white) of a decoded yuv420p picture."""
    plane = frame.planes[0]
    y = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    centre = BLOCK // 2
    bits = y[centre, centre : BITS * BLOCK : BLOCK] > 128
    code = int(np.dot(bits.astype(np.int64), 1 << np.arange(BITS)))
    h = frame.height
    square = y[h - FLASH + 16 : h - 16, 16 : FLASH - 16 : 4]
    return code, bool(square.mean() > 128)


@dataclass(frozen=True, kw_only=True)
class Delivered:
    """What a recording holds: video frames, fresh pictures, timeline span, audio."""

    frames: int
    #: frames whose tick number differs from the previous frame's (new pictures)
    fresh: int
    #: seconds from the first to the last video timestamp
    span_s: float
    #: video frames per second of stream time, and the same counting fresh pictures only
    fps: float
    fresh_fps: float
    audio_packets: int
    decode_errors: int


def read_recording(path: Path, skip_s: float = 1.0, tail_s: float = 0.5) -> Delivered:
    """Decode every video frame of ``path``; rates over its timeline less both ends."""
    import av

    times: list[float] = []
    codes: list[int] = []
    audio = errors = 0
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        vstream.thread_type = "AUTO"
        for packet in container.demux():
            if packet.stream.type == "audio":
                audio += packet.size > 0
                continue
            if packet.stream.type != "video":
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError:
                errors += 1
                continue
            for frame in frames:
                if frame.pts is None:
                    continue
                times.append(float(frame.pts * vstream.time_base))
                codes.append(picture_marks(frame)[0])
    if len(times) < 2:
        return Delivered(frames=len(times), fresh=0, span_s=0.0, fps=0.0, fresh_fps=0.0,
                         audio_packets=audio, decode_errors=errors)  # fmt: skip
    lo, hi = times[0] + skip_s, times[-1] - tail_s
    inside = [i for i, t in enumerate(times) if lo <= t <= hi]
    fresh = sum(1 for i in inside if i and codes[i] != codes[i - 1])
    span = hi - lo
    return Delivered(
        frames=len(times),
        fresh=sum(1 for i in range(1, len(codes)) if codes[i] != codes[i - 1]),
        span_s=times[-1] - times[0],
        fps=len(inside) / span if span > 0 else 0.0,
        fresh_fps=fresh / span if span > 0 else 0.0,
        audio_packets=audio,
        decode_errors=errors,
    )


# -- the stage -----------------------------------------------------------------------------


def tone_wav(path: Path, seconds: float) -> Path:
    """Something for AAC to chew on: two tones and a little noise, 48 kHz stereo."""
    t = np.arange(int(seconds * 48000)) / 48000
    rng = np.random.default_rng(1)
    mono = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 663 * t)
    mono = mono * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.02 * rng.standard_normal(len(t))
    pcm = (np.clip(mono, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(np.repeat(pcm[:, None], 2, axis=1).tobytes())
    return path


class Stage:
    """Xvfb (``width`` x ``height``), its painter, PulseAudio, nginx-rtmp recording to disk."""

    def __init__(
        self, tmp: Path, width: int, height: int, *, seed: int = 1, flash_log: Path | None = None,
        flash_start: float = 1e9, gaps: tuple[float, float] = (0.45, 1.05),
    ) -> None:  # fmt: skip
        from tests.fixtures.desktop import PulseServer, XvfbServer
        from tests.fixtures.nginx import NginxRtmp

        self.width, self.height, self.tmp = width, height, tmp
        self._closers: list = []
        try:
            self.xvfb = XvfbServer(width, height)
            self._closers.append(self.xvfb.stop)
            self.pulse = PulseServer()
            self._closers.append(self.pulse.stop)
            self.nginx = NginxRtmp(tmp / f"nginx-{height}", record=True, on_publish_key=None,
                                   tls=False)  # fmt: skip
            self._closers.append(self.nginx.close)
            self.painter: subprocess.Popen[str] | None = None
            self.start_painter(seed=seed, flash_log=flash_log, flash_start=flash_start,
                               gaps=gaps)  # fmt: skip
        except BaseException:
            self.close()
            raise

    def start_painter(
        self, *, seed: int, flash_log: Path | None, flash_start: float,
        gaps: tuple[float, float] = (0.45, 1.05),
    ) -> None:  # fmt: skip
        self.stop_painter()
        argv = [sys.executable, __file__, "paint", self.xvfb.display, str(self.width),
                str(self.height), "--seed", str(seed), "--flash-start", str(flash_start),
                "--gap-min", str(gaps[0]), "--gap-max", str(gaps[1])]  # fmt: skip
        if flash_log is not None:
            argv += ["--flash-log", str(flash_log)]
        self.painter = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.painter.stdout is not None
        if self.painter.stdout.readline().strip() != "ready":
            raise RuntimeError("the painter did not start")

    def stop_painter(self) -> None:
        if self.painter is not None and self.painter.poll() is None:
            self.painter.terminate()
            self.painter.wait(5)
        self.painter = None

    @property
    def env(self) -> dict[str, str]:
        return {**self.pulse.env, "DISPLAY": self.xvfb.display}

    def play(self, seconds: float) -> subprocess.Popen[bytes]:
        """Sound into the system sink for ``seconds`` (what "system audio" captures)."""
        path = tone_wav(self.tmp / f"tone-{time.monotonic_ns()}.wav", seconds)
        sink = f"--device={self.pulse.SYSTEM_SINK}"
        return subprocess.Popen(["paplay", sink, str(path)], env=self.pulse.env)

    def pids(self) -> dict[str, int]:
        """The shared servers whose CPU a publisher also causes."""
        return {"xvfb": self.xvfb.proc.pid, "pulse": self.pulse.proc.pid}

    def close(self) -> None:
        self.stop_painter()
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                close()
        self._closers.clear()


# -- the publishers ------------------------------------------------------------------------


def x264_ffmpeg(fps: int) -> list[str]:
    """libx264 as Ionia opens it (ionia.encoding.video._options), in FFmpeg's spelling."""
    gop = KEYINT_S * fps
    b = VIDEO_BITRATE
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "high",
        "-pix_fmt", "yuv420p", "-bf", "0", "-b:v", b, "-maxrate", b, "-bufsize", b,
        "-g", str(gop), "-forced-idr", "1",
        "-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0",
    ]  # fmt: skip


def ionia_argv(url: str, fps: int, stats: Path) -> list[str]:
    return [
        sys.executable, "-m", "ionia", "-q", "stream", url, "--audio", "system",
        "--fps", str(fps), "--video-bitrate", VIDEO_BITRATE, "--audio-bitrate", AUDIO_BITRATE,
        "--encoder", "x264", "--preset", "veryfast", "--keyint", str(KEYINT_S),
        "--stats-json", str(stats),
    ]  # fmt: skip


def ffmpeg_argv(url: str, display: str, size: str, fps: int) -> list[str]:
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        "-thread_queue_size", "1024", "-f", "x11grab", "-framerate", str(fps),
        "-video_size", size, "-draw_mouse", "1", "-i", f"{display}+0,0",
        "-thread_queue_size", "1024", "-f", "pulse", "-sample_rate", "48000", "-channels", "2",
        "-i", "ionia_system.monitor",
        "-map", "0:v", "-map", "1:a", *x264_ffmpeg(fps),
        "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2",
        "-f", "flv", url,
    ]  # fmt: skip


def gst_argv(url: str, display: str, fps: int) -> list[str]:
    gop = KEYINT_S * fps
    kbit = int(VIDEO_BITRATE.removesuffix("k"))
    pipeline = (
        f"ximagesrc display-name={display} use-damage=false show-pointer=true"
        f" ! video/x-raw,framerate={fps}/1 ! queue ! videoconvert ! video/x-raw,format=I420"
        f" ! x264enc speed-preset=veryfast tune=zerolatency pass=cbr bitrate={kbit}"
        f" vbv-buf-capacity=1000 key-int-max={gop} bframes=0"
        f" option-string=min-keyint={gop}:scenecut=0"
        " ! video/x-h264,profile=high ! h264parse ! queue ! mux."
        " pulsesrc device=ionia_system.monitor ! audio/x-raw,rate=48000,channels=2"
        f" ! queue ! audioconvert ! audioresample ! avenc_aac bitrate={AUDIO_BITRATE[:-1]}000"
        " ! aacparse ! queue ! mux."
        f" flvmux name=mux streamable=true ! rtmp2sink location={url}"
    )
    return ["gst-launch-1.0", "-q", "-e", *pipeline.split()]


PEERS = ("ionia", "ffmpeg", "gstreamer")


def peer_argv(peer: str, url: str, stage: Stage, fps: int, stats: Path) -> list[str]:
    size = f"{stage.width}x{stage.height}"
    if peer == "ionia":
        return ionia_argv(url, fps, stats)
    if peer == "ffmpeg":
        return ffmpeg_argv(url, stage.xvfb.display, size, fps)
    return gst_argv(url, stage.xvfb.display, fps)


def shown_argv(argv: list[str]) -> str:
    """A command line for the doc: no interpreter path, no temporary paths."""
    import shlex

    text = shlex.join(argv).replace(sys.executable, "python")
    return text.replace(str(ROOT) + "/", "")


def order(rounds: int, peers: tuple[str, ...]) -> list[tuple[int, str]]:
    """ABC, CBA, ABC, ...: each peer sees every position as often as the others."""
    out = []
    for r in range(rounds):
        sequence = peers if r % 2 == 0 else tuple(reversed(peers))
        out += [(r, p) for p in sequence]
    return out


def spread(values: list[float]) -> str:
    """``min–max`` of the rounds, for the doc's spread column."""
    return f"{min(values):.1f}–{max(values):.1f}" if values else "n/a"


def main() -> None:
    p = argparse.ArgumentParser(description="the benchmarks' screen painter")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("paint")
    q.add_argument("display")
    q.add_argument("width", type=int)
    q.add_argument("height", type=int)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--flash-log")
    q.add_argument("--flash-start", type=float, default=1e9, help="first flash, s after start")
    q.add_argument("--flash-on", type=float, default=0.2, help="seconds a flash stays white")
    q.add_argument("--gap-min", type=float, default=0.45)
    q.add_argument("--gap-max", type=float, default=1.05)
    args = p.parse_args()
    os.nice(0)
    paint(args)


if __name__ == "__main__":
    main()
