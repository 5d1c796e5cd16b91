"""Miko SDK: find services in the Miko directory, call them with failover, register yours.

with miko.Client("http://miko.internal:8740") as client:
    hanami = client.http("hanami")
    print(hanami.get("/status").json())
"""

import logging

from ._async_client import AsyncClient, AsyncRegistration
from ._client import Client, Registration
from ._errors import (
    Forbidden,
    InvalidAddress,
    InvalidRequest,
    MikoError,
    MikoUnreachable,
    NoHealthyEndpoint,
    NotFound,
    Unauthorized,
    UnknownService,
)
from ._models import AddressKind, Endpoint, EndpointStatus, Protocol, Strategy
from ._transport import ENDPOINT_EXTENSION, AsyncMikoTransport, MikoTransport, endpoint_of

__version__ = "0.1.0"

logging.getLogger("miko").addHandler(logging.NullHandler())

__all__ = [
    "ENDPOINT_EXTENSION",
    "AddressKind",
    "AsyncClient",
    "AsyncMikoTransport",
    "AsyncRegistration",
    "Client",
    "Endpoint",
    "EndpointStatus",
    "Forbidden",
    "InvalidAddress",
    "InvalidRequest",
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
    "__version__",
    "endpoint_of",
]
