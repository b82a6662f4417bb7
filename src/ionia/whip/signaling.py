"""The WHIP HTTP exchange: POST the offer, take the answer and the session's resource,
DELETE it at the end. Status codes become the engine's errors:

- 401/403 (the token), 404/405/415/4xx (the URL or what we sent) → ``PublishRejected``;
- no answer, a refused connection, 5xx, a 201 without an SDP answer → ``ConnectionFailed``
  (a server that cannot take the session now may take the next attempt).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from ionia.errors import ConnectionFailed, PublishRejected
from ionia.redact import redact
from ionia.whip.url import WhipUrl

log = logging.getLogger("ionia.whip")

#: the most of an answer read: an SDP is a few kilobytes; a server cannot grow our memory
MAX_ANSWER_BYTES = 256 * 1024
#: a POST may be redirected (RFC 9725 §4.5) at most this many times
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Answer:
    sdp: str
    #: the session's resource (absolute), to DELETE at the end; None if the server gave none
    resource: str | None


def _headers(url: WhipUrl, content_type: str | None = None) -> dict[str, str]:
    headers = {"User-Agent": "Ionia"}
    if content_type:
        headers["Content-Type"] = content_type
    if url.token:
        headers["Authorization"] = f"Bearer {url.token}"
    return headers


def _failed(url: WhipUrl, what: str, *, refused: bool = False) -> ConnectionFailed:
    return ConnectionFailed(f"{url.masked}: {redact(what)}", refused=refused)


async def post_offer(
    http: aiohttp.ClientSession, url: WhipUrl, offer: str, timeout: float
) -> Answer:
    """POST ``offer``; the answer and the resource, or the error the status says."""
    try:
        async with asyncio.timeout(timeout):
            async with http.post(
                url.url,
                data=offer.encode(),
                headers=_headers(url, "application/sdp"),
                max_redirects=MAX_REDIRECTS,
            ) as response:
                status = response.status
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        break
                location = response.headers.get("Location")
                final_url = str(response.url)
                content_type = response.headers.get("Content-Type", "")
    except TimeoutError:
        raise _failed(url, f"no answer to the offer within {timeout:g} s") from None
    except aiohttp.TooManyRedirects:
        raise PublishRejected(
            f"{url.masked}: redirected more than {MAX_REDIRECTS} times", code="redirects"
        ) from None
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        what = "nothing listens there (connection refused)" if refused else str(exc.os_error)
        raise _failed(url, f"cannot connect: {what}", refused=refused) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise _failed(url, f"the offer was not answered: {exc or type(exc).__name__}") from None
    if status in (401, 403):
        raise PublishRejected(
            f"{url.masked}: the server refused the token (HTTP {status}): check "
            "--whip-token / WHIP_TOKEN",
            code=str(status),
        )
    if status >= 500:
        raise _failed(url, f"the server failed to take the session (HTTP {status})")
    if status != 201 and status != 200:
        reason = {404: "no WHIP endpoint at this URL", 415: "it does not take application/sdp"}
        raise PublishRejected(
            f"{url.masked}: the server refused the offer (HTTP {status}"
            f"{': ' + reason[status] if status in reason else ''})",
            code=str(status),
        )
    if len(body) > MAX_ANSWER_BYTES:
        raise _failed(url, f"the answer is larger than {MAX_ANSWER_BYTES // 1024} KiB")
    sdp = body.decode("utf-8", "replace")
    if "application/sdp" not in content_type.lower() or not sdp.startswith("v=0"):
        raise _failed(url, f"HTTP {status} without an SDP answer")
    if location is None:
        log.warning("%s: the server gave no Location: the session cannot be ended", url.masked)
    resource = urljoin(final_url, location) if location else None
    return Answer(sdp=sdp, resource=resource)


async def delete_resource(
    http: aiohttp.ClientSession, url: WhipUrl, resource: str, timeout: float
) -> None:
    """End the session on the server (best effort: it also times the session out)."""
    try:
        async with asyncio.timeout(timeout):
            async with http.delete(resource, headers=_headers(url)) as response:
                if response.status >= 300:
                    log.info("%s: DELETE answered HTTP %d", url.masked, response.status)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        log.info("%s: the session could not be ended: %s", url.masked, redact(str(exc)))
