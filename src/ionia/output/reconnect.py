"""When to try again: exponential backoff with jitter, and which failures end the stream."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ionia.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class ReconnectPolicy:
    """Backoff ``delay × factor**attempt`` capped at ``max_delay``, each scaled by 50–100 % jitter.

    The cap is short on purpose: a long backoff keeps a stream down well after the network
    is back, which is the complaint users of other tools have most.
    """

    enabled: bool = True
    #: first retry within this many seconds
    delay: float = 1.0
    max_delay: float = 10.0
    factor: float = 2.0
    #: 0 = unlimited
    max_attempts: int = 0
    #: after a good start, a rejected publish is retried this many times (a key can expire)
    rejected_retries: int = 3
    #: retry a refused/unreachable ingest at the first connect instead of failing at once
    wait_for_ingest: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.delay <= self.max_delay:
            raise ConfigError("reconnect delay must be > 0 and <= the maximum reconnect delay")
        if self.factor < 1:
            raise ConfigError("reconnect backoff factor must be >= 1")
        if self.max_attempts < 0:
            raise ConfigError("reconnect attempts must be >= 0 (0 = unlimited)")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based)."""
        base = min(self.max_delay, self.delay * self.factor**attempt)
        return base * (0.5 + 0.5 * (rng or random).random())

    def gives_up(self, attempt: int) -> bool:
        return self.max_attempts > 0 and attempt >= self.max_attempts
