"""One lifecycle for every thread Ionia starts.

A :class:`Worker` is a named thread with an owner. Its name is unique (``ionia-sender-2``),
so a log line or a stack dump says which destination or device it is. Whatever escapes
its loop reaches the owner's ``on_crash`` exactly once, for the owner to turn into an
outcome and report; the traceback goes to the debug log, keys masked. Nothing reaches
Python's default thread hook, whose raw traceback would bypass key masking and ``-q``.
``stop()`` sets the worker's stop event and joins within a deadline, never from the
worker itself, and says whether the thread ended.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections.abc import Callable

from ionia.redact import redact

__all__ = ["Worker", "describe"]

log = logging.getLogger("ionia")

_numbers: dict[str, itertools.count[int]] = {}
_numbers_lock = threading.Lock()


def _unique_name(name: str) -> str:
    with _numbers_lock:
        counter = _numbers.setdefault(name, itertools.count(1))
        return f"{name}-{next(counter)}"


def describe(exc: BaseException) -> str:
    """``TypeError: ...``: an error's type and message, keys masked, for logs and stats."""
    kind = type(exc)
    # struct.error is "error" on its own: name the module of anything not a builtin
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    text = str(exc)
    return redact(f"{name}: {text}" if text else name)


class Worker:
    """Runs ``target`` in thread ``name-N``; anything it raises goes to ``on_crash``.

    ``target`` must return soon after :attr:`stopping` is set (or after whatever the
    owner does to wake it, such as closing a socket or a buffer).
    """

    def __init__(
        self,
        name: str,
        target: Callable[[], None],
        *,
        on_crash: Callable[[BaseException], None],
        stopping: threading.Event | None = None,
    ) -> None:
        self.name = _unique_name(name)
        #: set by ``stop()``; the target checks or waits on it
        self.stopping = stopping or threading.Event()
        #: what escaped the target, if anything did
        self.crash: BaseException | None = None
        self._target = target
        self._on_crash = on_crash
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} was started already")
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def in_worker(self) -> bool:
        """True when called from this worker's own thread (which must not join itself)."""
        return self._thread is threading.current_thread()

    def stop(self, timeout: float) -> bool:
        """Ask the target to stop and join it for ``timeout`` s; True once it has ended."""
        self.stopping.set()
        return self.join(timeout)

    def join(self, timeout: float) -> bool:
        thread = self._thread
        if thread is None:
            return True
        if thread is threading.current_thread():
            return False
        thread.join(max(0.0, timeout))
        if thread.is_alive():
            log.warning("%s did not stop within %.1f s", self.name, timeout)
            return False
        return True

    def _main(self) -> None:
        try:
            self._target()
        except BaseException as exc:  # the last resort: every escape becomes an outcome
            self.crash = exc
            # The owner reports the outcome (once, typed); the traceback is for -v.
            log.debug(
                "%s stopped:\n%s", self.name, redact("".join(traceback.format_exception(exc)))
            )
            try:
                self._on_crash(exc)
            except Exception as handler_exc:  # a failing owner must still not go unseen
                log.error(
                    "%s stopped (%s) and its owner failed to handle it: %s",
                    self.name, describe(exc), describe(handler_exc),
                )  # fmt: skip
