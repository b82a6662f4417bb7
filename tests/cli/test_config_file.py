"""``--config FILE``: precedence command line > environment > file > defaults (with
./config.json's ``rtmpUrl`` last), unknown keys named, and ``ionia config check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ionia.cli.config_cmd import with_config_file
from ionia.cli.main import build_parser
from ionia.cli.stream import configure
from ionia.config import StreamConfig
from ionia.errors import ConfigError
from tests.fixtures.cli import run_ionia_here
from tests.services.test_catalog import TWITCH_KEY

FILE_URL = "rtmp://file.example.com/live/FILEKEY1"
ENV_URL = "rtmp://env.example.com/live/ENVKEY22"
CLI_URL = "rtmp://cli.example.com/live/CLIKEY33"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def make(text: str, *argv: str, **env: str) -> StreamConfig:
        for name in ("RTMP_URL", "STREAM_KEY"):
            if name in env:
                monkeypatch.setenv(name, env[name])
            else:
                monkeypatch.delenv(name, raising=False)
        path = tmp_path / "stream.toml"
        path.write_text(text)
        path.chmod(0o600)
        parser = build_parser()
        line = ["stream", "--config", str(path), "--video", "testsrc", "--audio", "tone", *argv]
        streamer, _ = configure(with_config_file(parser, line, path))
        return streamer.config

    return make


def _host(config: StreamConfig) -> str:
    url = config.destination.url
    assert url is not None
    return url.host


def test_the_file_beats_the_defaults_and_the_command_line_beats_the_file(settings):
    text = f'url = "{FILE_URL}"\nfps = 24\nvideo-bitrate = "2500k"\nkeyint = 1\nloop = true\n'
    config = settings(text)
    assert (config.fps, config.video_bitrate, config.encoding.keyint_s) == (24, 2_500_000, 1)
    assert config.loop is True and _host(config) == "file.example.com"
    # the command line wins, even when it says what the default says
    assert settings(text, "--fps", "30").fps == 30
    assert settings(text, "--video-bitrate", "3M").video_bitrate == 3_000_000
    assert settings(f'url = "{FILE_URL}"\n').fps == StreamConfig.fps


def test_the_environment_comes_between_the_command_line_and_the_file(settings):
    text = f'url = "{FILE_URL}"\n'
    assert _host(settings(text)) == "file.example.com"
    assert _host(settings(text, RTMP_URL=ENV_URL)) == "env.example.com"
    assert _host(settings(text, CLI_URL, RTMP_URL=ENV_URL)) == "cli.example.com"
    # the key: --key > $STREAM_KEY > the file's
    service = 'service = "twitch"\ningest = "rtmp://127.0.0.1:1935/live"\n'
    in_file = f'{service}key = "{TWITCH_KEY}"\n'
    url = settings(in_file).destination.url
    assert url is not None and (url.host, url.key) == ("127.0.0.1", TWITCH_KEY)
    url = settings(in_file, STREAM_KEY="live_9_FromEnv").destination.url
    assert url is not None and url.key == "live_9_FromEnv"
    url = settings(in_file, "--service", "twitch", "--key", "live_8_FromCli").destination.url
    assert url is not None and url.key == "live_8_FromCli"


def test_config_json_rtmp_url_is_still_the_last_resort(settings, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"rtmpUrl": FILE_URL.replace("file", "js")}))
    assert _host(settings("fps = 25\n")) == "js.example.com"
    assert _host(settings(f'url = "{FILE_URL}"\n')) == "file.example.com"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('vidoe-bitrate = "3M"\n', "unknown key 'vidoe-bitrate'"),
        ("[media]\nfps = 30\n", "unknown key 'media'"),
        ('fps = "fast"\n', "fps must be a whole number"),
        ('loop = "yes"\n', "loop must be true or false"),
        ('fit = "zoom"\n', "fit must be one of pad, crop, stretch"),
        ("url = 5\n", "url must be a URL or a list of URLs"),
        ("fps = [30]\n", "fps must be a single value"),
        ("fps = 30\nfps = 31\n", "not valid TOML"),
    ],
)
def test_unknown_keys_and_wrong_values_name_the_key(settings, text, message):
    with pytest.raises(ConfigError, match=message):
        settings(f'url = "{FILE_URL}"\n' + text if "url" not in text else text)


def test_config_check_validates_without_streaming(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("STREAM_KEY", raising=False)
    good = tmp_path / "good.toml"
    good.write_text(
        f'service = "twitch"\nkey = "{TWITCH_KEY}"\nvideo = "testsrc"\nvideo-bitrate = "8M"\n'
    )
    good.chmod(0o644)
    result = run_ionia_here("config", "check", str(good))
    assert result.returncode == 0, result.stderr
    assert "OK — rtmp://live.twitch.tv/app/**** (twitch)" in result.stdout
    assert "video 6000k" in result.stdout  # clamped to Twitch's maximum
    assert TWITCH_KEY not in result.stdout + result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(f'service = "twitch"\nkey = "{TWITCH_KEY}"\nkeyint = 5\n')
    result = run_ionia_here("config", "check", str(bad))
    assert result.returncode == 2 and "keyint 5 s is more than Twitch accepts" in result.stderr
    result = run_ionia_here("config", "check", str(tmp_path / "missing.toml"))
    assert result.returncode == 2 and "config file not found" in result.stderr


def test_a_readable_file_with_a_key_is_warned_about(settings, caplog, tmp_path):
    path = tmp_path / "shared.toml"
    path.write_text(f'service = "twitch"\nkey = "{TWITCH_KEY}"\n')
    path.chmod(0o644)
    from ionia.cli.config_cmd import stream_parser
    from ionia.cli.config_file import load_config_file

    load_config_file(path, stream_parser(build_parser()))
    assert "other users can read it: chmod 600" in caplog.text
    assert TWITCH_KEY not in caplog.text
