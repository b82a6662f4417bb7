"""WHIP endpoint URLs: ``http[s]://host[:port]/path[?query]``, with what is secret kept so.

A WHIP service authenticates with a Bearer token (``WhipUrl.token``), but some put a
secret in the URL itself (a path segment or a query value). So the shown form masks the
query and the last path segment, and every segment that looks like a key is remembered
by ``ionia.redact``, as stream keys are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ionia.errors import ConfigError
from ionia.redact import MASK, remember_secret

DEFAULT_PORTS = {"http": 80, "https": 443}
#: a path segment this long is taken for a key (a word like "whip" or "endpoint" is not:
#: remembering it would mask that word in every log line)
KEY_LIKE_LENGTH = 16


@dataclass(frozen=True, kw_only=True)
class WhipUrl:
    """A parsed WHIP endpoint. ``url`` and ``token`` are secret; ``str`` and ``repr`` mask."""

    scheme: str
    host: str
    port: int
    #: the whole endpoint URL as given, to POST to (it may hold a secret)
    url: str = field(repr=False)
    #: the Bearer token, or None for an endpoint that takes none
    token: str | None = field(default=None, repr=False)
    #: the path's first segments, safe to show
    shown_path: str = ""

    @property
    def loopback(self) -> bool:
        """The endpoint is on this machine (ICE must then gather loopback addresses)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def masked(self) -> str:
        default = DEFAULT_PORTS[self.scheme]
        port = "" if self.port == default else f":{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}{port}/{self.shown_path}{MASK}"

    def with_token(self, token: str | None) -> WhipUrl:
        if token:
            remember_secret(token)
        return WhipUrl(
            scheme=self.scheme,
            host=self.host,
            port=self.port,
            url=self.url,
            token=token or None,
            shown_path=self.shown_path,
        )

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"WhipUrl({self.masked!r})"


def is_whip_url(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://"))


def parse_whip_url(url: str, token: str | None = None) -> WhipUrl:
    """Parse a WHIP endpoint URL; raise ``ConfigError`` without echoing what may be secret."""
    url = url.strip()
    scheme = url.split("://", 1)[0].lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigError("a WHIP endpoint is an http:// or https:// URL")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigError(
            "the WHIP URL holds a space, line break or invisible character: copy it again"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"the WHIP URL has a bad host or port: expected {scheme}://host[:port]/path"
        ) from None
    host = parts.hostname or ""
    if not host:
        raise ConfigError(f"the WHIP URL has no host: expected {scheme}://host[:port]/path")
    if "@" in parts.netloc:
        raise ConfigError(
            "the WHIP URL has user:password@ before the host: WHIP authenticates with a "
            "Bearer token instead; pass it with --whip-token or WHIP_TOKEN"
        )
    segments = [s for s in parts.path.split("/") if s]
    for secret in [*segments, *(p.partition("=")[2] for p in parts.query.split("&"))]:
        if len(secret) >= KEY_LIKE_LENGTH:
            remember_secret(secret)
    shown = segments[:-1] if segments else []
    if any(len(s) >= KEY_LIKE_LENGTH for s in shown):
        shown = []
    parsed = WhipUrl(
        scheme=scheme,
        host=host,
        port=DEFAULT_PORTS[scheme] if port is None else port,
        url=url,
        shown_path="".join(f"{s}/" for s in shown),
    )
    return parsed.with_token(token)
