"""Data types of the Miko wire protocol, as immutable dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

__all__ = ["AddressKind", "Endpoint", "EndpointStatus", "Protocol", "Strategy"]

EndpointStatus = Literal["passing", "warning", "critical"]
Protocol = Literal["http", "https", "grpc", "tcp", "ws", "wss"]
AddressKind = Literal["public", "internal"]
Strategy = Literal["round_robin", "weighted_random", "zone_first"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint of a service, as Miko lists it.

    ``internal_address`` is only ever set for tokens with the ``internal`` (or ``admin``)
    role. Endpoints are ordered by Miko: passing first, then heavier weight first.
    """

    id: str
    service: str
    protocol: str = "http"
    weight: int = 1
    status: str = "passing"
    source: str = "registered"
    public_address: str | None = None
    internal_address: str | None = None
    zone: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    registered_at: datetime | None = None
    last_seen_at: datetime | None = None
    ttl: str | None = None

    @property
    def passing(self) -> bool:
        """Whether Miko reports the endpoint healthy."""
        return self.status == "passing"

    def address(self, kind: AddressKind = "public") -> str | None:
        """The address to use for ``kind``.

        ``internal`` prefers the internal address and falls back to the public one, so an
        endpoint that only has a public address stays reachable from inside.
        """
        if kind == "internal":
            return self.internal_address or self.public_address
        return self.public_address

    @classmethod
    def from_json(cls, data: Mapping[str, Any], service: str | None = None) -> Endpoint:
        """Builds an endpoint from Miko's JSON; unknown fields are ignored."""
        tags = data.get("tags")
        metadata = data.get("metadata")
        weight = data.get("weight")
        return cls(
            id=str(data.get("id", "")),
            service=str(data.get("service") or service or ""),
            protocol=str(data.get("protocol") or "http"),
            weight=weight if isinstance(weight, int) and not isinstance(weight, bool) else 1,
            status=str(data.get("status") or "passing"),
            source=str(data.get("source") or "registered"),
            public_address=_optional_str(data.get("publicAddress")),
            internal_address=_optional_str(data.get("internalAddress")),
            zone=_optional_str(data.get("zone")),
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            metadata=MappingProxyType({str(k): str(v) for k, v in metadata.items()})
            if isinstance(metadata, dict)
            else _EMPTY,
            registered_at=_timestamp(data.get("registeredAt")),
            last_seen_at=_timestamp(data.get("lastSeenAt")),
            ttl=_optional_str(data.get("ttl")),
        )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
