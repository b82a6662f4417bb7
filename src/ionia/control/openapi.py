"""The control API's OpenAPI 3.1 description, served at ``/api/v1/openapi.json``.

Written by hand, next to the routes, and checked against them by the tests (every route
described, nothing described that is not routed): aiohttp generates none, and a
generator's guesses would describe the JSON less precisely than these lines.
"""

from __future__ import annotations

from typing import Any

from ionia import __version__
from ionia.control.events import EVENTS

__all__ = ["openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "examples": ["ConfigError", "StateConflict"]},
                "message": {"type": "string"},
                "setting": {"type": ["string", "null"], "description": "the bad setting"},
                "code": {"type": "string", "description": "PublishRejected: the server's"},
            },
        }
    },
}
_STATUS = {
    "type": "object",
    "properties": {
        "state": {"enum": ["idle", "configured", "running", "stopped", "failed"]},
        "managed": {"type": "boolean"},
        "running": {"type": "boolean"},
        "connected": {"type": "boolean"},
        "backpressure": {"type": "boolean"},
        "destinations": {"type": "array", "items": {"type": "string"}},
        "record": {"type": ["string", "null"]},
        "encoder": {"type": "string"},
        "error": {"type": ["string", "null"]},
    },
}
_OBJECT = {"type": "object"}


def _json(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "a bad setting or body (ConfigError, naming the setting)",
        409: "not now: the stream's state does not allow it (StateConflict)",
        502: "the ingest refused or could not be reached (PublishRejected, ConnectionFailed)",
        500: "an encoder or capture failure, or a bug",
    }
    return {str(c): _json(_ERROR, texts[c]) for c in codes}


def _command(summary: str, result: dict[str, Any], *codes: int, body: Any = None) -> Any:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": _json(result, "done"), **_errors(*codes)},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return {"post": operation}


def _read(summary: str, result: dict[str, Any]) -> Any:
    return {"get": {"summary": summary, "responses": {"200": _json(result, "the figures")}}}


def openapi_document() -> dict[str, Any]:
    bitrate = {"type": ["integer", "string"], "examples": [2_500_000, "2500k"]}
    paths = {
        "/api/v1/status": _read("The stream's state", _STATUS),
        "/api/v1/statistics": _read(
            "get_statistics() (docs/statistics.md) plus encoder_fps, buffer_limit_ms, "
            "video_bitrate_max, state and a congestion light per destination",
            _OBJECT,
        ),
        "/api/v1/destinations": _read("Each destination's statistics", {"type": "array"}),
        "/api/v1/destinations/{index}": {
            "get": {
                "summary": "One destination's statistics",
                "parameters": [
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {
                    "200": _json(_OBJECT, "the figures"),
                    "404": _json(_ERROR, "no such destination"),
                },
            }
        },
        "/api/v1/configure": _command(
            "Settings, as initialize()'s keywords (rtmp_url, fps, video_bitrate, ...), "
            "checked as initialize() checks them; nothing is opened",
            _STATUS,
            400,
            409,
            body={"type": "object"},
        ),
        "/api/v1/start": _command("Open everything and start streaming", _STATUS, 409, 502, 500),
        "/api/v1/stop": _command("Drain and stop (idempotent)", _STATUS),
        "/api/v1/keyframe": _command(
            "A keyframe at the next frame",
            {"type": "object", "properties": {"keyframes_forced": {"type": "integer"}}},
            409,
        ),
        "/api/v1/bitrate": _command(
            "The video bitrate from the next frame, up to the one the stream started with",
            {
                "type": "object",
                "properties": {
                    "video_bitrate": {"type": "integer"},
                    "video_bitrate_max": {"type": "integer"},
                },
            },
            400,
            409,
            body={
                "type": "object",
                "required": ["video_bitrate"],
                "properties": {"video_bitrate": bitrate},
            },
        ),
        "/api/v1/rotate": _command(
            "Move a destination to a new URL or key without a gap; the key is never echoed",
            {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "destination": {"type": "string"}},
            },
            400,
            409,
            502,
            body={
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string", "writeOnly": True},
                    "index": {"type": "integer", "default": 0},
                },
            },
        ),
        "/api/v1/reconnect": {
            "post": {
                "summary": "Drop every session and reconnect now",
                "responses": {"202": _json(_OBJECT, "reconnecting"), **_errors(409)},
            }
        },
        "/api/v1/events": {
            "get": {
                "summary": "WebSocket: {type: stats} at 2 Hz and {type: event} messages",
                "description": "events: " + ", ".join(EVENTS),
                "responses": {"101": {"description": "switching to the WebSocket protocol"}},
            }
        },
        "/api/v1/openapi.json": _read("This document", _OBJECT),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/": {
            "get": {
                "summary": "The dashboard (?token= once, then a session cookie)",
                "responses": {
                    "200": {"description": "the page"},
                    "303": {"description": "token traded for the cookie"},
                },
            }
        },
        "/static/{name}": {
            "get": {
                "summary": "The dashboard's files",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "the file"}},
            }
        },
    }
    for item in paths.values():
        for operation in item.values():
            operation["responses"].setdefault("401", _json(_ERROR, "no or a wrong token"))
            operation["responses"].setdefault("403", _json(_ERROR, "a foreign Host or Origin"))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ionia control API", "version": __version__},
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "ionia_session"},
            }
        },
        "security": [{"token": []}, {"session": []}],
        "paths": paths,
    }
