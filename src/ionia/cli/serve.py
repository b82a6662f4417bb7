"""``ionia serve`` (the engine as a local service) and ``ionia stream --control``.

The token is printed once, as a URL, as Jupyter prints its own, straight to the terminal:
never through logging, which could be shipped elsewhere (and masks it anyway).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO, TypeVar

from ionia.cli import exitcodes
from ionia.cli.run import STOP_SIGNALS
from ionia.control import DEFAULT_LISTEN, TOKEN_ENV
from ionia.streamer import VideoAudioStreamer

if TYPE_CHECKING:
    from ionia.control.server import ControlServer

__all__ = ["add_control_arguments", "announce", "run", "with_control"]

T = TypeVar("T")


def add_control_arguments(p: argparse.ArgumentParser, *, for_stream: bool = False) -> None:
    g = p.add_argument_group("control API (docs/api.md)")
    if for_stream:
        g.add_argument(
            "--control",
            nargs="?",
            const=DEFAULT_LISTEN,
            metavar="ADDR",
            help=f"serve the control API, dashboard and /metrics for this stream "
            f"(default address {DEFAULT_LISTEN})",
        )
    else:
        g.add_argument(
            "--listen",
            default=DEFAULT_LISTEN,
            metavar="ADDR",
            help="address:port to serve on (default %(default)s; port 0 = any free port)",
        )
    g.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback address: anyone on that network can then try the token",
    )
    g.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the server may be reached by besides localhost and IP addresses",
    )
    g.add_argument(
        "--control-token",
        help=f"the token to require (default ${TOKEN_ENV}, else a random one printed once); "
        "better the environment: any local user sees a command line in `ps`",
    )


def announce(server: ControlServer, stream: TextIO = sys.stderr) -> None:
    if server.token_generated:
        where = server.url
    else:
        where = f"{server.base_url}/  (with your token: ?token=…)"
    print(f"ionia: control API and dashboard at {where}", file=stream, flush=True)


def _server(
    args: argparse.Namespace,
    listen: str,
    streamer: VideoAudioStreamer | None = None,
    *,
    managed: bool = True,
) -> ControlServer:
    from ionia.control.server import ControlServer  # only now: aiohttp is slow to import

    return ControlServer(
        streamer,
        listen=listen,
        allow_remote=args.allow_remote,
        allowed_hosts=args.allow_host,
        token=args.control_token,
        managed=managed,
    )


def with_control(args: argparse.Namespace, streamer: VideoAudioStreamer, run: Callable[[], T]) -> T:
    """``run()`` (the stream) with the control server beside it when ``--control`` asks."""
    if getattr(args, "control", None) is None:
        return run()
    server = _server(args, args.control, streamer, managed=False)
    server.start()
    announce(server)
    try:
        return run()
    finally:
        server.stop()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM (or the server fails); then stop the stream, if one
    runs, and the server."""
    server = _server(args, args.listen)
    stop_signal: list[int] = []
    stopped = threading.Event()

    def on_stop_signal(signum: int, _frame: object) -> None:
        stop_signal.append(signum)
        stopped.set()

    previous = {sig: signal.signal(sig, on_stop_signal) for sig in STOP_SIGNALS}
    try:
        server.start()
        announce(server)
        while not stopped.wait(1.0) and server.error is None:
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.streamer.stop()
        server.stop()
    if server.error is not None:
        return exitcodes.FAILURE  # the server logged why
    return STOP_SIGNALS[signal.Signals(stop_signal[0])] if stop_signal else exitcodes.OK
