"""Exit codes of the ``ionia`` command (documented in the README)."""

from __future__ import annotations

from ionia.errors import IoniaError

OK = 0
FAILURE = 1
USAGE = 2  # bad usage or configuration
CONNECTION = 3  # connection failed or lost for good
REJECTED = 4  # the server refused the publish (stream key, application)
MEDIA = 5  # encoder or capture failure
RECORDING = 6  # a recording could not be written (disk full, I/O error)
INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2
TERMINATED = 143  # SIGTERM (systemd, docker stop): 128 + 15


def for_error(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, IoniaError) else FAILURE
