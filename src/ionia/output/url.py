"""Destination URLs: parsing ``rtmp://`` / ``rtmps://`` ingest addresses and masking their keys.

An RTMP URL is ``rtmp[s]://host[:port]/app[/app-instance...]/stream-key[?query]``.
The last path element is the stream name, which for every public service is the secret
stream key: it must never be shown. ``RtmpUrl.masked`` is the only form that may
appear in logs, errors, status lines, statistics and ``repr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ionia.errors import ConfigError

DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}
MASK = "****"


@dataclass(frozen=True, kw_only=True)
class RtmpUrl:
    """A parsed ingest address. ``key`` is secret; ``repr`` and ``str`` mask it."""

    scheme: str
    host: str
    port: int
    app: str
    #: the stream name (the secret stream key), including any ``?query`` the service needs
    key: str = field(repr=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "rtmps"

    @property
    def tc_url(self) -> str:
        """The ``tcUrl`` sent in ``connect``: everything but the stream key."""
        default = DEFAULT_PORTS[self.scheme]
        port = "" if self.port == default else f":{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return f"{self.scheme}://{host}{port}/{self.app}"

    @property
    def masked(self) -> str:
        return f"{self.tc_url}/{MASK}"

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"RtmpUrl({self.masked!r})"


def parse_rtmp_url(url: str) -> RtmpUrl:
    """Parse an ingest URL; raise ``ConfigError`` (without echoing the key) when it is unusable."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("no stream URL given: pass rtmp://host/app/KEY (or set RTMP_URL)")
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in DEFAULT_PORTS:
        shown = f"'{scheme}://'" if scheme else "no scheme"
        raise ConfigError(
            f"unsupported URL scheme ({shown}): use rtmp:// or rtmps://, "
            "for example rtmp://a.rtmp.youtube.com/live2/<stream key>"
        )
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise ConfigError(f"the stream URL has no host: expected {scheme}://host/app/<stream key>")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise ConfigError(
            f"the stream URL has a bad port: expected {scheme}://host:PORT/app/<stream key>"
        ) from None
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise ConfigError(
            f"the stream URL has no application: expected {scheme}://{host}/app/<stream key>"
        )
    if len(segments) < 2:
        raise ConfigError(
            f"the stream URL {scheme}://{host}/{segments[0]} has no stream key: "
            "append /KEY (your service's stream key)"
        )
    key = segments[-1] + (f"?{parts.query}" if parts.query else "")
    return RtmpUrl(scheme=scheme, host=host, port=port, app="/".join(segments[:-1]), key=key)


# the last path element of an rtmp URL in free text; "<key>"-style placeholders are not secrets
_URL_IN_TEXT = re.compile(
    r"(rtmps?://[^\s/]+/(?:[^\s/]+/)*)([^\s/'\"<]+)(?=$|[\s'\",;)])", re.IGNORECASE
)


def redact(text: str, *secrets: str) -> str:
    """Mask stream keys inside free text (server messages, exception strings)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
            base = secret.split("?", 1)[0]
            if base:
                text = text.replace(base, MASK)
    return _URL_IN_TEXT.sub(lambda m: m.group(1) + MASK, text)
