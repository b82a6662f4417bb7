"""The ``get_statistics()`` contract: the dict, the typed records and docs/statistics.md agree.

The dict is public API (``--stats-json`` writes it; dashboards read it), so its keys and
types are checked against ``StreamStats`` / ``DestinationStats`` on a real stream, before
``start()`` and after ``stop()``; the totals over destinations are checked on records.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path

import pytest

from ionia import VideoAudioRecorder, VideoAudioStreamer
from ionia.stats import INTERNAL, DestinationStats, ProducerStats, StreamStats

DOC = Path(__file__).resolve().parents[1] / "docs" / "statistics.md"
MEDIA = dict(video_source="testsrc", audio_mode="tone", size="320x240", video_bitrate="500k")


def public_fields(record: type) -> dict[str, object]:
    """Field → its type, for the fields that are keys of the dict."""
    hints = typing.get_type_hints(record)
    return {
        f.name: hints[f.name] for f in dataclasses.fields(record) if not f.metadata.get(INTERNAL)
    }


def check_value(key: str, value: object, hint: object) -> None:
    if hint is bool or hint is str:
        assert type(value) is hint, (key, value)
    elif hint is int:
        assert type(value) is int, (key, value)  # not a bool, not a float
    elif hint is float:
        assert type(value) is float, (key, value)
    elif isinstance(hint, types.UnionType):  # float | None
        allowed = typing.get_args(hint)
        assert value is None or type(value) in allowed, (key, value)
    else:
        raise AssertionError(f"{key}: no check for {hint}")


def check_contract(stats: dict[str, object]) -> None:
    fields = public_fields(StreamStats)
    assert list(stats) == list(fields)
    for key, hint in fields.items():
        if key != "destinations":
            check_value(key, stats[key], hint)
    destinations = stats["destinations"]
    assert isinstance(destinations, list)
    for destination in destinations:
        assert list(destination) == list(public_fields(DestinationStats))
        for key, hint in public_fields(DestinationStats).items():
            check_value(key, destination[key], hint)


def documented_keys(section: str) -> list[str]:
    text = DOC.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"^\| `(\w+)` \|", text[start : end if end > 0 else None], re.M)


def test_every_key_is_documented_once_and_nothing_else():
    assert documented_keys("The stream") == list(public_fields(StreamStats))
    assert documented_keys("Each destination") == list(public_fields(DestinationStats))


def test_a_stream_keeps_the_contract_before_during_and_after(tmp_path):
    streamer = VideoAudioStreamer()
    streamer.initialize([str(tmp_path / "a.flv"), str(tmp_path / "b.mkv")], **MEDIA)
    before = streamer.get_statistics()
    check_contract(before)
    assert before["destinations"] == [] and before["latency_p50_ms"] is None
    with streamer:
        assert not streamer.wait(1.0), streamer.error
        during = streamer.get_statistics()
    after = streamer.get_statistics()
    for stats in (during, after):
        check_contract(stats)
    assert len(after["destinations"]) == 2
    assert after["encoder"] == streamer.get_codec_name() == "libx264"
    assert after["video_packets_sent"] == sum(
        d["video_packets_sent"] for d in after["destinations"]
    )
    assert after["first_byte_s"] is not None and after["first_byte_s"] > 0


def test_a_recording_keeps_the_contract(tmp_path):
    recorder = VideoAudioRecorder()
    recorder.initialize(tmp_path / "r.mkv", **MEDIA)
    with recorder:
        assert not recorder.wait(0.5), recorder.error
    stats = recorder.get_statistics()
    check_contract(stats)
    assert [d["recording"] for d in stats["destinations"]] == [True]
    # the recording is the only destination, so the totals are its figures
    assert stats["video_packets_sent"] == stats["destinations"][0]["video_packets_sent"] > 0


def destination(**overrides: object) -> DestinationStats:
    figures: dict[str, object] = {
        "destination": "rtmp://h/app/****", "recording": False, "connected": True,
        "failed": False, "backpressure": False, "congestion": 0.0, "video_packets_sent": 0,
        "audio_packets_sent": 0, "video_packets_dropped": 0, "audio_packets_dropped": 0,
        "video_packets_unsent": 0, "audio_packets_unsent": 0,
        "bytes_sent": 0, "bytes_acked": 0, "bitrate_kbps": 0.0, "buffer_packets": 0,
        "buffer_latency_ms": 0, "buffer_max_latency_ms": 0, "reconnects": 0,
        "disconnected_s": 0.0, "latency_p50_ms": None, "latency_p99_ms": None,
        "last_error": "",
    }  # fmt: skip
    figures.update(overrides)
    return DestinationStats(**figures)  # type: ignore[arg-type]


def combine(*destinations: DestinationStats) -> StreamStats:
    return StreamStats.combine(
        destinations, ProducerStats(), running=True, uptime_s=1.0, started_at=100.0, last_error=""
    )


def test_totals_sum_counts_and_take_the_worst_buffer_over_the_streams():
    a = destination(
        video_packets_sent=10, bytes_sent=1000, bitrate_kbps=1.5, reconnects=1,
        buffer_latency_ms=200, congestion=0.1, disconnected_s=2.0, latency_p99_ms=30.0,
        first_byte_at=100.5,
    )  # fmt: skip
    b = destination(
        destination="rtmp://other/app/****", video_packets_sent=5, bytes_sent=500,
        bitrate_kbps=2.5, buffer_latency_ms=900, congestion=0.45, disconnected_s=0.5,
        latency_p99_ms=None, first_byte_at=100.25, connected=False,
    )  # fmt: skip
    recording = destination(destination="/tmp/r.mkv", recording=True, video_packets_sent=99)
    stats = combine(a, b, recording)
    assert (stats.video_packets_sent, stats.bytes_sent, stats.reconnects) == (15, 1500, 1)
    assert stats.bitrate_kbps == pytest.approx(4.0)
    assert (stats.buffer_latency_ms, stats.congestion, stats.disconnected_s) == (900, 0.45, 2.0)
    assert stats.latency_p99_ms == 30.0
    assert stats.first_byte_s == 0.25
    assert stats.destination == "rtmp://h/app/****, rtmp://other/app/****"
    assert stats.connected is False
    assert len(stats.destinations) == 3  # the recording is listed, not counted


def test_a_failed_destination_is_not_connected_and_none_left_is_not_connected():
    live, failed = destination(), destination(failed=True, connected=False)
    assert combine(live, failed).connected is True  # the live one carries the stream
    assert combine(failed).connected is False


def test_without_destinations_the_totals_are_zero_of_their_type():
    stats = combine()
    check_contract(stats.as_dict())
    assert stats.bitrate_kbps == 0.0 and stats.latency_p50_ms is None and not stats.connected


def test_first_byte_at_is_for_the_totals_only():
    assert "first_byte_at" not in destination(first_byte_at=1.0).as_dict()
