from __future__ import annotations

import pytest

from ionia.errors import ConfigError
from ionia.output.url import MASK, parse_rtmp_url, redact

KEY = "live_123456789_AbCdEfGhIjKlMnOp"


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "app", "key", "tc_url"),
    [
        (f"rtmp://a.rtmp.youtube.com/live2/{KEY}", "rtmp", "a.rtmp.youtube.com", 1935, "live2",
         KEY, "rtmp://a.rtmp.youtube.com/live2"),
        (f"rtmps://live.twitch.tv:443/app/{KEY}", "rtmps", "live.twitch.tv", 443, "app", KEY,
         "rtmps://live.twitch.tv/app"),
        (f"RTMP://127.0.0.1:19350/live/{KEY}", "rtmp", "127.0.0.1", 19350, "live", KEY,
         "rtmp://127.0.0.1:19350/live"),
        (f"rtmp://host/app/instance/{KEY}?auth=x", "rtmp", "host", 1935, "app/instance",
         f"{KEY}?auth=x", "rtmp://host/app/instance"),
    ],
)  # fmt: skip
def test_parse(
    url: str, scheme: str, host: str, port: int, app: str, key: str, tc_url: str
) -> None:
    parsed = parse_rtmp_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.app, parsed.key) == (
        scheme, host, port, app, key,
    )  # fmt: skip
    assert parsed.tls == (scheme == "rtmps")
    assert parsed.tc_url == tc_url
    assert parsed.masked == f"{tc_url}/{MASK}"
    for shown in (repr(parsed), str(parsed), parsed.masked):
        assert KEY not in shown


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("", "no stream URL"),
        (f"http://host/live/{KEY}", "unsupported URL scheme"),
        (f"host/live/{KEY}", "no scheme"),
        (f"rtmp:///live/{KEY}", "no host"),
        (f"rtmp://host:99999/live/{KEY}", "bad port"),
        (f"rtmp://host:abc/live/{KEY}", "bad port"),
        ("rtmp://host/", "no application"),
        ("rtmp://host/live", "no stream key"),
    ],
)
def test_bad_urls_raise_config_error_without_the_key(url: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as caught:
        parse_rtmp_url(url)
    assert KEY not in str(caught.value)
    assert caught.value.exit_code == 2


def test_redact() -> None:
    text = f"failed rtmp://h/live/{KEY} and rtmps://h:1/a/b/{KEY}?x=1 (key {KEY})"
    out = redact(text, KEY)
    assert KEY not in out
    assert "rtmp://h/live/****" in out
    assert redact("publish name=other", "") == "publish name=other"


def test_redact_query_key() -> None:
    key = f"{KEY}?token=abc"
    out = redact(f"name {KEY} with {key}", key)
    assert KEY not in out and "abc" not in out


def test_ipv6_host_keeps_brackets() -> None:
    parsed = parse_rtmp_url(f"  rtmps://[::1]:8443/live/{KEY}  ")
    assert (parsed.host, parsed.port) == ("::1", 8443)
    assert parsed.tc_url == "rtmps://[::1]:8443/live"
