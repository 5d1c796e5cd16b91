"""What both clients share about self-registration."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ._errors import InvalidRequest
from ._options import SERVICE_NAME, Seconds, duration_text, seconds

logger = logging.getLogger("miko")

#: Default lease of a registration, in seconds; heartbeats go out every third of it.
DEFAULT_TTL = 15.0


def registration_body(
    service: str,
    *,
    id: str | None,
    public_address: str | None,
    internal_address: str | None,
    protocol: str | None,
    weight: int | None,
    zone: str | None,
    tags: Sequence[str] | None,
    metadata: Mapping[str, str] | None,
    ttl: Seconds | None,
    check: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], float | None]:
    """The JSON body of ``POST /v1/services/{service}/endpoints`` and the lease in seconds."""
    if not isinstance(service, str) or not SERVICE_NAME.match(service):
        raise InvalidRequest(f"invalid service name {service!r}: expected a DNS label", code="invalid_request")
    if public_address is None and internal_address is None:
        raise InvalidRequest("a registration needs public_address or internal_address", code="invalid_request")
    body: dict[str, Any] = {}
    if id is not None:
        body["id"] = id
    if public_address is not None:
        body["publicAddress"] = public_address
    if internal_address is not None:
        body["internalAddress"] = internal_address
    if protocol is not None:
        body["protocol"] = protocol
    if weight is not None:
        body["weight"] = weight
    if zone is not None:
        body["zone"] = zone
    if tags is not None:
        body["tags"] = list(tags)
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if check is not None:
        body["check"] = dict(check)
    lease: float | None = None
    if ttl is not None:
        lease = seconds(ttl, "ttl")
        body["ttl"] = duration_text(lease)
    return body, lease


def endpoints_path(service: str) -> str:
    return f"/v1/services/{service}/endpoints"


def endpoint_path(service: str, endpoint_id: str) -> str:
    return f"/v1/services/{service}/endpoints/{quote(endpoint_id, safe='')}"


def heartbeat_interval(lease: float) -> float:
    return max(lease / 3.0, 0.05)


def retry_delay(failures: int, interval: float) -> float:
    """After a failed heartbeat: 200 ms doubling, never beyond the normal interval."""
    return float(min(interval, 0.2 * (2 ** (failures - 1))))
