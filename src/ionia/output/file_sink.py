"""A local file as a sink, through FFmpeg's muxers (.flv, .mp4, .mkv).

PyAV opens an encoder for every stream it is asked to create, which would replace our
SPS/PPS with its own; a stream created from a template does not. The template comes from
the FLV headers we already pack: an in-memory FLV with the sequence headers is opened as
input and its streams carry exactly our codec configuration.

A disk error is never a lost connection: a path that cannot be written fails ``open()``
with ``ConfigError`` (PyAV opens the file lazily, so ``open()`` writes the header to find
out), and a disk that fills or fails later ends the recording with ``RecordingFailed``
naming the file, which no reconnect would cure.
"""

from __future__ import annotations

import contextlib
import io
import os
from fractions import Fraction
from pathlib import Path
from typing import cast

import av

from ionia.errors import ConfigError, RecordingFailed
from ionia.output import exvideo, flv
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
    video = exvideo.sequence_start(headers.codec, headers.video_config)
    data += flv.file_tag(flv.TagType.VIDEO, 0, video)
    if headers.audio_config is not None:
        data += flv.file_tag(flv.TagType.AUDIO, 0, flv.aac_sequence_header(headers.audio_config))
    return cast(av.container.InputContainer, av.open(io.BytesIO(data), format="flv"))


class FileSink(Sink):
    def __init__(self, path: Path, file_format: str, *, fragmented: bool = True) -> None:
        self._codec = "h264"
        self._path = path
        self._format = file_format
        self._fragmented = fragmented
        self._out: av.container.OutputContainer | None = None
        self._video: av.stream.Stream | None = None
        self._audio: av.stream.Stream | None = None
        self._bytes = 0
        #: a fragmented MP4's size after the last packet that muxed: always a whole number
        #: of fragments, so a disk that fails mid-fragment is cut back to a playable file
        self._good_size = 0
        self._keeps_fragments = False

    def open(self, headers: StreamHeaders, *, rebase: bool = False) -> None:
        options = MP4_OPTIONS if self._format == "mp4" and self._fragmented else {}
        try:
            out = av.open(str(self._path), "w", format=self._format, options=options)
        except (OSError, av.FFmpegError) as exc:
            raise ConfigError(f"cannot write {self._path}: {_reason(exc)}") from None
        self._codec = headers.codec
        templates = _templates(headers)
        # AV1's template names its decoder (libdav1d), which PyAV cannot open for writing
        # by name: opaque copies the codec as it is (the muxer only needs its id)
        opaque = True if headers.codec == "av1" else None
        self._video = out.add_stream_from_template(templates.streams.video[0], opaque=opaque)
        self._video.codec_context.width = headers.width
        self._video.codec_context.height = headers.height
        self._video.time_base = MS
        if headers.audio_config is not None:
            self._audio = out.add_stream_from_template(templates.streams.audio[0])
            # FLV's rate code says 44.1 kHz; the real rate is in the AudioSpecificConfig.
            self._audio.codec_context.sample_rate = 48_000
            self._audio.time_base = MS
        templates.close()
        try:
            out.start_encoding()  # creates the file and writes the header now, not at packet 1
        except (OSError, av.FFmpegError) as exc:
            with contextlib.suppress(OSError, av.FFmpegError):
                out.close()
            raise ConfigError(f"cannot write {self._path}: {_reason(exc)}") from None
        self._out = out
        # a regular file only: /dev/stdout or a FIFO cannot be cut back
        self._keeps_fragments = options is MP4_OPTIONS and self._path.is_file()

    def write(self, packet: EncodedPacket) -> bool:
        assert self._out is not None, "open() first"
        video = packet.kind is MediaKind.VIDEO
        data = exvideo.frame_data(self._codec, packet.data) if video else packet.data
        out_packet = av.Packet(data)
        out_packet.pts, out_packet.dts = packet.pts_ms, packet.dts_ms
        out_packet.time_base = MS
        stream = self._video if video else self._audio
        assert stream is not None
        out_packet.stream = stream
        out_packet.is_keyframe = packet.keyframe
        try:
            self._out.mux(out_packet)
        except (OSError, av.FFmpegError) as exc:
            raise self._failed(exc) from None
        self._bytes += len(data)
        if self._keeps_fragments:
            with contextlib.suppress(OSError):
                self._good_size = os.stat(self._path).st_size
        return True

    def close(self, timeout: float) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            try:
                out.close()  # writes the trailer: a clean, seekable file
            except (OSError, av.FFmpegError) as exc:
                raise self._failed(exc) from None

    def abort(self) -> None:
        """Close without a word: the recording failed already, or ``start()`` did."""
        if self._out is not None:
            out, self._out = self._out, None
            with contextlib.suppress(OSError, av.FFmpegError):
                out.close()

    def _failed(self, exc: BaseException) -> RecordingFailed:
        kept = "what was written before is in the file"
        if self._keeps_fragments and self._good_size:
            with contextlib.suppress(OSError):  # a torn last fragment would not decode
                os.truncate(self._path, self._good_size)
            kept += " (up to the last whole fragment)"
        return RecordingFailed(f"recording to {self._path} failed: {_reason(exc)}; {kept}")

    @property
    def bytes_sent(self) -> int:
        return self._bytes


def _reason(exc: BaseException) -> str:
    """The OS's words (``No space left on device``) without PyAV's repeat of the path."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)
