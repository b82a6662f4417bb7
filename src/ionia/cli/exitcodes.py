"""Exit codes of the ``ionia`` command (documented in the README)."""

from __future__ import annotations

from ionia.errors import IoniaError

OK = 0
FAILURE = 1
USAGE = 2  # bad usage or configuration
CONNECTION = 3  # connection failed or lost for good
REJECTED = 4  # the server refused the publish (stream key, application)
MEDIA = 5  # encoder or capture failure
INTERRUPTED = 130  # Ctrl-C


def for_error(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, IoniaError) else FAILURE
