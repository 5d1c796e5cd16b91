"""The synchronous client: a background thread keeps the endpoint list fresh.

The decisions are the core's (:mod:`miko._core`); this module performs them with
``httpx.Client``, threads and events.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._base import ClientBase, RegistrationBase
from ._config import Config
from ._core import POLL_LIMITS, Answer, Call, Exchange, Lease, closed_error, http_settings
from ._long_poll import _SocketWatch, follow_on_thread
from ._models import Endpoint
from ._options import Seconds
from ._registration import DEFAULT_TTL, registration_body
from ._transport import MikoTransport

__all__ = ["Client", "Registration"]

T = TypeVar("T")


class Client(ClientBase[httpx.Client, "Registration"]):
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

    def _open(self) -> None:
        settings = self._core.api_settings()
        self._api = httpx.Client(**settings)
        self._poller = httpx.Client(**settings, limits=POLL_LIMITS)
        self._stop = threading.Event()
        self._settled = threading.Event()
        self._socket = _SocketWatch(self._stop)
        self._configs: set[Config] = set()
        self._configs_lock = threading.Lock()
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
        leftovers = self._core.close()
        if leftovers is None:
            return
        for registration in leftovers.registrations:
            registration._shutdown(quiet=True)
        with self._configs_lock:
            configs = list(self._configs)
        for config in configs:
            config.close()
        self._stop.set()
        self._settled.set()
        self._socket.interrupt()
        self._thread.join(self._options.timeout)
        for client in leftovers.clients:
            client.close()
        self._poller.close()
        self._api.close()

    def wait_ready(self, timeout: Seconds | None = None) -> None:
        """Blocks until the first endpoint list arrived.

        Raises the reason there is none: :class:`~miko.Unauthorized` at once for a rejected
        token, :class:`~miko.MikoUnreachable` after ``timeout`` (default: the client's).
        Without an explicit timeout, only the first call waits; later ones fail fast until
        a list arrives.
        """
        core = self._core
        if core.ready():
            return
        limit = core.wait_limit(timeout)
        if limit is not None:
            self._settled.wait(limit)
        core.waited(timeout)

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
        return self._core.http(service, kwargs, self._new_http)

    def _new_http(self, service: str, kwargs: dict[str, Any]) -> httpx.Client:
        inner, max_attempts, settings = http_settings(kwargs)
        return httpx.Client(
            base_url=f"http://{service}",
            transport=MikoTransport(self, transport=inner, max_attempts=max_attempts),
            **settings,
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
        registration = Registration(self, self._run(self._core.register(service, body, lease)))
        if not self._core.adopt(registration):
            registration._shutdown(quiet=True)
            raise closed_error()
        registration._start()
        return registration

    # ----- configuration ---------------------------------------------------------------

    def config(self, prefix: str) -> Config:
        """A live copy of the keys under ``prefix`` (``"billing/"``) with their values, kept fresh
        by a background thread with blocking queries; reads answer from it, also while Miko is
        unreachable. See :class:`~miko.Config`."""
        self._core.check_open()
        config = Config(self, prefix)
        with self._configs_lock:
            self._configs.add(config)
        return config

    def _forget_config(self, config: Config) -> None:
        with self._configs_lock:
            self._configs.discard(config)

    # ----- talking to Miko -------------------------------------------------------------

    def _run(self, exchange: Exchange[T]) -> T:
        """Performs an exchange's calls on the API client, handing each answer back."""
        try:
            call = next(exchange)
            while True:
                call = exchange.send(self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            exchange.close()

    def _send(self, call: Call) -> Answer:
        try:
            return self._api.request(call.method, call.path, **call.options())
        except httpx.HTTPError as error:
            return error

    # ----- background refresh ----------------------------------------------------------

    def _refresh_loop(self) -> None:
        follow_on_thread(self._core.follower, self._poller, self._stop, self._settled, self._socket)


class Registration(RegistrationBase):
    """An endpoint this process registered; heartbeats run in the background.

    Use as a context manager or call :meth:`deregister`; :meth:`Client.close` deregisters
    whatever is left.
    """

    def __init__(self, client: Client, lease: Lease) -> None:
        super().__init__(lease)
        self._client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        if not self._lease.heartbeats:
            return
        self._thread = threading.Thread(target=self._heartbeat_loop, name=f"miko-heartbeat-{self.service}", daemon=True)
        self._thread.start()

    def heartbeat(self) -> Endpoint:
        """Renews the lease now; registers again if Miko no longer knows the endpoint."""
        return self._client._run(self._lease.heartbeat())

    def _heartbeat_loop(self) -> None:
        lease = self._lease
        while not self._stop.wait(lease.delay):
            try:
                self.heartbeat()
            except Exception as error:  # the lease judges it; heartbeats go on
                if self._stop.is_set():
                    break
                lease.beat_failed(error)
            else:
                lease.beat_succeeded()

    def deregister(self) -> None:
        """Stops the heartbeats and removes the endpoint from Miko (already gone is fine)."""
        self._shutdown(quiet=False)

    def _shutdown(self, *, quiet: bool) -> None:
        if not self._lease.end():
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._client._options.timeout)
        self._client._core.forget(self)
        self._client._run(self._lease.deregister(quiet=quiet))
