"""Construction options shared by :class:`~miko.Client` and :class:`~miko.AsyncClient`."""

from __future__ import annotations

import os
import re
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

import httpx

from ._errors import InvalidAddress
from ._models import AddressKind, Strategy

__all__ = ["TLS", "CertTypes", "Options", "Seconds", "VerifyTypes"]

Seconds: TypeAlias = float | int | timedelta
VerifyTypes: TypeAlias = ssl.SSLContext | str | bool
CertTypes: TypeAlias = str | tuple[str, str] | tuple[str, str, str] | None

SERVICE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$")
_LABEL = re.compile(r"^[^\s%/\\?#@\[\]:.]{1,63}$")


def _valid_host(host: str) -> bool:
    if _IPV6.match(host):
        return True
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(_LABEL.match(label) for label in labels)


_STRATEGIES = ("round_robin", "weighted_random", "zone_first")


def seconds(value: Seconds, name: str, *, allow_zero: bool = False) -> float:
    number = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if number < 0 or (number == 0 and not allow_zero) or number != number:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return number


def duration_text(value: float) -> str:
    """Seconds as a Miko duration: ``"15s"``, ``"1500ms"``."""
    millis = max(1, round(value * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


class TLS:
    """The TLS settings of a client. The context is built on first use (loading a CA bundle
    takes tens of milliseconds) and then shared by the connections to Miko and services."""

    def __init__(self, verify: VerifyTypes, cert: CertTypes) -> None:
        if not isinstance(verify, (bool, str, ssl.SSLContext)):
            raise TypeError(f"verify must be a bool, a CA path or an ssl.SSLContext, got {type(verify).__name__}")
        self._verify = verify
        self._cert = cert
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def context(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = ssl_context(self._verify, self._cert)
            return self._context

    @staticmethod
    def unused() -> ssl.SSLContext:
        """For connections that never speak TLS: cheap, and verifies nothing successfully."""
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def ssl_context(verify: VerifyTypes, cert: CertTypes) -> ssl.SSLContext:
    """``verify``: ``True`` (certifi's CA bundle, as httpx), ``False`` (no verification), a CA
    bundle file or directory, or a ready ``ssl.SSLContext``. ``cert``: a client certificate
    file, or ``(certfile, keyfile)`` / ``(certfile, keyfile, password)``.
    """
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif isinstance(verify, str):
        context = (
            ssl.create_default_context(capath=verify)
            if os.path.isdir(verify)
            else ssl.create_default_context(cafile=verify)
        )
    else:
        context = httpx.create_ssl_context(verify=bool(verify))
    if cert is not None:
        if isinstance(cert, str):
            context.load_cert_chain(cert)
        elif len(cert) == 2:
            context.load_cert_chain(cert[0], cert[1])
        else:
            context.load_cert_chain(cert[0], cert[1], cert[2])
    return context


def parse_miko_address(address: str | None) -> str:
    """Validates Miko's address and returns it as a base URL without a trailing slash.

    Accepts ``http(s)://host[:port][/prefix]`` and the shorthand ``host:port`` (plain HTTP).
    """
    if address is None:
        address = os.environ.get("MIKO_ADDRESS")
        if address is None or not address.strip():
            raise InvalidAddress("no Miko address: pass address= or set MIKO_ADDRESS")
    if not isinstance(address, str):
        raise InvalidAddress(f"the Miko address must be a string, got {type(address).__name__}")
    text = address.strip()
    if _HOST_PORT.match(text):
        text = "http://" + text
    if "://" not in text:
        raise InvalidAddress(f"malformed Miko address {address!r}: expected http(s)://host[:port] or host:port")
    try:
        url = httpx.URL(text)
        port = url.port
    except (httpx.InvalidURL, ValueError) as error:
        raise InvalidAddress(f"malformed Miko address {address!r}: {error}") from None
    if url.scheme not in ("http", "https"):
        raise InvalidAddress(f"malformed Miko address {address!r}: the scheme must be http or https")
    if not url.host:
        raise InvalidAddress(f"malformed Miko address {address!r}: no host")
    if not _valid_host(url.host):
        raise InvalidAddress(f"malformed Miko address {address!r}: invalid host {url.host!r}")
    if port is not None and not 0 < port < 65536:
        raise InvalidAddress(f"malformed Miko address {address!r}: port out of range")
    if url.query or url.fragment or url.userinfo:
        raise InvalidAddress(f"malformed Miko address {address!r}: no query, fragment or credentials allowed")
    return str(url.copy_with(path=url.path.rstrip("/") or "/")).rstrip("/")


@dataclass(frozen=True, slots=True)
class Options:
    address: str
    token: str | None
    address_kind: AddressKind
    zone: str | None
    strategy: Strategy
    timeout: float
    wait: float
    cooldown: float
    max_attempts: int
    backoff_max: float
    tls: TLS
    services: tuple[str, ...]
    headers: Mapping[str, str]
    strict: bool

    @classmethod
    def build(
        cls,
        address: str | None,
        *,
        token: str | None,
        address_kind: AddressKind,
        zone: str | None,
        strategy: Strategy | None,
        timeout: Seconds,
        wait: Seconds,
        cooldown: Seconds,
        max_attempts: int,
        backoff_max: Seconds,
        verify: VerifyTypes,
        cert: CertTypes,
        services: Sequence[str] | None,
        strict: bool,
    ) -> Options:
        base = parse_miko_address(address)
        if token is None:
            token = os.environ.get("MIKO_TOKEN") or None
        if token is not None:
            token = token.strip() or None
        if address_kind not in ("public", "internal"):
            raise ValueError(f"address_kind must be 'public' or 'internal', got {address_kind!r}")
        chosen: Strategy = strategy if strategy is not None else ("zone_first" if zone else "round_robin")
        if chosen not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(_STRATEGIES)}, got {strategy!r}")
        if chosen == "zone_first" and not zone:
            raise ValueError("strategy 'zone_first' needs zone=")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        if not isinstance(strict, bool):
            raise ValueError(f"strict must be True or False, got {strict!r}")
        names = tuple(services or ())
        for name in names:
            if not SERVICE_NAME.match(name):
                raise ValueError(f"invalid service name {name!r}: expected a DNS label")
        headers = {"Accept": "application/json", "User-Agent": "miko-python/0.1.0"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return cls(
            address=base,
            token=token,
            address_kind=address_kind,
            zone=zone or None,
            strategy=chosen,
            timeout=seconds(timeout, "timeout"),
            wait=seconds(wait, "wait"),
            cooldown=seconds(cooldown, "cooldown", allow_zero=True),
            max_attempts=max_attempts,
            backoff_max=seconds(backoff_max, "backoff_max"),
            tls=TLS(verify, cert),
            services=names,
            headers=headers,
            strict=strict,
        )

    def miko_tls(self) -> ssl.SSLContext:
        return self.tls.context() if self.address.startswith("https:") else TLS.unused()

    def poll_params(self, index: int | None) -> httpx.QueryParams:
        params: list[tuple[str, str]] = [("service", name) for name in self.services]
        if index is not None:
            params += [("index", str(index)), ("wait", duration_text(self.wait))]
        return httpx.QueryParams(tuple(params))

    def poll_timeout(self, blocking: bool) -> httpx.Timeout:
        read = self.timeout + (self.wait if blocking else 0.0)
        return httpx.Timeout(self.timeout, read=read)
