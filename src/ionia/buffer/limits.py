"""The send buffer's limits: past either, the buffer counts as congested."""

from __future__ import annotations

from dataclasses import dataclass

from ionia.errors import ConfigError

__all__ = ["BufferConfig"]


@dataclass(frozen=True, kw_only=True)
class BufferConfig:
    #: more queued packets than this is congestion (audio alone may exceed it)
    max_packets: int = 100
    #: a queued video DTS span above this is congestion, milliseconds
    max_latency_ms: int = 2000

    def __post_init__(self) -> None:
        for name in ("max_packets", "max_latency_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"buffer {name} must be an integer, not {value!r}")
        if self.max_packets < 2:
            raise ConfigError(f"buffer max_packets {self.max_packets} is too small: use >= 2")
        if self.max_latency_ms < 50:
            raise ConfigError(
                f"buffer max_latency_ms {self.max_latency_ms} is too small: use >= 50"
            )
