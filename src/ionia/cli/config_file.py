"""``--config stream.toml``: every flag of ``ionia stream`` in a file.

Keys are the flags' names without the dashes (``video-bitrate = "4500k"``; ``video_bitrate``
is the same key), plus ``url`` (one or a list), ``service``, ``ingest`` and ``key``. The
file's values become the parser's defaults, so the command line still wins; where the
stream goes (``url``/``service``/``ingest``/``key``) is kept apart, because the environment
(``RTMP_URL``, ``STREAM_KEY``) comes between the command line and the file for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ionia.errors import ConfigError
from ionia.redact import remember_secret

__all__ = ["DESTINATION_KEYS", "ConfigFile", "load_config_file"]

log = logging.getLogger("ionia.cli")

#: where the stream goes: resolved with the environment in between (see the module text)
DESTINATION_KEYS = ("url", "service", "ingest", "key")
#: flags that make no sense in a file
_NOT_IN_A_FILE = {"help", "config", "url", "service", "ingest", "key"}


@dataclass(frozen=True, kw_only=True)
class ConfigFile:
    path: Path
    #: argparse dest → value, for ``set_defaults``
    defaults: dict[str, Any] = field(default_factory=dict)
    #: ``url`` (a list), ``service``, ``ingest``, ``key`` as the file gives them
    destination: dict[str, Any] = field(default_factory=dict)


def load_config_file(path: Path, parser: argparse.ArgumentParser) -> ConfigFile:
    """Read and check ``path`` against ``parser``'s flags; a ``ConfigError`` names the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:  # names the line and column, not its text
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    actions = _actions(parser)
    defaults: dict[str, Any] = {}
    destination: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        where = f"{path}: {raw_key}"
        if key in DESTINATION_KEYS:
            destination[key] = _destination_value(where, key, value)
            continue
        action = actions.get(key)
        if action is None:
            known = ", ".join(sorted([*actions, *DESTINATION_KEYS]))
            raise ConfigError(f"{path}: unknown key {raw_key!r}; the keys are: {known}")
        defaults[action.dest] = _value(where, action, value)
    if "key" in destination:
        remember_secret(destination["key"])
        _warn_if_readable(path)
    return ConfigFile(path=path, defaults=defaults, destination=destination)


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Flag name without dashes → its action, for the flags a file may set."""
    found = {}
    for action in parser._actions:  # argparse has no public list of a parser's flags
        names = [o.lstrip("-") for o in action.option_strings if o.startswith("--")]
        for name in names:
            if name not in _NOT_IN_A_FILE:
                found[name] = action
    return found


def _value(where: str, action: argparse.Action, value: object) -> object:
    if isinstance(value, dict | list):
        raise ConfigError(f"{where} must be a single value, not a table or a list")
    if action.nargs == 0:  # a switch: --loop, --insecure, --no-reconnect
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(value, bool) and action.nargs == "?":  # --adaptive-bitrate[=shared]
        return action.const if value else "off"
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a value, not {str(value).lower()}")
    convert = action.type
    if convert is int and not isinstance(value, int):
        raise ConfigError(f"{where} must be a whole number, not {value!r}")
    if convert is float and not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number, not {value!r}")
    if convert is None or convert is Path:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where} must be text, not {value!r}")
        value = str(value) if convert is None and not isinstance(value, str) else value
        value = Path(str(value)) if convert is Path else value
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{where} must be one of {', '.join(map(str, action.choices))}")
    return value


def _destination_value(where: str, key: str, value: object) -> object:
    if key == "url":
        urls = [value] if isinstance(value, str) else value
        if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
            raise ConfigError(f"{where} must be a URL or a list of URLs")
        return list(urls)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be non-empty text")
    return value


def _warn_if_readable(path: Path) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s holds a stream key and other users can read it: chmod 600 %s", path, path)
