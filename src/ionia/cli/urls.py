"""Where ``ionia stream`` finds its URL when the command line gives none."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ionia.errors import ConfigError

__all__ = ["CONFIG_FILE", "resolve_url", "resolve_urls"]

CONFIG_FILE = "config.json"


def resolve_urls(args: list[str]) -> list[str]:
    """URLs from the command line, else ``$RTMP_URL``, else ``rtmpUrl`` in ./config.json."""
    return list(args) if args else [resolve_url(None)]


def resolve_url(arg: str | None) -> str:
    if arg:
        return arg
    env = os.environ.get("RTMP_URL", "").strip()
    if env:
        return env
    path = Path(CONFIG_FILE)
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:  # a folder, no permission, an unreadable device
            raise ConfigError(f"cannot read ./{CONFIG_FILE}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"./{CONFIG_FILE} is not UTF-8 text") from None
        try:
            value = json.loads(text).get("rtmpUrl")
        except (ValueError, AttributeError):
            raise ConfigError(f"./{CONFIG_FILE} is not a JSON object with rtmpUrl") from None
        if value is not None and not isinstance(value, str):
            raise ConfigError(
                f"rtmpUrl in ./{CONFIG_FILE} must be a string URL like rtmp://host/app/<stream key>"
            )
        if value and value.strip():
            return value
    raise ConfigError("no stream URL: pass one, set RTMP_URL, or put rtmpUrl in ./config.json")
