"""The error hierarchy. Each error maps to one CLI exit code (see ``cli.exitcodes``)."""

from __future__ import annotations


class IoniaError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1


class ConfigError(IoniaError, ValueError):
    """Bad configuration or usage: nothing was started."""

    exit_code = 2


class StateConflict(ConfigError):
    """A request the stream's state does not allow now (``start`` while it runs, a keyframe
    while it is stopped; the control API answers 409): nothing was changed."""


class ConnectionFailed(IoniaError):
    """The ingest could not be reached, or the connection was lost.

    ``refused`` is True when the ingest's host answered at once that nothing listens
    there: a retry costs nothing, so the sender retries quickly instead of backing off.
    """

    exit_code = 3

    def __init__(self, message: str = "", *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class PublishRejected(IoniaError):
    """The server refused the publish (bad stream key, wrong application...).

    ``code`` is the server's status code (``NetStream.Publish.BadName``) or
    ``"connection closed"`` when the server simply hung up after ``publish``.
    """

    exit_code = 4

    def __init__(self, message: str, *, code: str = "", description: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.description = description


class CodecUnsupported(PublishRejected):
    """The server does not take the stream's video codec (a server without Enhanced RTMP
    given HEVC or AV1). ``accepted`` names the codecs it does take (``("h264",)``).
    """

    def __init__(self, message: str, *, codec: str, accepted: tuple[str, ...]) -> None:
        super().__init__(message, code="codec unsupported")
        self.codec = codec
        self.accepted = accepted


class EncoderError(IoniaError):
    """An encoder could not be opened or failed while running."""

    exit_code = 5


class CaptureError(IoniaError):
    """A capture device is not available or was lost."""

    exit_code = 5


class RecordingFailed(IoniaError):
    """A recording could not be written (disk full, I/O error): it ended, loudly.

    The stream it was recorded alongside goes on; the failure is in the statistics and
    in the exit code.
    """

    exit_code = 6


class InternalError(IoniaError):
    """A bug: something escaped a worker that no input should cause. The stream (or one
    destination of it) ends with this instead of a raw traceback."""

    exit_code = 1
