"""The WHIP exchange's answers, from an endpoint that misbehaves (``whip_quirks``) and one
that refuses (the aiortc endpoint's ``reject_status``): each is its typed error, within
the timeout, naming no secret."""

import asyncio
import time

import aiohttp
import pytest

from ionia.errors import ConnectionFailed, PublishRejected
from ionia.whip.signaling import post_offer
from ionia.whip.url import parse_whip_url
from tests.fixtures.nginx import free_port

TOKEN = "whip-token-sEcReT-77"
OFFER = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def post(url: str, timeout: float = 2.0):
    async def go():
        async with aiohttp.ClientSession() as http:
            return await post_offer(http, parse_whip_url(url, TOKEN), OFFER, timeout)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("quirk", "error", "names"),
    [
        ("no-sdp", ConnectionFailed, "without an SDP answer"),
        ("huge", ConnectionFailed, "larger than"),
        ("silent", ConnectionFailed, "no answer to the offer within"),
        ("redirect-loop", PublishRejected, "redirected more than"),
    ],
)
def test_misbehaving_endpoints(quirky_whip, quirk, error, names):
    server = quirky_whip(quirk)
    started = time.monotonic()
    with pytest.raises(error, match=names) as caught:
        post(server.url, timeout=1.0)
    assert time.monotonic() - started < 3
    assert TOKEN not in str(caught.value) and "endpoint" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (401, PublishRejected, "401"),
        (403, PublishRejected, "403"),
        (404, PublishRejected, "404"),
        (415, PublishRejected, "415"),
        (500, ConnectionFailed, None),
        (503, ConnectionFailed, None),
    ],
)
def test_statuses_become_typed_errors(quirky_whip, status, error, code):
    server = quirky_whip("status", status)
    with pytest.raises(error) as caught:
        post(server.url)
    assert f"HTTP {status}" in str(caught.value)
    if code is not None:
        assert caught.value.code == code


def test_nothing_listening_is_a_quick_refusal():
    started = time.monotonic()
    with pytest.raises(ConnectionFailed, match="connection refused") as caught:
        post(f"http://127.0.0.1:{free_port()}/whip")
    assert caught.value.refused
    assert time.monotonic() - started < 1
