"""Stream-key shapes: real-shaped keys pass, wrong ones are refused before any connection,
and no message shows the key."""

from __future__ import annotations

import pytest

from ionia import VideoAudioStreamer
from ionia.errors import ConfigError
from ionia.services import check_key, find_service
from tests.services.test_catalog import TWITCH_KEY, YOUTUBE_KEY


@pytest.mark.parametrize(
    ("sid", "key"),
    [
        ("youtube", YOUTUBE_KEY),
        ("youtube", "A1b2-C3d4-E5f6-G7h8-J9k0"),
        ("twitch", TWITCH_KEY),
        ("twitch", f"{TWITCH_KEY}?bandwidthtest=true"),
        ("kick", "sk_us-west-2_AbCdEf123456"),  # no documented shape: anything sane
        ("facebook", "FB-1234567890-0-AbCdEfGhIjKl"),
    ],
)
def test_real_shaped_keys_pass(sid, key):
    assert check_key(find_service(sid), key) == key


@pytest.mark.parametrize(
    ("sid", "key", "message"),
    [
        ("youtube", "abcd-1234-efgh-5678", "not shaped like a YouTube key"),
        ("youtube", "abcd_1234_efgh_5678_ijkl", "not shaped like a YouTube key"),
        ("youtube", TWITCH_KEY, "not shaped like a YouTube key"),
        ("twitch", YOUTUBE_KEY, "not shaped like a Twitch key"),
        ("twitch", "live_12x_Secret99", "not shaped like a Twitch key"),
        ("twitch", f" {TWITCH_KEY}\n", "spaces or a line break"),
        ("twitch", f"rtmp://live.twitch.tv/app/{TWITCH_KEY}", "not a URL"),
        ("kick", "", "no stream key for Kick"),
        ("kick", None, "STREAM_KEY"),
    ],
)
def test_wrong_keys_are_refused_without_echoing_them(sid, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        check_key(find_service(sid), key)
    text = str(info.value)
    if key and key.strip():
        assert key.strip() not in text
        assert key.strip()[5:] not in text  # not even the secret part


def test_a_wrong_key_fails_initialize_before_anything_connects():
    streamer = VideoAudioStreamer()
    with pytest.raises(ConfigError, match="not shaped like a Twitch key") as info:
        streamer.initialize(service="twitch", stream_key="live_1_bad key", video_source="testsrc")
    assert "bad key" not in str(info.value)
    with pytest.raises(ConfigError, match="go with service="):
        streamer.initialize("rtmp://example.com/app/KEYKEY", stream_key="x")
