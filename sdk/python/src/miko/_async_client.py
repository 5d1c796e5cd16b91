"""The asyncio client: a background task keeps the endpoint list fresh."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from ._client import _check_service, _refresh_delay
from ._directory import Directory, read_list
from ._errors import MikoError, MikoUnreachable, Unauthorized, error_from_response, unreachable
from ._models import AddressKind, Endpoint, Strategy
from ._options import CertTypes, Options, Seconds, VerifyTypes, seconds
from ._registration import (
    DEFAULT_TTL,
    endpoint_path,
    endpoints_path,
    heartbeat_interval,
    registration_body,
    retry_delay,
)
from ._transport import AsyncMikoTransport

__all__ = ["AsyncClient", "AsyncRegistration"]

logger = logging.getLogger("miko")


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancels a background task and waits for it; a cancellation of the caller still
    propagates."""
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task])


class AsyncClient:
    """Miko client for asyncio code; the options are those of :class:`~miko.Client`.

    The background task starts with ``async with`` (or the first awaited call) and is
    cancelled by :meth:`aclose`. Use one client per event loop.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        address_kind: AddressKind = "public",
        zone: str | None = None,
        strategy: Strategy | None = None,
        timeout: Seconds = 5.0,
        wait: Seconds = 30.0,
        cooldown: Seconds = 10.0,
        max_attempts: int = 3,
        backoff_max: Seconds = 2.0,
        verify: VerifyTypes = True,
        cert: CertTypes = None,
        services: Sequence[str] | None = None,
        strict: bool = False,
    ) -> None:
        options = Options.build(
            address,
            token=token,
            address_kind=address_kind,
            zone=zone,
            strategy=strategy,
            timeout=timeout,
            wait=wait,
            cooldown=cooldown,
            max_attempts=max_attempts,
            backoff_max=backoff_max,
            verify=verify,
            cert=cert,
            services=services,
            strict=strict,
        )
        self._options = options
        self._directory = Directory(
            address_kind=options.address_kind,
            strategy=options.strategy,
            zone=options.zone,
            cooldown=options.cooldown,
            strict=options.strict,
        )
        common: dict[str, Any] = {
            "base_url": options.address,
            "headers": dict(options.headers),
            "timeout": options.timeout,
            "verify": options.miko_tls(),
            "trust_env": False,
        }
        self._api = httpx.AsyncClient(**common)
        self._poller = httpx.AsyncClient(**common, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self._settled = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gave_up = False
        self._closed = False
        self._registrations: set[AsyncRegistration] = set()
        self._http: dict[str, httpx.AsyncClient] = {}
        self._other_http: weakref.WeakSet[httpx.AsyncClient] = weakref.WeakSet()

    # ----- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> AsyncClient:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._refresh_loop(), name="miko-refresh")

    async def aclose(self) -> None:
        """Deregisters this client's registrations, cancels the background task and closes
        the HTTP clients made by :meth:`http`. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        registrations = list(self._registrations)
        self._registrations.clear()
        clients = [*self._http.values(), *self._other_http]
        self._http.clear()
        try:
            for registration in registrations:
                await registration._shutdown(quiet=True)
        finally:
            self._settled.set()
            await _cancel(self._task)
            for client in clients:
                await client.aclose()
            await self._poller.aclose()
            await self._api.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_ready(self, timeout: Seconds | None = None) -> None:
        """Waits for the first endpoint list; see :meth:`Client.wait_ready`."""
        directory = self._directory
        if directory.loaded:
            return
        if self._closed:
            raise MikoError("the Miko client is closed")
        self._start()
        if timeout is not None or not self._gave_up:
            limit = self._options.timeout if timeout is None else seconds(timeout, "timeout", allow_zero=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._settled.wait(), limit)
            if directory.loaded:
                return
            if self._closed:
                raise MikoError("the Miko client is closed")
            if timeout is None:
                self._gave_up = True
        raise directory.last_error or MikoUnreachable(f"no endpoint list from Miko at {self._options.address} yet")

    # ----- freshness -------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self._options.address

    @property
    def address_kind(self) -> AddressKind:
        return self._options.address_kind

    @property
    def index(self) -> int | None:
        return self._directory.index

    @property
    def stale(self) -> bool:
        return self._directory.stale

    @property
    def last_updated(self) -> datetime | None:
        return self._directory.last_updated

    @property
    def last_error(self) -> MikoError | None:
        return self._directory.last_error

    @property
    def panic_services(self) -> list[str]:
        """See :attr:`Client.panic_services`."""
        return self._directory.panic_services

    # ----- discovery -------------------------------------------------------------------

    async def services(self) -> list[str]:
        await self.wait_ready()
        return self._directory.services()

    async def endpoints(self, service: str) -> list[Endpoint]:
        """See :meth:`Client.endpoints`."""
        await self.wait_ready()
        return self._directory.endpoints(service)

    async def pick(self, service: str) -> Endpoint:
        """See :meth:`Client.pick`."""
        await self.wait_ready()
        return self._directory.pick(service).endpoint

    def mark_down(self, endpoint: Endpoint) -> None:
        """See :meth:`Client.mark_down`."""
        self._directory.mark_down(endpoint)

    def transport(
        self, *, transport: httpx.AsyncBaseTransport | None = None, max_attempts: int | None = None
    ) -> AsyncMikoTransport:
        """An ``httpx`` async transport resolving ``http://<service>/...`` through this client."""
        return AsyncMikoTransport(self, transport=transport, max_attempts=max_attempts)

    def http(self, service: str, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` for ``service``; see :meth:`Client.http`."""
        _check_service(service)
        if self._closed:
            raise MikoError("the Miko client is closed")
        if not kwargs:
            cached = self._http.get(service)
            if cached is None or cached.is_closed:
                cached = self._new_http(service, {})
                self._http[service] = cached
            return cached
        client = self._new_http(service, kwargs)
        self._other_http.add(client)
        return client

    def _new_http(self, service: str, kwargs: dict[str, Any]) -> httpx.AsyncClient:
        inner = kwargs.pop("transport", None)
        max_attempts = kwargs.pop("max_attempts", None)
        kwargs.setdefault("timeout", 10.0)
        return httpx.AsyncClient(
            base_url=f"http://{service}",
            transport=AsyncMikoTransport(self, transport=inner, max_attempts=max_attempts),
            **kwargs,
        )

    # ----- registration ----------------------------------------------------------------

    async def register(
        self,
        service: str,
        *,
        public_address: str | None = None,
        internal_address: str | None = None,
        id: str | None = None,
        protocol: str | None = None,
        weight: int | None = None,
        zone: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        ttl: Seconds | None = DEFAULT_TTL,
        check: Mapping[str, Any] | None = None,
    ) -> AsyncRegistration:
        """See :meth:`Client.register`; heartbeats run in a task."""
        if self._closed:
            raise MikoError("the Miko client is closed")
        body, lease = registration_body(
            service,
            id=id,
            public_address=public_address,
            internal_address=internal_address,
            protocol=protocol,
            weight=weight,
            zone=zone,
            tags=tags,
            metadata=metadata,
            ttl=ttl,
            check=check,
        )
        endpoint = await self._post_registration(service, body)
        body["id"] = endpoint.id
        registration = AsyncRegistration(self, service, body, lease, endpoint)
        if self._closed:
            await registration._shutdown(quiet=True)
            raise MikoError("the Miko client is closed")
        self._registrations.add(registration)
        registration._start()
        return registration

    async def _post_registration(self, service: str, body: Mapping[str, Any]) -> Endpoint:
        response = await self._call("POST", endpoints_path(service), json=body)
        if response.status_code not in (200, 201):
            raise error_from_response(response, f"registering in {service!r}")
        return Endpoint.from_json(response.json(), service)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._api.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise unreachable(self._options.address, error) from error

    def _forget(self, registration: AsyncRegistration) -> None:
        self._registrations.discard(registration)

    # ----- background refresh ----------------------------------------------------------

    async def _refresh_loop(self) -> None:
        options = self._options
        directory = self._directory
        index: int | None = None
        failures = 0
        while True:
            try:
                response = await self._poller.get(
                    "/v1/endpoints",
                    # After a failure, a plain read: Miko may be a new process with nothing new
                    # to say, and its first answer is what ends the staleness.
                    params=options.poll_params(index if failures == 0 else None),
                    timeout=options.poll_timeout(index is not None and failures == 0),
                )
                if response.status_code != 200:
                    raise error_from_response(response, "reading endpoints")
                index, services = read_list(response)
                directory.apply(index, services)
                failures = 0
                self._settled.set()
                continue
            except httpx.HTTPError as error:
                directory.failed(unreachable(options.address, error))
                if failures == 0:
                    logger.warning(
                        "miko: %s%s", directory.last_error, "; using the last good list" if directory.loaded else ""
                    )
            except MikoError as error:
                directory.failed(error)
                if isinstance(error, Unauthorized):
                    self._settled.set()
                if failures == 0:
                    logger.warning("miko: %s", error)
            except Exception as error:  # keep the task alive whatever happens
                directory.failed(MikoError(f"refreshing endpoints failed: {error!r}"))
                if failures == 0:
                    logger.exception("miko: refreshing endpoints failed")
            failures += 1
            await asyncio.sleep(_refresh_delay(failures, options.backoff_max))

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("stale" if self.stale else "fresh")
        return f"<miko.AsyncClient {self._options.address} index={self.index} {state}>"


class AsyncRegistration:
    """An endpoint this process registered; heartbeats run in a task.

    Use with ``async with`` or call :meth:`deregister`; :meth:`AsyncClient.aclose`
    deregisters whatever is left.
    """

    def __init__(
        self, client: AsyncClient, service: str, body: dict[str, Any], lease: float | None, endpoint: Endpoint
    ) -> None:
        self._client = client
        self._service = service
        self._body = body
        self._lease = lease
        self._endpoint = endpoint
        self._task: asyncio.Task[None] | None = None
        self._done = False
        self.last_error: MikoError | None = None

    @property
    def service(self) -> str:
        return self._service

    @property
    def id(self) -> str:
        return self._endpoint.id

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    async def __aenter__(self) -> AsyncRegistration:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.deregister()

    def _start(self) -> None:
        if self._lease is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._heartbeat_loop(), name=f"miko-heartbeat-{self._service}"
            )

    async def heartbeat(self) -> Endpoint:
        """Renews the lease now; registers again if Miko no longer knows the endpoint."""
        client = self._client
        response = await client._call("PUT", endpoint_path(self._service, self.id) + "/heartbeat")
        if response.status_code == 404:
            logger.info("miko: endpoint %s of %s is gone, registering again", self.id, self._service)
            self._endpoint = await client._post_registration(self._service, self._body)
            return self._endpoint
        if response.status_code != 200:
            raise error_from_response(response, f"heartbeat of {self.id!r}")
        self._endpoint = Endpoint.from_json(response.json(), self._service)
        return self._endpoint

    async def _heartbeat_loop(self) -> None:
        assert self._lease is not None
        interval = heartbeat_interval(self._lease)
        delay = interval
        failures = 0
        while True:
            await asyncio.sleep(delay)
            try:
                await self.heartbeat()
                failures = 0
                delay = interval
                self.last_error = None
            except MikoError as error:
                failures += 1
                delay = retry_delay(failures, interval)
                self.last_error = error
                logger.warning("miko: heartbeat of %s/%s failed: %s", self._service, self.id, error)
            except Exception:  # keep heartbeating whatever happens
                failures += 1
                delay = retry_delay(failures, interval)
                logger.exception("miko: heartbeat of %s/%s failed", self._service, self.id)

    async def deregister(self) -> None:
        """Stops the heartbeats and removes the endpoint from Miko (already gone is fine)."""
        await self._shutdown(quiet=False)

    async def _shutdown(self, *, quiet: bool) -> None:
        if self._done:
            return
        self._done = True
        await _cancel(self._task)
        self._client._forget(self)
        try:
            response = await self._client._call("DELETE", endpoint_path(self._service, self.id))
            if response.status_code not in (200, 204, 404):
                raise error_from_response(response, f"deregistering {self.id!r}")
        except MikoError as error:
            if not quiet:
                raise
            logger.warning("miko: deregistering %s/%s failed: %s", self._service, self.id, error)

    def __repr__(self) -> str:
        return f"<miko.AsyncRegistration {self._service}/{self.id}>"
