"""What :class:`~miko.Client` and :class:`~miko.AsyncClient` share above the core: the
constructor, and the state both report. Each client adds its I/O in :meth:`ClientBase._open`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Generic

from ._core import Core, HttpT, Lease, RegT
from ._errors import MikoError
from ._models import AddressKind, Endpoint, Strategy
from ._options import CertTypes, Options, Seconds, VerifyTypes

__all__ = ["ClientBase", "RegistrationBase"]


class ClientBase(Generic[HttpT, RegT]):
    """The constructor and the reported state of both clients, over their :class:`Core`."""

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
        self._core: Core[HttpT, RegT] = Core(options)
        self._options = options
        self._directory = self._core.directory
        self._open()

    def _open(self) -> None:
        """Sets up the client's own I/O: HTTP clients to Miko, background work."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._core.closed

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

    def mark_down(self, endpoint: Endpoint) -> None:
        """Reports an endpoint as failing (e.g. after a gRPC or TCP error of your own): it is
        skipped for the cool-down, or until the list says it passes again."""
        self._directory.mark_down(endpoint)

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("stale" if self.stale else "fresh")
        return f"<miko.{type(self).__name__} {self._options.address} index={self.index} {state}>"


class RegistrationBase:
    """The state a registration reports, kept by its :class:`~miko._core.Lease`."""

    def __init__(self, lease: Lease) -> None:
        self._lease = lease

    @property
    def service(self) -> str:
        return self._lease.service

    @property
    def id(self) -> str:
        return self._lease.id

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint as Miko last returned it (after registering or a heartbeat)."""
        return self._lease.endpoint

    @property
    def last_error(self) -> MikoError | None:
        """Why the last background heartbeat failed; ``None`` after a success."""
        return self._lease.last_error

    def __repr__(self) -> str:
        return f"<miko.{type(self).__name__} {self.service}/{self.id}>"
