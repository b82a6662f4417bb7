"""When to try again: exponential backoff with jitter, and which failures end the stream."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ionia.checks import check_flag, check_number
from ionia.errors import ConfigError, ConnectionFailed, PublishRejected

MAX_DELAY_RANGE_S = (0.0, 3600.0)  # more than 0, at most an hour
FACTOR_RANGE = (1.0, 10.0)
REJECTED_RETRIES_RANGE = (0, 100)


@dataclass(frozen=True, kw_only=True)
class ReconnectPolicy:
    """Backoff ``delay × factor**attempt`` capped at ``max_delay``, each scaled by 50–100 % jitter.

    The cap is short on purpose: a long backoff keeps a stream down well after the network
    is back, which is the complaint users of other tools have most.
    """

    enabled: bool = True
    #: first retry within this many seconds (with jitter, after 50-100 % of it): a session
    #: that was up and broke is usually reachable again at once (a reset, a proxy cut)
    delay: float = 0.5
    max_delay: float = 10.0
    factor: float = 2.0
    #: 0 = unlimited
    max_attempts: int = 0
    #: after a good start, a rejected publish is retried this many times (a key can expire)
    rejected_retries: int = 3
    #: retry a refused/unreachable ingest at the first connect instead of failing at once
    wait_for_ingest: bool = False
    #: while the ingest's host refuses at once (nothing listens: a restart in progress), a
    #: retry costs nothing, so it is made this often, to be back within this of the ingest...
    refused_delay: float = 0.25
    #: ...for this long after the loss; past it, refusals back off like any failure
    refused_fast_s: float = 30.0

    def __post_init__(self) -> None:
        # A NaN or infinite delay would make every retry wait forever, or overflow the backoff.
        check_flag("reconnect enabled (--no-reconnect)", self.enabled)
        check_flag("wait_for_ingest (--wait-for-ingest)", self.wait_for_ingest)
        max_delay = check_number(
            "reconnect max delay (--reconnect-max-delay)", self.max_delay, *MAX_DELAY_RANGE_S,
            unit=" s", above=True,
        )  # fmt: skip
        delay = check_number(
            "reconnect delay (--reconnect-delay)", self.delay, *MAX_DELAY_RANGE_S,
            unit=" s", above=True,
        )  # fmt: skip
        if delay > max_delay:
            raise ConfigError(
                f"reconnect delay (--reconnect-delay) {self.delay} s must be at most the "
                f"reconnect max delay (--reconnect-max-delay, {self.max_delay} s)"
            )
        check_number("reconnect backoff factor", self.factor, *FACTOR_RANGE)
        check_number(
            "reconnect attempts (--reconnect-attempts; 0 = unlimited)", self.max_attempts,
            0, math.inf, whole=True,
        )  # fmt: skip
        check_number("rejected_retries", self.rejected_retries, *REJECTED_RETRIES_RANGE, whole=True)
        check_number("refused_delay", self.refused_delay, *MAX_DELAY_RANGE_S, above=True)
        check_number("refused_fast_s", self.refused_fast_s, *MAX_DELAY_RANGE_S)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based)."""
        # factor**attempt overflows a float after ~1000 doublings (hours of unlimited retries
        # at the 10 s cap), so past the attempt that reaches the cap, the cap is the answer.
        if self.factor > 1 and attempt > math.log(self.max_delay / self.delay, self.factor):
            base = self.max_delay
        else:
            base = min(self.max_delay, self.delay * self.factor**attempt)
        return base * (0.5 + 0.5 * (rng or random).random())

    def gives_up(self, attempt: int) -> bool:
        return self.max_attempts > 0 and attempt >= self.max_attempts


class Retries:
    """One outage's reconnect attempts under a policy: the wait before the next one, and
    the failures that end them.

    The wait follows the policy's backoff, which grows with every failure that costs the
    server something (a timeout, a rejection, a broken reply); while the host refuses at
    once, retries come every ``refused_delay`` instead, so an ingest that restarts is
    reached within that of it being back.
    """

    def __init__(self, policy: ReconnectPolicy, *, lost_at: float) -> None:
        self.policy = policy
        #: attempts made so far
        self.attempt = 0
        #: seconds to wait before the next attempt
        self.delay = policy.backoff(0)
        self._lost_at = lost_at
        self._costly = 0
        self._rejected = 0

    @property
    def exhausted(self) -> bool:
        """The policy allows no more attempts."""
        return self.policy.gives_up(self.attempt)

    @property
    def fast(self) -> bool:
        """The next attempt is one of the quick ones at a refusing host (not the first)."""
        return bool(self.attempt) and self.delay == self.policy.refused_delay

    def failed(self, exc: BaseException, *, ever_up: bool, now: float) -> PublishRejected | None:
        """Count an attempt that failed at ``now`` with ``exc``; the error if it ends the
        retries.

        A rejection does, before any good session (``ever_up``; --wait-for-ingest): it is a
        wrong key or app, as at a first connect. After one a key may have expired, so it
        is retried up to ``rejected_retries`` times.
        """
        if isinstance(exc, PublishRejected):
            self._rejected += 1
            if not ever_up or self._rejected > self.policy.rejected_retries:
                return exc
        self.attempt += 1
        refused = isinstance(exc, ConnectionFailed) and exc.refused
        if refused and now - self._lost_at < self.policy.refused_fast_s:
            self.delay = self.policy.refused_delay
        else:
            self._costly += 1
            self.delay = self.policy.backoff(self._costly)
        return None
