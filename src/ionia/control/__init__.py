"""The engine as a local service: a JSON control API, a WebSocket event stream, a live
dashboard and Prometheus metrics, for a front end to drive a stream.

from ionia import VideoAudioStreamer
from ionia.control import ControlServer
with ControlServer(streamer) as server:   # 127.0.0.1:8787, a new token
    print(server.url)                      # open it: the dashboard, logged in
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ionia.control.security import DEFAULT_LISTEN, TOKEN_ENV

if TYPE_CHECKING:
    from ionia.control.server import ControlServer

__all__ = ["DEFAULT_LISTEN", "TOKEN_ENV", "ControlServer"]


def __getattr__(name: str) -> Any:
    # aiohttp takes ~0.3 s to import: `ionia stream` without --control does not pay it
    if name == "ControlServer":
        from ionia.control.server import ControlServer

        return ControlServer
    raise AttributeError(f"module 'ionia.control' has no attribute {name!r}")
