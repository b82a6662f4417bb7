"""The one-line live status shown on a terminal while streaming."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class StatusLine:
    """Redraws one line in place; prints nothing when the stream is not a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._enabled = stream.isatty()
        self._last_frames = 0
        self._last_t = time.monotonic()
        self._width = 0

    def update(self, stats: dict[str, Any]) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        frames = int(stats.get("frames_encoded", 0))
        fps = (frames - self._last_frames) / max(1e-6, now - self._last_t)
        self._last_frames, self._last_t = frames, now
        self._write(format_status(stats, fps))

    def _write(self, line: str) -> None:
        pad = max(0, self._width - len(line))
        self._stream.write("\r" + line + " " * pad)
        self._stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self._enabled and self._width:
            self._stream.write("\n")
            self._stream.flush()


def _state(stats: dict[str, Any]) -> str:
    if stats.get("failed"):
        return "FAILED"
    if stats.get("recording"):
        return "REC"
    return "LIVE" if stats.get("connected") else "RECONNECTING"


def format_status(stats: dict[str, Any], fps: float) -> str:
    destinations = stats.get("destinations", [])
    if len(destinations) > 1:
        where = " ".join(
            f"[{_state(d)} {d['destination']} {d['bitrate_kbps']:.0f}k"
            f" drop {d['video_packets_dropped']}]"
            for d in destinations
        )
        return f"{where} | {fps:.1f} fps | up {stats.get('uptime_s', 0):.0f} s"
    state = _state(destinations[0]) if destinations else _state(stats)
    return (
        f"{state} {stats.get('destination', '')} | {stats.get('bitrate_kbps', 0):.0f} kbit/s"
        f" | {fps:.1f} fps | drops v {stats.get('video_packets_dropped', 0)}"
        f" a {stats.get('audio_packets_dropped', 0)}"
        f" | buffer {stats.get('buffer_latency_ms', 0)} ms"
        f" | up {stats.get('uptime_s', 0):.0f} s"
    )
