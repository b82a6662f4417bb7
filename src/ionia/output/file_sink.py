"""A local file as a sink, through FFmpeg's muxers (.flv, .mp4, .mkv).

PyAV opens an encoder for every stream it is asked to create, which would replace our
SPS/PPS with its own; a stream created from a template does not. The template comes from
the FLV headers we already pack: an in-memory FLV with the sequence headers is opened as
input and its streams carry exactly our codec configuration.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import cast

import av

from ionia.errors import ConfigError
from ionia.output import flv
from ionia.output.sink import Sink, StreamHeaders
from ionia.packet import EncodedPacket, MediaKind

MS = Fraction(1, 1000)
#: fragmented MP4: a crash costs at most the fragment being written. A fragment ends at
#: each keyframe or after ``frag_duration`` (µs), whichever comes first, so ~1 s even with
#: a long GOP; ``flush_packets`` writes each finished fragment out at once instead of
#: leaving its tail in FFmpeg's I/O buffer (else the file on disk always ends mid-fragment).
MP4_OPTIONS = {
    "movflags": "+frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "1000000",
    "flush_packets": "1",
}


def _templates(headers: StreamHeaders) -> av.container.InputContainer:
    data = flv.file_header(has_audio=headers.audio_config is not None)
    data += flv.file_tag(flv.TagType.VIDEO, 0, flv.avc_sequence_header(headers.video_config))
    if headers.audio_config is not None:
        data += flv.file_tag(flv.TagType.AUDIO, 0, flv.aac_sequence_header(headers.audio_config))
    return cast(av.container.InputContainer, av.open(io.BytesIO(data), format="flv"))


class FileSink(Sink):
    def __init__(self, path: Path, file_format: str, *, fragmented: bool = True) -> None:
        self._path = path
        self._format = file_format
        self._fragmented = fragmented
        self._out: av.container.OutputContainer | None = None
        self._video: av.stream.Stream | None = None
        self._audio: av.stream.Stream | None = None
        self._bytes = 0

    def open(self, headers: StreamHeaders, start_ms: int) -> None:
        options = MP4_OPTIONS if self._format == "mp4" and self._fragmented else {}
        try:
            out = av.open(str(self._path), "w", format=self._format, options=options)
        except (OSError, av.FFmpegError) as exc:
            raise ConfigError(f"cannot write {self._path}: {exc}") from None
        templates = _templates(headers)
        self._video = out.add_stream_from_template(templates.streams.video[0])
        self._video.codec_context.width = headers.width
        self._video.codec_context.height = headers.height
        self._video.time_base = MS
        if headers.audio_config is not None:
            self._audio = out.add_stream_from_template(templates.streams.audio[0])
            # FLV's rate code says 44.1 kHz; the real rate is in the AudioSpecificConfig.
            self._audio.codec_context.sample_rate = 48_000
            self._audio.time_base = MS
        templates.close()
        self._out = out

    def write(self, packet: EncodedPacket) -> None:
        assert self._out is not None, "open() first"
        video = packet.kind is MediaKind.VIDEO
        data = flv.annexb_to_avcc(packet.data) if video else packet.data
        out_packet = av.Packet(data)
        out_packet.pts, out_packet.dts = packet.pts_ms, packet.dts_ms
        out_packet.time_base = MS
        stream = self._video if video else self._audio
        assert stream is not None
        out_packet.stream = stream
        out_packet.is_keyframe = packet.keyframe
        self._out.mux(out_packet)
        self._bytes += len(data)

    def close(self, timeout: float) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            out.close()  # writes the trailer: a clean, seekable file

    def abort(self) -> None:
        pass  # file writes do not stall on a network

    @property
    def bytes_sent(self) -> int:
        return self._bytes
