"""Live services by name: their ingest URLs, stream-key shapes and limits (``services.toml``)."""

from ionia.services.catalog import Ingest, Limits, Service, find_service, load_services
from ionia.services.limits import StreamShape, fit_limits
from ionia.services.resolve import check_key, service_url

__all__ = [
    "Ingest",
    "Limits",
    "Service",
    "StreamShape",
    "check_key",
    "find_service",
    "fit_limits",
    "load_services",
    "service_url",
]
