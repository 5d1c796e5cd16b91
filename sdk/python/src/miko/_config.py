"""Configuration views: ``client.config("billing/")`` keeps a local copy of the keys under a
prefix, with their values, fresh in the background; reads answer from it, also while Miko is
unreachable. The decisions are :mod:`miko._config_core`'s; this module performs them on a
thread (:class:`Config`) or in a task (:class:`AsyncConfig`)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ._config_core import Change, ConfigCore, ConfigEntry, Written, delete_key, put_key
from ._core import POLL_LIMITS, closed_error
from ._errors import MikoError, MikoUnreachable
from ._long_poll import _SocketWatch, follow_in_task, follow_on_thread
from ._options import Seconds, seconds

if TYPE_CHECKING:
    from ._async_client import AsyncClient
    from ._client import Client

__all__ = ["AsyncConfig", "Config"]

logger = logging.getLogger("miko")

Listener = Callable[[Change], Any]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _ConfigBase:
    """Reads of the copy, shared by both views. Keys are relative to the prefix."""

    def __init__(self, core: ConfigCore) -> None:
        self._core = core
        self._listeners: dict[int, Listener] = {}
        self._next_listener = 0
        self._listeners_lock = threading.Lock()

    @property
    def prefix(self) -> str:
        return self._core.prefix

    @property
    def index(self) -> int | None:
        """Miko's change index of the copy under the prefix (``None`` before the first copy)."""
        return self._core.index

    @property
    def stale(self) -> bool:
        """True before the first copy, and while Miko cannot be reached (the last copy is used)."""
        return self._core.stale

    @property
    def last_updated(self) -> datetime | None:
        """When Miko last answered with the copy (UTC)."""
        return self._core.last_updated

    @property
    def last_error(self) -> MikoError | None:
        """Why the last refresh failed; ``None`` after a success."""
        return self._core.last_error

    def get(self, key: str, default: Any = None) -> Any:
        """A key's JSON value, or ``default`` when the copy has none (yet)."""
        return self._core.get(key, default)

    def get_int(self, key: str, default: int) -> int:
        """A key's value when it is a whole number, else ``default``."""
        return self._core.typed(key, default, _int)

    def get_float(self, key: str, default: float) -> float:
        """A key's value when it is a number, else ``default``."""
        return self._core.typed(key, default, _float)

    def get_bool(self, key: str, default: bool) -> bool:
        """A key's value when it is ``true`` or ``false``, else ``default``."""
        return self._core.typed(key, default, _bool)

    def get_str(self, key: str, default: str) -> str:
        """A key's value when it is a string, else ``default``."""
        return self._core.typed(key, default, _str)

    def entry(self, key: str) -> ConfigEntry | None:
        """A key with its version, index, writer and time, or ``None``."""
        return self._core.entry(key)

    def entries(self) -> dict[str, ConfigEntry]:
        """The whole copy by relative key."""
        return self._core.entries()

    def as_dict(self) -> dict[str, Any]:
        """The values of the copy by relative key (secret values this token may not write left out)."""
        return {key: e.value for key, e in self._core.entries().items() if e.has_value}

    def on_change(self, callback: Listener) -> Callable[[], None]:
        """Calls ``callback`` with every :class:`Change` from now on; returns a function that
        stops it. :class:`Config` calls it on its thread; :class:`AsyncConfig` in its task, and
        awaits it when it is a coroutine function."""
        with self._listeners_lock:
            listener_id = self._next_listener
            self._next_listener += 1
            self._listeners[listener_id] = callback

        def stop() -> None:
            with self._listeners_lock:
                self._listeners.pop(listener_id, None)

        return stop

    def _callbacks(self) -> list[Listener]:
        with self._listeners_lock:
            return list(self._listeners.values())

    def _not_ready(self) -> MikoError:
        return self._core.last_error or MikoUnreachable(f"no keys under {self.prefix!r} from Miko yet")

    def __repr__(self) -> str:
        return f"<miko.{type(self).__name__} {self.prefix!r} index={self.index} {'stale' if self.stale else 'fresh'}>"


class Config(_ConfigBase):
    """A live copy of the keys under a prefix, followed by a background thread; made by
    :meth:`Client.config`. Use it as a context manager or call :meth:`close` (the client's
    ``close()`` closes it too)."""

    def __init__(self, client: Client, prefix: str) -> None:
        super().__init__(ConfigCore(client._options, prefix))
        self._client = client
        self._poller = httpx.Client(**client._core.api_settings(), limits=POLL_LIMITS)
        self._stop = threading.Event()
        self._settled = threading.Event()
        self._socket = _SocketWatch(self._stop)
        self._thread = threading.Thread(target=self._follow, name=f"miko-config-{prefix}", daemon=True)
        self._thread.start()

    def __enter__(self) -> Config:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def wait_ready(self, timeout: Seconds | None = None) -> None:
        """Blocks until the first copy (at most ``timeout``, default the client's). Raises why
        there is none: :class:`~miko.KvForbidden` at once for a prefix the token may not read,
        :class:`~miko.MikoUnreachable` after the timeout."""
        if self._core.loaded:
            return
        limit = self._client._options.timeout if timeout is None else seconds(timeout, "timeout", allow_zero=True)
        self._settled.wait(limit)
        if not self._core.loaded:
            raise closed_error() if self._stop.is_set() else self._not_ready()

    def set(
        self,
        key: str,
        value: Any,
        *,
        if_version: int | None = None,
        create: bool = False,
        comment: str | None = None,
        secret: bool | None = None,
    ) -> Written:
        """Writes ``value`` (any JSON) to the key. ``if_version`` (compare-and-set) and
        ``create=True`` (only when absent) raise :class:`~miko.VersionConflict` when they do not
        hold; no write access raises :class:`~miko.KvForbidden`."""
        exchange = put_key(
            self._client.address,
            self.prefix + key,
            value,
            if_version=if_version,
            create=create,
            comment=comment,
            secret=secret,
        )
        return self._client._run(exchange)

    def delete(self, key: str, *, if_version: int | None = None) -> Written:
        """Deletes the key: :class:`~miko.KeyNotFound` when it is not there,
        :class:`~miko.VersionConflict` when ``if_version`` does not hold."""
        return self._client._run(delete_key(self._client.address, self.prefix + key, if_version=if_version))

    def close(self) -> None:
        """Stops following the prefix; the last copy stays readable. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._settled.set()
        self._socket.interrupt()
        # From a change callback, on the view's own thread: the loop ends once the callback returns.
        if self._thread is not threading.current_thread():
            self._thread.join(self._client._options.timeout)
        self._poller.close()
        self._client._forget_config(self)

    def _follow(self) -> None:
        follow_on_thread(self._core, self._poller, self._stop, self._settled, self._socket, self._notify)

    def _notify(self) -> None:
        for change in self._core.take_changes():
            for callback in self._callbacks():
                try:
                    callback(change)
                except Exception:  # one failing callback must not stop the copy or the others
                    logger.exception("miko: a change callback of %r failed", self.prefix)


class AsyncConfig(_ConfigBase):
    """The asyncio twin of :class:`Config`, followed by a task; made by
    :meth:`AsyncClient.config`. Use with ``async with`` or call :meth:`aclose`."""

    def __init__(self, client: AsyncClient, prefix: str) -> None:
        super().__init__(ConfigCore(client._options, prefix))
        self._client = client
        self._poller = httpx.AsyncClient(**client._core.api_settings(), limits=POLL_LIMITS)
        self._settled = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # The queues of changes() iterators, told of the end when the view closes.
        self._ends: list[asyncio.Queue[Change | None]] = []
        with contextlib.suppress(RuntimeError):  # no running loop: started by the first await
            self._start()

    async def __aenter__(self) -> AsyncConfig:
        self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._follow(), name=f"miko-config-{self.prefix}")

    async def wait_ready(self, timeout: Seconds | None = None) -> None:
        """Waits for the first copy; see :meth:`Config.wait_ready`."""
        if self._core.loaded:
            return
        self._start()
        limit = self._client._options.timeout if timeout is None else seconds(timeout, "timeout", allow_zero=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._settled.wait(), limit)
        if not self._core.loaded:
            raise closed_error() if self._closed else self._not_ready()

    async def set(
        self,
        key: str,
        value: Any,
        *,
        if_version: int | None = None,
        create: bool = False,
        comment: str | None = None,
        secret: bool | None = None,
    ) -> Written:
        """See :meth:`Config.set`."""
        exchange = put_key(
            self._client.address,
            self.prefix + key,
            value,
            if_version=if_version,
            create=create,
            comment=comment,
            secret=secret,
        )
        return await self._client._run(exchange)

    async def delete(self, key: str, *, if_version: int | None = None) -> Written:
        """See :meth:`Config.delete`."""
        return await self._client._run(delete_key(self._client.address, self.prefix + key, if_version=if_version))

    async def changes(self) -> AsyncIterator[Change]:
        """The changes from now on, as an async iterator that ends when the view closes."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        stop = self.on_change(queue.put_nowait)
        self._ends.append(queue)
        try:
            while (change := await queue.get()) is not None:
                yield change
        finally:
            stop()
            with contextlib.suppress(ValueError):
                self._ends.remove(queue)

    async def aclose(self) -> None:
        """Stops following the prefix; the last copy stays readable. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._settled.set()
        # From a change callback, in the view's own task: the loop ends once the callback returns.
        if self._task is not None and not self._task.done() and self._task is not asyncio.current_task():
            self._task.cancel()
            await asyncio.wait([self._task])
        for queue in self._ends:
            queue.put_nowait(None)
        await self._poller.aclose()
        self._client._forget_config(self)

    async def _follow(self) -> None:
        await follow_in_task(self._core, self._poller, self._settled, self._notify, lambda: not self._closed)

    async def _notify(self) -> None:
        for change in self._core.take_changes():
            for callback in self._callbacks():
                try:
                    result = callback(change)
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # one failing callback must not stop the copy or the others
                    logger.exception("miko: a change callback of %r failed", self.prefix)
