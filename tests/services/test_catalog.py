"""The services data file: every entry parses, has ingests whose URLs parse, and the
names ``--service`` and ``--ingest`` take resolve to the right server."""

from __future__ import annotations

import pytest

from ionia.errors import ConfigError
from ionia.rtmp.url import parse_rtmp_url
from ionia.services import find_service, load_services, service_url

YOUTUBE_KEY = "abcd-1234-efgh-5678-ijkl"
TWITCH_KEY = "live_123456789_AbCdEfGhIjKlMnOpQrStUvWxYz01"
REQUIRED = {"youtube", "twitch", "kick", "facebook", "cloudflare", "restream"}


def test_the_required_services_are_there():
    assert set(load_services()) >= REQUIRED


@pytest.mark.parametrize("sid", sorted(load_services()))
def test_every_entry_has_sources_limits_and_ingests_that_parse(sid):
    service = load_services()[sid]
    assert service.docs.startswith("https://") and service.name
    assert service.ingests, f"{sid} has no ingest"
    assert len({i.name for i in service.ingests}) == len(service.ingests)
    assert service.limits.codecs and "h264" in service.limits.codecs
    assert service.limits.keyint is not None
    if service.limits.max_keyint is not None:
        assert service.limits.keyint <= service.limits.max_keyint
    for ingest in service.ingests:
        url = parse_rtmp_url(service_url(service, "k" if not service.key_pattern else _key(sid),
                                         ingest=ingest.name))  # fmt: skip
        assert url.host and url.app and url.port > 0, ingest


def _key(sid: str) -> str:
    return {"youtube": YOUTUBE_KEY, "twitch": TWITCH_KEY}[sid]


def test_rtmps_comes_first_where_the_service_offers_it():
    services = load_services()
    for sid in ("youtube", "facebook", "kick", "cloudflare"):
        assert services[sid].ingests[0].url.startswith("rtmps://"), sid
    assert all(i.url.startswith("rtmps://") for i in services["facebook"].ingests)


def test_youtube_and_twitch_resolve_to_their_ingests():
    youtube, twitch = find_service("youtube"), find_service("Twitch")
    url = parse_rtmp_url(service_url(youtube, YOUTUBE_KEY))
    assert (url.scheme, url.host, url.port, url.app, url.key) == (
        "rtmps", "a.rtmps.youtube.com", 443, "live2", YOUTUBE_KEY,
    )  # fmt: skip
    backup = parse_rtmp_url(service_url(youtube, YOUTUBE_KEY, ingest="backup"))
    assert backup.host == "b.rtmps.youtube.com" and backup.key == f"{YOUTUBE_KEY}?backup=1"
    url = parse_rtmp_url(service_url(twitch, TWITCH_KEY))
    assert (url.host, url.app, url.key) == ("live.twitch.tv", "app", TWITCH_KEY)
    assert parse_rtmp_url(service_url(twitch, TWITCH_KEY, ingest="eu-london")).host == (
        "live-lhr.twitch.tv"
    )
    test = parse_rtmp_url(service_url(twitch, TWITCH_KEY, bandwidth_test=True))
    assert test.key == f"{TWITCH_KEY}?bandwidthtest=true"


def test_an_ingest_url_overrides_the_host_but_keeps_the_key_check():
    twitch = find_service("twitch")
    url = parse_rtmp_url(service_url(twitch, TWITCH_KEY, ingest="rtmp://127.0.0.1:1935/live"))
    assert (url.host, url.port, url.app, url.key) == ("127.0.0.1", 1935, "live", TWITCH_KEY)
    with pytest.raises(ConfigError, match="not shaped like a Twitch key"):
        service_url(twitch, "nope", ingest="rtmp://127.0.0.1:1935/live")


def test_unknown_service_and_ingest_say_what_exists():
    with pytest.raises(ConfigError, match=r"unknown service 'youtub'.*youtube, twitch"):
        find_service("youtub")
    with pytest.raises(ConfigError, match=r"no ingest 'mars'.*auto, us-east"):
        service_url(find_service("twitch"), TWITCH_KEY, ingest="mars")
