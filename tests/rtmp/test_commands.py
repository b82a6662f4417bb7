"""The command conversation on its own: what the server's answers may contain."""

from __future__ import annotations

import math
import time

import pytest

from ionia.errors import ConnectionFailed
from ionia.rtmp import amf0
from ionia.rtmp.commands import MAX_STREAM_ID, Command, Commands
from ionia.rtmp.url import parse_rtmp_url

KEY = "commands-key-77"


def conversation(reply_args: list[object]) -> Commands:
    """Commands whose server answers every call with ``_result`` carrying ``reply_args``."""
    last_tid = 0

    def send(payload: bytes, on_stream: int | None, deadline: float | None) -> None:
        nonlocal last_tid
        last_tid = int(amf0.decode(payload)[1])

    def receive(deadline: float, what: str) -> list[Command]:
        return [Command("_result", float(last_tid), list(reply_args))]

    url = parse_rtmp_url(f"rtmp://127.0.0.1/live/{KEY}")
    return Commands(url, send=send, receive=receive, lost=lambda reason: None)


@pytest.mark.parametrize("stream_id", [1.0, 7, float(MAX_STREAM_ID)])
def test_good_stream_ids(stream_id: float) -> None:
    got = conversation([None, stream_id]).create_stream(time.monotonic() + 1)
    assert got == int(stream_id) and isinstance(got, int)


@pytest.mark.parametrize(
    ("stream_id", "shown"),
    [(-1.0, "-1"), (0.0, "0"), (0.5, "0.5"), (1e300, "1e+300"), (2.0**32, "4294967296")],
)
def test_bad_stream_ids_are_the_servers_fault(stream_id: float, shown: str) -> None:
    with pytest.raises(ConnectionFailed) as caught:
        conversation([None, stream_id]).create_stream(time.monotonic() + 1)
    message = str(caught.value)
    assert message.endswith(f"server sent an invalid stream id {shown} in its createStream reply")
    assert KEY not in message


@pytest.mark.parametrize("args", [[None], [None, math.nan], [None, "1"], [None, True]])
def test_no_usable_stream_id(args: list[object]) -> None:
    with pytest.raises(ConnectionFailed, match="no stream id"):
        conversation(args).create_stream(time.monotonic() + 1)
