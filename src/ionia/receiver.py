"""A local ingest for people without a service key: FFmpeg's RTMP listen mode, through PyAV.

It accepts one publisher, writes what arrives to a file unchanged (no re-encoding), and
returns when the publisher disconnects, so ``ionia demo`` and the tests can inspect it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import av

from ionia.errors import ConfigError, ConnectionFailed
from ionia.redact import redact
from ionia.rtmp.url import parse_rtmp_url

log = logging.getLogger("ionia.receiver")


@dataclass(frozen=True, kw_only=True)
class ReceiveResult:
    output: Path
    video_packets: int
    audio_packets: int
    bytes_received: int


def receive(
    url: str,
    output: str | Path,
    *,
    listen_timeout: float = 30.0,
    stop: threading.Event | None = None,
) -> ReceiveResult:
    """Listen on ``url`` (rtmp://HOST:PORT/app/name), record one publish into ``output``."""
    parsed = parse_rtmp_url(url)
    if parsed.tls:
        raise ConfigError("ionia receive listens on rtmp:// only (put a TLS proxy in front)")
    output = Path(output)
    if not output.parent.exists():
        raise ConfigError(f"cannot write {output}: folder {output.parent} does not exist")
    options = {"listen": "1", "timeout": str(max(1, round(listen_timeout)))}
    log.info("listening on %s", parsed.masked)
    try:
        source = av.open(url, format="flv", options=options)
    except TimeoutError:
        raise ConnectionFailed(
            f"no publisher connected to {parsed.masked} within {listen_timeout:.0f} s"
        ) from None
    except av.FFmpegError as exc:
        raise ConnectionFailed(
            redact(f"cannot listen on {parsed.masked}: {exc}", parsed.key)
        ) from None
    counts = {"video": 0, "audio": 0}
    size = 0
    with source, av.open(str(output), "w") as sink:
        mapping = {}
        for stream in source.streams:
            if stream.type in ("video", "audio"):
                # HEVC's and AV1's templates name decoders (libdav1d) that PyAV cannot open
                # for writing by name: opaque copies the codec as it is
                opaque = stream.type == "video" and stream.codec_context.name != "h264"
                mapping[stream.index] = sink.add_stream_from_template(
                    stream, opaque=True if opaque else None
                )
        packets = source.demux(*[source.streams[i] for i in mapping])
        while stop is None or not stop.is_set():
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                # FFmpeg's listen mode reports a publisher's goodbye (deleteStream, then
                # close) as an I/O error: after media has arrived, that is the end.
                if counts["video"] or counts["audio"]:
                    log.info("publisher disconnected")
                    break
                raise ConnectionFailed(redact(f"receiving failed: {exc}", parsed.key)) from None
            if packet.dts is None:
                continue  # the demuxer's end-of-stream marker
            counts[packet.stream.type] += 1
            size += packet.size
            packet.stream = mapping[packet.stream.index]
            sink.mux(packet)
    return ReceiveResult(
        output=output,
        video_packets=counts["video"],
        audio_packets=counts["audio"],
        bytes_received=size,
    )
