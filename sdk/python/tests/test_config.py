"""client.config(prefix): a live copy of the keys under a prefix, sync and asyncio."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable

import pytest

import miko
from support import BILLING, BILLING_READER, MikoServer, eventually, free_port


@pytest.fixture
def prefix() -> str:
    """A prefix of its own under billing/ for each test."""
    return f"billing/{uuid.uuid4().hex[:10]}/"


def test_a_change_reaches_a_running_client_within_a_second(miko_server: MikoServer, prefix: str) -> None:
    miko_server.put_key(prefix + "pool-size", 10)
    miko_server.put_key(prefix + "name", "primary")
    with miko.Client(miko_server.url, token=BILLING) as client:
        config = client.config(prefix)
        config.wait_ready()
        assert config.get_int("pool-size", 1) == 10
        assert config.get_str("pool-size", "none") == "none"  # a number is not a string: the default
        assert config.get_float("missing", 2.5) == 2.5
        assert config.get("name") == "primary" and config.get("missing", "x") == "x"
        assert config.as_dict() == {"name": "primary", "pool-size": 10}
        entry = config.entry("pool-size")
        assert entry is not None and entry.version == 1 and entry.updated_by == "admin"

        heard: list[miko.Change] = []
        called = threading.Event()
        stop = config.on_change(lambda change: (heard.append(change), called.set()))
        miko_server.put_key("other/flag", True)  # another prefix: nothing here
        miko_server.put_key(prefix + "pool-size", 20)
        written = time.monotonic()
        eventually(lambda: config.get_int("pool-size", 0) == 20, timeout=1.0)
        assert time.monotonic() - written < 1.0
        assert called.wait(1.0)
        [change] = heard
        assert change.key == "pool-size" and change.value == 20 and not change.deleted
        assert change.previous is not None and change.previous.value == 10
        stop()
        miko_server.put_key(prefix + "pool-size", 30)
        eventually(lambda: config.get_int("pool-size", 0) == 30, timeout=1.0)
        assert len(heard) == 1  # stopped


def test_miko_restarted_values_kept_and_refreshed(start_miko: Callable[..., MikoServer], prefix: str) -> None:
    server = start_miko(free_port())
    server.put_key(prefix + "rate", 0.5)
    with miko.Client(server.url, token=BILLING, backoff_max=0.2, timeout=2) as client:
        config = client.config(prefix)
        config.wait_ready()
        assert not config.stale

        assert server.stop() == 0
        eventually(lambda: config.stale)
        assert isinstance(config.last_error, miko.MikoUnreachable)
        assert config.get_float("rate", 0.0) == 0.5  # the last copy keeps answering
        config.wait_ready()

        server.start()  # same port, same data directory
        server.put_key(prefix + "rate", 0.75)
        eventually(lambda: config.get_float("rate", 0.0) == 0.75, timeout=10)
        assert not config.stale and config.last_error is None
        entry = config.entry("rate")
        assert entry is not None and entry.version == 2


def test_denied_prefix_is_kv_forbidden(miko_server: MikoServer) -> None:
    with miko.Client(miko_server.url, token=BILLING, timeout=5) as client:
        config = client.config("payroll/")
        started = time.monotonic()
        with pytest.raises(miko.KvForbidden) as error:
            config.wait_ready()
        assert time.monotonic() - started < 4  # Miko's answer, not a timeout
        assert error.value.status == 403 and error.value.code == "kv_forbidden"
        assert isinstance(error.value, miko.Forbidden)
        with pytest.raises(miko.KvForbidden):
            config.set("salary", 1)
        assert config.get_int("salary", -1) == -1


def test_secret_values_are_left_out_of_a_readers_copy(miko_server: MikoServer, prefix: str) -> None:
    with miko.Client(miko_server.url, token=BILLING) as writer_client, writer_client.config(prefix) as writer:
        writer.set("api-key", "s3cret", secret=True)
        writer.set("region", "eu")
        eventually(lambda: writer.get("api-key") == "s3cret", timeout=1.0)
        with miko.Client(miko_server.url, token=BILLING_READER) as reader_client:
            reader = reader_client.config(prefix)
            reader.wait_ready()
            assert reader.get("region") == "eu"
            entry = reader.entry("api-key")
            assert entry is not None and entry.secret and not entry.has_value
            assert reader.get_str("api-key", "hidden") == "hidden"
            assert "api-key" not in reader.as_dict()
            with pytest.raises(miko.KvForbidden):
                reader.set("region", "us")


def test_compare_and_set_conflicts_are_version_conflicts(miko_server: MikoServer, prefix: str) -> None:
    with miko.Client(miko_server.url, token=BILLING) as client, client.config(prefix) as config:
        created = config.set("limit", 100, create=True, comment="first")
        assert (created.key, created.version) == (prefix + "limit", 1)
        with pytest.raises(miko.VersionConflict) as conflict:
            config.set("limit", 101, create=True)
        assert conflict.value.status == 412 and conflict.value.code == "kv_version_conflict"
        assert config.set("limit", 200, if_version=1).version == 2
        with pytest.raises(miko.VersionConflict):
            config.set("limit", 300, if_version=1)
        with pytest.raises(miko.VersionConflict):
            config.delete("limit", if_version=1)
        assert config.delete("limit", if_version=2).version == 3
        with pytest.raises(miko.KeyNotFound):
            config.delete("limit")
        assert config.set("limit", 1, create=True).version == 4  # versions are never reused
        eventually(lambda: config.get("limit") == 1, timeout=1.0)


async def test_asyncio_view_callbacks_iterator_and_typed_errors(miko_server: MikoServer, prefix: str) -> None:
    miko_server.put_key(prefix + "retries", 3)
    async with miko.AsyncClient(miko_server.url, token=BILLING) as client:
        config = client.config(prefix)
        await config.wait_ready()
        assert config.get_int("retries", 1) == 3

        heard: list[miko.Change] = []

        async def record(change: miko.Change) -> None:
            heard.append(change)

        config.on_change(record)
        iterated: list[miko.Change] = []

        async def iterate() -> None:
            async for change in config.changes():
                iterated.append(change)
                if len(iterated) == 2:
                    return

        iterating = asyncio.create_task(iterate())
        await asyncio.sleep(0.1)
        written = await config.set("retries", 4, if_version=1)
        assert written.version == 2
        await config.delete("retries")
        await asyncio.wait_for(iterating, 1.0)
        assert [(c.key, c.deleted) for c in iterated] == [("retries", False), ("retries", True)]
        assert [c.deleted for c in heard] == [False, True]

        with pytest.raises(miko.VersionConflict):
            await config.set("retries", 5, if_version=1)
        denied = client.config("payroll/")
        with pytest.raises(miko.KvForbidden):
            await denied.wait_ready()


def test_a_view_closed_from_its_own_callback_stops(miko_server: MikoServer, prefix: str) -> None:
    with miko.Client(miko_server.url, token=BILLING) as client:
        config = client.config(prefix)
        config.wait_ready()
        closed = threading.Event()
        config.on_change(lambda change: (config.close(), closed.set()))
        config.set("once", 1)
        assert closed.wait(2.0)
        assert config.get("once") == 1  # the last copy stays readable
        config.set("twice", 2)
        time.sleep(0.3)
        assert config.get("twice") is None  # no longer followed


async def test_an_async_view_closed_from_its_own_callback_stops(miko_server: MikoServer, prefix: str) -> None:
    async with miko.AsyncClient(miko_server.url, token=BILLING) as client:
        config = client.config(prefix)
        await config.wait_ready()
        closed = asyncio.Event()

        async def close_on_change(change: miko.Change) -> None:
            await config.aclose()
            closed.set()

        iterated: list[miko.Change] = []

        async def iterate() -> None:
            async for change in config.changes():
                iterated.append(change)

        iterating = asyncio.create_task(iterate())
        await asyncio.sleep(0.05)
        config.on_change(close_on_change)
        await config.set("once", 1)
        await asyncio.wait_for(closed.wait(), 2.0)
        await asyncio.wait_for(iterating, 1.0)  # the iterator ended with the view
        assert [c.key for c in iterated] == ["once"]
        assert config.get("once") == 1
