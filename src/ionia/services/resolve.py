"""A service's ingest URL for a stream key, and the key's shape checked before connecting.

No message here contains the key: a key that is wrong is still someone's secret (a typo of
the real one, or the real one pasted into the wrong service).
"""

from __future__ import annotations

from ionia.errors import ConfigError
from ionia.redact import remember_secret
from ionia.services.catalog import Service

__all__ = ["check_key", "service_url"]


def service_url(
    service: Service,
    key: str | None,
    *,
    ingest: str | None = None,
    bandwidth_test: bool = False,
) -> str:
    """``rtmp[s]://host/app/KEY[?query]`` for ``service``'s ingest (by name, or a whole
    server URL that overrides the service's hosts but keeps its key check and limits)."""
    key = check_key(service, key)
    server = ingest if ingest is not None and "://" in ingest else service.ingest(ingest).url
    base, _, query = server.partition("?")
    queries = [q for q in (query, service.bandwidth_test if bandwidth_test else "") if q]
    url = f"{base.rstrip('/')}/{key}"
    for q in queries:
        url += ("&" if "?" in url else "?") + q
    return url


def check_key(service: Service, key: str | None) -> str:
    """The key if it can be ``service``'s, else a ``ConfigError`` that does not echo it."""
    where = f" (find it at {service.key_link})" if service.key_link else ""
    if key is None or not isinstance(key, str) or not key.strip():
        raise ConfigError(
            f"no stream key for {service.name}: set STREAM_KEY in the environment or key in "
            f"the config file{where}"
        )
    remember_secret(key)
    if key != key.strip():
        raise ConfigError(
            f"the {service.name} stream key has spaces or a line break around it: paste it again"
        )
    if "://" in key or "/" in key:
        raise ConfigError(
            f"the {service.name} stream key contains '/': pass the key alone, not a URL "
            "(the service gives the server)"
        )
    name = key.partition("?")[0]
    pattern = service.key_pattern
    if pattern is not None and not pattern.fullmatch(name):
        raise ConfigError(
            f"the stream key is not shaped like a {service.name} key ({service.key_example}): "
            f"copy it again{where}; nothing was sent"
        )
    return key
