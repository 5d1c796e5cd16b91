"""Ending a blocking query at once when a sync client or configuration view closes: the
query's socket is followed through httpx's ``trace`` extension and shut down."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["_SocketWatch", "_Stopped"]

# httpcore's trace events that hand over a new connection's stream, and those of its cleanup.
_CONNECTED = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})
_CLEANUP = "http11.response_closed."


class _Stopped(Exception):
    """Raised inside the refresh thread's own request once the client closes."""


class _SocketWatch:
    """Follows the long-poll's connection (through httpx's ``trace`` extension) so that
    ``close()`` can end a blocking query at once, by shutting its socket down, instead of
    waiting for it to time out; once the client is stopping, no further step of a request
    starts.

    A connection being set up (connected, perhaps TLS done, not yet handed to the HTTP/1.1
    layer that closes it on errors) is only a local variable of httpcore's: raising then
    would drop its socket unclosed, so the watch closes it first.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._pending: Any = None

    def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        with self._lock:
            self._follow(event, info)
            if self._stop.is_set() and not event.startswith(_CLEANUP):
                self._close_pending()
                raise _Stopped()

    def _follow(self, event: str, info: Mapping[str, Any]) -> None:
        if event in _CONNECTED:
            stream = info.get("return_value")
            found = stream.get_extra_info("socket") if stream is not None else None
            self._socket = found if isinstance(found, socket.socket) else None
            self._pending = stream
        elif not event.startswith("connection."):
            self._pending = None  # the HTTP layer owns the connection now

    def _close_pending(self) -> None:
        stream, self._pending = self._pending, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def interrupt(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
