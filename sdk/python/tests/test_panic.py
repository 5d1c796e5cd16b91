"""Panic mode against a real Miko: a service with no passing endpoint is served from the others,
unless the client is strict."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import miko
from support import REGISTER, Backend, MikoServer, eventually, free_port


def register_failing(miko_server: MikoServer, service: str, server: Backend) -> None:
    """Registers a live backend whose active check fails: a new check starts critical and never
    passes (nothing listens on its port), so Miko lists a backend that answers as critical."""
    check = {"tcp": f"127.0.0.1:{free_port()}", "interval": "1m"}
    miko_server.register(service, id=server.name, publicAddress=server.url, check=check)


def test_all_critical_still_picks_and_reports_panic(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    servers = [backend("p1"), backend("p2")]
    for server in servers:
        register_failing(miko_server, service, server)
    with miko.Client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 2)
        assert {e.status for e in client.endpoints(service)} == {"critical"}
        picked = client.pick(service)
        assert picked.id in {"p1", "p2"} and picked.status == "critical"
        http = client.http(service)
        answered = {http.get("/orders").json()["name"] for _ in range(6)}
        # Round-robin still spreads the requests over the critical endpoints.
        assert answered == {"p1", "p2"}
        assert service in client.panic_services


def test_strict_fails_with_no_healthy_endpoint(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    register_failing(miko_server, service, backend("s1"))
    with miko.Client(miko_server.url, strict=True) as client:
        eventually(lambda: client.endpoints(service))
        with pytest.raises(miko.NoHealthyEndpoint) as error:
            client.pick(service)
        assert error.value.service == service
        with pytest.raises(miko.NoHealthyEndpoint):
            client.http(service).get("/")
        assert client.panic_services == []


def test_mixed_passing_and_critical_chooses_only_passing(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    healthy = backend("ok")
    miko_server.register(service, id="ok", publicAddress=healthy.url)
    register_failing(miko_server, service, backend("down"))
    with miko.Client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 2)
        assert {client.pick(service).id for _ in range(6)} == {"ok"}
        http = client.http(service)
        assert {http.get("/").json()["name"] for _ in range(6)} == {"ok"}
        assert service not in client.panic_services


def test_panic_begins_when_the_lease_lapses_and_ends_on_a_heartbeat(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("leased")
    miko_server.register(service, id="leased", publicAddress=server.url, ttl="1s")
    with miko.Client(miko_server.url) as client:
        eventually(lambda: client.endpoints(service))
        # No heartbeat: the lease lapses, Miko marks the endpoint critical, and it stays in use.
        eventually(lambda: service in client.panic_services)
        assert client.endpoints(service)[0].status == "critical"
        assert client.http(service).get("/").json()["name"] == "leased"
        with miko_server.api(REGISTER) as api:
            api.put(f"/v1/services/{service}/endpoints/leased/heartbeat").raise_for_status()
        eventually(lambda: service not in client.panic_services)
        assert client.pick(service).status == "passing"


async def listed(client: miko.AsyncClient, service: str) -> None:
    """Waits until the client's list holds the service (registered after it started)."""
    for _ in range(500):
        if service in await client.services():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{service} not listed in time")


async def test_async_client_shares_panic_mode_and_strict(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("a1")
    await asyncio.to_thread(register_failing, miko_server, service, server)
    async with miko.AsyncClient(miko_server.url) as client, miko.AsyncClient(miko_server.url, strict=True) as strict:
        await listed(client, service)
        await listed(strict, service)
        picked = await client.pick(service)
        assert picked.id == "a1" and picked.status == "critical"
        assert (await client.http(service).get("/")).json()["name"] == "a1"
        assert service in client.panic_services
        with pytest.raises(miko.NoHealthyEndpoint):
            await strict.pick(service)
        assert strict.panic_services == []
