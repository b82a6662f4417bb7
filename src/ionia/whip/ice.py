"""ICE servers (``--ice-server``) and where ICE gathers candidates.

An ICE server is ``stun:host[:port]`` or ``turn[s]:host[:port][?transport=udp|tcp]``
(RFC 7064/7065), with TURN credentials as ``user:password@`` before the host (the form
GStreamer's webrtcbin takes). The password is a secret.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field

from ionia.errors import ConfigError
from ionia.redact import remember_secret

SCHEMES = ("stun", "turn", "turns")


@dataclass(frozen=True, kw_only=True)
class IceServer:
    """One STUN or TURN server; ``credential`` is secret."""

    #: the RFC 7064/7065 URL, without credentials (``turn:host:3478?transport=udp``)
    url: str
    username: str | None = None
    credential: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.url


def parse_ice_server(text: str) -> IceServer:
    value = text.strip()
    scheme, sep, rest = value.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise ConfigError(
            "an ICE server is stun:host[:port] or turn:[user:password@]host[:port]"
            "[?transport=udp|tcp]"
        )
    rest = rest.removeprefix("//")  # stun://host, as GStreamer writes it
    userinfo, at, hostpart = rest.rpartition("@")
    if not hostpart or hostpart.startswith((":", "?")):
        raise ConfigError(f"the ICE server {scheme}:… has no host")
    username = credential = None
    if at:
        if scheme == "stun":
            raise ConfigError("a STUN server takes no user:password@")
        username, colon, credential = userinfo.partition(":")
        if not colon or not username:
            raise ConfigError("TURN credentials are turn:USER:PASSWORD@host[:port]")
        remember_secret(credential)
    elif scheme != "stun":
        raise ConfigError(
            f"a {scheme.upper()} server needs credentials: {scheme}:USER:PASSWORD@host[:port]"
        )
    return IceServer(url=f"{scheme}:{hostpart}", username=username, credential=credential)


# aioice gathers every address but 127.0.0.1, so on a machine whose only interface is the
# loopback (a container, CI) a WHIP server on this same machine could not be reached. A
# session with such a server gathers the loopback address, and only it, for its own
# peer connection: the choice is a context variable, so other sessions are untouched.
_loopback_only: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ionia_ice_loopback_only", default=False
)
_original: Callable[[bool, bool], list[str]] | None = None


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    assert _original is not None
    if _loopback_only.get():
        return ["127.0.0.1"] if use_ipv4 else ["::1"]
    return _original(use_ipv4, use_ipv6)


def gather_loopback_only(enabled: bool) -> None:
    """For the calling task and what it starts: gather on the loopback only (or not)."""
    global _original
    import aioice.ice  # here, not at the top: only a WHIP session pays for the import

    current = aioice.ice.get_host_addresses
    if current is not _host_addresses:  # first use, or someone put theirs back since
        _original = current
        aioice.ice.get_host_addresses = _host_addresses
    _loopback_only.set(enabled)
