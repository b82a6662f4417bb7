"""Acknowledgements on their own: counting the server's, calling a stall, owing ours."""

from __future__ import annotations

import time

from ionia.rtmp.acks import ACK_READ_SLACK_S, AcksOwed, ServerAcks

HANDSHAKE = 3073


def test_acks_count_the_forward_distance_across_the_32_bit_wrap() -> None:
    acks = ServerAcks(window=1000, io_timeout=5.0)
    acks.start(HANDSHAKE)
    sent = HANDSHAKE + 10_000
    acks.received(0xFFFF_FF00, sent + 0x1_0000_0000)  # a server that starts near the top
    acks.received(0x100, sent + 0x1_0000_0000)  # and wraps: 0x200 more, not 2**32 less
    assert acks.acked == 0xFFFF_FF00 + 0x200


def test_acks_never_claim_more_than_was_sent() -> None:
    acks = ServerAcks(window=1000, io_timeout=5.0)
    acks.start(HANDSHAKE)
    acks.received(50_000, HANDSHAKE + 20_000)
    assert acks.acked == HANDSHAKE + 20_000
    assert acks.unacked(HANDSHAKE + 20_000) == 0


def test_no_stall_before_the_first_ack_or_within_two_steps() -> None:
    acks = ServerAcks(window=1000, io_timeout=5.0)
    acks.start(HANDSHAKE)
    assert acks.stall_at(HANDSHAKE + 1_000_000) is None  # it may never acknowledge
    acks.received(1000, HANDSHAKE + 1000)
    assert acks.stall_at(HANDSHAKE + 3000) is None  # two windows outstanding: normal


def test_a_stall_is_due_io_timeout_after_the_last_ack() -> None:
    acks = ServerAcks(window=1000, io_timeout=5.0)
    acks.start(HANDSHAKE)
    before = time.monotonic()
    acks.received(1000, HANDSHAKE + 1000)
    after = time.monotonic()
    stall_at = acks.stall_at(HANDSHAKE + 4000)
    assert stall_at is not None
    assert before + 5.0 - ACK_READ_SLACK_S <= stall_at <= after + 5.0 - ACK_READ_SLACK_S


def test_the_widest_step_seen_widens_what_counts_as_outstanding() -> None:
    acks = ServerAcks(window=1000, io_timeout=5.0)
    acks.start(0)
    acks.received(10_000, 10_000)  # this server keeps its own window of 10 000
    assert acks.stall_at(10_000 + 20_000) is None
    assert acks.stall_at(10_000 + 20_001) is not None


def test_our_acks_are_owed_once_a_window_and_count_every_byte() -> None:
    owed = AcksOwed()
    assert owed.received(10_000) is None  # no window asked for: no acks
    owed.window = 5000
    assert owed.received(1) == 10_001
    assert owed.received(4999) is None
    assert owed.received(1) == 15_001
