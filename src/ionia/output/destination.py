"""Where a stream goes: an RTMP(S) ingest, a WHIP endpoint or a local file, parsed and
checked up front."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ionia.checks import check_writable
from ionia.errors import ConfigError
from ionia.rtmp.url import RtmpUrl, parse_rtmp_url
from ionia.whip.url import WhipUrl, is_whip_url, parse_whip_url

#: file suffix → FFmpeg muxer
FILE_OUTPUTS = {".flv": "flv", ".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where the stream goes: an RTMP(S) ingest, a WHIP endpoint or a local file."""

    url: RtmpUrl | None = None
    whip: WhipUrl | None = None
    path: Path | None = None
    #: FFmpeg muxer name for file outputs ("flv", "mp4", "matroska")
    file_format: str = ""

    @property
    def identity(self) -> tuple[object, ...]:
        """Equal for two spellings of the same destination (secret: never show it)."""
        if self.url is not None:
            return (self.url.host, self.url.port, self.url.app, self.url.key)
        if self.whip is not None:
            return (self.whip.url,)
        # out.flv, ./out.flv and a symlink to it are one file, which two muxers would corrupt
        return (os.path.realpath(str(self.path)),)

    @property
    def display(self) -> str:
        """Safe to show: the key is masked."""
        if self.url is not None:
            return self.url.masked
        return self.whip.masked if self.whip is not None else str(self.path)

    @property
    def is_network(self) -> bool:
        return self.url is not None or self.whip is not None


def parse_destination(
    target: str | os.PathLike[str], *, whip_token: str | None = None
) -> Destination:
    """An ``rtmp[s]://`` URL, an ``http[s]://`` WHIP endpoint (with its Bearer token) or a
    file (.flv/.mp4/.mkv/.mov) that can be written now."""
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    if not isinstance(target, str):
        raise ConfigError(
            f"a destination must be an rtmp[s]:// URL or a file path, not {type(target).__name__}"
        )
    if is_whip_url(target):
        return Destination(whip=parse_whip_url(target, whip_token))
    scheme = target.split("://", 1)[0].strip().lower() if "://" in target else ""
    if scheme and scheme not in ("rtmp", "rtmps"):
        raise ConfigError(
            f"unsupported URL scheme ('{scheme}://'): use rtmp[s]://host/app/<stream key>, "
            "an http[s]:// WHIP endpoint, or a file (.flv/.mp4/.mkv/.mov)"
        )
    if "://" in target:
        return Destination(url=parse_rtmp_url(target))
    suffix = Path(target).suffix.lower()
    if suffix in FILE_OUTPUTS:
        path = Path(target)
        check_writable(path)
        return Destination(path=path, file_format=FILE_OUTPUTS[suffix])
    return Destination(url=parse_rtmp_url(target))  # raises a clear scheme error
