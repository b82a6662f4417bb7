"""The services ``--service NAME`` knows, read from ``services.toml`` beside this module.

The data is facts about each service (ingest URLs, key shapes, limits) with its sources in
the file's header; this module only reads and checks it, once, and builds ingest URLs.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ionia.errors import ConfigError

__all__ = ["Ingest", "Limits", "Service", "find_service", "load_services"]

DATA_FILE = "services.toml"


@dataclass(frozen=True, kw_only=True)
class Ingest:
    #: what ``--ingest`` takes: ``primary``, ``backup``, ``auto``, a region
    name: str
    #: the server: ``rtmp[s]://host[:port]/app[?query]``, without the stream key
    url: str


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What a service accepts; None where it documents no limit."""

    #: bit/s
    max_video_bitrate: int | None = None
    max_audio_bitrate: int | None = None
    #: seconds between keyframes: the recommended and the longest accepted
    keyint: float | None = None
    max_keyint: float | None = None
    max_fps: int | None = None
    #: the picture sizes it takes (empty: any)
    resolutions: tuple[tuple[int, int], ...] = ()
    #: video codecs it ingests ("h264", "hevc", "av1")
    codecs: tuple[str, ...] = ("h264",)


@dataclass(frozen=True, kw_only=True)
class Service:
    #: what ``--service`` takes
    id: str
    name: str
    #: where the facts come from
    docs: str
    #: where a user finds the stream key
    key_link: str = ""
    #: the key's documented shape (a regular expression over the key without its ?query)
    key_pattern: re.Pattern[str] | None = None
    key_example: str = ""
    #: the first is the default
    ingests: tuple[Ingest, ...]
    limits: Limits
    #: the key's ?query that makes a publish a bandwidth test (Twitch), if any
    bandwidth_test: str = ""

    def ingest(self, name: str | None) -> Ingest:
        if name is None:
            return self.ingests[0]
        for ingest in self.ingests:
            if ingest.name == name.lower():
                return ingest
        names = ", ".join(i.name for i in self.ingests)
        raise ConfigError(
            f"{self.name} has no ingest {name!r}: use one of {names}, or a whole "
            "rtmp[s]://host/app server URL"
        )


_SERVICE_KEYS = {
    "name", "docs", "key_link", "key_pattern", "key_example", "keyint", "max_keyint",
    "max_video_bitrate", "max_audio_bitrate", "max_fps", "resolutions", "codecs",
    "ingests", "bandwidth_test",
}  # fmt: skip


@functools.cache
def load_services() -> dict[str, Service]:
    """Every service in the data file, by id (read and checked once per process)."""
    text = resources.files("ionia.services").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return {sid: _service(sid, entry) for sid, entry in tomllib.loads(text).items()}


def find_service(name: str) -> Service:
    """The service ``--service`` names (its id, case-insensitive), else a ``ConfigError``."""
    services = load_services()
    if not isinstance(name, str) or name.lower() not in services:
        raise ConfigError(
            f"unknown service {name!r}: use one of {', '.join(services)} (`ionia services` "
            "lists them), or pass an rtmp[s]:// URL"
        )
    return services[name.lower()]


def _service(sid: str, entry: dict[str, Any]) -> Service:
    unknown = set(entry) - _SERVICE_KEYS
    if unknown:
        raise ValueError(f"{DATA_FILE}: [{sid}] has unknown keys {sorted(unknown)}")
    kbit = 1000
    limits = Limits(
        max_video_bitrate=_times(entry.get("max_video_bitrate"), kbit),
        max_audio_bitrate=_times(entry.get("max_audio_bitrate"), kbit),
        keyint=entry.get("keyint"),
        max_keyint=entry.get("max_keyint"),
        max_fps=entry.get("max_fps"),
        resolutions=tuple(_size(r) for r in entry.get("resolutions", ())),
        codecs=tuple(entry.get("codecs", ("h264",))),
    )
    pattern = entry.get("key_pattern")
    return Service(
        id=sid,
        name=entry["name"],
        docs=entry["docs"],
        key_link=entry.get("key_link", ""),
        key_pattern=re.compile(pattern) if pattern else None,
        key_example=entry.get("key_example", ""),
        ingests=tuple(Ingest(name=i["name"], url=i["url"]) for i in entry["ingests"]),
        limits=limits,
        bandwidth_test=entry.get("bandwidth_test", ""),
    )


def _times(value: int | None, scale: int) -> int | None:
    return None if value is None else int(value) * scale


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)
