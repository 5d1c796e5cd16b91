"""Miko SDK: find services in the Miko directory, call them with failover, register yours,
and follow the fleet's configuration keys (``client.config("billing/")``).

with miko.Client("http://miko.internal:8740") as client:
    hanami = client.http("hanami")
    print(hanami.get("/status").json())
"""

import logging

from ._async_client import AsyncClient, AsyncRegistration
from ._client import Client, Registration
from ._config import AsyncConfig, Config
from ._config_core import Change, ConfigEntry, Written
from ._errors import (
    Forbidden,
    InvalidAddress,
    InvalidRequest,
    KeyNotFound,
    KvForbidden,
    MikoError,
    MikoUnreachable,
    NoHealthyEndpoint,
    NotFound,
    Unauthorized,
    UnknownService,
    VersionConflict,
)
from ._models import AddressKind, Endpoint, EndpointStatus, Protocol, Strategy
from ._transport import ENDPOINT_EXTENSION, AsyncMikoTransport, MikoTransport, endpoint_of

__version__ = "0.1.0"

logging.getLogger("miko").addHandler(logging.NullHandler())

__all__ = [
    "ENDPOINT_EXTENSION",
    "AddressKind",
    "AsyncClient",
    "AsyncConfig",
    "AsyncMikoTransport",
    "AsyncRegistration",
    "Change",
    "Client",
    "Config",
    "ConfigEntry",
    "Endpoint",
    "EndpointStatus",
    "Forbidden",
    "InvalidAddress",
    "InvalidRequest",
    "KeyNotFound",
    "KvForbidden",
    "MikoError",
    "MikoTransport",
    "MikoUnreachable",
    "NoHealthyEndpoint",
    "NotFound",
    "Protocol",
    "Registration",
    "Strategy",
    "Unauthorized",
    "UnknownService",
    "VersionConflict",
    "Written",
    "__version__",
    "endpoint_of",
]
