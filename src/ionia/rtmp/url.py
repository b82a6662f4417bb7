"""RTMP ingest URLs: parsing ``rtmp://`` / ``rtmps://`` addresses, keys kept secret.

An RTMP URL is ``rtmp[s]://host[:port]/app[/app-instance...]/stream-key[?query]``.
The last path element is the stream name, which for every public service is the secret
stream key: it must never be shown. ``RtmpUrl.masked`` is the only form that may
appear in logs, errors, status lines, statistics and ``repr``; every parsed key is
remembered by ``ionia.redact``, which masks it wherever it shows up later.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ionia.errors import ConfigError
from ionia.redact import MASK, remember_secret

DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


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
        raise ConfigError(
            "no stream URL given: pass rtmp://host/app/<stream key> (or set RTMP_URL)"
        )
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in DEFAULT_PORTS:
        shown = f"'{scheme}://'" if scheme else "no scheme"
        raise ConfigError(
            f"unsupported URL scheme ({shown}): use rtmp:// or rtmps://, "
            "for example rtmp://a.rtmp.youtube.com/live2/<stream key>"
        )
    # Before urlsplit, which silently deletes tabs and line breaks from a URL.
    _check_characters(url.split("://", 1)[1])
    if "#" in url:
        raise ConfigError(
            "the stream URL has a #fragment, which RTMP does not send: remove the '#' and "
            "what follows (a stream key has no '#')"
        )
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [IPv6] bracket
        raise ConfigError(
            f"the stream URL has a bad host: expected {scheme}://host/app/<stream key>"
        ) from None
    if "@" in parts.netloc:
        # FFmpeg keeps user:password@ only for Adobe/Limelight challenge logins, which this
        # client does not speak; dropping it would publish without the credentials.
        raise ConfigError(
            "the stream URL has user:password@ before the host, which Ionia cannot send "
            "(RTMP has no standard login): remove it; servers that check publishers take "
            "the credentials in the stream key or its query, e.g. "
            f"{scheme}://host/app/<stream key>?user=NAME&pass=SECRET"
        )
    host = parts.hostname or ""
    if not host:
        raise ConfigError(f"the stream URL has no host: expected {scheme}://host/app/<stream key>")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = DEFAULT_PORTS[scheme]
    elif not 1 <= port <= 65535:
        shown = f" {port}" if port >= 0 else ""
        raise ConfigError(
            f"the stream URL has a bad port{shown}: use 1 to 65535 "
            f"({scheme}://host:PORT/app/<stream key>), or none for {DEFAULT_PORTS[scheme]}"
        )
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
    remember_secret(key)
    return RtmpUrl(scheme=scheme, host=host, port=port, app="/".join(segments[:-1]), key=key)


def _check_characters(rest: str) -> None:
    """Refuse what the server cannot be sent: no part of the URL is echoed (the key is secret).

    A key that is not valid UTF-8 (a latin-1 byte from a shell or file, which Python keeps
    as a surrogate escape) would pass the handshake and then fail to encode in ``publish``;
    a space, line break or invisible character is a copy-paste accident the server rejects.
    """
    authority, _, path = rest.partition("/")
    path, mark, query = path.partition("?")
    app, _, name = path.rpartition("/")
    for what, text in (
        ("host", authority),
        ("application", app),
        ("stream key", name + mark + query),
    ):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(
                f"the {what} of the stream URL is not valid UTF-8 text (a byte from a non-UTF-8 "
                "shell or file?): type or paste it again"
            ) from None
        if any(c.isspace() or unicodedata.category(c)[0] == "C" for c in text):
            raise ConfigError(
                f"the {what} of the stream URL contains a space, line break or invisible "
                "control character: paste it again without them"
            )
