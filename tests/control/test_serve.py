"""``ionia serve`` driven over HTTP and its WebSocket, streaming to a real nginx-rtmp.

One stream goes through the whole life a front end gives it: configure → start →
statistics flowing (HTTP and WebSocket) → a forced keyframe → a lower bitrate (in the
statistics and on the wire) → a new key → stop; everything that came back is then
grepped for the keys and the token.
"""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from ionia.analysis import analyze
from tests.fixtures.control import EventListener
from tests.fixtures.media import probe

KEY = "sEcReT-serve-key-1"
NEW_KEY = "sEcReT-serve-key-2"
SETTINGS = {
    "fps": 30,
    "video_bitrate": "2M",
    "audio_mode": "tone",
    "video_source": "testsrc",
    "size": "640x360",
    "keyint": 2,
}


def metrics(client) -> dict[str, float]:
    reply = client.get("/metrics")
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def test_configure_start_steer_rotate_stop(nginx_rtmp, ionia_serve) -> None:
    ingest = nginx_rtmp(on_publish_key=None)
    serve = ionia_serve()
    client = serve.client
    assert client.get("/api/v1/status").json()["state"] == "idle"
    assert client.post("/api/v1/start").status == 409  # nothing configured yet

    reply = client.post("/api/v1/configure", {"rtmp_url": ingest.url(KEY), **SETTINGS})
    assert reply.status == 200, reply.text
    assert reply.json()["destinations"] == [ingest.url("****")]
    events = EventListener(client)
    try:
        reply = client.post("/api/v1/start")
        assert reply.status == 200, reply.text
        assert reply.json()["state"] == "running"
        assert client.post("/api/v1/configure", SETTINGS).status == 409  # not while running

        # statistics flow, on both channels
        assert events.wait_for(lambda: "connected" in events.events()), events.messages
        assert events.wait_for(lambda: len(events.stats()) >= 3)
        first = metrics(client)
        assert first["ionia_running"] == 1
        stats = client.get("/api/v1/statistics").json()
        assert stats["destinations"][0]["connected"] and stats["lights"] == ["green"]
        assert client.get("/api/v1/destinations/0").json()["destination"] == ingest.url("****")
        assert client.get("/api/v1/destinations/1").status == 404

        before = stats["keyframes_forced"]
        reply = client.post("/api/v1/keyframe")
        assert reply.status == 200 and reply.json()["keyframes_forced"] >= before
        assert events.wait_for(lambda: events.stats()[-1]["keyframes_forced"] > before), (
            "the forced keyframe is not in the statistics"
        )

        time.sleep(2.0)  # two seconds at the first bitrate: bitrate_kbps covers 2 s
        high = client.get("/api/v1/statistics").json()["bitrate_kbps"]
        reply = client.post("/api/v1/bitrate", {"video_bitrate": "300k"})
        assert reply.status == 200, reply.text
        assert events.wait_for(lambda: events.stats()[-1]["video_bitrate_target"] == 300_000)
        time.sleep(2.5)
        low = client.get("/api/v1/statistics").json()["bitrate_kbps"]
        assert low < 0.6 * high, (high, low)
        assert client.post("/api/v1/bitrate", {"video_bitrate": "9M"}).status == 400  # > start

        reply = client.post("/api/v1/rotate", {"url": ingest.url(NEW_KEY)})
        assert reply.status == 200, reply.text
        assert reply.json() == {"index": 0, "destination": ingest.url("****")}
        assert client.post("/api/v1/reconnect").status == 202
        # a reconnect on loopback is over between two reads: the counter shows it
        assert events.wait_for(lambda: events.stats()[-1]["reconnects"] >= 1)
        # nginx records the reconnected publish over the new key's file: give it 2 s
        # (60 frames; the check below wants more than 30 after the session's start-up)
        time.sleep(2.0)

        later = metrics(client)
        for name in ("ionia_bytes_sent_total", "ionia_packets_sent_total", "ionia_frames_total"):
            assert later[name] > first[name], name
        assert later["ionia_encoder_fps"] > 15

        reply = client.post("/api/v1/stop")
        assert reply.status == 200 and reply.json()["state"] == "stopped"
        assert events.wait_for(lambda: "stopped" in events.events()), events.events()
        assert client.post("/api/v1/keyframe").status == 409
        assert metrics(client)["ionia_running"] == 0
    finally:
        events.close()
    assert events.error is None

    # what arrived: the first key's session, then the new key's, both clean
    for key in (KEY, NEW_KEY):
        got = probe(ingest.recording(key))
        assert got.decode_errors == 0, got.error_text
        assert got.codecs == {"video": "h264", "audio": "aac"}
    assert analyze(ingest.recording(NEW_KEY)).video_frames > 30

    # the page and its files, the OpenAPI document: nothing secret anywhere either
    for path in ("/", "/static/dashboard.js", "/api/v1/openapi.json", "/api/v1/status"):
        assert client.get(path).status == 200, path
    seen = "\n".join([*client.seen, *events.raw])
    for secret in (KEY, NEW_KEY, client.token):
        assert secret not in seen
    log = serve.stderr
    assert log.count(client.token) == 1, "the token is printed once, as the URL"
    assert KEY not in log and NEW_KEY not in log


def test_bad_settings_are_json_errors_naming_the_setting(ionia_serve) -> None:
    client = ionia_serve().client
    cases = {
        "fps": {"rtmp_url": "rtmp://127.0.0.1/live/k3y-abcdef", "fps": "30"},
        "video_bitrate": {"rtmp_url": "rtmp://127.0.0.1/live/k3y-abcdef", "video_bitrate": "lots"},
        "audio_mode": {"rtmp_url": "rtmp://127.0.0.1/live/k3y-abcdef", "audio_mode": "loud"},
        "buffer_ms": {"rtmp_url": "rtmp://127.0.0.1/live/k3y-abcdef", "buffer_ms": 1},
        "rtmp_url": {"rtmp_url": "rtmp://127.0.0.1/live/k3y abcdef"},
        "frobnicate": {"rtmp_url": "rtmp://127.0.0.1/live/k3y-abcdef", "frobnicate": 1},
    }
    for setting, body in cases.items():
        reply = client.post("/api/v1/configure", body)
        assert reply.status == 400, (setting, reply.text)
        error = reply.json()["error"]
        assert error["type"] == "ConfigError" and error["setting"] == setting, (setting, error)
        assert "k3y" not in reply.text
    for raw in (b"{not json", b"[1, 2]", b'{"fps": NaN}'):
        reply = client.request("POST", "/api/v1/configure", raw)
        assert reply.status == 400 and reply.json()["error"]["type"] == "ConfigError", raw
    assert client.get("/api/v1/status").json()["state"] == "idle"
