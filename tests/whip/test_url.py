import pytest

from ionia.errors import ConfigError
from ionia.redact import redact
from ionia.whip.url import is_whip_url, parse_whip_url


def test_masked_form_hides_the_last_segment_query_and_token():
    url = parse_whip_url("https://ingest.example.com:8443/whip/abc?x=1", "tok-123456789")
    assert url.masked == "https://ingest.example.com:8443/whip/****"
    for shown in (str(url), repr(url), url.masked):
        assert "abc" not in shown and "tok-123456789" not in shown
    assert url.token == "tok-123456789"
    assert url.url == "https://ingest.example.com:8443/whip/abc?x=1"
    # the token is remembered: a library's message that names it is masked
    assert "tok-123456789" not in redact("401 for Bearer tok-123456789")


def test_a_key_like_path_segment_is_secret_everywhere():
    key = "a1b2c3d4e5f6a7b8c9d0e1f2"
    url = parse_whip_url(f"https://customer.example.com/{key}/webRTC/publish")
    assert key not in url.masked  # not in the shown path either
    assert key not in redact(f"cannot reach https://customer.example.com/{key}/webRTC")


def test_loopback_endpoints_are_known():
    assert parse_whip_url("http://127.0.0.1:8889/whip").loopback
    assert parse_whip_url("http://localhost/whip").loopback
    assert parse_whip_url("http://[::1]:80/whip").loopback
    assert not parse_whip_url("https://example.com/whip").loopback


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("http:///whip", "no host"),
        ("http://host:99999/whip", "bad host or port"),
        ("https://user:pw@host/whip", "Bearer token"),
        ("https://host/wh ip", "space"),
    ],
)
def test_bad_urls_say_what_is_wrong_without_echoing(text, names):
    with pytest.raises(ConfigError, match=names) as caught:
        parse_whip_url(text)
    assert "pw" not in str(caught.value)


def test_only_http_and_https_are_whip():
    assert is_whip_url("HTTPS://host/whip") and is_whip_url(" http://h/w")
    assert not is_whip_url("rtmp://host/app/key") and not is_whip_url("out.mp4")
