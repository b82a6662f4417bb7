"""RtmpClient against real servers on loopback: nginx-rtmp, its TLS front, FFmpeg's listen mode."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest

from ionia.errors import ConfigError, ConnectionFailed, PublishRejected
from ionia.rtmp.client import RtmpClient
from ionia.rtmp.url import parse_rtmp_url
from tests.fixtures.flv import FlvClip, assert_clip_received, publish
from tests.fixtures.nginx import FfmpegListener, NginxRtmp, free_port

KEY = "secret-KEY-1234"
pytestmark = pytest.mark.timeout(20)


def test_publish_to_nginx_is_recorded_and_acknowledged(
    nginx_rtmp: Callable[..., NginxRtmp], flv_clip: FlvClip, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ionia.rtmp")
    server = nginx_rtmp(on_publish_key=KEY)
    # nginx-rtmp acknowledges only after the client sent Window Ack Size, every that many bytes.
    client = RtmpClient(parse_rtmp_url(server.url(KEY)), ack_window=16 * 1024)
    client.connect()
    assert client.connected
    assert client.server_info["code"] == "NetConnection.Connect.Success"
    publish(client, flv_clip)
    deadline = time.monotonic() + 3
    while client.bytes_acked < 16 * 1024 and time.monotonic() < deadline:
        client.poll(timeout=0.1)
    assert 16 * 1024 <= client.bytes_acked <= client.bytes_sent
    client.close()
    client.close()  # idempotent
    assert not client.connected

    assert_clip_received(server.recording(KEY), flv_clip)
    assert KEY not in caplog.text
    assert KEY not in repr(client)


def test_publish_to_ffmpeg_listen_mode(
    ffmpeg_listen: Callable[..., FfmpegListener], flv_clip: FlvClip
) -> None:
    listener = ffmpeg_listen(KEY)
    with RtmpClient(parse_rtmp_url(listener.url())) as client:
        client.connect()
        publish(client, flv_clip)
    assert_clip_received(listener.finish(), flv_clip)


def test_on_publish_denial_is_a_rejection(nginx_rtmp: Callable[..., NginxRtmp]) -> None:
    server = nginx_rtmp(on_publish_key="the-right-one")
    client = RtmpClient(parse_rtmp_url(server.url(KEY)))
    started = time.monotonic()
    with pytest.raises(PublishRejected) as caught:
        client.connect()
    assert time.monotonic() - started < 3
    assert caught.value.code == "connection closed"
    assert KEY not in str(caught.value)
    assert "****" in str(caught.value)
    assert not client.connected
    client.close()


def test_refused_port_fails_fast() -> None:
    client = RtmpClient(parse_rtmp_url(f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"))
    started = time.monotonic()
    with pytest.raises(ConnectionFailed, match="refused") as caught:
        client.connect()
    assert time.monotonic() - started < 5
    assert KEY not in str(caught.value)


def test_silent_server_times_out_in_handshake() -> None:
    with socket.socket() as silent:  # accepts TCP (backlog) but never speaks RTMP
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"rtmp://127.0.0.1:{silent.getsockname()[1]}/live/{KEY}"
        client = RtmpClient(parse_rtmp_url(url), connect_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="timed out") as caught:
            client.connect()
        assert 0.9 < time.monotonic() - started < 1.5
        assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("offset_ms", "compress"),
    [(0xFFFFFF - 2000, True), (0xFFFFFF - 2000, False), (0xFFFFFF + 5000, True)],
    ids=["crossing-deltas", "crossing-fmt0", "above-limit"],
)
def test_extended_timestamps(
    nginx_rtmp: Callable[..., NginxRtmp], flv_clip: FlvClip, offset_ms: int, compress: bool
) -> None:
    """fmt-0 headers past 0xFFFFFF carry the extended field, repeated on every fmt-3 chunk
    (chunk size 128 makes plenty); "above-limit" is a reconnect 4.7 hours into a stream."""
    server = nginx_rtmp(on_publish_key=None)
    url = parse_rtmp_url(server.url(KEY))
    with RtmpClient(url, chunk_size=128, compress_headers=compress) as client:
        client.connect()
        publish(client, flv_clip, offset_ms=offset_ms)
    # nginx records timestamps relative to the first frame: a desync would show as garbage.
    assert_clip_received(server.recording(KEY), flv_clip)


@pytest.mark.parametrize(
    ("options", "ok"),
    [({}, False), ({"use_ca": True}, True), ({"tls_verify": False}, True)],
    ids=["verify-fails", "ca-file", "no-verify"],
)
def test_rtmps_certificate_verification(
    nginx_rtmp: Callable[..., NginxRtmp], flv_clip: FlvClip, options: dict[str, bool], ok: bool
) -> None:
    server = nginx_rtmp(on_publish_key=KEY, tls=True)
    ca_file = server.ca_file if options.get("use_ca") else None
    tls_verify = options.get("tls_verify", True)
    client = RtmpClient(
        parse_rtmp_url(server.url(KEY, tls=True)), ca_file=ca_file, tls_verify=tls_verify
    )
    if not ok:
        with pytest.raises(ConnectionFailed, match="certificate verification failed") as caught:
            client.connect()
        assert "ca_file" in str(caught.value) and "tls_verify=False" in str(caught.value)
        assert "--ca-file PATH" in str(caught.value) and "--insecure" in str(caught.value)
        assert KEY not in str(caught.value)
        return
    with client:
        client.connect()
        publish(client, flv_clip)
    assert_clip_received(server.recording(KEY), flv_clip)


def test_stalled_server_is_detected_and_abort_unblocks(
    nginx_rtmp: Callable[..., NginxRtmp],
) -> None:
    server = nginx_rtmp(record=False, on_publish_key=None)
    client = RtmpClient(parse_rtmp_url(server.url(KEY)), io_timeout=1.0, send_buffer_bytes=16384)
    client.connect()
    server.sigstop()
    try:
        body = bytes([0x27, 1, 0, 0, 0]) + bytes(60_000)  # an inter frame nobody will decode
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="stalled for 1 s"):
            for i in range(10_000):
                client.send_video(i * 33, body)
        assert time.monotonic() - started < 10
        with pytest.raises(ConnectionFailed):  # the session is broken for good
            client.send_video(0, body)
        client.close(timeout=0.5)

        # abort() from another thread wakes a send blocked on a full socket
        blocked = RtmpClient(parse_rtmp_url(server.url("other")), io_timeout=15.0)
        server.sigcont()
        blocked.connect()
        server.sigstop()
        timer = threading.Timer(1.0, blocked.abort)
        timer.start()
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="aborted"):
            for i in range(10_000):
                blocked.send_video(i * 33, body)
        assert time.monotonic() - started < 3
        timer.join()
        blocked.abort()  # idempotent
        blocked.close()
    finally:
        server.sigcont()


def test_server_going_away_is_seen_by_poll(nginx_rtmp: Callable[..., NginxRtmp]) -> None:
    server = nginx_rtmp(record=False, on_publish_key=None)
    client = RtmpClient(parse_rtmp_url(server.url(KEY)))
    client.connect()
    client.poll()
    server.stop()
    with pytest.raises(ConnectionFailed, match="closed by server"):
        client.poll(timeout=3.0)
    assert not client.connected
    started = time.monotonic()
    client.close(timeout=0.5)
    assert time.monotonic() - started < 0.6


def test_status_error_and_unknown_app_are_rejections(nginx_rtmp: Callable[..., NginxRtmp]) -> None:
    server = nginx_rtmp(record=False, on_publish_key=None)
    with RtmpClient(parse_rtmp_url(server.url(KEY))) as first:
        first.connect()
        with pytest.raises(PublishRejected) as caught:  # nginx: "Already publishing"
            RtmpClient(parse_rtmp_url(server.url(KEY))).connect()
        assert caught.value.code == "NetStream.Publish.BadName"
        assert KEY not in str(caught.value)
    wrong_app = server.url(KEY).replace("/live/", "/nope/")
    with pytest.raises(PublishRejected, match="after 'connect'") as caught:
        RtmpClient(parse_rtmp_url(wrong_app)).connect()
    assert caught.value.code == "connection closed"


def test_misuse_is_reported_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = parse_rtmp_url(f"rtmps://127.0.0.1:{free_port()}/live/{KEY}")
    with pytest.raises(ConfigError, match="CA file"):
        RtmpClient(url, ca_file=str(tmp_path / "missing.pem")).connect()
    client = RtmpClient(url)
    with pytest.raises(ConnectionFailed):
        client.send_video(0, b"\x17")  # not connected
    client.close()
    with pytest.raises(RuntimeError, match="new one"):
        client.connect()


def test_new_client_after_server_kill_and_restart(
    nginx_rtmp: Callable[..., NginxRtmp], flv_clip: FlvClip
) -> None:
    """The reconnect story in miniature: a dead session fails loudly, a new instance is a
    fresh session on the restarted server (same port)."""
    server = nginx_rtmp(on_publish_key=KEY)
    url = parse_rtmp_url(server.url(KEY))
    old = RtmpClient(url)
    old.connect()
    server.kill()
    with pytest.raises(ConnectionFailed):
        old.poll(timeout=3.0)
        old.send_video(0, bytes(100_000))  # in case poll saw nothing yet: a send must fail
    old.close(timeout=0.2)
    server.restart()
    with RtmpClient(url) as new:
        new.connect()
        publish(new, flv_clip, offset_ms=60_000)  # the stream clock kept running
    assert_clip_received(server.recording(KEY), flv_clip)
