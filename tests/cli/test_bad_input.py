"""Every bad input is exit 2 with ``ionia: error:`` naming the setting, and nothing started.

The cases run the real command, as a process or, for the many flags refused before
anything starts, in this process through the same ``main()``: the point is what a user sees.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ionia.cli import stream, urls
from ionia.errors import ConfigError
from tests.fixtures.cli import SYNTHETIC, run_ionia, run_ionia_here

KEY = "live_123456_SeCrEtKeY"
URL = f"rtmp://127.0.0.1:1/live/{KEY}"  # nothing listens on port 1: a start would fail, not hang
ENV = {"PATH": "/usr/bin:/bin"}


def assert_refused(result, *needles: str) -> None:
    """Exit 2, one clear line naming the setting, no traceback, no key."""
    assert result.returncode == 2, result.stderr
    assert "ionia: error:" in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--duration", "-1"], "--duration -1 s is out of range: use more than 0 s"),
        (["--duration", "0"], "--duration 0 s is out of range"),
        (["--duration", "nan"], "--duration must be a number of seconds, not nan"),
        (["--duration", "inf"], "--duration must be a finite number of seconds, not inf"),
        (["--keyint", "nan"], "keyint"),
        (["--stall-timeout", "nan"], "stall timeout (--stall-timeout)"),
        (["--connect-timeout", "inf"], "connect timeout (--connect-timeout) inf s"),
        (["--stop-timeout", "-1"], "stop timeout (--stop-timeout) -1 s"),
        (["--buffer-ms", "10"], "buffer ms (--buffer-ms) 10 ms is out of range"),
        (["--buffer-packets", "1"], "buffer packets (--buffer-packets) 1 is out of range"),
        (["--reconnect-delay", "nan"], "reconnect delay (--reconnect-delay)"),
        (["--reconnect-max-delay", "inf"], "reconnect max delay (--reconnect-max-delay)"),
        (["--reconnect-attempts", "-1"], "reconnect attempts (--reconnect-attempts"),
        (["--system-gain", "inf"], "system gain (--system-gain) inf dB is out of range"),
        (["--mic-gain", "nan"], "mic gain (--mic-gain)"),
        (["--video-bitrate", "nan"], "--video-bitrate 'nan' is not a bitrate"),
        (["--video-bitrate", "9" * 400], "--video-bitrate must be a finite number"),
        (["--min-video-bitrate=-5k"], "--min-video-bitrate '-5k' is not a bitrate"),
        (["--monitor", "-1"], "monitor -1 is out of range"),
        (["--preset", "bogus"], "preset 'bogus' is not an x264 preset: use one of ultrafast"),
        (["--encoder", "x264", "--preset", "bogus"], "preset 'bogus' is not an x264 preset"),
    ],
)
def test_bad_numbers_exit_2_naming_the_flag(tmp_path, flags, needle):
    out = tmp_path / "out.flv"
    # in this process: these fail in argument checking, before anything could start
    assert_refused(run_ionia_here("stream", str(out), *SYNTHETIC, *flags), needle)
    assert not any(tmp_path.iterdir())  # nothing started, no probe left


def test_bad_duration_of_ionia_record(tmp_path):
    result = run_ionia("record", str(tmp_path / "x.mkv"), *SYNTHETIC, "--duration", "-1")
    assert_refused(result, "--duration -1 s is out of range")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        (f"rtmp://127.0.0.1:0/live/{KEY}", "bad port 0: use 1 to 65535"),
        (f"rtmp://127.0.0.1/live/{KEY}#part", "#fragment, which RTMP does not send"),
        (f"rtmp://bob:hunter2@127.0.0.1/live/{KEY}", "user:password@ before the host"),
        (f"rtmp://127.0.0.1/live/{KEY}\udcff", "stream key of the stream URL is not valid UTF-8"),
        (f"rtmp://127.0.0.1/live/{KEY[:4]}\t{KEY[4:]}", "stream key of the stream URL contains"),
        (f"rtmp://127.0.0.1/live/{KEY[:4]} {KEY[4:]}", "stream key of the stream URL contains"),
    ],
)
def test_bad_urls_exit_2_before_any_connection(url, needle):
    # a latin-1 byte on the command line reaches Python as '\udcff': the argument carries it
    result = run_ionia("stream", url, *SYNTHETIC)
    assert_refused(result, needle)
    assert "hunter2" not in result.stderr and KEY[4:] not in result.stderr


def test_a_non_utf8_key_in_rtmp_url_is_refused(tmp_path):
    result = run_ionia("stream", *SYNTHETIC, env={**ENV, "RTMP_URL": f"{URL}\udcff"}, cwd=tmp_path)
    assert_refused(result, "stream key of the stream URL is not valid UTF-8")


def test_config_json_that_cannot_be_read(tmp_path):
    (tmp_path / "config.json").mkdir()
    result = run_ionia("stream", *SYNTHETIC, env=ENV, cwd=tmp_path)
    assert_refused(result, "cannot read ./config.json: Is a directory")


@pytest.mark.parametrize("value", [[URL], 1935, {"url": URL}, True])
def test_rtmp_url_in_config_json_must_be_a_string(tmp_path, value):
    (tmp_path / "config.json").write_text(json.dumps({"rtmpUrl": value}))
    result = run_ionia("stream", *SYNTHETIC, env=ENV, cwd=tmp_path)
    assert_refused(
        result, "rtmpUrl in ./config.json must be a string URL like rtmp://host/app/<stream key>"
    )


def test_resolve_url_reports_the_os_reason(tmp_path, monkeypatch):
    # root reads anything whatever its mode bits, so the OS refusal is simulated here
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RTMP_URL", raising=False)
    (tmp_path / "config.json").write_text(json.dumps({"rtmpUrl": URL}))
    assert urls.resolve_url(None) == URL

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError, match=r"cannot read ./config.json: Permission denied$"):
        urls.resolve_url(None)


def test_config_json_null_or_blank_is_no_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RTMP_URL", raising=False)
    for value in (None, "", "  "):
        (tmp_path / "config.json").write_text(json.dumps({"rtmpUrl": value}))
        with pytest.raises(ConfigError, match="no stream URL"):
            urls.resolve_url(None)


def test_check_duration():
    assert stream.check_duration(None) is None
    assert stream.check_duration(2.5) == 2.5
    for bad in (0.0, -1.0, math.nan, math.inf, -math.inf):
        with pytest.raises(ConfigError, match="--duration"):
            stream.check_duration(bad)


def test_recording_into_the_stream_file_exits_2(tmp_path):
    (tmp_path / "out").mkdir()
    result = run_ionia("stream", "out/same.flv", "--record", "out/same.flv", *SYNTHETIC,
                       cwd=tmp_path)  # fmt: skip
    assert_refused(result, "--record out/same.flv is also a stream destination")
    result = run_ionia("stream", "out/a.flv", "./out/a.flv", *SYNTHETIC, cwd=tmp_path)
    assert_refused(result, "the same destination is given twice")
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("bad", ["/proc/x.mp4", "/sys/x.mp4", "{tmp}/dir.mp4", "{tmp}/no/x.mp4"])
def test_a_file_that_cannot_be_written_exits_2(tmp_path, bad):
    (tmp_path / "dir.mp4").mkdir()
    bad = bad.format(tmp=tmp_path)
    for args in (
        ["stream", URL, "--record", bad],
        ["record", bad],
        ["stream", bad],
    ):
        assert_refused(run_ionia(*args, *SYNTHETIC), f"cannot write {bad}")
    assert [p.name for p in tmp_path.iterdir()] == ["dir.mp4"]


def test_insecure_warns_once_at_start(tmp_path):
    url = f"rtmps://127.0.0.1:1/live/{KEY}"
    result = run_ionia("stream", url, "--insecure", "--connect-timeout", "1", *SYNTHETIC)
    assert result.returncode == 3, result.stderr  # nothing listens: connection failed
    warning = "TLS certificate verification is off (--insecure): the connection can be intercepted"
    assert result.stderr.count(warning) == 1
    assert KEY not in result.stderr
