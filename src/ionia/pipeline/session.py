"""What the streamer and the recorder share: one lifecycle over a run of the pipeline.

``start()`` opens everything that can fail (sources, encoders, the first connection to
every destination) before any thread runs, so a bad key or a missing device raises there
and leaves nothing behind. ``stop()`` stops the producers, lets every destination drain
to the same deadline, and joins every thread it started, within ``stop_timeout`` + 1 s
even with a dead network. A destination that fails for good ends the stream only when no
other one carries it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Self

from ionia.checks import check_number
from ionia.config import StreamConfig
from ionia.errors import ConfigError, IoniaError
from ionia.output.output import Output
from ionia.output.reconnect import ReconnectPolicy
from ionia.pipeline.assembly import Pipeline
from ionia.stats import DestinationStats, ProducerStats, StreamStats

log = logging.getLogger("ionia")


class MediaSession:
    """Capture and encode into destinations: the lifecycle, failures and statistics."""

    def __init__(self) -> None:
        self._config: StreamConfig | None = None
        self._policy = ReconnectPolicy()
        self._lock = threading.RLock()
        self._running = False
        self._finished = threading.Event()
        self._error: IoniaError | None = None
        self._source_ended = False
        self._clock_offset = 0.0
        self._start_called = 0.0
        self._started_at = 0.0
        self._final_stats: StreamStats | None = None
        self._failures: list[IoniaError] = []
        #: the run's parts, from ``start()`` to the end of ``stop()``
        self._pipeline: Pipeline | None = None

    def _configure(
        self,
        target: str | os.PathLike[str] | Sequence[str],
        *,
        reconnect: ReconnectPolicy | None = None,
        **options: Any,
    ) -> None:
        """Check every setting now (``ConfigError`` names the bad one); open nothing yet.
        ``clock_offset`` (seconds) starts the stream clock late, for testing long streams."""
        clock_offset = check_number("clock offset", options.pop("clock_offset", 0.0), 0, 2**32)
        config = StreamConfig.create(target, **options)
        with self._lock:
            if self._running:
                raise ConfigError("cannot initialize a running streamer: stop() it first")
            self._config = config
            self._policy = reconnect or ReconnectPolicy()
            self._clock_offset = clock_offset

    @property
    def config(self) -> StreamConfig:
        if self._config is None:
            raise ConfigError("call initialize(url, ...) before start()")
        return self._config

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open sources, encoders and the first sessions; then start the threads."""
        config = self.config
        with self._lock:
            if self._running:
                raise ConfigError("already running")
            self._start_called = time.monotonic()
            self._error, self._source_ended = None, False
            self._failures = []
            self._finished.clear()
            self._final_stats = None
            pipeline = Pipeline(
                config,
                self._policy,
                clock_offset=self._clock_offset,
                on_fail=self._fail,
                on_output_failed=self._output_failed,
            )
            self._pipeline = pipeline
            try:
                pipeline.open()
            except BaseException:
                self._close()
                raise
            self._running = True
            self._started_at = time.monotonic()
            pipeline.start()
            shown = ", ".join(o.destination.display for o in pipeline.destinations.outputs)
            log.info("streaming to %s with %s", shown, self.get_codec_name())

    def _output_failed(self, output: Output, exc: IoniaError) -> None:
        """One destination gave up: the stream goes on while another can still carry it."""
        self._failures.append(exc)
        pipeline = self._pipeline
        if pipeline is not None and pipeline.destinations.carried_without(output):
            log.error("%s: %s (the other destinations go on)", output.destination.display, exc)
            return
        self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """From a worker thread: the stream cannot go on (or its source ended)."""
        if isinstance(exc, EOFError):
            log.info("source ended: %s", exc)
            self._source_ended = True
        elif isinstance(exc, IoniaError):
            log.error("%s", exc)
            self._error = self._error or exc
        self._finished.set()

    def stop(self) -> None:
        """Drain and close within ``stop_timeout`` (+1 s at worst); idempotent."""
        with self._lock:
            pipeline = self._pipeline
            if not self._running or pipeline is None:
                return
            self._running = False
            pipeline.stop_producers()
            # Every destination drains at once, to the same deadline.
            pipeline.destinations.drain(self.config.stop_timeout)
            self._final_stats = self._collect_statistics()
            self._close()
            self._finished.set()

    def _close(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream fails or its source ends; True if it did."""
        return self._finished.wait(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        """True while the stream runs: started, not failed, its source not ended, and its
        producer threads alive (derived from them, not remembered)."""
        if not self._running or self._error is not None or self._source_ended:
            return False
        pipeline = self._pipeline
        return pipeline is not None and pipeline.producers_alive

    @property
    def error(self) -> IoniaError | None:
        """What ended the stream, if it did not end by ``stop()`` or the source's end."""
        return self._error

    @property
    def source_ended(self) -> bool:
        return self._source_ended

    @property
    def failures(self) -> list[IoniaError]:
        """Errors of destinations (or the recording) that ended for good while the stream
        went on; what ended the stream itself is :attr:`error`."""
        return list(self._failures)

    def get_codec_name(self) -> str:
        """The H.264 encoder in use ("libx264", "h264_nvenc", ...); after ``stop()``, the
        one the stream used."""
        pipeline = self._pipeline
        if pipeline is not None and pipeline.video_encoder is not None:
            return pipeline.video_encoder.name
        return self._final_stats.encoder if self._final_stats else ""

    def get_statistics(self) -> dict[str, Any]:
        """A snapshot (``StreamStats.as_dict()``; the keys are in docs/statistics.md);
        after ``stop()`` the final figures."""
        final = self._final_stats
        if self._pipeline is None and final is not None:
            return final.as_dict()
        return self._collect_statistics().as_dict()

    def _collect_statistics(self) -> StreamStats:
        pipeline = self._pipeline
        if pipeline is not None:
            producer, destinations = pipeline.producer_stats(), pipeline.destinations.stats()
        else:
            producer = ProducerStats(fps=self._config.fps if self._config else 0)
            destinations = []
        uptime = time.monotonic() - self._started_at if self._started_at else 0.0
        return StreamStats.combine(
            destinations,
            producer,
            running=self.is_running(),
            uptime_s=uptime,
            started_at=self._start_called,
            last_error=self._last_error(destinations, pipeline),
        )

    def _last_error(self, destinations: list[DestinationStats], pipeline: Pipeline | None) -> str:
        """What ended the stream; else every destination's last error and the recording's
        failure, so a failure alongside a stream that goes on is still in the statistics."""
        if self._error is not None:
            return str(self._error)
        errors = [d.last_error for d in destinations if d.last_error]
        if pipeline is not None and pipeline.adaptive_error:
            errors.append(pipeline.adaptive_error)
        return "; ".join(errors)
