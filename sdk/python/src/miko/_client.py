"""The synchronous client: a background thread keeps the endpoint list fresh."""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from ._directory import Directory, read_list
from ._errors import MikoError, MikoUnreachable, Unauthorized, error_from_response, unreachable
from ._models import AddressKind, Endpoint, Strategy
from ._options import SERVICE_NAME, CertTypes, Options, Seconds, VerifyTypes, seconds
from ._registration import (
    DEFAULT_TTL,
    endpoint_path,
    endpoints_path,
    heartbeat_interval,
    registration_body,
    retry_delay,
)
from ._transport import MikoTransport

__all__ = ["Client", "Registration"]

logger = logging.getLogger("miko")


class _Stopped(Exception):
    """Raised inside the refresh thread's own request once the client closes."""


class _SocketWatch:
    """Remembers the long-poll's socket (through httpx's ``trace`` extension) so that
    ``close()`` can end a blocking query at once instead of waiting for it to time out."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None

    def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        with self._lock:
            if event == "connection.connect_tcp.complete":
                stream = info.get("return_value")
                found = stream.get_extra_info("socket") if stream is not None else None
                self._socket = found if isinstance(found, socket.socket) else None
            if self._stop.is_set():
                raise _Stopped()

    def interrupt(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _refresh_delay(failures: int, cap: float) -> float:
    """The first failure after a success retries at once; then 100 ms doubling, jittered."""
    if failures <= 1:
        return 0.0
    return float(min(cap, 0.1 * 2.0 ** (failures - 2)) * random.uniform(0.5, 1.0))


def _check_service(service: str) -> None:
    if not isinstance(service, str) or not SERVICE_NAME.match(service):
        raise ValueError(f"invalid service name {service!r}: expected a DNS label")


class Client:
    """Miko client for threaded code.

    ``address`` is Miko's URL (``http://miko.internal:8740``) or ``host:port``; without it
    ``MIKO_ADDRESS`` is read, and ``MIKO_TOKEN`` when ``token`` is not given. A malformed
    or missing address raises :class:`~miko.InvalidAddress` here, before any traffic.

    The endpoint list is fetched at once and kept fresh by a background thread using
    Miko's blocking queries. When Miko becomes unreachable the last good list stays in use
    (see :attr:`stale`) while the thread retries with backoff. Use it as a context
    manager, or call :meth:`close`, which also deregisters what :meth:`register` added.

    Options:
        address_kind: ``"public"`` (default) or ``"internal"`` (needs a token with the
            ``internal`` role; endpoints without an internal address use their public one).
        zone: preferred zone; implies ``strategy="zone_first"`` unless a strategy is given.
        strategy: ``"round_robin"`` (default), ``"weighted_random"`` or ``"zone_first"``.
        timeout: seconds for each call to Miko, and the longest wait for the first list.
        wait: how long one blocking query may be held by Miko.
        cooldown: seconds a failing endpoint is skipped (circuit breaker); 0 disables it.
        max_attempts: endpoints tried per request by the service HTTP clients.
        backoff_max: longest pause between attempts to reach Miko.
        verify: ``True`` (default CA bundle), ``False``, a CA file or directory, or an
            ``ssl.SSLContext``; used for Miko and, by default, for the services.
        cert: client certificate for mutual TLS: a file, or ``(certfile, keyfile[, password])``.
        services: watch only these services (default: all).
        strict: when no endpoint of a service is passing, raise
            :class:`~miko.NoHealthyEndpoint` instead of choosing among the others (panic
            mode, the default; see :attr:`panic_services`).
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
        self._api = httpx.Client(**common)
        self._poller = httpx.Client(**common, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self._stop = threading.Event()
        self._settled = threading.Event()
        self._socket = _SocketWatch(self._stop)
        self._gave_up = False
        self._closed = False
        self._lock = threading.Lock()
        self._registrations: set[Registration] = set()
        self._http: dict[str, httpx.Client] = {}
        self._other_http: weakref.WeakSet[httpx.Client] = weakref.WeakSet()
        self._thread = threading.Thread(target=self._refresh_loop, name="miko-refresh", daemon=True)
        self._thread.start()

    # ----- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Deregisters this client's registrations, stops the background thread and closes
        the HTTP clients made by :meth:`http`. Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            registrations = list(self._registrations)
            self._registrations.clear()
            clients = [*self._http.values(), *self._other_http]
            self._http.clear()
        for registration in registrations:
            registration._shutdown(quiet=True)
        self._stop.set()
        self._settled.set()
        self._socket.interrupt()
        self._thread.join(self._options.timeout)
        for client in clients:
            client.close()
        self._poller.close()
        self._api.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def wait_ready(self, timeout: Seconds | None = None) -> None:
        """Blocks until the first endpoint list arrived.

        Raises the reason there is none: :class:`~miko.Unauthorized` at once for a rejected
        token, :class:`~miko.MikoUnreachable` after ``timeout`` (default: the client's).
        Without an explicit timeout, only the first call waits; later ones fail fast until
        a list arrives.
        """
        directory = self._directory
        if directory.loaded:
            return
        if self._closed:
            raise MikoError("the Miko client is closed")
        if timeout is not None or not self._gave_up:
            limit = self._options.timeout if timeout is None else seconds(timeout, "timeout", allow_zero=True)
            self._settled.wait(limit)
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
        """Miko's base URL."""
        return self._options.address

    @property
    def address_kind(self) -> AddressKind:
        return self._options.address_kind

    @property
    def index(self) -> int | None:
        """Miko's change index of the cached list (``None`` before the first list)."""
        return self._directory.index

    @property
    def stale(self) -> bool:
        """True before the first list, and while Miko cannot be reached (the last good
        list is still used)."""
        return self._directory.stale

    @property
    def last_updated(self) -> datetime | None:
        """When Miko last answered with a list (UTC)."""
        return self._directory.last_updated

    @property
    def last_error(self) -> MikoError | None:
        """Why the last attempt to refresh failed; ``None`` after a success."""
        return self._directory.last_error

    @property
    def panic_services(self) -> list[str]:
        """The services served in panic mode, sorted: none of their endpoints is passing, so
        picks and requests choose among the others. Always empty with ``strict=True``."""
        return self._directory.panic_services

    # ----- discovery -------------------------------------------------------------------

    def services(self) -> list[str]:
        """Names of the services in the list, sorted."""
        self.wait_ready()
        return self._directory.services()

    def endpoints(self, service: str) -> list[Endpoint]:
        """Every endpoint of ``service`` usable with this client's address kind, passing
        or not, in Miko's order. Raises :class:`~miko.UnknownService`."""
        self.wait_ready()
        return self._directory.endpoints(service)

    def pick(self, service: str) -> Endpoint:
        """A passing endpoint chosen by the strategy, skipping endpoints cooling down; when
        none is passing, one of the others (panic mode), unless the client is ``strict``.

        Raises :class:`~miko.UnknownService` or :class:`~miko.NoHealthyEndpoint`."""
        self.wait_ready()
        return self._directory.pick(service).endpoint

    def mark_down(self, endpoint: Endpoint) -> None:
        """Reports an endpoint as failing (e.g. after a gRPC or TCP error of your own): it is
        skipped for the cool-down, or until the list says it passes again."""
        self._directory.mark_down(endpoint)

    def transport(
        self, *, transport: httpx.BaseTransport | None = None, max_attempts: int | None = None
    ) -> MikoTransport:
        """An ``httpx`` transport resolving ``http://<service>/...`` through this client."""
        return MikoTransport(self, transport=transport, max_attempts=max_attempts)

    def http(self, service: str, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` for ``service``: ``client.http("hanami").get("/path")`` goes to a
        passing endpoint of ``hanami`` and fails over to the next one.

        Without arguments the same client is returned on each call. Keyword arguments go to
        ``httpx.Client`` (``timeout``, ``headers``, ``auth``, ...), except ``transport`` (the
        transport used to reach endpoints) and ``max_attempts``; such a client is new on each
        call. Either way :meth:`close` closes it.
        """
        _check_service(service)
        if self._closed:
            raise MikoError("the Miko client is closed")
        if not kwargs:
            with self._lock:
                cached = self._http.get(service)
                if cached is None or cached.is_closed:
                    cached = self._new_http(service, {})
                    self._http[service] = cached
                return cached
        client = self._new_http(service, kwargs)
        with self._lock:
            self._other_http.add(client)
        return client

    def _new_http(self, service: str, kwargs: dict[str, Any]) -> httpx.Client:
        inner = kwargs.pop("transport", None)
        max_attempts = kwargs.pop("max_attempts", None)
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(
            base_url=f"http://{service}",
            transport=MikoTransport(self, transport=inner, max_attempts=max_attempts),
            **kwargs,
        )

    # ----- registration ----------------------------------------------------------------

    def register(
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
    ) -> Registration:
        """Registers an endpoint of ``service`` (token with the ``register`` role).

        With a ``ttl`` (seconds, default 15) a background thread heartbeats every ttl/3 and
        registers again should Miko have dropped the endpoint; ``ttl=None`` registers without
        a lease. The endpoint is removed by :meth:`Registration.deregister` or by
        :meth:`close`. Raises :class:`~miko.Unauthorized`/:class:`~miko.Forbidden`,
        :class:`~miko.InvalidRequest` or :class:`~miko.MikoUnreachable`.
        """
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
        endpoint = self._post_registration(service, body)
        body["id"] = endpoint.id
        registration = Registration(self, service, body, lease, endpoint)
        with self._lock:
            if self._closed:
                registration._shutdown(quiet=True)
                raise MikoError("the Miko client is closed")
            self._registrations.add(registration)
        registration._start()
        return registration

    def _post_registration(self, service: str, body: Mapping[str, Any]) -> Endpoint:
        response = self._call("POST", endpoints_path(service), json=body)
        if response.status_code not in (200, 201):
            raise error_from_response(response, f"registering in {service!r}")
        return Endpoint.from_json(response.json(), service)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._api.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise unreachable(self._options.address, error) from error

    def _forget(self, registration: Registration) -> None:
        with self._lock:
            self._registrations.discard(registration)

    # ----- background refresh ----------------------------------------------------------

    def _refresh_loop(self) -> None:
        options = self._options
        directory = self._directory
        index: int | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                response = self._poller.get(
                    "/v1/endpoints",
                    # After a failure, a plain read: Miko may be a new process with nothing new
                    # to say, and its first answer is what ends the staleness.
                    params=options.poll_params(index if failures == 0 else None),
                    timeout=options.poll_timeout(index is not None and failures == 0),
                    extensions={"trace": self._socket},
                )
                if response.status_code != 200:
                    raise error_from_response(response, "reading endpoints")
                index, services = read_list(response)
                directory.apply(index, services)
                failures = 0
                self._settled.set()
                continue
            except _Stopped:
                break
            except httpx.HTTPError as error:
                if self._stop.is_set():
                    break
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
            except Exception as error:  # keep the thread alive whatever happens
                if self._stop.is_set():
                    break
                directory.failed(MikoError(f"refreshing endpoints failed: {error!r}"))
                if failures == 0:
                    logger.exception("miko: refreshing endpoints failed")
            failures += 1
            self._stop.wait(_refresh_delay(failures, options.backoff_max))

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("stale" if self.stale else "fresh")
        return f"<miko.Client {self._options.address} index={self.index} {state}>"


class Registration:
    """An endpoint this process registered; heartbeats run in the background.

    Use as a context manager or call :meth:`deregister`; :meth:`Client.close` deregisters
    whatever is left.
    """

    def __init__(
        self, client: Client, service: str, body: dict[str, Any], lease: float | None, endpoint: Endpoint
    ) -> None:
        self._client = client
        self._service = service
        self._body = body
        self._lease = lease
        self._endpoint = endpoint
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = False
        self._thread: threading.Thread | None = None
        self.last_error: MikoError | None = None

    @property
    def service(self) -> str:
        return self._service

    @property
    def id(self) -> str:
        return self._endpoint.id

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint as Miko last returned it (after registering or a heartbeat)."""
        return self._endpoint

    def __enter__(self) -> Registration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deregister()

    def _start(self) -> None:
        if self._lease is None:
            return
        self._thread = threading.Thread(
            target=self._heartbeat_loop, name=f"miko-heartbeat-{self._service}", daemon=True
        )
        self._thread.start()

    def heartbeat(self) -> Endpoint:
        """Renews the lease now; registers again if Miko no longer knows the endpoint."""
        client = self._client
        response = client._call("PUT", endpoint_path(self._service, self.id) + "/heartbeat")
        if response.status_code == 404:
            logger.info("miko: endpoint %s of %s is gone, registering again", self.id, self._service)
            self._endpoint = client._post_registration(self._service, self._body)
            return self._endpoint
        if response.status_code != 200:
            raise error_from_response(response, f"heartbeat of {self.id!r}")
        self._endpoint = Endpoint.from_json(response.json(), self._service)
        return self._endpoint

    def _heartbeat_loop(self) -> None:
        assert self._lease is not None
        interval = heartbeat_interval(self._lease)
        delay = interval
        failures = 0
        while not self._stop.wait(delay):
            try:
                self.heartbeat()
                failures = 0
                delay = interval
                self.last_error = None
            except MikoError as error:
                if self._stop.is_set():
                    break
                failures += 1
                delay = retry_delay(failures, interval)
                self.last_error = error
                logger.warning("miko: heartbeat of %s/%s failed: %s", self._service, self.id, error)
            except Exception:  # keep heartbeating whatever happens
                failures += 1
                delay = retry_delay(failures, interval)
                logger.exception("miko: heartbeat of %s/%s failed", self._service, self.id)

    def deregister(self) -> None:
        """Stops the heartbeats and removes the endpoint from Miko (already gone is fine)."""
        self._shutdown(quiet=False)

    def _shutdown(self, *, quiet: bool) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._client._options.timeout)
        self._client._forget(self)
        try:
            response = self._client._call("DELETE", endpoint_path(self._service, self.id))
            if response.status_code not in (200, 204, 404):
                raise error_from_response(response, f"deregistering {self.id!r}")
        except MikoError as error:
            if not quiet:
                raise
            logger.warning("miko: deregistering %s/%s failed: %s", self._service, self.id, error)

    def __repr__(self) -> str:
        return f"<miko.Registration {self._service}/{self.id}>"
