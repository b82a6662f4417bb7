"""The one worker lifecycle: unique names, a last resort for whatever escapes, a stop with
a deadline, and nothing left for Python's default thread hook."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ionia.worker import Worker, describe


@pytest.fixture
def default_hook_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What reaches ``threading.excepthook`` during the test (must stay empty)."""
    calls: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: calls.append(repr(args.exc_value)))
    yield calls


def test_names_are_unique_per_kind() -> None:
    first = Worker("ionia-test", lambda: None, on_crash=lambda exc: None)
    second = Worker("ionia-test", lambda: None, on_crash=lambda exc: None)
    assert first.name != second.name
    assert first.name.startswith("ionia-test-") and second.name.startswith("ionia-test-")


def test_what_escapes_reaches_the_owner_once(default_hook_calls: list[str]) -> None:
    crashes: list[BaseException] = []
    done = threading.Event()

    def boom() -> None:
        raise struct_error()

    def on_crash(exc: BaseException) -> None:
        crashes.append(exc)
        done.set()

    worker = Worker("ionia-test", boom, on_crash=on_crash)
    worker.start()
    assert done.wait(5)
    assert worker.join(5)
    assert len(crashes) == 1 and worker.crash is crashes[0]
    assert default_hook_calls == []


def struct_error() -> Exception:
    import struct

    try:
        struct.pack("<I", -1)
    except struct.error as exc:
        return exc
    raise AssertionError("struct.pack accepted -1")


def test_a_failing_owner_is_logged_not_raised(
    default_hook_calls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    def bad_owner(exc: BaseException) -> None:
        raise RuntimeError("owner broke")

    worker = Worker("ionia-test", lambda: 1 / 0 and None, on_crash=bad_owner)
    worker.start()
    assert worker.join(5)
    assert "owner broke" in caplog.text and "ZeroDivisionError" in caplog.text
    assert default_hook_calls == []


def test_stop_has_a_deadline_and_says_when_it_missed_it() -> None:
    release = threading.Event()
    worker = Worker("ionia-test", lambda: release.wait(10) and None, on_crash=lambda e: None)
    worker.start()
    assert worker.stop(0.1) is False  # its target ignores the stop event
    assert worker.alive
    release.set()
    assert worker.join(5) and not worker.alive


def test_stop_wakes_a_target_waiting_on_the_stop_event() -> None:
    worker = Worker("ionia-test", lambda: None, on_crash=lambda e: None)
    worker = Worker("ionia-test", lambda: worker.stopping.wait(10) and None,
                    on_crash=lambda e: None)  # fmt: skip
    worker.start()
    assert worker.stop(2.0)


def test_a_worker_never_joins_itself() -> None:
    result: list[bool] = []
    worker = Worker("ionia-test", lambda: result.append(worker.stop(1.0)),
                    on_crash=lambda e: None)  # fmt: skip
    worker.start()
    assert worker.join(5)
    assert result == [False]


def test_describe_masks_stream_keys() -> None:
    text = describe(OSError("cannot reach rtmp://host/live/SECRETKEY now"))
    assert "SECRETKEY" not in text and text.startswith("OSError: ")
