"""Miko going away and coming back, and self-registration with heartbeats."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import miko
from support import REGISTER, Backend, MikoServer, eventually, free_port


def test_last_good_list_survives_miko_and_updates_resume_after_restart(
    start_miko: Callable[..., MikoServer], backend: Callable[[str], Backend]
) -> None:
    server = start_miko(free_port())
    first = backend("first")
    second = backend("second")
    server.register("orders", publicAddress=first.url)
    with miko.Client(server.url, backoff_max=0.2, timeout=2) as client:
        http = client.http("orders")
        assert http.get("/").json()["name"] == "first"
        index_before = client.index

        assert server.stop() == 0
        eventually(lambda: client.stale)
        assert isinstance(client.last_error, miko.MikoUnreachable)
        # Stale data beats no data: requests keep flowing on the last good list.
        for _ in range(20):
            assert http.get("/").json()["name"] == "first"
        assert client.endpoints("orders")[0].public_address == first.url

        server.start()  # same port, same data directory
        eventually(lambda: not client.stale)
        assert client.endpoints("orders")[0].public_address == first.url  # kept across the restart
        server.register("orders", publicAddress=second.url, weight=5)
        eventually(lambda: [e.public_address for e in client.endpoints("orders")] == [second.url, first.url])
        assert client.index is not None and index_before is not None and client.index > index_before
        assert {http.get("/").json()["name"] for _ in range(4)} == {"first", "second"}


def test_unreachable_miko_at_start_is_a_specific_error() -> None:
    with miko.Client(f"http://127.0.0.1:{free_port()}", timeout=0.3) as client:
        with pytest.raises(miko.MikoUnreachable):
            client.endpoints("anything")
        # Once the first wait ran out, later calls fail fast.
        started = time.monotonic()
        with pytest.raises(miko.MikoUnreachable):
            client.pick("anything")
        assert time.monotonic() - started < 0.3
        assert client.stale and client.last_updated is None


def test_registration_heartbeats_keep_it_passing_and_close_removes_it(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("self")
    with miko.Client(miko_server.url, token=REGISTER) as client:
        registration = client.register(
            service, public_address=server.url, ttl=0.6, tags=["v1"], metadata={"git": "abc"}
        )
        assert registration.service == service and registration.id
        assert registration.endpoint.status == "passing" and registration.endpoint.ttl == "600ms"
        time.sleep(2.0)  # more than three leases
        [endpoint] = miko_server.service(service)
        assert endpoint["status"] == "passing" and endpoint["id"] == registration.id
        assert endpoint["tags"] == ["v1"] and endpoint["metadata"] == {"git": "abc"}
        assert client.http(service).get("/me").json()["name"] == "self"
    # close() deregistered it.
    assert miko_server.service(service) == []


def test_registration_comes_back_after_miko_dropped_it(
    miko_server: MikoServer, backend: Callable[[str], Backend], service: str
) -> None:
    server = backend("phoenix")
    with miko.Client(miko_server.url, token=REGISTER) as client:
        with client.register(service, id="phoenix-1", public_address=server.url, ttl=0.6) as registration:
            with miko_server.api() as admin:
                assert admin.delete(f"/v1/services/{service}/endpoints/phoenix-1").status_code == 204
            assert miko_server.service(service) == []
            # The next heartbeat gets 404 and registers again, with the same id.
            eventually(lambda: [e["id"] for e in miko_server.service(service)] == ["phoenix-1"], timeout=5)
            assert registration.id == "phoenix-1"
        assert miko_server.service(service) == []


def test_registration_without_a_lease(miko_server: MikoServer, backend: Callable[[str], Backend], service: str) -> None:
    server = backend("static")
    with miko.Client(miko_server.url, token=REGISTER) as client:
        registration = client.register(service, internal_address=server.url, ttl=None, weight=3)
        assert registration.endpoint.ttl is None and registration.endpoint.weight == 3
        registration.deregister()
        assert miko_server.service(service) == []
        registration.deregister()  # idempotent


def test_registration_errors(miko_server: MikoServer, service: str) -> None:
    with miko.Client(miko_server.url) as anonymous:
        with pytest.raises(miko.Unauthorized) as error:
            anonymous.register(service, public_address="http://127.0.0.1:9")
        assert error.value.status == 401 and error.value.code == "unauthorized"
    with miko.Client(miko_server.url, token="internal-token-0123456789") as wrong_role:
        with pytest.raises(miko.Forbidden) as forbidden:
            wrong_role.register(service, public_address="http://127.0.0.1:9")
        assert forbidden.value.status == 403
    with miko.Client(miko_server.url, token=REGISTER) as client:
        with pytest.raises(miko.InvalidRequest) as invalid:
            client.register(service, public_address="not an address")
        assert invalid.value.code == "invalid_request"
        with pytest.raises(miko.InvalidRequest):
            client.register("Not_A_Service", public_address="http://127.0.0.1:9")
        with pytest.raises(miko.InvalidRequest):
            client.register(service)
