"""``ControlServer``: the control API, its event stream, the dashboard and ``/metrics``.

Two threads, both :class:`~ionia.worker.Worker`\\ s owned here: ``ionia-control-N`` runs an
asyncio loop with aiohttp on a socket bound in ``start()`` (so a port in use fails in the
caller's thread, before anything runs), and ``ionia-control-cmd-N`` runs the commands that
block (``start`` connects, ``stop`` drains) one at a time, so the loop never waits on the
network and two front ends cannot start or stop at once. ``stop()`` joins both within its
deadline. The stream's own threads never wait on this server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Self

from aiohttp import web

from ionia.control.api import EVENTS_KEY, build_app
from ionia.control.controller import Controller
from ionia.control.security import DEFAULT_LISTEN, Access, parse_listen, resolve_token
from ionia.errors import ConfigError, InternalError
from ionia.streamer import VideoAudioStreamer
from ionia.worker import Worker, describe

__all__ = ["ControlServer"]

log = logging.getLogger("ionia.control")

#: commands waiting for the command thread; a front end that sends more is told to wait
COMMAND_QUEUE = 8
START_TIMEOUT = 5.0


class CommandRunner:
    """The command thread: runs one blocking controller call at a time, in order."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None]
        self._queue = queue.Queue(COMMAND_QUEUE)
        self._worker = Worker("ionia-control-cmd", self._run, on_crash=self._crashed)

    def start(self) -> None:
        self._worker.start()

    def submit(self, call: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.put_nowait((call, future))  # queue.Full: the API answers 503
        return future

    def stop(self, timeout: float) -> bool:
        self._worker.stopping.set()
        # wakes the thread; a full queue means it is busy and sees the flag after this command
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        return self._worker.join(timeout)

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            item = self._queue.get()
            if item is None:
                break
            call, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except Exception as exc:  # the caller's future carries it to the API
                    future.set_exception(exc)
        while True:  # what is still queued will not run: say so to whoever waits
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(InternalError("the control server stopped"))

    def _crashed(self, exc: BaseException) -> None:
        log.error("the control command thread failed: %s", describe(exc))


class ControlServer:
    """Serves the control API for a streamer; ``with ControlServer(s) as server: ...``.

    ``streamer`` None: the server makes and owns one, which the API configures and starts
    (``ionia serve``). A given streamer with ``managed=False`` can be stopped and steered
    but not configured or started by the API (``ionia stream --control``).
    """

    def __init__(
        self,
        streamer: VideoAudioStreamer | None = None,
        *,
        listen: str = DEFAULT_LISTEN,
        allow_remote: bool = False,
        allowed_hosts: Iterable[str] = (),
        token: str | None = None,
        managed: bool = True,
    ) -> None:
        self.address = parse_listen(listen, allow_remote=allow_remote)
        self.token, self.token_generated = resolve_token(token)
        self.controller = Controller(streamer, managed=managed)
        self._allowed_hosts = tuple(allowed_hosts)
        self._commands = CommandRunner()
        self._worker: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._socket: socket.socket | None = None
        #: what stopped the server thread, if it did not stop by ``stop()``
        self.error: BaseException | None = None

    @property
    def streamer(self) -> VideoAudioStreamer:
        return self.controller.streamer

    @property
    def port(self) -> int:
        """The port served (the one chosen, after ``start()``, when 0 was asked for)."""
        return self.address.port

    @property
    def base_url(self) -> str:
        return f"http://{self.address.url_host}:{self.port}"

    @property
    def url(self) -> str:
        """The dashboard's URL with the token: print it once, to the user only."""
        return f"{self.base_url}/?token={self.token}"

    def start(self) -> None:
        """Bind, then serve in the background; returns once requests are answered."""
        if self._worker is not None:
            raise RuntimeError("the control server was started already")
        family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address.host, self.address.port))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"--listen {self.address.url_host}:{self.address.port}: {exc.strerror or exc}"
            ) from None
        sock.setblocking(False)
        self._socket = sock
        # port 0 chose one: Host is checked against the port actually served
        self.address = replace(self.address, port=int(sock.getsockname()[1]))
        self._commands.start()
        self._worker = Worker("ionia-control", self._serve, on_crash=self._crashed)
        self._worker.start()
        if not self._ready.wait(START_TIMEOUT) or self.error is not None:
            self.stop(1.0)
            raise InternalError(f"the control server did not start: {self.error or 'timeout'}")

    def stop(self, timeout: float = 3.0) -> bool:
        """Close every connection and join both threads within ``timeout``; idempotent.
        Leaves the stream alone (a front end going away must not end a broadcast)."""
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None and not loop.is_closed():
            # a loop closed meanwhile is a thread ending anyway
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        served = self._worker.join(timeout) if self._worker is not None else True
        commands = self._commands.stop(timeout / 2)
        if self._socket is not None:
            self._socket.close()
        return served and commands

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _crashed(self, exc: BaseException) -> None:
        self.error = exc
        self._ready.set()
        log.error("the control server stopped: %s", describe(exc))

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        assert self._socket is not None
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        access = Access(self.token, self.address, self._allowed_hosts)
        app = build_app(self.controller, access, self._commands.submit)
        # no access log: a request line can carry ?token=
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.SockSite(runner, self._socket).start()
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await app[EVENTS_KEY].close()
            await runner.cleanup()
