"""The dashboard: a page and its files, shipped in the package, reached with the token.

``/?token=…`` (the URL printed at start) sets a session cookie and redirects to ``/``, so
the token leaves the address bar and the history at once; the cookie is derived from the
token (``Access.session``), ``HttpOnly`` and ``SameSite=Strict``. The page's script talks
to the API and the event stream with that cookie. Nothing is fetched from the internet:
the chart library (uPlot, MIT, its licence beside it) is a file of this package.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from aiohttp import web

from ionia.control.security import SESSION_COOKIE, Access

__all__ = ["ASSETS", "routes"]

#: the files the page may load, and their types; nothing else is served from the package
ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "uPlot.LICENSE": "text/plain",
}
#: scripts and styles from this server only; no inline script, no frames, no other hosts
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _read(name: str) -> bytes:
    return resources.files("ionia.control").joinpath("static", name).read_bytes()


def routes(access: Access) -> list[Any]:
    async def index(request: web.Request) -> web.StreamResponse:
        if "token" in request.query:  # the guard checked it: trade it for the cookie
            response = web.Response(status=303, headers={"Location": "/"})
            response.set_cookie(
                SESSION_COOKIE, access.session, httponly=True, samesite="Strict", path="/"
            )
            return response
        return web.Response(
            body=_read("index.html"),
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": CSP},
        )

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        kind = ASSETS.get(name)
        if kind is None:
            raise web.HTTPNotFound()
        return web.Response(body=_read(name), content_type=kind, charset="utf-8")

    return [web.get("/", index), web.get("/static/{name}", asset)]
