from __future__ import annotations

import pytest

from ionia.errors import ConfigError
from ionia.redact import MASK, redact
from ionia.rtmp.url import parse_rtmp_url

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


def test_ipv6_host_keeps_brackets() -> None:
    parsed = parse_rtmp_url(f"  rtmps://[::1]:8443/live/{KEY}  ")
    assert (parsed.host, parsed.port) == ("::1", 8443)
    assert parsed.tc_url == "rtmps://[::1]:8443/live"


@pytest.mark.parametrize("port", [1, 1935, 65535])
def test_ports_1_to_65535_are_taken(port: int) -> None:
    assert parse_rtmp_url(f"rtmp://host:{port}/live/{KEY}").port == port


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        (f"rtmp://host:0/live/{KEY}", "bad port 0: use 1 to 65535"),
        (f"rtmps://host:0/live/{KEY}", "or none for 443"),
        (f"rtmp://host:65536/live/{KEY}", "bad port: use 1 to 65535"),
        (f"rtmp://host:-1/live/{KEY}", "bad port"),
        (f"rtmp://[::1/live/{KEY}", "bad host"),
        (f"rtmp://host/live/{KEY}#frag", "#fragment, which RTMP does not send"),
        (f"rtmp://host/live/{KEY}#", "#fragment"),
        (f"rtmp://host/live/{KEY}?a=1#frag", "#fragment"),
        (f"rtmp://user:pw-{KEY}@host/live/{KEY}", "user:password@ before the host"),
        (f"rtmp://user@host/live/{KEY}", "user:password@"),
        (f"rtmp://host/live/{KEY}\udcff", "stream key of the stream URL is not valid UTF-8"),
        (f"rtmp://host/live/{KEY}?t=\udce9", "stream key of the stream URL is not valid UTF-8"),
        (f"rtmp://host/li\udcffve/{KEY}", "application of the stream URL is not valid UTF-8"),
        (f"rtmp://h\udcffst/live/{KEY}", "host of the stream URL is not valid UTF-8"),
        (f"rtmp://host/live/{KEY[:5]} {KEY[5:]}", "stream key of the stream URL contains a space"),
        (f"rtmp://host/live/{KEY[:5]}\t{KEY[5:]}", "stream key .* contains a space"),
        (f"rtmp://host/live/{KEY[:5]}\n{KEY[5:]}", "stream key .* contains a space"),
        (f"rtmp://host/live/{KEY[:5]}\x00{KEY[5:]}", "stream key .* control character"),
        (f"rtmp://host/live/{KEY[:5]}\u200b{KEY[5:]}", "stream key .* invisible"),
        (f"rtmp://host/live/{KEY[:5]}\xa0{KEY[5:]}", "stream key .* contains a space"),
        (f"rtmp://host/li ve/{KEY}", "application of the stream URL contains a space"),
        (f"rtmp://ho\rst/live/{KEY}", "host of the stream URL contains"),
    ],
)
def test_unusable_urls_are_refused_without_echoing_them(url: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as caught:
        parse_rtmp_url(url)
    message = str(caught.value)
    assert KEY not in message and KEY[:5] not in message and KEY[5:] not in message
    assert "pw-" not in message
    message.encode("utf-8")  # printable anywhere: no surrogate from the URL in it


def test_a_parsed_key_is_masked_wherever_it_appears_later() -> None:
    parse_rtmp_url("rtmp://h/live/remembered-key-8812?token=tok-9931-abc")
    said = "server: remembered-key-8812 is not allowed (token tok-9931-abc)"
    assert redact(said) == "server: **** is not allowed (token ****)"
