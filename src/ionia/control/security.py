"""Who may reach the control server: the listen address, the token, ``Host`` and ``Origin``.

The control API starts and stops a live stream and can point it at any URL, so it is as
powerful as the user who runs it. Four checks keep it that way:

- it listens on loopback unless told otherwise, explicitly (``allow_remote``);
- every request carries the run's token (``Authorization: Bearer``, ``?token=`` once, or
  the dashboard's session cookie, which is derived from the token, never the token itself,
  so no response ever carries the token);
- ``Host`` must be loopback, an IP literal or an allowed name: a DNS-rebinding page has its
  own domain name in ``Host``, however its name resolves;
- a browser's ``Origin``, when present, must be this server's own: a page on another site
  can send requests to 127.0.0.1 but not pass this check (nor read the replies).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ionia.errors import ConfigError
from ionia.redact import remember_secret

__all__ = [
    "DEFAULT_LISTEN",
    "SESSION_COOKIE",
    "TOKEN_ENV",
    "Access",
    "ListenAddress",
    "parse_listen",
    "resolve_token",
]

DEFAULT_LISTEN = "127.0.0.1:8787"
TOKEN_ENV = "IONIA_CONTROL_TOKEN"
SESSION_COOKIE = "ionia_session"
#: a shorter token could be guessed by a page that tries many (each try is a request)
MIN_TOKEN_LEN = 16
_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


@dataclass(frozen=True, kw_only=True)
class ListenAddress:
    """Where the control server listens."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return _is_loopback(self.host)

    @property
    def url_host(self) -> str:
        """The host as a URL writes it (IPv6 in brackets)."""
        return f"[{self.host}]" if ":" in self.host else self.host


def parse_listen(text: str, *, allow_remote: bool = False) -> ListenAddress:
    """``127.0.0.1:8787``, ``[::1]:8787``, ``localhost:0`` (any free port) or ``:8787``.

    A non-loopback address without ``allow_remote`` is a ``ConfigError``: the API is then
    reachable by every host on the network, over plain HTTP, so it takes a decision."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, str(DEFAULT_LISTEN.rpartition(":")[2])
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"  # one address, not whatever the resolver lists first
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"--listen {text!r}: the port must be 0-65535 (0 = any free port)")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"--listen {text!r}: give an IP address (127.0.0.1, ::1, 0.0.0.0), not a name"
        ) from None
    address = ListenAddress(host=host, port=int(port_text))
    if not address.loopback and not allow_remote:
        raise ConfigError(
            f"--listen {text!r} is not a loopback address: anyone on the network could reach "
            "the control API (over plain HTTP); add --allow-remote if that is intended"
        )
    return address


def resolve_token(given: str | None = None) -> tuple[str, bool]:
    """The token to require: ``given``, else ``$IONIA_CONTROL_TOKEN``, else a new random one.
    Returns it and whether it was generated (only a generated token is printed)."""
    token = given if given is not None else os.environ.get(TOKEN_ENV) or None
    generated = token is None
    if token is None:
        token = secrets.token_urlsafe(32)
    if len(token) < MIN_TOKEN_LEN or not token.isprintable() or " " in token:
        raise ConfigError(
            f"the control token (--control-token / {TOKEN_ENV}) must be at least "
            f"{MIN_TOKEN_LEN} printable characters without spaces"
        )
    remember_secret(token)  # so every log line masks it, as it masks stream keys
    return token, generated


class Access:
    """The checks every request passes, in this order: ``Host``, ``Origin``, the token."""

    def __init__(
        self, token: str, address: ListenAddress, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self._token = token.encode()
        self._address = address
        self._allowed = {h.lower().rstrip(".") for h in allowed_hosts}
        #: the dashboard's cookie: proves the token was shown once, and is not the token
        self.session = hmac.new(self._token, b"ionia dashboard session", hashlib.sha256).hexdigest()

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host, port = _split_host(host_header)
        if port is not None and port != self._address.port:
            return False
        if host in _LOOPBACK_NAMES or host in self._allowed:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False  # a name we were not told about: DNS rebinding looks like this
        # a loopback server is only ever reached at loopback addresses
        return ip.is_loopback or not self._address.loopback

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """No ``Origin`` (curl, Prometheus, a native front end) is fine: the token decides.
        A browser's must be this very server, as the ``Host`` it sent names it."""
        if origin is None:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or not host_header:
            return False  # "null" (a sandboxed frame, a file://) included
        return parts.netloc.lower() == host_header.lower()

    def token_valid(
        self, authorization: str | None, query_token: str | None, cookie: str | None
    ) -> bool:
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                value.strip().encode(), self._token
            ):
                return True
        if query_token is not None and hmac.compare_digest(query_token.encode(), self._token):
            return True
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.session.encode())


def _split_host(host_header: str) -> tuple[str, int | None]:
    text = host_header.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    port = int(port_text) if port_text.isdigit() else None
    if port_text and port is None:
        port = -1  # not a port: matches no server
    return host.rstrip("."), port


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in _LOOPBACK_NAMES
