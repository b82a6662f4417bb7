"""The aiohttp middlewares every request goes through: access, then errors as JSON.

``Host``, ``Origin`` and the token are checked before any handler runs, for every path
(the dashboard's files and ``/metrics`` included); a handler's error becomes a JSON body
with its type and, for a bad setting, the setting's name. Every body is masked
(``redact``) on its way out: a key that reached a message by a path nobody foresaw is
still not shown.
"""

from __future__ import annotations

import json
import logging
import queue
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ionia.control.security import SESSION_COOKIE, Access
from ionia.errors import (
    ConfigError,
    ConnectionFailed,
    IoniaError,
    PublishRejected,
    StateConflict,
)
from ionia.redact import redact
from ionia.worker import describe

__all__ = ["SETTINGS_KEY", "error_response", "guard_middlewares", "json_response"]

log = logging.getLogger("ionia.control")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: where a handler leaves the settings it was given, for naming the bad one in an error
SETTINGS_KEY = "ionia_settings"
#: paths that take the token in the query: the dashboard's link (as Jupyter's) and the
#: WebSocket, which a browser cannot give a header; the API wants the header
QUERY_TOKEN_PATHS = ("/", "/api/v1/events")

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def json_response(body: Any, status: int = 200) -> web.Response:
    text = redact(json.dumps(body, allow_nan=False))
    return web.Response(text=text, status=status, content_type="application/json")


def error_response(status: int, kind: str, message: str, **extra: Any) -> web.Response:
    return json_response({"error": {"type": kind, "message": message, **extra}}, status)


def guard_middlewares(access: Access) -> list[Any]:
    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if not response.prepared:  # a WebSocket's handshake went out already
            response.headers.update(_SECURITY_HEADERS)
        return response

    @web.middleware
    async def check_access(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not access.host_allowed(host):
            return error_response(403, "Forbidden", "this Host is not allowed (DNS rebinding?)")
        if not access.origin_allowed(request.headers.get("Origin"), host):
            return error_response(403, "Forbidden", "requests from another site are refused")
        query_token = request.query.get("token") if request.path in QUERY_TOKEN_PATHS else None
        if not access.token_valid(
            request.headers.get("Authorization"), query_token, request.cookies.get(SESSION_COOKIE)
        ):
            response = error_response(
                401, "Unauthorized",
                "a token is needed: open the URL printed at start, or send "
                "Authorization: Bearer <token>",
            )  # fmt: skip
            response.headers["WWW-Authenticate"] = 'Bearer realm="ionia"'
            return response
        return await handler(request)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except StateConflict as exc:
            return error_response(409, "StateConflict", redact(str(exc)))
        except ConfigError as exc:
            from ionia.control.controller import setting_of

            settings = request.get(SETTINGS_KEY) or {}
            message = redact(str(exc))
            return error_response(
                400, "ConfigError", message, setting=setting_of(message, settings)
            )
        except PublishRejected as exc:
            return error_response(502, "PublishRejected", redact(str(exc)), code=exc.code)
        except ConnectionFailed as exc:
            return error_response(502, "ConnectionFailed", redact(str(exc)))
        except IoniaError as exc:
            return error_response(500, type(exc).__name__, redact(str(exc)))
        except queue.Full:
            return error_response(503, "Busy", "too many commands waiting: try again")
        except Exception as exc:  # a bug: the client gets a 500, the log says which
            log.error("control API %s %s failed: %s", request.method, request.path, describe(exc))
            return error_response(500, "InternalError", "the request failed: see the log")

    return [headers, check_access, errors]
