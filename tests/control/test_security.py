"""Nothing of the control server is reachable by anyone who should not reach it.

Against a real ``ionia serve``: every route wants the token; ``Host`` and ``Origin`` are
checked (DNS rebinding, another site's page); the dashboard's cookie is not the token; a
non-loopback address needs ``--allow-remote``.
"""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from tests.fixtures.cli import SYNTHETIC, run_ionia_here
from tests.fixtures.control import Client

ROUTES = [
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/statistics"),
    ("GET", "/api/v1/destinations"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/configure"),
    ("POST", "/api/v1/start"),
    ("POST", "/api/v1/stop"),
    ("POST", "/api/v1/keyframe"),
    ("POST", "/api/v1/bitrate"),
    ("POST", "/api/v1/rotate"),
    ("POST", "/api/v1/reconnect"),
    ("GET", "/api/v1/events"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/static/dashboard.js"),
    ("GET", "/static/../../etc/passwd"),
    ("GET", "/no/such/page"),
]


def ws_status(client: Client, headers: dict[str, str], query: str = "") -> int:
    """The status a WebSocket handshake gets (101 when it is accepted)."""

    async def connect() -> int:
        url = client.base_url.replace("http://", "ws://") + "/api/v1/events" + query
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers=headers) as ws:
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    return asyncio.run(connect())


def test_every_route_wants_the_token_and_a_trusted_host_and_origin(ionia_serve) -> None:
    client = ionia_serve().client
    body = {"fps": 30}
    for method, path in ROUTES:
        assert client.request(method, path, body, token=None).status == 401, path
        assert client.request(method, path, body, token="x" * 43).status == 401, path
    # the token goes in the header; in a query only the dashboard's link and the WebSocket
    assert client.get(f"/api/v1/status?token={client.token}", token=None).status == 401

    assert client.get("/api/v1/status").status == 200
    port = client.host.rpartition(":")[2]
    for host in (f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", "127.0.0.1:1", ""):
        reply = client.get("/api/v1/status", headers={"Host": host})
        assert reply.status == 403, host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert client.get("/api/v1/status", headers={"Host": host}).status == 200, host

    own = f"http://{client.host}"
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null", "file://"):
        reply = client.post("/api/v1/stop", headers={"Origin": origin})
        assert reply.status == 403, origin
        assert reply.json()["error"]["type"] == "Forbidden"
    assert client.post("/api/v1/stop", headers={"Origin": own}).status == 200

    bearer = {"Authorization": f"Bearer {client.token}"}
    assert ws_status(client, bearer) == 101
    assert ws_status(client, {}) == 401
    assert ws_status(client, {**bearer, "Origin": "http://evil.example"}) == 403
    assert ws_status(client, {"Origin": own}, f"?token={client.token}") == 101


def test_the_dashboard_link_trades_the_token_for_a_cookie_that_is_not_it(ionia_serve) -> None:
    client = ionia_serve().client
    reply = client.get(f"/?token={client.token}", token=None)
    assert reply.status == 303 and reply.headers["Location"] == "/"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    page = client.get("/", token=None, headers={"Cookie": session})
    assert page.status == 200 and "uPlot" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert client.get("/api/v1/status", token=None, headers={"Cookie": session}).status == 200
    forged = {"Cookie": "ionia_session=" + "0" * 64}
    assert client.get("/api/v1/status", token=None, headers=forged).status == 401
    assert client.get("/?token=wrong-token-wrong-token", token=None).status == 401
    assert all(client.token not in seen for seen in client.seen)


def test_a_given_token_is_used_and_never_printed(ionia_serve) -> None:
    token = "given-token-0123456789abcdef"
    serve = ionia_serve(env={"IONIA_CONTROL_TOKEN": token})
    assert serve.client.token == token
    assert serve.client.get("/api/v1/status").status == 200
    assert token not in serve.stderr


def test_a_non_loopback_address_needs_allow_remote(ionia_serve) -> None:
    for args in (["serve", "--listen", "0.0.0.0:0"],
                 ["stream", "rtmp://127.0.0.1:1/live/k", *SYNTHETIC, "--control", "0.0.0.0:0"],
                 ["serve", "--listen", "[::]:0"]):  # fmt: skip
        result = run_ionia_here(*args)
        assert result.returncode == 2, result
        assert "--allow-remote" in result.stderr
    assert run_ionia_here("serve", "--control-token", "short").returncode == 2
    assert run_ionia_here("serve", "--listen", "example.com:80").returncode == 2

    serve = ionia_serve("--listen", "0.0.0.0:0", "--allow-remote", "--allow-host", "box.lan")
    client = serve.client
    assert client.base_url.startswith("http://0.0.0.0:")
    port = client.host.rpartition(":")[2]
    for host in (f"127.0.0.1:{port}", f"box.lan:{port}", f"192.0.2.7:{port}"):
        assert client.get("/api/v1/status", headers={"Host": host}).status == 200, host
    assert client.get("/api/v1/status", headers={"Host": f"evil.example:{port}"}).status == 403
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.proc.wait(10) == 143
