"""The sans-I/O core of configuration views: a local copy of the keys under a prefix, with
their values, kept fresh by blocking queries on ``GET /v1/kv?prefix=...&values=true``.

:class:`ConfigCore` says which read comes next, what each answer means for the copy (and which
changes it brings), how long to back off, and answers reads from the copy; the writes are
exchanges (:data:`~miko._core.Exchange`). :class:`~miko.Config` performs them on a thread,
:class:`~miko.AsyncConfig` in a task.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ._core import Call, Exchange, Step, ask
from ._errors import MikoError, Unauthorized, error_from_response, unreachable
from ._options import Options, duration_text

__all__ = ["Change", "ConfigCore", "ConfigEntry", "Written", "delete_key", "put_key"]

logger = logging.getLogger("miko")

T = TypeVar("T")

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One key of the copy."""

    #: The key relative to the view's prefix (``db/pool-size`` under ``billing/``).
    key: str
    #: The JSON value; ``None`` also for a secret value this token may not write (see ``has_value``).
    value: Any
    version: int
    index: int
    updated_at: str
    updated_by: str
    secret: bool
    has_value: bool


@dataclass(frozen=True, slots=True)
class Change:
    """A key written (new, or at a new version) or deleted, as the copy followed Miko."""

    key: str
    #: The key as it is now; ``None`` once deleted.
    entry: ConfigEntry | None
    #: The key before the change; ``None`` for a new key.
    previous: ConfigEntry | None

    @property
    def deleted(self) -> bool:
        return self.entry is None

    @property
    def value(self) -> Any:
        """The new value (``None`` when deleted)."""
        return None if self.entry is None else self.entry.value


@dataclass(frozen=True, slots=True)
class Written:
    """Miko's answer to a write or a delete: the key's new version."""

    key: str
    version: int
    index: int


def _entries(prefix: str, response: httpx.Response) -> tuple[int, dict[str, ConfigEntry]]:
    """The index and keys of a ``GET /v1/kv`` answer (status 200), by relative key."""
    try:
        body = json.loads(response.content)
        index, items = body["index"], body["items"]
        entries: dict[str, ConfigEntry] = {}
        for item in items:
            key = item["key"][len(prefix) :] if item["key"].startswith(prefix) else item["key"]
            entries[key] = ConfigEntry(
                key=key,
                value=item.get("value"),
                version=int(item["version"]),
                index=int(item["index"]),
                updated_at=str(item.get("updatedAt", "")),
                updated_by=str(item.get("updatedBy", "")),
                secret=bool(item.get("secret", False)),
                has_value="value" in item,
            )
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
        raise MikoError(f"malformed key listing from Miko: {error!r}", status=response.status_code) from None
    if isinstance(index, bool) or not isinstance(index, int):
        raise MikoError("malformed key listing from Miko: no index", status=response.status_code)
    return index, entries


def changes_between(before: Mapping[str, ConfigEntry], after: Mapping[str, ConfigEntry]) -> list[Change]:
    """What changed from one copy to the next, by key."""
    changes = [
        Change(key, entry, before.get(key))
        for key, entry in after.items()
        if key not in before or (before[key].version, before[key].index) != (entry.version, entry.index)
    ]
    changes += [Change(key, None, previous) for key, previous in before.items() if key not in after]
    return sorted(changes, key=lambda change: change.key)


class ConfigCore:
    """The copy of one prefix and how it is followed; safe to read from several threads."""

    def __init__(self, options: Options, prefix: str, rng: random.Random | None = None) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
        self.options = options
        self.prefix = prefix
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._entries: dict[str, ConfigEntry] = {}
        self._index: int | None = None
        self._changes: list[Change] = []
        self._failures = 0
        self.last_error: MikoError | None = None
        self.last_updated: datetime | None = None

    # ----- following -------------------------------------------------------------------

    def next_call(self) -> Call:
        """The next read: a blocking query once a copy is held and the last read went well
        (after a failure Miko may be a new process with nothing new to say)."""
        blocking = self._index is not None and self._failures == 0
        params: list[tuple[str, str]] = [("prefix", self.prefix), ("values", "true")]
        if blocking:
            params += [("index", str(self._index)), ("wait", duration_text(self.options.wait))]
        return Call(
            "GET",
            "/v1/kv",
            params=httpx.QueryParams(tuple(params)),
            timeout=self.options.poll_timeout(blocking=blocking),
        )

    def received(self, response: httpx.Response) -> Step:
        """Miko answered the last read: the next step; the changes it brought wait in
        :meth:`take_changes`."""
        if response.status_code != 200:
            return self.failed(error_from_response(response, f"reading keys under {self.prefix!r}"))
        try:
            index, entries = _entries(self.prefix, response)
        except MikoError as error:
            return self.failed(error)
        with self._lock:
            before, first = self._entries, self._index is None
            if index != self._index:  # a lower one too: Miko's store was reset
                self._entries, self._index = entries, index
            if not first:
                self._changes += changes_between(before, self._entries)
            self._failures, self.last_error = 0, None
            self.last_updated = datetime.now(timezone.utc)
        return Step(delay=0.0, settled=True)

    def take_changes(self) -> list[Change]:
        """The changes the reads brought since the last call."""
        with self._lock:
            changes, self._changes = self._changes, []
        return changes

    def failed(self, error: Exception) -> Step:
        """The last read failed; the copy stays. The first failure in a row is logged."""
        reason = error if isinstance(error, MikoError) else unreachable(self.options.address, error)
        with self._lock:
            self.last_error = reason
            self._failures += 1
            failures = self._failures
        if failures == 1:
            logger.warning("miko: keys under %r not refreshed: %s", self.prefix, reason)
        # A denied prefix settles the wait for the first copy: waiting would not change it.
        delay = 0.0 if failures == 1 else min(self.options.backoff_max, 0.1 * 2.0 ** (failures - 2))
        return Step(delay=delay * self._rng.uniform(0.5, 1.0), settled=isinstance(reason, Unauthorized))

    # ----- reads -----------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._index is not None

    @property
    def index(self) -> int | None:
        return self._index

    @property
    def stale(self) -> bool:
        return self._index is None or self._failures > 0

    def entry(self, key: str) -> ConfigEntry | None:
        return self._entries.get(key)

    def entries(self) -> dict[str, ConfigEntry]:
        return dict(self._entries)

    def get(self, key: str, default: Any = None) -> Any:
        found = self._entries.get(key)
        return found.value if found is not None and found.has_value else default

    def typed(self, key: str, default: T, convert: Callable[[Any], T | None]) -> T:
        """The value converted, or ``default`` when absent or of another type."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            return default
        converted = convert(value)
        return default if converted is None else converted


def key_path(key: str) -> str:
    return "/v1/kv/" + "/".join(quote(segment, safe="") for segment in key.split("/"))


def _written(response: httpx.Response, key: str) -> Written:
    if response.status_code != 200:
        raise error_from_response(response, f"writing {key!r}")
    body = response.json()
    return Written(key=body["key"], version=int(body["version"]), index=int(body["index"]))


def put_key(
    address: str,
    key: str,
    value: Any,
    *,
    if_version: int | None,
    create: bool,
    comment: str | None,
    secret: bool | None,
) -> Exchange[Written]:
    body: dict[str, Any] = {"value": value}
    if comment is not None:
        body["comment"] = comment
    if secret is not None:
        body["secret"] = secret
    headers = {"If-Match": str(if_version)} if if_version is not None else {}
    if create:
        headers["If-None-Match"] = "*"
    response = yield from ask(address, Call("PUT", key_path(key), json=body, headers=headers))
    return _written(response, key)


def delete_key(address: str, key: str, *, if_version: int | None) -> Exchange[Written]:
    headers = {"If-Match": str(if_version)} if if_version is not None else None
    response = yield from ask(address, Call("DELETE", key_path(key), headers=headers))
    return _written(response, key)
