"""One outage's retries: the waits between attempts and the failures that end them."""

from __future__ import annotations

import pytest

from ionia.errors import ConnectionFailed, PublishRejected
from ionia.output.reconnect import ReconnectPolicy, Retries

POLICY = ReconnectPolicy(delay=1.0, max_delay=10.0, refused_delay=0.25, refused_fast_s=30.0)
REFUSED = ConnectionFailed("connection refused", refused=True)
TIMED_OUT = ConnectionFailed("timed out")


def test_a_refusing_host_is_retried_fast_until_refused_fast_s() -> None:
    retries = Retries(POLICY, lost_at=100.0)
    assert not retries.fast  # the first wait is the backoff's
    assert retries.failed(REFUSED, ever_up=True, now=101.0) is None
    assert retries.delay == 0.25 and retries.fast
    retries.failed(REFUSED, ever_up=True, now=131.0)  # past refused_fast_s: it backs off
    assert 1.0 <= retries.delay <= 2.0 and not retries.fast  # backoff(1), with jitter
    assert retries.attempt == 2


def test_costly_failures_back_off() -> None:
    retries = Retries(POLICY, lost_at=0.0)
    for _ in range(3):
        retries.failed(TIMED_OUT, ever_up=True, now=1.0)
    assert 4.0 <= retries.delay <= 8.0  # backoff(3) = 8 s, scaled by 50-100 %


def test_a_rejection_before_any_good_session_ends_the_retries() -> None:
    rejected = PublishRejected("bad key")
    assert Retries(POLICY, lost_at=0.0).failed(rejected, ever_up=False, now=1.0) is rejected


@pytest.mark.parametrize("rejected_retries", [0, 3])
def test_after_a_good_session_rejections_are_retried_as_often_as_the_policy_says(
    rejected_retries: int,
) -> None:
    retries = Retries(ReconnectPolicy(rejected_retries=rejected_retries), lost_at=0.0)
    rejected = PublishRejected("key expired?")
    for _ in range(rejected_retries):
        assert retries.failed(rejected, ever_up=True, now=1.0) is None
    assert retries.failed(rejected, ever_up=True, now=1.0) is rejected


def test_max_attempts_exhausts_the_retries() -> None:
    retries = Retries(ReconnectPolicy(max_attempts=2), lost_at=0.0)
    retries.failed(TIMED_OUT, ever_up=True, now=1.0)
    assert not retries.exhausted
    retries.failed(REFUSED, ever_up=True, now=1.0)
    assert retries.exhausted
