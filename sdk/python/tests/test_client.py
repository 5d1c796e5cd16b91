"""The sync client against a real Miko and real backends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import httpx
import pytest

import miko
from support import ADMIN, INTERNAL, REGISTER, Backend, CountingTransport, MikoServer, eventually


def test_reaches_a_service_registered_after_start(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("late")
    with miko_client(miko_server.url) as client:
        client.wait_ready()
        with pytest.raises(miko.UnknownService):
            client.pick(service)
        miko_server.register(service, publicAddress=server.url)
        registered = time.monotonic()
        http = client.http(service)
        while True:
            try:
                response = http.get("/hello")
                break
            except miko.UnknownService:
                assert time.monotonic() - registered < 1.0, "not reachable within 1 s of registering"
                time.sleep(0.005)
        assert response.status_code == 200
        assert response.json() == {
            "name": "late",
            "method": "GET",
            "path": "/hello",
            "host": server.address,
            "body": "",
        }
        assert miko_endpoint(response).service == service
        assert not client.stale and client.index is not None and client.last_updated is not None


def miko_client(url: str, **options: object) -> miko.Client:
    return miko.Client(url, **options)  # type: ignore[arg-type]


def miko_endpoint(response: object) -> miko.Endpoint:
    endpoint = miko.endpoint_of(response)  # type: ignore[arg-type]
    assert endpoint is not None
    return endpoint


def test_failover_when_an_instance_dies_mid_run(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    servers = [backend(f"b{i}") for i in range(3)]
    for server in servers:
        miko_server.register(service, publicAddress=server.url)
    counting = CountingTransport()
    with miko_client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 3)
        http = client.http(service, transport=counting)
        victim = servers[1]
        served: list[str] = []
        killed_at = -1
        for i in range(200):
            if i == 60:
                victim.kill()
                killed_at = len(counting.ports)
            response = http.get(f"/r/{i}")
            assert response.status_code == 200, response.text
            served.append(response.json()["name"])
        assert len(served) == 200
        assert "b1" in served[:60] and "b1" not in served[60:]
        after = counting.ports[killed_at:]
        # The dead instance cost one failed attempt, then was skipped.
        assert after.count(victim.port) == 1
        assert victim.port not in after[after.index(victim.port) + 1 :]
        assert len(after) == 140 + 1
        assert client.pick(service).id != victim_id(client, service, victim)
        assert {client.pick(service).public_address for _ in range(10)} == {servers[0].url, servers[2].url}


def victim_id(client: miko.Client, service: str, server: Backend) -> str:
    return next(e.id for e in client.endpoints(service) if e.public_address == server.url)


def test_failover_is_safe_from_many_threads(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    servers = [backend(f"t{i}") for i in range(3)]
    for server in servers:
        miko_server.register(service, publicAddress=server.url)
    with miko_client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 3)
        http = client.http(service)
        failures: list[BaseException] = []
        done = threading.Barrier(5)

        def run(worker: int) -> None:
            for i in range(40):
                if worker == 0 and i == 10:
                    servers[0].kill()
                try:
                    response = http.get(f"/w/{worker}/{i}")
                    if response.status_code != 200:
                        failures.append(AssertionError(response.status_code))
                except Exception as error:  # collected and asserted below
                    failures.append(error)
            done.wait()

        threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        done.wait()
        for thread in threads:
            thread.join()
        assert failures == []


def test_bad_gateway_answers_fail_over_for_idempotent_requests_only(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    good = backend("good")
    # Same backend process, but the endpoint's address prefix sends every request to /status/503.
    flaky = backend("flaky")
    miko_server.register(service, publicAddress=f"{flaky.url}/status/503", weight=5)
    miko_server.register(service, publicAddress=good.url, weight=1)
    with miko_client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 2)
        http = client.http(service)
        for _ in range(10):
            response = http.get("/x")
            assert response.status_code == 200 and response.json()["name"] == "good"
        flaky_endpoint = next(e for e in client.endpoints(service) if e.public_address and "503" in e.public_address)
        assert client._directory.is_down(service, flaky_endpoint.id)

    with miko_client(miko_server.url, cooldown=0) as client:
        eventually(lambda: len(client.endpoints(service)) == 2)
        post = client.http(service)
        statuses = {post.post("/x", json={"n": i}).status_code for i in range(30)}
        # A POST is not resent: some reach the caller as 503.
        assert statuses == {200, 503}


def test_internal_addresses_follow_the_token(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    outside = backend("outside")
    inside = backend("inside")
    only_inside = backend("only-inside")
    miko_server.register(service, publicAddress=outside.url, internalAddress=inside.url, weight=2)
    miko_server.register(service, internalAddress=only_inside.url, weight=1)

    for token in (None, REGISTER):
        with miko_client(miko_server.url, token=token, address_kind="internal") as client:
            endpoints = eventually(lambda c=client: c.endpoints(service))  # type: ignore[misc]
            assert [e.public_address for e in endpoints] == [outside.url]
            assert all(e.internal_address is None for e in endpoints)
            assert {client.http(service).get("/").json()["name"] for _ in range(4)} == {"outside"}

    with miko_client(miko_server.url, token=INTERNAL) as client:
        # Public mode with an internal token: internal addresses are known but not used.
        endpoints = eventually(lambda: client.endpoints(service))
        assert [e.internal_address for e in endpoints] == [inside.url]
        assert {client.http(service).get("/").json()["name"] for _ in range(4)} == {"outside"}

    with miko_client(miko_server.url, token=INTERNAL, address_kind="internal") as client:
        endpoints = eventually(lambda: client.endpoints(service))
        assert [e.internal_address for e in endpoints] == [inside.url, only_inside.url]
        assert {client.http(service).get("/").json()["name"] for _ in range(4)} == {"inside", "only-inside"}


def test_strategies_against_real_endpoints(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    servers = [backend(f"z{i}") for i in range(3)]
    miko_server.register(service, publicAddress=servers[0].url, zone="eu-1")
    miko_server.register(service, publicAddress=servers[1].url, zone="us-1")
    miko_server.register(service, publicAddress=servers[2].url, zone="us-1")
    with miko_client(miko_server.url, zone="eu-1") as client:
        eventually(lambda: len(client.endpoints(service)) == 3)
        assert {client.http(service).get("/").json()["name"] for _ in range(6)} == {"z0"}
        servers[0].kill()
        assert {client.http(service).get("/").json()["name"] for _ in range(6)} <= {"z1", "z2"}
    with miko_client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 3)
        picks = [client.pick(service).id for _ in range(6)]
        assert len(set(picks)) == 3 and picks[:3] == picks[3:]


def test_strict_no_healthy_endpoint_names_the_service(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("checked")
    server.kill()
    # A new active check starts critical: listed, but not passing.
    miko_server.register(service, publicAddress=server.url, check={"tcp": server.address, "interval": "1m"})
    with miko_client(miko_server.url, strict=True) as client:
        assert eventually(lambda: client.endpoints(service))[0].status == "critical"
        with pytest.raises(miko.NoHealthyEndpoint) as error:
            client.pick(service)
        assert error.value.service == service and service in str(error.value)
        with pytest.raises(miko.NoHealthyEndpoint):
            client.http(service).get("/")


def test_close_stops_background_work_promptly(miko_server: MikoServer) -> None:
    client = miko_client(miko_server.url)
    client.wait_ready()
    thread = client._thread
    assert thread.is_alive()
    started = time.monotonic()
    client.close()
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0
    client.close()  # idempotent
    with pytest.raises(miko.MikoError):
        client.http("anything")


def test_services_lists_names(miko_server: MikoServer, backend: Callable[[str], Backend], service: str) -> None:
    server = backend("listed")
    miko_server.register(service, publicAddress=server.url)
    with miko.Client(miko_server.url, token=ADMIN, services=[service]) as client:
        assert eventually(lambda: client.services()) == [service]


def test_requests_that_never_left_are_resent_whatever_the_method(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    alive = backend("alive")
    dead = backend("dead")
    dead.kill()
    # Heavier first: the first pick of a new client is the dead endpoint.
    miko_server.register(service, publicAddress=dead.url, weight=5)
    miko_server.register(service, publicAddress=alive.url, weight=1)
    with miko_client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 2)
        response = client.http(service).post("/orders", json={"n": 1}, headers={"X-Trace": "t1"})
        assert response.status_code == 200
        assert response.json()["name"] == "alive" and json.loads(response.json()["body"]) == {"n": 1}
        assert response.json()["method"] == "POST" and response.json()["host"] == alive.address
    with miko_client(miko_server.url) as client:
        eventually(lambda: len(client.endpoints(service)) == 2)
        # A streamed body cannot be sent twice: the error reaches the caller.
        with pytest.raises(httpx.ConnectError):
            client.http(service).post("/orders", content=iter([b"chunk"]))
        assert client.http(service).post("/orders", content=b"again").json()["name"] == "alive"
