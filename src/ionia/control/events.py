"""Events and congestion lights, derived from two statistics snapshots.

Nothing in the pipeline reports to the control server: it reads the statistics (at 2 Hz
while someone listens) and tells what changed, so watching a stream costs the stream
nothing per frame. A change that starts and ends between two reads is not seen as an
event; the counters (drops, reconnects) still show that it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["EVENTS", "Event", "Light", "Watcher", "congestion_light"]

#: the names of the events the WebSocket stream sends (docs/api.md)
EVENTS = (
    "started",
    "connected",
    "reconnecting",
    "congested",
    "video_dropping",
    "error",
    "stopped",
)

#: congestion (queued span / limit) past which a destination is yellow, then red
YELLOW_AT = 0.15
RED_AT = 0.6


class Light(StrEnum):
    """A destination's congestion light, as OBS shows one."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    #: not streaming (stopped, or the recording, which never congests)
    OFF = "off"


@dataclass(frozen=True, kw_only=True)
class Event:
    """One change between two snapshots."""

    #: one of ``EVENTS``
    name: str
    #: the destination it concerns (masked), or "" for the stream as a whole
    destination: str = ""
    #: a human-readable detail (an error's message, the congestion figure)
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"type": "event", "event": self.name, "destination": self.destination,
                "detail": self.detail}  # fmt: skip


def congestion_light(dest: dict[str, Any], *, running: bool, dropping: bool = False) -> Light:
    """Red: failed, disconnected, over the limit or past 60 % of it; yellow: past 15 % or
    dropping video since the last look; else green."""
    if not running or dest.get("recording"):
        return Light.OFF
    congestion = float(dest.get("congestion", 0.0))
    if dest.get("failed") or not dest.get("connected") or dest.get("backpressure"):
        return Light.RED
    if congestion >= RED_AT:
        return Light.RED
    if congestion >= YELLOW_AT or dropping:
        return Light.YELLOW
    return Light.GREEN


class Watcher:
    """Keeps the last snapshot and tells what changed since; one per event stream."""

    def __init__(self) -> None:
        self._before: dict[str, Any] | None = None
        #: destinations that dropped video between the last two reads
        self._dropping: set[str] = set()

    def dropping(self, destination: str) -> bool:
        return destination in self._dropping

    def update(self, after: dict[str, Any]) -> list[Event]:
        """The events between the last snapshot (None at first) and ``after``."""
        before, self._before = self._before, after
        events: list[Event] = []
        was_running = bool(before and before.get("running"))
        running = bool(after.get("running"))
        if running and not was_running:
            events.append(Event(name="started", destination=str(after.get("destination", ""))))
        old = {d["destination"]: d for d in (before or {}).get("destinations", [])}
        dropping = set()
        for dest in after.get("destinations", []):
            prior = old.get(dest["destination"])
            events += _destination_events(prior, dest, running=running)
            where = str(dest["destination"])
            dropped = dest["video_packets_dropped"] - (prior or dest)["video_packets_dropped"]
            if dropped > 0:
                dropping.add(where)
                if where not in self._dropping:
                    events.append(
                        Event(name="video_dropping", destination=where, detail=f"{dropped}")
                    )
        self._dropping = dropping
        new_error = before is not None and before.get("last_error") != after.get("last_error")
        if new_error and after.get("last_error") and not any(e.name == "error" for e in events):
            events.append(Event(name="error", detail=str(after["last_error"])))
        if was_running and not running:
            events.append(Event(name="stopped", detail=str(after.get("last_error", ""))))
        return events


def _destination_events(
    before: dict[str, Any] | None, after: dict[str, Any], *, running: bool
) -> list[Event]:
    where = str(after["destination"])
    prior = before or {}
    events = []
    if running and after.get("connected") and not prior.get("connected"):
        events.append(Event(name="connected", destination=where))
    if running and prior.get("connected") and not after.get("connected") and not after["failed"]:
        events.append(Event(name="reconnecting", destination=where, detail=after["last_error"]))
    congested = after.get("backpressure") or after.get("congestion", 0.0) >= RED_AT
    was_congested = prior.get("backpressure") or prior.get("congestion", 0.0) >= RED_AT
    if running and congested and not was_congested:
        events.append(Event(name="congested", destination=where,
                            detail=f"{after.get('congestion', 0.0):.2f}"))  # fmt: skip
    if after.get("failed") and not prior.get("failed"):
        events.append(Event(name="error", destination=where, detail=after.get("last_error", "")))
    return events
