"""Events and congestion lights from successive statistics snapshots."""

from __future__ import annotations

from typing import Any

from ionia.control.events import EVENTS, Light, Watcher, congestion_light

WHERE = "rtmp://ingest/live/****"


def snapshot(running: bool = True, **dest: Any) -> dict[str, Any]:
    figures = {"destination": WHERE, "recording": False, "connected": True, "failed": False,
               "backpressure": False, "congestion": 0.0, "video_packets_dropped": 0,
               "last_error": "", **dest}  # fmt: skip
    return {"running": running, "destination": WHERE, "last_error": figures["last_error"],
            "destinations": [figures]}  # fmt: skip


def test_each_event_fires_once_when_its_condition_starts() -> None:
    watcher = Watcher()
    steps = [
        (snapshot(connected=False), ["started"]),
        (snapshot(), ["connected"]),
        (snapshot(), []),
        (snapshot(congestion=0.7), ["congested"]),
        (snapshot(congestion=0.9, video_packets_dropped=5), ["video_dropping"]),
        (snapshot(congestion=0.9, video_packets_dropped=9), []),  # still dropping
        (snapshot(video_packets_dropped=9), []),
        (snapshot(video_packets_dropped=12), ["video_dropping"]),  # dropping again
        (snapshot(connected=False, last_error="reset by peer", video_packets_dropped=12),
         ["reconnecting", "error"]),
        (snapshot(connected=False, failed=True, last_error="gave up", video_packets_dropped=12),
         ["error"]),
        (snapshot(running=False, connected=False, failed=True, last_error="gave up",
                  video_packets_dropped=12), ["stopped"]),
    ]  # fmt: skip
    for stats, expected in steps:
        assert [e.name for e in watcher.update(stats)] == expected, stats
    assert {name for _, names in steps for name in names} == set(EVENTS)


def test_the_light_follows_the_congestion_as_obs_shows_it() -> None:
    dest = snapshot()["destinations"][0]
    assert congestion_light(dest, running=True) is Light.GREEN
    assert congestion_light(dest, running=True, dropping=True) is Light.YELLOW
    assert congestion_light({**dest, "congestion": 0.3}, running=True) is Light.YELLOW
    assert congestion_light({**dest, "congestion": 0.6}, running=True) is Light.RED
    assert congestion_light({**dest, "backpressure": True}, running=True) is Light.RED
    assert congestion_light({**dest, "connected": False}, running=True) is Light.RED
    assert congestion_light(dest, running=False) is Light.OFF
    assert congestion_light({**dest, "recording": True}, running=True) is Light.OFF
