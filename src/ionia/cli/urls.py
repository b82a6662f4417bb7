"""Where ``ionia stream`` sends the stream: the command line, else the environment, else
the ``--config`` file, else ``rtmpUrl`` in ./config.json."""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ionia.errors import ConfigError

__all__ = ["CONFIG_FILE", "Target", "resolve_target", "resolve_url", "resolve_urls"]

log = logging.getLogger("ionia.cli")

CONFIG_FILE = "config.json"


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where the stream goes, as ``initialize()`` takes it."""

    urls: list[str]
    #: a service's id, with its key and the ingest asked for (all None without a service)
    service: str | None = None
    stream_key: str | None = None
    ingest: str | None = None
    #: the URL came from ``RTMP_URL`` or ./config.json: SIGHUP re-reads it
    reload: bool = False


def resolve_target(args: argparse.Namespace) -> Target:
    """URLs and service from the command line; else ``$RTMP_URL``; else the ``--config``
    file's ``url``/``service``; else ./config.json. The key: ``--key``, else
    ``$STREAM_KEY``, else the file's ``key``."""
    config_file = getattr(args, "config_file", None)
    in_file: dict[str, object] = config_file.destination if config_file is not None else {}
    if not args.service and (args.key or args.ingest):
        raise ConfigError("--key and --ingest go with --service; a URL carries its own key")
    if args.key:
        log.warning(
            "--key puts the stream key in this command line, which any local user can read "
            "(ps): prefer STREAM_KEY in the environment or key in a --config file"
        )
    key = args.key or os.environ.get("STREAM_KEY", "").strip() or in_file.get("key")
    if args.url or args.service:
        service, urls = args.service, list(args.url)
        same = service == in_file.get("service")
        ingest = args.ingest or (in_file.get("ingest") if same else None)
    elif os.environ.get("RTMP_URL", "").strip():
        return Target(urls=resolve_urls([]), reload=True)
    elif "url" in in_file or "service" in in_file:
        service, ingest = in_file.get("service"), in_file.get("ingest")
        urls = list(in_file.get("url", []))  # type: ignore[call-overload]
    else:
        return Target(urls=resolve_urls([]), reload=True)
    if not service:
        return Target(urls=urls)
    return Target(
        urls=urls,
        service=str(service),
        stream_key=None if key is None else str(key),
        ingest=None if ingest is None else str(ingest),
    )


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
