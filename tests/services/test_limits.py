"""Settings over a service's limits: clamped with a warning, or refused where the service
would refuse the stream."""

from __future__ import annotations

import logging

import pytest

from ionia.config import StreamConfig
from ionia.errors import ConfigError
from ionia.services import StreamShape, find_service, fit_limits
from tests.services.test_catalog import TWITCH_KEY, YOUTUBE_KEY

SHAPE = StreamShape(video_bitrate=4_500_000, audio_bitrate=160_000, fps=30, keyint_s=2.0)


def test_within_the_limits_nothing_changes(caplog):
    with caplog.at_level(logging.WARNING):
        assert fit_limits(find_service("twitch"), SHAPE) == SHAPE
    assert caplog.records == []


def test_bitrates_and_fps_over_the_maxima_are_clamped_with_a_warning(caplog):
    over = StreamShape(video_bitrate=9_000_000, audio_bitrate=256_000, fps=120, keyint_s=2)
    with caplog.at_level(logging.WARNING):
        fitted = fit_limits(find_service("facebook"), over)
    assert (fitted.video_bitrate, fitted.audio_bitrate, fitted.fps) == (9_000_000, 128_000, 60)
    assert "audio bitrate 256000 bit/s is more than Facebook Live takes" in caplog.text
    assert "fps 120 fps" in caplog.text
    assert fit_limits(find_service("twitch"), over).video_bitrate == 6_000_000


@pytest.mark.parametrize(
    ("sid", "shape", "message"),
    [
        ("twitch", StreamShape(video_bitrate=1, audio_bitrate=1, fps=30, keyint_s=4),
         "keyint 4 s is more than Twitch accepts"),
        ("youtube", StreamShape(video_bitrate=1, audio_bitrate=1, fps=30, keyint_s=5),
         "2 s"),
        ("twitch", StreamShape(video_bitrate=1, audio_bitrate=1, fps=30, keyint_s=2,
                               codec="av1"), "Twitch does not ingest av1"),
        ("facebook", StreamShape(video_bitrate=1, audio_bitrate=1, fps=30, keyint_s=2,
                                 size=(2560, 1440)), "larger than Facebook Live takes"),
    ],
)  # fmt: skip
def test_what_the_service_would_refuse_is_an_error(sid, shape, message):
    with pytest.raises(ConfigError, match=message):
        fit_limits(find_service(sid), shape)


def test_the_config_is_fitted_to_the_service():
    config = StreamConfig.create(
        service="twitch", stream_key=TWITCH_KEY, video_bitrate="8M", video_source="testsrc"
    )
    assert config.video_bitrate == 6_000_000 and config.service == "twitch"
    url = config.destination.url
    assert url is not None and url.host == "live.twitch.tv" and url.key == TWITCH_KEY
    with pytest.raises(ConfigError, match="keyint 3 s is more than Twitch"):
        StreamConfig.create(service="twitch", stream_key=TWITCH_KEY, keyint=3)
    # a service beside a URL: both are destinations, the service's limits apply
    both = StreamConfig.create(
        "rtmp://example.com/app/OTHERKEY", service="youtube", stream_key=YOUTUBE_KEY
    )
    assert [d.url.host for d in both.destinations if d.url] == [
        "a.rtmps.youtube.com", "example.com",
    ]  # fmt: skip


def test_a_codec_the_service_does_not_ingest_is_refused_at_initialize():
    with pytest.raises(ConfigError, match="Twitch does not ingest hevc"):
        StreamConfig.create(service="twitch", stream_key=TWITCH_KEY, codec="hevc")
    config = StreamConfig.create(service="youtube", stream_key=YOUTUBE_KEY, codec="hevc")
    assert config.encoding.codec == "hevc"
