"""Running a stream or a recording until it is done: signals, the status line, the final
statistics, and the exit code and error line it ends with."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ionia.checks import check_writable
from ionia.cli import exitcodes
from ionia.cli.status import StatusLine
from ionia.cli.urls import resolve_url
from ionia.errors import ConfigError, IoniaError
from ionia.recorder import VideoAudioRecorder
from ionia.redact import redact
from ionia.streamer import VideoAudioStreamer

__all__ = ["STOP_SIGNALS", "report_error", "run_until_done"]

log = logging.getLogger("ionia.cli")

#: signals that end a stream cleanly, and the exit code each gives (128 + the signal)
STOP_SIGNALS = {signal.SIGINT: exitcodes.INTERRUPTED, signal.SIGTERM: exitcodes.TERMINATED}


def run_until_done(
    streamer: VideoAudioStreamer | VideoAudioRecorder,
    *,
    duration: float | None,
    stats_json: Path | None,
    reload_url: bool = False,
) -> int:
    """Start, show status, stop on Ctrl-C / SIGTERM / --duration / failure / end of source.

    SIGTERM (what systemd and ``docker stop`` send) stops exactly like Ctrl-C: drain, close,
    finalize the recording, write ``--stats-json``. With ``reload_url``, SIGHUP re-reads
    ``$RTMP_URL`` / ./config.json and moves the stream to the new URL or key without a gap
    (live key rotation).
    """
    if stats_json is not None:
        _check_writable(stats_json)
    stop_signal: list[int] = []
    stopped = threading.Event()
    hangup = threading.Event()

    def on_stop_signal(signum: int, _frame: object) -> None:
        stop_signal.append(signum)
        stopped.set()

    previous = {sig: signal.signal(sig, on_stop_signal) for sig in STOP_SIGNALS}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: hangup.set())
    status = StatusLine()
    try:
        streamer.start()
        end = time.monotonic() + duration if duration else None
        while not stopped.is_set():
            remaining = end - time.monotonic() if end is not None else 1.0
            if remaining <= 0 or streamer.wait(min(1.0, remaining)):
                break
            if hangup.is_set():
                hangup.clear()
                _rotate(streamer, reload_url)
            status.update(streamer.get_statistics())
    finally:
        status.close()
        streamer.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stats_json is not None:
            _write_stats(stats_json, streamer.get_statistics())
    code = _exit_code(streamer, stop_signal[0] if stop_signal else None)
    stats = streamer.get_statistics()
    for dest in stats["destinations"]:
        if len(stats["destinations"]) > 1:
            log.info(
                "%s: sent %d video / %d audio packets, dropped %d video; %d reconnects%s",
                dest["destination"], dest["video_packets_sent"], dest["audio_packets_sent"],
                dest["video_packets_dropped"], dest["reconnects"],
                f"; {dest['last_error']}" if dest["failed"] else "",
            )  # fmt: skip
    log.info(
        "sent %d video / %d audio packets, %.1f MB; dropped %d video, %d audio; "
        "unsent at stop %d video, %d audio; %d reconnects",
        stats["video_packets_sent"],
        stats["audio_packets_sent"],
        stats["bytes_sent"] / 1e6,
        stats["video_packets_dropped"],
        stats["audio_packets_dropped"],
        stats["video_packets_unsent"],
        stats["audio_packets_unsent"],
        stats["reconnects"],
    )
    return code


def _rotate(streamer: VideoAudioStreamer | VideoAudioRecorder, reload_url: bool) -> None:
    if not reload_url or not isinstance(streamer, VideoAudioStreamer):
        log.warning("SIGHUP: the URL was given on the command line; nothing to reload")
        return
    try:
        streamer.rotate(resolve_url(None))
    except IoniaError as exc:
        log.error("SIGHUP: key rotation failed, the stream goes on as it was: %s", exc)


def _exit_code(streamer: VideoAudioStreamer | VideoAudioRecorder, stop_signal: int | None) -> int:
    """What ended the stream decides; a destination or recording that failed while the
    stream went on still makes the run a failure; then a stop signal; else success."""
    if streamer.error is not None:
        report_error(streamer.error)
        return exitcodes.for_error(streamer.error)
    failures = streamer.failures
    if failures:
        for failure in failures:
            report_error(failure)
        return exitcodes.for_error(failures[0])
    if stop_signal is not None:
        return STOP_SIGNALS[signal.Signals(stop_signal)]
    return exitcodes.OK


def report_error(exc: BaseException) -> None:
    """The one line a user reads: ``ionia: error: …``, keys masked, whatever ``-q`` says."""
    print(f"ionia: error: {redact(str(exc))}", file=sys.stderr)


def _check_writable(path: Path) -> None:
    """Fail before anything starts if the statistics file cannot be written at the end."""
    try:
        check_writable(path)
    except ConfigError as exc:
        raise ConfigError(f"--stats-json: {exc}") from None


def _write_stats(path: Path, stats: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(stats, indent=2) + "\n")
    except OSError as exc:  # the disk changed under us since the check: say so, go on
        log.error("could not write the statistics to %s: %s", path, exc.strerror or exc)
