"""The cached endpoint list, endpoint choice and the circuit breaker.

Pure state without I/O, shared by the sync and async clients and safe to use from
several threads.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from ._errors import MikoError, NoHealthyEndpoint, UnknownService
from ._models import AddressKind, Endpoint, Strategy

__all__ = ["Directory", "Target", "read_list"]

logger = logging.getLogger("miko")

_HTTPS_SCHEMES = {"https", "wss"}
_URL_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """An endpoint with its address parsed for HTTP requests."""

    endpoint: Endpoint
    address: str
    scheme: str
    host: str
    port: int | None
    prefix: str
    netloc: str
    # Rewritten URLs by request path: building an httpx.URL costs more than the rest of a
    # request's routing, and services see the same paths again and again.
    _urls: dict[bytes, httpx.URL] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, endpoint: Endpoint, address: str) -> Target | None:
        """``http://10.0.0.5:8080/api`` or ``10.0.0.5:8080`` (scheme from the protocol)."""
        text = address if "://" in address else f"{_scheme_of(endpoint.protocol)}://{address}"
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError):
            return None
        if not url.host:
            return None
        return cls(
            endpoint=endpoint,
            address=address,
            scheme=_scheme_of(url.scheme),
            host=url.host,
            port=url.port,
            prefix=url.path.rstrip("/"),
            netloc=url.netloc.decode("ascii"),
        )

    def url_for(self, url: httpx.URL) -> httpx.URL:
        """The request URL rewritten to this endpoint: scheme, host and port replaced, the
        endpoint's path prefix (if any) put in front of the request's path."""
        raw_path = url.raw_path
        cached = self._urls.get(raw_path)
        if cached is not None:
            return cached
        full = self.prefix.encode("ascii") + raw_path if self.prefix else raw_path
        rewritten = httpx.URL(scheme=self.scheme, host=self.host, port=self.port, raw_path=full)
        if len(self._urls) >= _URL_CACHE_SIZE:
            self._urls.clear()
        self._urls[raw_path] = rewritten
        return rewritten


def read_list(response: httpx.Response) -> tuple[int, Mapping[str, Any]]:
    """The index and services of a ``GET /v1/endpoints`` answer (status 200)."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise MikoError("malformed endpoint list from Miko: not a JSON object", status=response.status_code)
    index = body.get("index")
    services = body.get("services")
    if isinstance(index, bool) or not isinstance(index, int) or not isinstance(services, dict):
        raise MikoError("malformed endpoint list from Miko: no index or services", status=response.status_code)
    return index, services


def _scheme_of(protocol: str) -> str:
    return "https" if protocol in _HTTPS_SCHEMES else "http"


@dataclass(frozen=True, slots=True)
class _Snapshot:
    index: int
    # Every endpoint usable with the client's address kind, in Miko's order.
    endpoints: Mapping[str, tuple[Endpoint, ...]]
    # What picks choose from: passing endpoints with a usable address or, in panic mode, the
    # others; positive weights only, unless all are zero.
    targets: Mapping[str, tuple[Target, ...]]
    by_key: Mapping[tuple[str, str], Endpoint]
    # Services Miko lists, none of whose endpoints has an address of the client's kind.
    unaddressable: frozenset[str]
    # Services with no passing endpoint whose targets are the others (panic mode).
    panic: frozenset[str]


def _targets(usable: list[Endpoint], kind: AddressKind, strict: bool) -> tuple[tuple[Target, ...], bool]:
    """A service's targets, and whether they are chosen in panic mode.

    The passing endpoints; when none passes and the client is not ``strict``, the others
    instead. When Miko reports no endpoint of a service passing, the fault may lie with the
    directory's view (checks that cannot reach the fleet, leases that lapsed while Miko was
    away) rather than with the service, and a request to an endpoint that may well be healthy
    beats a certain error. Weights, zones and the strategy apply to them as to passing ones.
    """
    parsed = (Target.parse(endpoint, endpoint.address(kind) or "") for endpoint in usable)
    reachable = [target for target in parsed if target is not None]
    passing = [target for target in reachable if target.endpoint.passing]
    panic = not passing and not strict and bool(reachable)
    chosen = reachable if panic else passing
    weighted = [t for t in chosen if t.endpoint.weight > 0]
    return tuple(weighted or chosen), panic


def _build(index: int, services: Mapping[str, Any], kind: AddressKind, strict: bool) -> _Snapshot:
    endpoints: dict[str, tuple[Endpoint, ...]] = {}
    targets: dict[str, tuple[Target, ...]] = {}
    by_key: dict[tuple[str, str], Endpoint] = {}
    unaddressable: set[str] = set()
    panic: set[str] = set()
    for name, items in services.items():
        if not isinstance(items, list):
            continue
        usable: list[Endpoint] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            endpoint = Endpoint.from_json(item, name)
            if endpoint.address(kind) is None:
                continue
            usable.append(endpoint)
            by_key[(endpoint.service, endpoint.id)] = endpoint
        endpoints[name] = tuple(usable)
        if items and not usable:
            unaddressable.add(name)
        targets[name], in_panic = _targets(usable, kind, strict)
        if in_panic:
            panic.add(name)
    return _Snapshot(
        index=index,
        endpoints=endpoints,
        targets=targets,
        by_key=by_key,
        unaddressable=frozenset(unaddressable),
        panic=frozenset(panic),
    )


def _log_panic_changes(previous: _Snapshot | None, snapshot: _Snapshot) -> None:
    """Entering and leaving panic mode, once per change rather than per request: the directory
    thinks a whole service is down, yet traffic still flows to it."""
    before = frozenset() if previous is None else previous.panic
    entered = sorted(snapshot.panic - before)
    left = sorted(before - snapshot.panic)
    if entered:
        logger.warning("miko: no passing endpoint, choosing among the others (panic mode): %s", ", ".join(entered))
    if left:
        logger.info("miko: panic mode over: %s", ", ".join(left))


class Directory:
    """The last good endpoint list, how fresh it is, and which endpoints are cooling down."""

    def __init__(
        self,
        *,
        address_kind: AddressKind,
        strategy: Strategy,
        zone: str | None,
        cooldown: float,
        strict: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self._kind: AddressKind = address_kind
        self._strict = strict
        self._strategy: Strategy = strategy
        self._zone = zone
        self._cooldown = cooldown
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._down: dict[tuple[str, str], float] = {}
        self._turn: dict[str, int] = {}
        self.last_updated: datetime | None = None
        self.last_error: MikoError | None = None
        self._failing = False

    # ----- freshness -------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    @property
    def index(self) -> int | None:
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.index

    @property
    def stale(self) -> bool:
        """True until a first list arrived, and while Miko cannot be reached."""
        return self._snapshot is None or self._failing

    @property
    def panic_services(self) -> list[str]:
        """The services served in panic mode, sorted (always none when strict)."""
        snapshot = self._snapshot
        return [] if snapshot is None else sorted(snapshot.panic)

    def failed(self, error: MikoError) -> None:
        self.last_error = error
        self._failing = True

    def apply(self, index: int, services: Mapping[str, Any]) -> None:
        """Takes a new list: a later index, or any index after Miko's history was reset."""
        snapshot = _build(index, services, self._kind, self._strict)
        with self._lock:
            previous = self._snapshot
            if self._down:
                self._clear_recovered(previous, snapshot)
            self._snapshot = snapshot
            self.last_updated = datetime.now(timezone.utc)
            self.last_error = None
            self._failing = False
        _log_panic_changes(previous, snapshot)

    def _clear_recovered(self, previous: _Snapshot | None, snapshot: _Snapshot) -> None:
        """A mark ends when the list says the endpoint passes again: it turned passing, or
        came back with another address. An unrelated change keeps the mark."""
        for key in list(self._down):
            now = snapshot.by_key.get(key)
            if now is None:
                del self._down[key]
                continue
            if not now.passing:
                continue
            before = previous.by_key.get(key) if previous is not None else None
            if before is None or not before.passing or before.address(self._kind) != now.address(self._kind):
                del self._down[key]

    # ----- reading ---------------------------------------------------------------------

    def services(self) -> list[str]:
        snapshot = self._snapshot
        return [] if snapshot is None else sorted(snapshot.endpoints)

    def endpoints(self, service: str) -> list[Endpoint]:
        snapshot = self._snapshot
        found = None if snapshot is None else snapshot.endpoints.get(service)
        if found is None:
            raise UnknownService(service)
        return list(found)

    def pick(self, service: str, exclude: Collection[str] = ()) -> Target:
        """Chooses a passing endpoint by strategy (in panic mode, one of the others), skipping
        those cooling down and those whose id is in ``exclude``. When every candidate is cooling
        down or excluded, they are used anyway: a possibly recovered endpoint beats a certain
        error."""
        snapshot = self._snapshot
        targets = None if snapshot is None else snapshot.targets.get(service)
        if targets is None:
            raise UnknownService(service)
        if not targets:
            if snapshot is not None and service in snapshot.unaddressable:
                raise NoHealthyEndpoint(service, f"service {service!r} has no endpoint with a {self._kind} address")
            raise NoHealthyEndpoint(service)
        with self._lock:
            candidates = targets
            if self._down or exclude:
                candidates = self._available(service, targets, exclude)
            return self._choose(service, candidates)

    def _available(self, service: str, targets: tuple[Target, ...], exclude: Collection[str]) -> tuple[Target, ...]:
        now = time.monotonic()
        down = self._down
        keep: list[Target] = []
        for target in targets:
            if target.endpoint.id in exclude:
                continue
            key = (target.endpoint.service, target.endpoint.id)
            until = down.get(key)
            if until is not None:
                if until > now:
                    continue
                del down[key]
            keep.append(target)
        if keep:
            return tuple(keep)
        untried = tuple(t for t in targets if t.endpoint.id not in exclude)
        return untried or targets

    def _choose(self, service: str, candidates: tuple[Target, ...]) -> Target:
        if len(candidates) == 1:
            return candidates[0]
        strategy = self._strategy
        if strategy == "zone_first":
            local = tuple(t for t in candidates if t.endpoint.zone == self._zone)
            candidates = local or candidates
        elif strategy == "weighted_random":
            weights = [t.endpoint.weight for t in candidates]
            if sum(weights) > 0:
                return self._rng.choices(candidates, weights=weights)[0]
            return self._rng.choice(candidates)
        turn = self._turn.get(service, 0)
        self._turn[service] = turn + 1
        return candidates[turn % len(candidates)]

    # ----- circuit breaker -------------------------------------------------------------

    def mark_down(self, endpoint: Endpoint) -> None:
        """Skips the endpoint for the cool-down, or until the list says it passes again."""
        if self._cooldown <= 0:
            return
        with self._lock:
            self._down[(endpoint.service, endpoint.id)] = time.monotonic() + self._cooldown

    def is_down(self, service: str, endpoint_id: str) -> bool:
        until = self._down.get((service, endpoint_id))
        return until is not None and until > time.monotonic()
