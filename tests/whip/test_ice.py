import pytest

from ionia.errors import ConfigError
from ionia.redact import redact
from ionia.whip.ice import parse_ice_server


def test_stun_and_turn_with_credentials():
    assert parse_ice_server("stun:stun.example.com:3478").url == "stun:stun.example.com:3478"
    assert parse_ice_server("stun://stun.example.com").url == "stun:stun.example.com"
    turn = parse_ice_server("turn:alice:s3cr3t-pass@turn.example.com:3478?transport=tcp")
    assert turn.url == "turn:turn.example.com:3478?transport=tcp"
    assert (turn.username, turn.credential) == ("alice", "s3cr3t-pass")
    assert "s3cr3t-pass" not in repr(turn) and "s3cr3t-pass" not in str(turn)
    assert "s3cr3t-pass" not in redact("auth failed for s3cr3t-pass")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("http://x", "stun:host"),
        ("stun:", "no host"),
        ("stun:u:p@host", "no user:password"),
        ("turn:host:3478", "needs credentials"),
        ("turn:alice@host", "USER:PASSWORD"),
    ],
)
def test_bad_servers_are_refused_with_the_fix(text, names):
    with pytest.raises(ConfigError, match=names):
        parse_ice_server(text)
