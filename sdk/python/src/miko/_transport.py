"""``httpx`` transports that resolve ``http://<service>/...`` through Miko and fail over."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

from ._core import Failover
from ._directory import Target
from ._models import Endpoint
from ._options import SERVICE_NAME, TLS

if TYPE_CHECKING:
    from ._async_client import AsyncClient
    from ._client import Client

__all__ = ["ENDPOINT_EXTENSION", "AsyncMikoTransport", "MikoTransport", "endpoint_of"]

#: Key of ``response.extensions`` holding the :class:`~miko.Endpoint` that answered.
ENDPOINT_EXTENSION = "miko.endpoint"


def endpoint_of(response: httpx.Response) -> Endpoint | None:
    """The endpoint that answered a request sent through a Miko transport."""
    endpoint = response.extensions.get(ENDPOINT_EXTENSION)
    return endpoint if isinstance(endpoint, Endpoint) else None


def _to_endpoint(request: httpx.Request, target: Target) -> httpx.Request:
    """A copy of the request aimed at the endpoint. The caller's request stays as it was
    (redirects and retries resolve ``http://<service>/`` again); the body stream is shared."""
    # A shallow copy without Request.__init__, which would parse the URL once more; not
    # copy.copy either, which goes through pickling and detaches the body stream.
    outgoing: httpx.Request = object.__new__(httpx.Request)
    outgoing.__dict__.update(request.__dict__)
    outgoing.url = target.url_for(request.url)
    outgoing.headers = request.headers.copy()
    outgoing.headers["Host"] = target.netloc
    outgoing.extensions = dict(request.extensions)
    return outgoing


class MikoTransport(httpx.BaseTransport):
    """A sync transport: the request's host names the service (``http://hanami/path``).
    Hosts that are not service names (with a dot, IP addresses) are sent unchanged.

    Each attempt picks a passing endpoint, rewrites scheme, host, port and ``Host`` header
    to it (keeping path and query, after the endpoint's own path prefix) and sends it on
    ``transport``. Connection errors, timeouts and 502/503/504 mark the endpoint down for
    the cool-down and, for idempotent requests (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or
    an ``Idempotency-Key`` header) with a replayable body, and for any request that never
    left, try the next endpoint, up to ``max_attempts``. The last error or
    answer reaches the caller. :func:`endpoint_of` tells which endpoint answered.
    """

    def __init__(
        self,
        client: Client,
        *,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self._client = client
        self._directory = client._directory
        self._tls = client._options.tls
        self._plain: httpx.BaseTransport = transport or httpx.HTTPTransport(verify=TLS.unused())
        self._secure: httpx.BaseTransport | None = transport
        self._lock = threading.Lock()
        self._max_attempts = max_attempts or client._options.max_attempts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        service = request.url.host
        if not SERVICE_NAME.match(service):
            return self._passthrough(request)
        directory = self._directory
        if not directory.loaded:
            self._client.wait_ready()
        failover = Failover(directory, service, request, self._max_attempts)
        while True:
            target, pause = failover.next_target()
            if pause:
                time.sleep(pause)
            try:
                inner = self._plain if target.scheme == "http" else self._secure or self._secure_transport()
                response = inner.handle_request(_to_endpoint(request, target))
            except httpx.TransportError as error:
                if failover.retry_after_error(target, error):
                    continue
                raise
            if failover.retry_after_status(target, response):
                response.close()
                continue
            response.extensions[ENDPOINT_EXTENSION] = target.endpoint
            return response

    def _passthrough(self, request: httpx.Request) -> httpx.Response:
        """A host that is not a service name (``example.com``, an IP address) goes as is."""
        inner = self._plain if request.url.scheme == "http" else self._secure or self._secure_transport()
        return inner.handle_request(request)

    def _secure_transport(self) -> httpx.BaseTransport:
        with self._lock:
            if self._secure is None:
                self._secure = httpx.HTTPTransport(verify=self._tls.context())
            return self._secure

    def close(self) -> None:
        self._plain.close()
        if self._secure is not None and self._secure is not self._plain:
            self._secure.close()


class AsyncMikoTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of :class:`MikoTransport`."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self._ready: Callable[[], Awaitable[None]] = client.wait_ready
        self._directory = client._directory
        self._tls = client._options.tls
        self._plain: httpx.AsyncBaseTransport = transport or httpx.AsyncHTTPTransport(verify=TLS.unused())
        self._secure: httpx.AsyncBaseTransport | None = transport
        self._max_attempts = max_attempts or client._options.max_attempts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        service = request.url.host
        if not SERVICE_NAME.match(service):
            inner = self._plain if request.url.scheme == "http" else self._secure or self._secure_transport()
            return await inner.handle_async_request(request)
        directory = self._directory
        if not directory.loaded:
            await self._ready()
        failover = Failover(directory, service, request, self._max_attempts)
        while True:
            target, pause = failover.next_target()
            if pause:
                await asyncio.sleep(pause)
            try:
                inner = self._plain if target.scheme == "http" else self._secure or self._secure_transport()
                response = await inner.handle_async_request(_to_endpoint(request, target))
            except httpx.TransportError as error:
                if failover.retry_after_error(target, error):
                    continue
                raise
            if failover.retry_after_status(target, response):
                await response.aclose()
                continue
            response.extensions[ENDPOINT_EXTENSION] = target.endpoint
            return response

    def _secure_transport(self) -> httpx.AsyncBaseTransport:
        if self._secure is None:
            self._secure = httpx.AsyncHTTPTransport(verify=self._tls.context())
        return self._secure

    async def aclose(self) -> None:
        await self._plain.aclose()
        if self._secure is not None and self._secure is not self._plain:
            await self._secure.aclose()
