"""The background loops that follow Miko with blocking queries, for the endpoint list and for
configuration views: on a thread for the sync client, in a task for the asyncio one. A
:class:`Follower` decides (which read comes next, what an answer or a failure means); the loops
perform its reads. A sync loop's blocking query ends at once when its owner closes: the query's
socket is followed through httpx's ``trace`` extension and shut down."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx

from ._core import Call, Step

__all__ = ["Follower", "_SocketWatch", "_Stopped", "follow_in_task", "follow_on_thread"]

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


class Follower(Protocol):
    """What the loops follow: the sans-I/O side of a long-poll."""

    def next_call(self) -> Call: ...

    def received(self, response: httpx.Response) -> Step: ...

    def failed(self, error: Exception) -> Step: ...


def follow_on_thread(
    follower: Follower,
    poller: httpx.Client,
    stop: threading.Event,
    settled: threading.Event,
    watch: _SocketWatch,
    after: Callable[[], None] = lambda: None,
) -> None:
    """Reads until ``stop`` is set: each read's outcome goes to the follower, which says how
    long to wait before the next; ``settled`` is set once a first wait can end; ``after`` runs
    after each read."""
    delay = 0.0
    while not stop.wait(delay):
        call = follower.next_call()
        try:
            response = poller.request(call.method, call.path, **call.options(), extensions={"trace": watch})
        except _Stopped:
            break
        except Exception as error:  # the follower judges every failure; the thread lives on
            if stop.is_set():
                break
            step = follower.failed(error)
        else:
            step = follower.received(response)
        if step.settled:
            settled.set()
        after()
        delay = step.delay


async def _nothing() -> None:
    return None


async def follow_in_task(
    follower: Follower,
    poller: httpx.AsyncClient,
    settled: asyncio.Event,
    after: Callable[[], Awaitable[None]] = _nothing,
    running: Callable[[], bool] = lambda: True,
) -> None:
    """The asyncio twin of :func:`follow_on_thread`, until cancelled or ``running()`` is false."""
    while running():
        call = follower.next_call()
        try:
            response = await poller.request(call.method, call.path, **call.options())
        except Exception as error:  # the follower judges every failure; the task lives on
            step = follower.failed(error)
        else:
            step = follower.received(response)
        if step.settled:
            settled.set()
        await after()
        await asyncio.sleep(step.delay)
