"""Prometheus metrics, read from the statistics at scrape time.

A collector, not counters the pipeline increments: a scrape reads the statistics once
and turns them into metric families, so metrics cost nothing between scrapes and can
never disagree with the API. Names follow Prometheus' conventions (base units, ``_total``
for counters); the ``destination`` label is the masked URL, never a key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "MetricsPage", "StatsCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: (metric name, help, statistics key, scale) per destination
_DEST_COUNTERS = (
    ("ionia_bytes_sent", "Bytes handed to the socket (or file), every session.", "bytes_sent"),
    ("ionia_bytes_acked", "Bytes the server acknowledged (RTMP).", "bytes_acked"),
    ("ionia_reconnects", "Sessions opened again after a loss.", "reconnects"),
    ("ionia_disconnected_seconds", "Time spent without a session.", "disconnected_s"),
)
_DEST_GAUGES = (
    ("ionia_buffer_latency_seconds", "DTS span of the video queued now.", "buffer_latency_ms",
     1e-3),
    ("ionia_buffer_max_latency_seconds", "The largest queued video span seen.",
     "buffer_max_latency_ms", 1e-3),
    ("ionia_buffer_packets", "Packets queued in the send buffer now.", "buffer_packets", 1.0),
    ("ionia_congestion_ratio", "Queued video span over its limit, 0..1.", "congestion", 1.0),
    ("ionia_send_bitrate_bits_per_second", "Sent over the last 2 s.", "bitrate_kbps", 1e3),
)  # fmt: skip


class _Monotonic:
    """Counters that never go back. A destination's figures start again at 0 when it is
    replaced (a key rotation keeps its masked URL, the label) and a stream's when
    ``ionia serve`` starts another: a fall is taken as a new source and added on."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, ...], tuple[float, float]] = {}

    def __call__(self, name: str, labels: list[str], raw: float) -> float:
        key = (name, *labels)
        last, offset = self._seen.get(key, (0.0, 0.0))
        if raw < last:
            offset += last
        self._seen[key] = (raw, offset)
        return offset + raw


class StatsCollector(Collector):
    """Metric families from ``read()``, the controller's statistics (called per scrape)."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read
        self._total = _Monotonic()

    def collect(self) -> Iterator[Metric]:
        stats = self._read()
        dests = list(stats["destinations"])
        yield from self._stream(stats)
        label = ["destination"]
        for name, text, key in _DEST_COUNTERS:
            counter = CounterMetricFamily(name, text, labels=label)
            for d in dests:
                where = [d["destination"]]
                counter.add_metric(where, self._total(name, where, float(d[key])))
            yield counter
        for name, text, key, scale in _DEST_GAUGES:
            gauge = GaugeMetricFamily(name, text, labels=label)
            for d in dests:
                gauge.add_metric([d["destination"]], float(d[key]) * scale)
            yield gauge
        connected = GaugeMetricFamily(
            "ionia_connected", "1 while a session is up (0 for a failed destination).", labels=label
        )
        for d in dests:
            connected.add_metric([d["destination"]], 1.0 if d["connected"] else 0.0)
        yield connected
        packets = CounterMetricFamily(
            "ionia_packets_sent", "Packets handed to the socket.", labels=["destination", "kind"]
        )
        dropped = CounterMetricFamily(
            "ionia_packets_dropped",
            "Packets dropped by the send buffer (audio only while disconnected).",
            labels=["destination", "kind"],
        )
        for d in dests:
            for kind in ("video", "audio"):
                where = [d["destination"], kind]
                sent = float(d[f"{kind}_packets_sent"])
                lost = float(d[f"{kind}_packets_dropped"])
                packets.add_metric(where, self._total("packets_sent", where, sent))
                dropped.add_metric(where, self._total("packets_dropped", where, lost))
        yield packets
        yield dropped
        yield from self._webrtc(dests)

    def _webrtc(self, dests: list[dict[str, Any]]) -> Iterator[Metric]:
        """What WebRTC (WHIP) receivers report; RTMP destinations and files have no row."""
        label = ["destination"]
        rtt = GaugeMetricFamily("ionia_rtt_seconds", "Round-trip time (WHIP).", labels=label)
        estimate = GaugeMetricFamily(
            "ionia_receiver_estimate_bits_per_second",
            "What the receiver estimates the path takes (WHIP, REMB).",
            labels=label,
        )
        loss = GaugeMetricFamily(
            "ionia_loss_ratio", "Share of packets the receiver lost (WHIP).", labels=label
        )
        nacks = CounterMetricFamily(
            "ionia_nacks", "Packets the receiver asked for again (WHIP).", labels=label
        )
        requests = CounterMetricFamily(
            "ionia_keyframe_requests", "Keyframes the receiver asked for (WHIP).", labels=label
        )
        for d in dests:
            where = [d["destination"]]
            if d.get("nacks") is None:
                continue
            nacks.add_metric(where, self._total("nacks", where, float(d["nacks"])))
            requests.add_metric(
                where, self._total("keyframe_requests", where, float(d["keyframe_requests"]))
            )
            loss.add_metric(where, float(d["loss"] or 0.0))
            if d.get("rtt_ms") is not None:
                rtt.add_metric(where, float(d["rtt_ms"]) / 1000)
            if d.get("receiver_estimate_kbps") is not None:
                estimate.add_metric(where, float(d["receiver_estimate_kbps"]) * 1000)
        yield from (rtt, estimate, loss, nacks, requests)

    def _stream(self, stats: dict[str, Any]) -> Iterator[Metric]:
        yield InfoMetricFamily("ionia_encoder", "The video encoder in use.",
                               value={"encoder": stats["encoder"] or "none"})  # fmt: skip
        yield GaugeMetricFamily("ionia_running", "1 while the stream runs.",
                                value=1.0 if stats["running"] else 0.0)  # fmt: skip
        yield GaugeMetricFamily("ionia_uptime_seconds", "Seconds since the stream started.",
                                value=float(stats["uptime_s"]))  # fmt: skip
        yield GaugeMetricFamily("ionia_encoder_fps", "Frames encoded per second, measured.",
                                value=float(stats["encoder_fps"]))  # fmt: skip
        yield GaugeMetricFamily("ionia_fps_target", "The configured frame rate.",
                                value=float(stats["fps"]))  # fmt: skip
        yield GaugeMetricFamily(
            "ionia_video_bitrate_target_bits_per_second",
            "The video encoder's bitrate now (adaptive bitrate or the API move it).",
            value=float(stats["video_bitrate_target"]),
        )
        yield GaugeMetricFamily(
            "ionia_buffer_latency_limit_seconds",
            "The send buffer's video span limit, past which video is dropped.",
            value=float(stats["buffer_limit_ms"]) / 1000,
        )
        frames = CounterMetricFamily("ionia_frames", "Frames through the video pump.",
                                     labels=["stage"])  # fmt: skip
        for stage in ("captured", "encoded", "duplicated"):
            frames.add_metric(
                [stage], self._total("frames", [stage], float(stats[f"frames_{stage}"]))
            )
        yield frames
        drops = CounterMetricFamily(
            "ionia_video_frames_dropped",
            "Video frames not delivered: by the send buffers (congestion, a session's start) "
            "or frame slots skipped because capture or encoding fell behind (late).",
            labels=["reason"],
        )
        for reason, key in (("send_buffer", "video_packets_dropped"), ("late", "frames_late")):
            drops.add_metric([reason], self._total("drops", [reason], float(stats[key])))
        yield drops
        forced = self._total("keyframes", [], float(stats["keyframes_forced"]))
        yield CounterMetricFamily("ionia_keyframes_forced", "Keyframes asked for.", value=forced)


class MetricsPage:
    """``/metrics``: one registry with one collector, kept for the server's life so the
    counters stay monotonic across rotations and restarts."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(StatsCollector(read))

    def render(self) -> bytes:
        return generate_latest(self._registry)
