"""The exceptions raised by the Miko SDK.

Every exception the SDK raises on its own account derives from :class:`MikoError`.
Requests sent through a service's HTTP client still raise ``httpx`` exceptions for
failures of the backend itself (after failover ran out of endpoints).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = [
    "Forbidden",
    "InvalidAddress",
    "InvalidRequest",
    "KeyNotFound",
    "KvForbidden",
    "MikoError",
    "MikoUnreachable",
    "NoHealthyEndpoint",
    "NotFound",
    "Unauthorized",
    "UnknownService",
    "VersionConflict",
]


class MikoError(Exception):
    """Base class of every SDK error.

    ``code`` and ``status`` carry Miko's error code (``"unauthorized"``) and HTTP status
    when the error came from an answer of Miko; both are ``None`` otherwise.
    """

    code: str | None
    status: int | None

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class InvalidAddress(MikoError, ValueError):
    """The Miko address (argument or ``MIKO_ADDRESS``) is missing or malformed.

    Raised by the constructor, before any network traffic.
    """


class MikoUnreachable(MikoError):
    """Miko could not be reached (connection refused, DNS failure, timeout, or a 502, 503
    or 504 answer) and, for lookups, no endpoint list was ever received to fall back on."""


class Unauthorized(MikoError):
    """Miko rejected the token (HTTP 401): it is unknown or revoked, or a token is
    required (``registry.publicRead`` is off)."""


class Forbidden(Unauthorized):
    """The token is valid but lacks the role or service permission (HTTP 403)."""


class InvalidRequest(MikoError, ValueError):
    """Miko refused the input (HTTP 400 ``invalid_request``), e.g. a bad registration."""


class NotFound(MikoError):
    """Miko answered 404 for something other than a service lookup."""


class KvForbidden(Forbidden):
    """Miko denies this token the keys asked for (HTTP 403 ``kv_forbidden``): reading a prefix
    no read rule covers, or writing a key without write access."""


class VersionConflict(MikoError):
    """A compare-and-set write lost (HTTP 412 ``kv_version_conflict``): the key was not at the
    version given with ``if_version``, or a ``create=True`` write found it already there."""


class KeyNotFound(NotFound, LookupError):
    """The key does not exist, was deleted, or this token may not read it (HTTP 404
    ``kv_key_not_found``)."""


class UnknownService(MikoError, LookupError):
    """No service of that name is in the endpoint list this client sees."""

    def __init__(self, service: str, message: str | None = None) -> None:
        super().__init__(message or f"unknown service {service!r}: Miko lists no endpoint for it")
        self.service = service


class NoHealthyEndpoint(MikoError):
    """The service is known, but none of its endpoints is passing and usable."""

    def __init__(self, service: str, message: str | None = None) -> None:
        super().__init__(message or f"service {service!r} has no passing endpoint")
        self.service = service


def error_from_response(response: httpx.Response, what: str) -> MikoError:
    """Maps an error answer of Miko (``{"error": {"code", "message"}}``) to an exception."""
    code: str | None = None
    message = f"{what}: HTTP {response.status_code}"
    try:
        body: Any = json.loads(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code") if isinstance(error.get("code"), str) else None
            if isinstance(error.get("message"), str):
                message = f"{what}: {error['message']}"
    except (ValueError, UnicodeDecodeError):
        pass
    status = response.status_code
    if status == 403 and code == "kv_forbidden":
        return KvForbidden(message, code=code, status=status)
    if status == 412:
        return VersionConflict(message, code=code or "kv_version_conflict", status=status)
    if status == 404 and code == "kv_key_not_found":
        return KeyNotFound(message, code=code, status=status)
    if status == 401:
        return Unauthorized(message, code=code or "unauthorized", status=status)
    if status == 403:
        return Forbidden(message, code=code or "forbidden", status=status)
    if status == 400:
        return InvalidRequest(message, code=code or "invalid_request", status=status)
    if status == 404:
        return NotFound(message, code=code, status=status)
    if status in (502, 503, 504):
        # A proxy in front of Miko, or Miko starting or stopping: not there for now.
        return MikoUnreachable(message, code=code, status=status)
    return MikoError(message, code=code, status=status)


def unreachable(address: str, error: BaseException) -> MikoUnreachable:
    detail = str(error) or type(error).__name__
    return MikoUnreachable(f"Miko at {address} is unreachable: {detail}")
