"""The routes of the control server: ``/api/v1/...``, ``/metrics`` and the dashboard.

Reads (status, statistics, metrics) are answered on the event loop: they only copy
figures. Commands go to the command thread (``submit``), so a ``start`` that connects for
seconds does not hold the loop, and its error comes back typed (see ``guard``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ionia.control import dashboard
from ionia.control.controller import Controller
from ionia.control.guard import SETTINGS_KEY, error_response, guard_middlewares, json_response
from ionia.control.hub import EventHub, lights
from ionia.control.metrics import CONTENT_TYPE, MetricsPage
from ionia.control.openapi import openapi_document
from ionia.control.security import Access
from ionia.errors import ConfigError

__all__ = ["API", "EVENTS_KEY", "build_app"]

API = "/api/v1"
#: a settings object is small; a larger body is refused before it is read
MAX_BODY = 64 * 1024

EVENTS_KEY = web.AppKey("events", EventHub)

Submit = Callable[[Callable[[], Any]], "concurrent.futures.Future[Any]"]


def build_app(controller: Controller, access: Access, submit: Submit) -> web.Application:
    app = web.Application(middlewares=guard_middlewares(access), client_max_size=MAX_BODY)
    hub = EventHub(controller.statistics)
    metrics_page = MetricsPage(controller.statistics)
    app[EVENTS_KEY] = hub

    async def run(call: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(submit(call))

    async def status(_request: web.Request) -> web.Response:
        return json_response(controller.status())

    async def statistics(_request: web.Request) -> web.Response:
        stats = controller.statistics()
        return json_response({**stats, "lights": lights(stats)})

    async def destinations(_request: web.Request) -> web.Response:
        return json_response(controller.statistics()["destinations"])

    async def destination(request: web.Request) -> web.Response:
        index = request.match_info["index"]
        found = controller.statistics()["destinations"]
        if not index.isdigit() or int(index) >= len(found):
            return error_response(
                404, "NotFound", f"no destination {index}: there are {len(found)}"
            )
        return json_response(found[int(index)])

    async def configure(request: web.Request) -> web.Response:
        settings = await _body(request)
        request[SETTINGS_KEY] = settings
        return json_response(await run(lambda: controller.configure(settings)))

    async def start(_request: web.Request) -> web.Response:
        return json_response(await run(controller.start))

    async def stop(_request: web.Request) -> web.Response:
        return json_response(await run(controller.stop))

    async def keyframe(_request: web.Request) -> web.Response:
        return json_response(await run(controller.keyframe))

    async def bitrate(request: web.Request) -> web.Response:
        body = await _body(request)
        request[SETTINGS_KEY] = body
        if "video_bitrate" not in body:
            raise ConfigError('video_bitrate is missing: {"video_bitrate": "2500k"}')
        return json_response(await run(lambda: controller.set_bitrate(body["video_bitrate"])))

    async def rotate(request: web.Request) -> web.Response:
        body = await _body(request)
        request[SETTINGS_KEY] = {k: None for k in body}  # the values are never echoed
        call = lambda: controller.rotate(body.get("url"), body.get("index", 0))  # noqa: E731
        return json_response(await run(call))

    async def reconnect(_request: web.Request) -> web.Response:
        return json_response(await run(controller.reconnect), status=202)

    async def openapi(_request: web.Request) -> web.Response:
        return json_response(openapi_document())

    async def metrics(_request: web.Request) -> web.Response:
        body = metrics_page.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app.add_routes(
        [
            web.get(f"{API}/status", status),
            web.get(f"{API}/statistics", statistics),
            web.get(f"{API}/destinations", destinations),
            web.get(f"{API}/destinations/{{index}}", destination),
            web.post(f"{API}/configure", configure),
            web.post(f"{API}/start", start),
            web.post(f"{API}/stop", stop),
            web.post(f"{API}/keyframe", keyframe),
            web.post(f"{API}/bitrate", bitrate),
            web.post(f"{API}/rotate", rotate),
            web.post(f"{API}/reconnect", reconnect),
            web.get(f"{API}/events", hub.handle),
            web.get(f"{API}/openapi.json", openapi),
            web.get("/metrics", metrics),
            *dashboard.routes(access),
        ]
    )
    return app


async def _body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object ({} when there is no body)."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json(loads=_loads)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ConfigError("the body must be a JSON object")
    return body


def _loads(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)
