"""The WebSocket event stream: statistics at 2 Hz and the events between two reads.

One ticker task reads the statistics while at least one client listens, and none while
nobody does: the stream pays nothing for a dashboard that is closed. Every client gets
the same serialized message; a client that cannot take it within ``SEND_TIMEOUT`` is
dropped rather than allowed to hold the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from ionia.control.events import Watcher, congestion_light
from ionia.redact import redact
from ionia.worker import describe

__all__ = ["INTERVAL_S", "EventHub", "lights"]

log = logging.getLogger("ionia.control")

INTERVAL_S = 0.5
SEND_TIMEOUT = 2.0
MAX_CLIENTS = 32


def lights(stats: dict[str, Any], watcher: Watcher | None = None) -> list[str]:
    running = bool(stats.get("running"))
    return [
        congestion_light(
            d, running=running, dropping=watcher.dropping(d["destination"]) if watcher else False
        ).value
        for d in stats.get("destinations", [])
    ]


class EventHub:
    """Clients of ``/api/v1/events`` and the ticker that feeds them."""

    def __init__(self, read: Callable[[], dict[str, Any]], interval: float = INTERVAL_S) -> None:
        self._read = read
        self._interval = interval
        self._clients: set[web.WebSocketResponse] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if len(self._clients) >= MAX_CLIENTS or self._closing:
            raise web.HTTPServiceUnavailable(text="too many event stream clients")
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
        await ws.prepare(request)
        self._clients.add(ws)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._tick(), name="ionia-control-events")
            self._task.add_done_callback(self._tick_ended)
        try:
            async for message in ws:  # clients only listen; anything they send is ignored
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(ws)
        return ws

    async def close(self) -> None:
        """Close every client (going away) and end the ticker."""
        self._closing = True
        clients, self._clients = list(self._clients), set()
        for ws in clients:
            with contextlib.suppress(Exception):  # a client gone already is fine
                await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY), SEND_TIMEOUT)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _tick(self) -> None:
        watcher = Watcher()
        while self._clients:
            stats = self._read()
            events = watcher.update(stats)
            message = {"type": "stats", "at": time.time(), "lights": lights(stats, watcher),
                       "data": stats}  # fmt: skip
            texts = [redact(json.dumps(message, allow_nan=False))]
            texts += [redact(json.dumps(e.as_dict())) for e in events]
            await asyncio.gather(*(self._send(ws, texts) for ws in list(self._clients)))
            await asyncio.sleep(self._interval)

    async def _send(self, ws: web.WebSocketResponse, texts: list[str]) -> None:
        try:
            for text in texts:
                await asyncio.wait_for(ws.send_str(text), SEND_TIMEOUT)
        except (TimeoutError, ConnectionError, RuntimeError):
            # too slow or gone: close it, the others go on
            self._clients.discard(ws)
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER)

    def _tick_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # a bug: the listeners are told by the close, the log says why
            log.error("the control event stream failed: %s", describe(exc))
            for ws in list(self._clients):
                task.get_loop().create_task(ws.close(code=WSCloseCode.INTERNAL_ERROR))
