"""Ionia: a live-streaming engine. Desktop capture → H.264 + AAC → our own RTMP(S) publisher.

from ionia import VideoAudioStreamer
with VideoAudioStreamer() as s: ...   # after s.initialize(url, ...)
"""

import os

# NumPy's OpenBLAS starts a spinning thread pool at import; Ionia's arrays are small and
# never use it (measured: -0.11 CPU s per stream at start-up). Must precede numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ionia.errors import (
    CaptureError,
    ConfigError,
    ConnectionFailed,
    EncoderError,
    IoniaError,
    PublishRejected,
)
from ionia.output.reconnect import ReconnectPolicy
from ionia.recorder import VideoAudioRecorder
from ionia.streamer import VideoAudioStreamer

__version__ = "0.1.0"

__all__ = [
    "CaptureError",
    "ConfigError",
    "ConnectionFailed",
    "EncoderError",
    "IoniaError",
    "PublishRejected",
    "ReconnectPolicy",
    "VideoAudioRecorder",
    "VideoAudioStreamer",
    "__version__",
]
