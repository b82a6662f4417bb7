"""What the control API does to a stream: one ``VideoAudioStreamer`` behind a lock.

The same object serves ``ionia serve`` (it may configure and start the streamer, again and
again), ``ionia stream --control`` (the command line configured and started the stream:
the API may stop and steer it, not start another) and the Python entry point.
Statistics are read only when asked for: a request, a scrape, or the 2 Hz event stream.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ionia.checks import check_number, parse_bitrate
from ionia.config import VIDEO_BITRATE_RANGE, StreamConfig
from ionia.errors import ConfigError, StateConflict
from ionia.output.reconnect import ReconnectPolicy
from ionia.redact import redact
from ionia.streamer import VideoAudioStreamer

__all__ = ["Controller", "setting_of"]

#: settings the API does not take: a test hook that would start the clock hours late
_NOT_SETTINGS = {"clock_offset"}


@dataclass(frozen=True, kw_only=True)
class _Sample:
    at: float
    frames: int


class Controller:
    """Thread-safe commands and reads over one streamer (see the module docstring)."""

    def __init__(self, streamer: VideoAudioStreamer | None = None, *, managed: bool = True) -> None:
        #: ``managed``: the API configures and starts the streamer; else the caller does
        self.managed = managed
        self.streamer = streamer or VideoAudioStreamer()
        self._lock = threading.Lock()
        self._configured = streamer is not None and _config_of(streamer) is not None
        self._samples: tuple[_Sample, _Sample] | None = None
        self._samples_lock = threading.Lock()

    # -- commands (each may block: start connects, stop drains) -------------------------

    def configure(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        if not self.managed:
            raise StateConflict("this stream was configured by its command line or program")
        if not isinstance(settings, Mapping):
            raise ConfigError("the settings must be a JSON object of initialize()'s keywords")
        options = dict(settings)
        unknown = sorted(k for k in options if k in _NOT_SETTINGS)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}")
        reconnect = options.pop("reconnect", None)
        policy = _policy(reconnect) if reconnect is not None else None
        url = options.pop("rtmp_url", ())
        with self._lock:
            if self.streamer.is_running():
                raise StateConflict("the stream is running: stop it before configuring again")
            self.streamer.initialize(url, reconnect=policy, **options)
            self._configured = True
        return self.status()

    def start(self) -> dict[str, Any]:
        if not self.managed:
            raise StateConflict("this stream is started by its command line or program")
        with self._lock:
            if not self._configured:
                raise StateConflict("configure the stream first (POST /api/v1/configure)")
            if self.streamer.is_running():
                raise StateConflict("the stream is running already")
            self.streamer.stop()  # a stream whose source ended or failed is not running yet
            self.streamer.start()
        return self.status()

    def stop(self) -> dict[str, Any]:
        with self._lock:
            self.streamer.stop()
        return self.status()

    def keyframe(self) -> dict[str, Any]:
        self.streamer.request_keyframe()
        return {"keyframes_forced": self.streamer.get_statistics()["keyframes_forced"]}

    def set_bitrate(self, value: Any) -> dict[str, Any]:
        what = "video_bitrate"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{what} must be a number of bit/s or a text like 2500k")
        ceiling = self.streamer.config.video_bitrate
        bits = int(check_number(what, parse_bitrate(value, what=what),
                                VIDEO_BITRATE_RANGE[0], ceiling, unit=" bit/s"))  # fmt: skip
        if not self.streamer.is_running():
            raise StateConflict("set the bitrate of a running stream (start it first)")
        self.streamer.set_video_bitrate(bits)
        return {"video_bitrate": bits, "video_bitrate_max": ceiling}

    def rotate(self, url: Any, index: Any = 0) -> dict[str, Any]:
        if not isinstance(url, str) or not url:
            raise ConfigError("url must be the new rtmp[s]://host/app/<stream key>")
        if isinstance(index, bool) or not isinstance(index, int):
            raise ConfigError("index must be the destination's number (0 = the first)")
        if not self.streamer.is_running():
            raise StateConflict("rotate the key of a running stream (start it first)")
        self.streamer.rotate(url, index=index)
        stats = self.streamer.get_statistics()
        return {"index": index, "destination": stats["destinations"][index]["destination"]}

    def reconnect(self) -> dict[str, Any]:
        if not self.streamer.is_running():
            raise StateConflict("reconnect a running stream (start it first)")
        self.streamer.reconnect_now()
        return {"reconnecting": True}

    # -- reads ------------------------------------------------------------------------------

    def state(self) -> str:
        s = self.streamer
        if s.is_running():
            return "running"
        if s.error is not None:
            return "failed"
        if s.get_statistics()["uptime_s"] > 0:
            return "stopped"
        return "configured" if self._configured else "idle"

    def status(self) -> dict[str, Any]:
        s = self.streamer
        config = _config_of(s)
        return {
            "state": self.state(),
            "managed": self.managed,
            "running": s.is_running(),
            "connected": s.is_connected(),
            "backpressure": s.is_backpressure(),
            "destinations": [d.display for d in config.destinations] if config else [],
            "record": config.record.display if config and config.record else None,
            "encoder": s.get_codec_name(),
            "error": redact(str(s.error)) if s.error is not None else None,
        }

    def statistics(self) -> dict[str, Any]:
        """``get_statistics()`` plus what a front end needs beside it: the encoder's
        measured frame rate and the limits the figures are read against."""
        stats = self.streamer.get_statistics()
        config = _config_of(self.streamer)
        return {
            **stats,
            "encoder_fps": self._encoder_fps(stats),
            "buffer_limit_ms": config.buffer_ms if config else StreamConfig.buffer_ms,
            "video_bitrate_max": config.video_bitrate if config else 0,
            "state": self.state(),
        }

    def _encoder_fps(self, stats: Mapping[str, Any]) -> float:
        """Frames encoded per second over the last ≥ 1 s between reads (every reader shares
        one window), else over the stream's life."""
        now, frames = time.monotonic(), int(stats["frames_encoded"])
        with self._samples_lock:
            samples = self._samples
            if samples is None or frames < samples[1].frames:
                self._samples = samples = (_Sample(at=now, frames=frames),) * 2
            elif now - samples[1].at >= 1.0:
                self._samples = samples = (samples[1], _Sample(at=now, frames=frames))
            old, new = samples
        if not stats["running"]:
            return 0.0
        if new.at - old.at >= 0.5:
            return round((new.frames - old.frames) / (new.at - old.at), 2)
        uptime = float(stats["uptime_s"])
        return round(frames / uptime, 2) if uptime > 0 else 0.0


def _config_of(streamer: VideoAudioStreamer) -> StreamConfig | None:
    try:
        return streamer.config
    except ConfigError:  # not initialized yet
        return None


def _policy(value: Any) -> ReconnectPolicy:
    if not isinstance(value, Mapping):
        raise ConfigError('reconnect must be an object: {"delay": 0.5, "max_attempts": 3}')
    known = set(inspect.signature(ReconnectPolicy).parameters)
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(
            f"unknown reconnect setting(s) {', '.join(unknown)}: use {', '.join(sorted(known))}"
        )
    return ReconnectPolicy(**value)


def setting_of(message: str, settings: Mapping[str, Any]) -> str | None:
    """The setting a ``ConfigError`` is about. Its message names the setting as the user
    wrote it (``fps``, ``video bitrate (--video-bitrate)``, an unknown ``foo``) or, for a
    destination, as a URL; the given settings are matched against it."""
    text = message.lower()
    for key in sorted(settings, key=len, reverse=True):
        spoken = key.replace("_", " ")
        flag = "--" + key.replace("_", "-")
        if key.lower() in text or spoken in text or flag in text:
            return key
    if "rtmp_url" in settings and any(w in text for w in ("url", "rtmp", "destination", "key")):
        return "rtmp_url"
    return None
