"""Which codecs a server takes, from its connect result and its Publish.Start: real
nginx-rtmp and FFmpeg's listen mode, then the rules on what other servers say."""

import contextlib
import threading

import pytest

from ionia.errors import ConnectionFailed
from ionia.receiver import receive
from ionia.rtmp.capabilities import video_codecs
from ionia.rtmp.client import RtmpClient
from ionia.rtmp.url import parse_rtmp_url
from tests.fixtures.nginx import free_port

KEY = "caps-key"


def test_nginx_rtmp_is_known_to_take_h264_only(nginx_rtmp):
    server = nginx_rtmp(on_publish_key=KEY, record=False)
    client = RtmpClient(parse_rtmp_url(server.url(KEY)))
    client.fourcc_list = ("hvc1",)  # nginx-rtmp ignores it: no fourCcList in its answer
    try:
        client.connect()
        assert video_codecs(client.server_info, client.publish_info) == ("h264",)
    finally:
        client.close()


def test_ffmpeg_listen_mode_does_not_say(tmp_path):
    url = f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"

    def listen() -> None:
        with contextlib.suppress(ConnectionFailed):  # we leave without sending media
            receive(url, tmp_path / "x.mkv", listen_timeout=5)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    client = None
    for _ in range(50):
        client = RtmpClient(parse_rtmp_url(url))
        client.fourcc_list = ("hvc1",)
        try:
            client.connect()
            break
        except ConnectionFailed:  # not listening yet
            listener.join(0.1)
    assert client is not None and client.connected
    try:
        # it answers connect as nginx-rtmp does, but takes HEVC: unknown, so we send it
        assert video_codecs(client.server_info, client.publish_info) is None
    finally:
        client.close()
    listener.join(5)


@pytest.mark.parametrize(
    ("server_info", "expected"),
    [
        ({"fourCcList": ["hvc1", "av01", "vp09"]}, ("h264", "hevc", "av1")),
        ({"fourCcList": ["*"]}, ("h264", "hevc", "av1")),
        ({"fourCcList": []}, ("h264",)),
        ({"videoFourCcInfoMap": {"av01": 1.0}}, ("h264", "av1")),
        ({"fmsVer": "FMS/3,0,1,123"}, None),
    ],
)
def test_what_a_server_lists_wins(server_info, expected):
    # a listing overrides the nginx-rtmp description: a fork with Enhanced RTMP says so
    assert video_codecs(server_info, {"description": "Start publishing"} if expected else {}) == (
        expected
    )
