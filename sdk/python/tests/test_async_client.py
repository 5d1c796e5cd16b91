"""The asyncio client: the same scenarios as the sync one, plus cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

import miko
from support import INTERNAL, REGISTER, AsyncCountingTransport, Backend, MikoServer, free_port


async def eventually(check: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
        except miko.MikoError:
            pass
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_reaches_a_service_registered_after_start(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("late")
    async with miko.AsyncClient(miko_server.url) as client:
        await client.wait_ready()
        with pytest.raises(miko.UnknownService):
            await client.pick(service)
        await asyncio.to_thread(miko_server.register, service, publicAddress=server.url)
        registered = time.monotonic()
        http = client.http(service)
        while True:
            try:
                response = await http.get("/hello")
                break
            except miko.UnknownService:
                assert time.monotonic() - registered < 1.0, "not reachable within 1 s of registering"
                await asyncio.sleep(0.005)
        assert response.status_code == 200 and response.json()["name"] == "late"
        endpoint = miko.endpoint_of(response)
        assert endpoint is not None and endpoint.public_address == server.url


async def test_failover_when_an_instance_dies_mid_run(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    servers = [backend(f"a{i}") for i in range(3)]
    for server in servers:
        miko_server.register(service, publicAddress=server.url)
    counting = AsyncCountingTransport()
    async with miko.AsyncClient(miko_server.url) as client:
        await eventually(lambda: _count(client, service, 3))
        http = client.http(service, transport=counting)
        victim = servers[2]
        names: list[str] = []
        killed_at = -1
        for i in range(200):
            if i == 60:
                victim.kill()
                killed_at = len(counting.ports)
            response = await http.get(f"/r/{i}")
            assert response.status_code == 200
            names.append(response.json()["name"])
        assert "a2" in names[:60] and "a2" not in names[60:]
        assert counting.ports[killed_at:].count(victim.port) == 1

        # Concurrent requests fail over too.
        servers[0].kill()
        responses = await asyncio.gather(*(http.get(f"/c/{i}") for i in range(30)))
        assert {r.json()["name"] for r in responses} == {"a1"}


async def _count(client: miko.AsyncClient, service: str, n: int) -> bool:
    return len(await client.endpoints(service)) == n


async def test_internal_mode_uses_internal_addresses(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    outside = backend("outside")
    inside = backend("inside")
    miko_server.register(service, publicAddress=outside.url, internalAddress=inside.url)
    async with miko.AsyncClient(miko_server.url, token=REGISTER, address_kind="internal") as client:
        await eventually(lambda: _count(client, service, 1))
        assert (await client.endpoints(service))[0].internal_address is None
        assert (await client.http(service).get("/")).json()["name"] == "outside"
    async with miko.AsyncClient(miko_server.url, token=INTERNAL, address_kind="internal") as client:
        await eventually(lambda: _count(client, service, 1))
        assert (await client.endpoints(service))[0].internal_address == inside.url
        assert (await client.http(service).get("/")).json()["name"] == "inside"


async def test_restart_of_miko(start_miko: Callable[..., MikoServer], backend: Callable[[str], Backend]) -> None:
    server = start_miko(free_port())
    first, second = backend("first"), backend("second")
    server.register("billing", publicAddress=first.url)
    async with miko.AsyncClient(server.url, backoff_max=0.2) as client:
        http = client.http("billing")
        assert (await http.get("/")).json()["name"] == "first"
        assert await asyncio.to_thread(server.stop) == 0
        await eventually(lambda: client.stale)
        assert (await http.get("/")).json()["name"] == "first"
        await asyncio.to_thread(server.start)
        await eventually(lambda: not client.stale)
        server.register("billing", publicAddress=second.url, weight=9)
        await eventually(lambda: _first_is(client, "billing", second.url))


async def _first_is(client: miko.AsyncClient, service: str, address: str) -> bool:
    return (await client.endpoints(service))[0].public_address == address


async def test_registration_heartbeats_and_aclose_removes_it(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("self")
    client = miko.AsyncClient(miko_server.url, token=REGISTER)
    try:
        registration = await client.register(service, public_address=server.url, ttl=0.6)
        await asyncio.sleep(2.0)
        [endpoint] = miko_server.service(service)
        assert endpoint["status"] == "passing" and endpoint["id"] == registration.id
        assert registration.last_error is None
    finally:
        await client.aclose()
    assert miko_server.service(service) == []

    async with miko.AsyncClient(miko_server.url, token=REGISTER) as client:
        async with await client.register(service, public_address=server.url, ttl=None) as registration:
            assert [e["id"] for e in miko_server.service(service)] == [registration.id]
        assert miko_server.service(service) == []


async def test_errors(miko_server: MikoServer, service: str) -> None:
    with pytest.raises(miko.InvalidAddress):
        miko.AsyncClient("not a url")
    async with miko.AsyncClient(miko_server.url, token="wrong-token") as client:
        with pytest.raises(miko.Unauthorized):
            await client.endpoints(service)
    async with miko.AsyncClient(miko_server.url) as client:
        with pytest.raises(miko.UnknownService):
            await client.http(service).get("/")
        with pytest.raises(miko.Unauthorized):
            await client.register(service, public_address="http://127.0.0.1:9")
    async with miko.AsyncClient(f"http://127.0.0.1:{free_port()}", timeout=0.3) as client:
        with pytest.raises(miko.MikoUnreachable):
            await client.pick(service)


async def test_cancellation_and_aclose(miko_server: MikoServer) -> None:
    client = miko.AsyncClient(miko_server.url)
    await client.wait_ready()
    task = client._task
    assert task is not None and not task.done()
    started = time.monotonic()
    await client.aclose()
    assert task.done() and time.monotonic() - started < 1.0
    await client.aclose()  # idempotent

    # Cancelling a request in flight does not disturb the client.
    slow = miko.AsyncClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    pending = asyncio.ensure_future(slow.endpoints("anything"))
    await asyncio.sleep(0.1)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    await slow.aclose()
    assert slow._task is not None and slow._task.done()
