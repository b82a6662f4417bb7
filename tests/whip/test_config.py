"""WHIP destinations through the one settings object and the command line."""

import pytest

from ionia.config import StreamConfig
from ionia.errors import ConfigError
from tests.fixtures.cli import run_ionia_here

TOKEN = "cfg-whip-token-31415"


def test_a_whip_url_is_a_destination_with_its_token():
    config = StreamConfig.create(
        ["http://127.0.0.1:8889/whip/live", "rtmp://host/app/key-123456"], whip_token=TOKEN
    )
    whip, rtmp = config.destinations
    assert whip.whip is not None and whip.whip.token == TOKEN and whip.is_network
    assert rtmp.url is not None and rtmp.whip is None
    assert TOKEN not in repr(config)
    # adaptive "auto" follows the WebRTC receiver with a WHIP destination, else stays off
    assert config.adaptive_bitrate == "shared"
    assert StreamConfig.create("rtmp://host/app/key-123456").adaptive_bitrate == "off"


def test_ice_servers_are_parsed_and_whip_takes_only_h264():
    config = StreamConfig.create(
        "https://host/whip", ice_servers=["stun:stun.example.com", "turn:u:p4ssw0rd@t.example"]
    )
    assert [s.url for s in config.ice_servers] == ["stun:stun.example.com", "turn:t.example"]
    with pytest.raises(ConfigError, match="WHIP destination takes H"):
        StreamConfig.create("https://host/whip", codec="av1")
    with pytest.raises(ConfigError, match="WHIP token") as caught:
        StreamConfig.create("https://host/whip", whip_token=12345)  # type: ignore[arg-type]
    assert "12345" not in str(caught.value)


def test_bad_ice_server_on_the_command_line_exits_2():
    result = run_ionia_here(
        "stream", "http://127.0.0.1:9/whip", "--ice-server", "turn:host:3478",
        "--video", "testsrc", "--audio", "none",
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs credentials" in result.stderr and "Traceback" not in result.stderr
