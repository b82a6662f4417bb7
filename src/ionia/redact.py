"""Masking stream keys in free text: log lines, tracebacks, error messages, statistics.

A stream key is secret and must never be shown. Every key a URL parser has seen is
remembered here, so text that names one without its URL (a server's message, a library's
exception) is masked too; so is the key of any ``rtmp[s]://`` URL in the text. This sits at
the bottom of the import graph, beside the errors, because every layer masks what it says.
"""

from __future__ import annotations

import logging
import re

MASK = "****"

# An rtmp URL in free text: the optional user:password@ and the last path element (the key,
# with its ?query) are secret. Punctuation right after the key ("KEY: refused", "(…/KEY)") ends
# the sentence, not the key, and stays; placeholders ("<stream key>") are not secrets.
_URL_IN_TEXT = re.compile(
    r"(rtmps?://)([^\s/@]+@)?([^\s/]+/(?:[^\s/]+/)*)([^\s/'\"<>]+)(?=$|[\s'\"<>])", re.IGNORECASE
)
_TRAILING = ":,.;!)]}"


def _mask_url(match: re.Match[str]) -> str:
    scheme, userinfo, path, key = match.groups()
    rest = key.rstrip(_TRAILING)
    tail = key[len(rest) :]
    if not rest:  # only punctuation
        return match.group(0)
    return f"{scheme}{MASK + '@' if userinfo else ''}{path}{MASK}{tail}"


#: every stream key this process has parsed, so text that names one without its URL (a
#: server's message, a library's exception) is masked too; a few short strings at most
_KNOWN_SECRETS: set[str] = set()
#: shorter keys are not masked by themselves (they would mask ordinary words)
_MIN_SECRET_LEN = 6


def remember_secret(key: str) -> None:
    """The key, the key without its query, and each value of the query (``?token=…``)."""
    name, _, query = key.partition("?")
    values = [part.partition("=")[2] or part for part in query.split("&") if part]
    for secret in (key, name, *values):
        if len(secret) >= _MIN_SECRET_LEN:
            _KNOWN_SECRETS.add(secret)


def redact(text: str, *secrets: str) -> str:
    """Mask stream keys inside free text (server messages, exception strings): the given
    ``secrets``, every key remembered so far, and the key of any rtmp URL in the text."""
    for secret in sorted({*secrets, *_KNOWN_SECRETS}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
            base = secret.split("?", 1)[0]
            if base:
                text = text.replace(base, MASK)
    return _URL_IN_TEXT.sub(_mask_url, text)


class RedactingFormatter(logging.Formatter):
    """Formats log records, tracebacks included, with every stream key masked: what a
    library logs (ours, PyAV's, urllib's) goes through the same mask as our messages."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
