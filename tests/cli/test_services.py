"""``--service`` as a user runs it: the key from the environment, its shape checked before
any connection, and the stream at the service's ingest (nginx-rtmp standing in for it)."""

from __future__ import annotations

import os

from tests.fixtures.cli import SYNTHETIC, run_ionia, run_ionia_here
from tests.fixtures.media import probe
from tests.services.test_catalog import TWITCH_KEY


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RTMP_URL", "STREAM_KEY")}
    return {**env, **extra}


def test_service_streams_to_its_ingest_with_the_key_from_the_environment(nginx_rtmp, tmp_path):
    server = nginx_rtmp(on_publish_key=TWITCH_KEY)  # refuses any other key
    result = run_ionia(
        "stream", "--service", "twitch", "--ingest", f"rtmp://127.0.0.1:{server.port}/app",
        *SYNTHETIC, "--video-bitrate", "9M", "--duration", "1.5",
        env=_env(STREAM_KEY=TWITCH_KEY), cwd=tmp_path,
    )  # fmt: skip
    # nginx's application is "live": the app of the ingest given is used as is
    assert result.returncode == 4, result.stderr
    result = run_ionia(
        "stream", "--service", "twitch", "--ingest", f"rtmp://127.0.0.1:{server.port}/live",
        *SYNTHETIC, "--video-bitrate", "9M", "--duration", "1.5",
        env=_env(STREAM_KEY=TWITCH_KEY), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "more than Twitch takes: using its maximum, 6000000" in result.stderr
    assert TWITCH_KEY not in result.stdout + result.stderr
    got = probe(server.recording(TWITCH_KEY))
    assert got.decode_errors == 0 and got.video_frames >= 30, got
    assert got.codecs.get("video") == "h264"


def test_a_misshaped_key_is_refused_before_any_connection(nginx_rtmp, fault_proxy):
    server = nginx_rtmp(on_publish_key=None)
    proxy = fault_proxy(server.port)
    bad = "live_12345_has space"
    result = run_ionia(
        "stream", "--service", "twitch", "--ingest", f"rtmp://127.0.0.1:{proxy.port}/live",
        *SYNTHETIC, "--duration", "1", env=_env(STREAM_KEY=bad),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "not shaped like a Twitch key" in result.stderr
    assert "has space" not in result.stderr and proxy.connections == 0


def test_key_on_the_command_line_warns_and_no_key_says_where_to_put_it(caplog):
    result = run_ionia_here("stream", "--service", "youtube", "--key", "abc-x", *SYNTHETIC)
    assert result.returncode == 2 and "not shaped like a YouTube key" in result.stderr
    assert "any local user can read (ps)" in caplog.text
    assert "abc-x" not in result.stderr + caplog.text
    saved = os.environ.pop("STREAM_KEY", None)
    try:
        result = run_ionia_here("stream", "--service", "kick", *SYNTHETIC)
    finally:
        if saved is not None:
            os.environ["STREAM_KEY"] = saved
    assert result.returncode == 2 and "STREAM_KEY" in result.stderr
    result = run_ionia_here("stream", "rtmp://example.com/app/KEYKEY", "--key", "x")
    assert result.returncode == 2 and "go with --service" in result.stderr


def test_services_lists_every_service_with_its_ingest_and_limits():
    result = run_ionia_here("services")
    assert result.returncode == 0
    for line in ("youtube     YouTube", "twitch      Twitch", "kick", "facebook", "cloudflare",
                 "restream", "rtmps://a.rtmps.youtube.com:443/live2", "video ≤ 6000k"):  # fmt: skip
        assert line in result.stdout, line
