"""The asyncio client: a background task keeps the endpoint list fresh.

The decisions are the core's (:mod:`miko._core`); this module performs them with
``httpx.AsyncClient``, tasks and ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._base import ClientBase, RegistrationBase
from ._config import AsyncConfig
from ._core import POLL_LIMITS, Answer, Call, Exchange, Lease, closed_error, http_settings
from ._long_poll import follow_in_task
from ._models import Endpoint
from ._options import Seconds
from ._registration import DEFAULT_TTL, registration_body
from ._transport import AsyncMikoTransport

__all__ = ["AsyncClient", "AsyncRegistration"]

T = TypeVar("T")


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancels a background task and waits for it; a cancellation of the caller still
    propagates."""
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task])


class AsyncClient(ClientBase[httpx.AsyncClient, "AsyncRegistration"]):
    """Miko client for asyncio code; the options are those of :class:`~miko.Client`.

    The background task starts with ``async with`` (or the first awaited call) and is
    cancelled by :meth:`aclose`. Use one client per event loop.
    """

    def _open(self) -> None:
        settings = self._core.api_settings()
        self._api = httpx.AsyncClient(**settings)
        self._poller = httpx.AsyncClient(**settings, limits=POLL_LIMITS)
        self._settled = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._configs: set[AsyncConfig] = set()

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
        if self._task is None and not self._core.closed:
            self._task = asyncio.get_running_loop().create_task(self._refresh_loop(), name="miko-refresh")

    async def aclose(self) -> None:
        """Deregisters this client's registrations, cancels the background task and closes
        the HTTP clients made by :meth:`http`. Safe to call more than once."""
        leftovers = self._core.close()
        if leftovers is None:
            return
        try:
            for registration in leftovers.registrations:
                await registration._shutdown(quiet=True)
            for config in list(self._configs):
                await config.aclose()
        finally:
            self._settled.set()
            await _cancel(self._task)
            for client in leftovers.clients:
                await client.aclose()
            await self._poller.aclose()
            await self._api.aclose()

    async def wait_ready(self, timeout: Seconds | None = None) -> None:
        """Waits for the first endpoint list; see :meth:`Client.wait_ready`."""
        core = self._core
        if core.ready():
            return
        self._start()
        limit = core.wait_limit(timeout)
        if limit is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._settled.wait(), limit)
        core.waited(timeout)

    # ----- discovery -------------------------------------------------------------------

    async def services(self) -> list[str]:
        """Names of the services in the list, sorted."""
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

    def transport(
        self, *, transport: httpx.AsyncBaseTransport | None = None, max_attempts: int | None = None
    ) -> AsyncMikoTransport:
        """An ``httpx`` async transport resolving ``http://<service>/...`` through this client."""
        return AsyncMikoTransport(self, transport=transport, max_attempts=max_attempts)

    def http(self, service: str, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` for ``service``; see :meth:`Client.http`."""
        return self._core.http(service, kwargs, self._new_http)

    def _new_http(self, service: str, kwargs: dict[str, Any]) -> httpx.AsyncClient:
        inner, max_attempts, settings = http_settings(kwargs)
        return httpx.AsyncClient(
            base_url=f"http://{service}",
            transport=AsyncMikoTransport(self, transport=inner, max_attempts=max_attempts),
            **settings,
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
        self._core.check_open()
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
        registration = AsyncRegistration(self, await self._run(self._core.register(service, body, lease)))
        if not self._core.adopt(registration):
            await registration._shutdown(quiet=True)
            raise closed_error()
        registration._start()
        return registration

    # ----- configuration ---------------------------------------------------------------

    def config(self, prefix: str) -> AsyncConfig:
        """A live copy of the keys under ``prefix``, followed by a task; see :meth:`Client.config`
        and :class:`~miko.AsyncConfig`."""
        self._core.check_open()
        config = AsyncConfig(self, prefix)
        self._configs.add(config)
        return config

    def _forget_config(self, config: AsyncConfig) -> None:
        self._configs.discard(config)

    # ----- talking to Miko -------------------------------------------------------------

    async def _run(self, exchange: Exchange[T]) -> T:
        """Performs an exchange's calls on the API client, handing each answer back."""
        try:
            call = next(exchange)
            while True:
                call = exchange.send(await self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            exchange.close()

    async def _send(self, call: Call) -> Answer:
        try:
            return await self._api.request(call.method, call.path, **call.options())
        except httpx.HTTPError as error:
            return error

    # ----- background refresh ----------------------------------------------------------

    async def _refresh_loop(self) -> None:
        await follow_in_task(self._core.follower, self._poller, self._settled)


class AsyncRegistration(RegistrationBase):
    """An endpoint this process registered; heartbeats run in a task.

    Use with ``async with`` or call :meth:`deregister`; :meth:`AsyncClient.aclose`
    deregisters whatever is left.
    """

    def __init__(self, client: AsyncClient, lease: Lease) -> None:
        super().__init__(lease)
        self._client = client
        self._task: asyncio.Task[None] | None = None

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
        if self._lease.heartbeats:
            self._task = asyncio.get_running_loop().create_task(
                self._heartbeat_loop(), name=f"miko-heartbeat-{self.service}"
            )

    async def heartbeat(self) -> Endpoint:
        """Renews the lease now; registers again if Miko no longer knows the endpoint."""
        return await self._client._run(self._lease.heartbeat())

    async def _heartbeat_loop(self) -> None:
        lease = self._lease
        while True:
            await asyncio.sleep(lease.delay)
            try:
                await self.heartbeat()
            except Exception as error:  # the lease judges it; heartbeats go on
                lease.beat_failed(error)
            else:
                lease.beat_succeeded()

    async def deregister(self) -> None:
        """Stops the heartbeats and removes the endpoint from Miko (already gone is fine)."""
        await self._shutdown(quiet=False)

    async def _shutdown(self, *, quiet: bool) -> None:
        if not self._lease.end():
            return
        await _cancel(self._task)
        self._client._core.forget(self)
        await self._client._run(self._lease.deregister(quiet=quiet))
