"""Stream keys are masked in free text: given, remembered, and inside rtmp URLs."""

from __future__ import annotations

import pytest

from ionia.redact import redact, remember_secret

KEY = "live_123456789_AbCdEfGhIjKlMnOp"


def test_redact() -> None:
    text = f"failed rtmp://h/live/{KEY} and rtmps://h:1/a/b/{KEY}?x=1 (key {KEY})"
    out = redact(text, KEY)
    assert KEY not in out
    assert "rtmp://h/live/****" in out
    assert redact("publish name=other", "") == "publish name=other"


def test_redact_query_key() -> None:
    key = f"{KEY}?token=abc"
    out = redact(f"name {KEY} with {key}", key)
    assert KEY not in out and "abc" not in out


@pytest.mark.parametrize(
    ("after", "shown"),
    [
        (": connection refused", "rtmp://h/live/****: connection refused"),
        (", retrying", "rtmp://h/live/****, retrying"),
        (") failed", "rtmp://h/live/****) failed"),
        ("' failed", "rtmp://h/live/****' failed"),
        ('" failed', 'rtmp://h/live/****" failed'),
        ("", "rtmp://h/live/****"),
        (".", "rtmp://h/live/****."),
        ("?token=abc: refused", "rtmp://h/live/****: refused"),
        ("?token=abc", "rtmp://h/live/****"),
    ],
)
def test_redact_replaces_only_the_key(after: str, shown: str) -> None:
    text = f"publishing to rtmp://h/live/{KEY}{after}"
    assert redact(text) == f"publishing to {shown}"
    assert redact(f"(rtmp://h/live/{KEY})") == "(rtmp://h/live/****)"


def test_redact_masks_credentials_and_keeps_placeholders() -> None:
    assert redact(f"rtmp://bob:pw@h/live/{KEY} x") == "rtmp://****@h/live/**** x"
    for placeholder in (
        "expected rtmp://host/app/<stream key>",
        "like rtmp://host/app/<stream key>",
    ):
        assert redact(placeholder) == placeholder
    assert redact("rtmp://host/app/ and more") == "rtmp://host/app/ and more"


def test_the_log_formatter_masks_messages_and_tracebacks() -> None:
    import logging
    import sys

    from ionia.redact import RedactingFormatter

    remember_secret("formatter-key-5150")
    try:
        raise OSError("lost rtmp://other/live/unparsed-key-77 and formatter-key-5150")
    except OSError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "publishing %s", ("formatter-key-5150",),
            sys.exc_info(),
        )  # fmt: skip
    text = RedactingFormatter("%(message)s").format(record)
    assert "formatter-key-5150" not in text and "unparsed-key-77" not in text
    assert "Traceback" in text and text.startswith("publishing ****")
