"""The sans-I/O core on its own: requests it asks for, and what it makes of answers, without a server."""

from __future__ import annotations

import logging
import random
from typing import Any, TypeVar

import httpx
import pytest

import miko
from miko._core import Answer, Call, Core, Exchange, Failover, Lease, ListFollower, Step, http_settings
from miko._directory import Directory
from miko._options import Options

T = TypeVar("T")

ADDRESS = "http://miko.test:8740"


def options(**overrides: Any) -> Options:
    settings: dict[str, Any] = {
        "token": "t0ken",
        "address_kind": "public",
        "zone": None,
        "strategy": None,
        "timeout": 5.0,
        "wait": 30.0,
        "cooldown": 10.0,
        "max_attempts": 3,
        "backoff_max": 2.0,
        "verify": False,
        "cert": None,
        "services": None,
        "strict": False,
    }
    settings.update(overrides)
    return Options.build(ADDRESS, **settings)


def endpoint_json(id: str, service: str = "web", **fields: Any) -> dict[str, Any]:
    return {"id": id, "service": service, "publicAddress": f"http://{id}.example:8080", "status": "passing", **fields}


def listing(index: int, **services: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json={"index": index, "services": services})


def error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


class Script:
    """Plays Miko for an exchange: answers its calls in order and records them."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls: list[Call] = []

    def run(self, exchange: Exchange[T]) -> T:
        try:
            call = next(exchange)
            while True:
                self.calls.append(call)
                call = exchange.send(self.answers.pop(0))
        except StopIteration as done:
            result: T = done.value
            return result


def follower(**overrides: Any) -> tuple[ListFollower, Directory]:
    settings = options(**overrides)
    directory = Directory(address_kind="public", strategy="round_robin", zone=None, cooldown=10.0)
    return ListFollower(settings, directory, rng=random.Random(3)), directory


# ----- following the list --------------------------------------------------------------


def test_first_read_is_plain_then_blocking_queries_follow_the_index() -> None:
    core, directory = follower(services=["web", "db"], timeout=2.0, wait=10.0)
    first = core.next_call()
    assert (first.method, first.path) == ("GET", "/v1/endpoints")
    assert first.params is not None and first.params.multi_items() == [("service", "web"), ("service", "db")]
    assert first.timeout is not None and first.timeout.read == 2.0 and first.timeout.connect == 2.0

    assert core.received(listing(7, web=[endpoint_json("a")])) == Step(delay=0.0, settled=True)
    assert directory.index == 7 and not directory.stale
    blocking = core.next_call()
    assert blocking.params is not None and blocking.params.get("index") == "7" and blocking.params.get("wait") == "10s"
    assert blocking.timeout is not None and blocking.timeout.read == 12.0 and blocking.timeout.connect == 2.0


def test_error_envelope_keeps_the_last_list_and_reads_plainly_after(caplog: pytest.LogCaptureFixture) -> None:
    core, directory = follower()
    core.received(listing(3, web=[endpoint_json("a")]))
    with caplog.at_level(logging.WARNING, logger="miko"):
        step = core.received(error(503, "unavailable", "starting up"))
        again = core.received(error(503, "unavailable", "starting up"))
    assert step == Step(delay=0.0, settled=False)  # the first failure retries at once
    assert 0.05 <= again.delay <= 0.1 and not again.settled
    assert directory.stale and [e.id for e in directory.endpoints("web")] == ["a"]
    failure = directory.last_error
    assert isinstance(failure, miko.MikoUnreachable)
    assert (failure.code, failure.status, str(failure)) == ("unavailable", 503, "reading endpoints: starting up")
    assert [r.getMessage() for r in caplog.records] == ["miko: reading endpoints: starting up"]  # once per outage
    plain = core.next_call()
    assert plain.params is not None and "index" not in plain.params
    assert plain.timeout is not None and plain.timeout.read == 5.0

    core.received(listing(4, web=[endpoint_json("b")]))
    assert not directory.stale and directory.last_error is None
    assert core.failed(httpx.ConnectError("refused")).delay == 0.0  # a success resets the backoff


def test_unauthorized_settles_the_first_wait() -> None:
    core, directory = follower()
    assert core.received(error(401, "unauthorized", "unknown token")).settled
    assert isinstance(directory.last_error, miko.Unauthorized) and not directory.loaded


def test_unreachable_miko_and_backoff(caplog: pytest.LogCaptureFixture) -> None:
    core, directory = follower(backoff_max=0.5)
    core.received(listing(1, web=[endpoint_json("a")]))
    with caplog.at_level(logging.WARNING, logger="miko"):
        delays = [core.failed(httpx.ConnectError("connection refused")).delay for _ in range(12)]
    assert delays[0] == 0.0 and 0.05 <= delays[1] <= 0.1 and 0.1 <= delays[2] <= 0.2
    assert all(0.25 <= d <= 0.5 for d in delays[5:])  # capped at backoff_max, jittered down to half
    assert isinstance(directory.last_error, miko.MikoUnreachable)
    assert str(directory.last_error) == f"Miko at {ADDRESS} is unreachable: connection refused"
    assert [r.getMessage() for r in caplog.records] == [
        f"miko: Miko at {ADDRESS} is unreachable: connection refused; using the last good list"
    ]


def test_malformed_lists_and_surprises_are_failures_too(caplog: pytest.LogCaptureFixture) -> None:
    core, directory = follower()
    assert not core.received(httpx.Response(200, content=b"<html>")).settled
    assert "malformed endpoint list" in str(directory.last_error)
    fresh, directory = follower()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="miko"):
        fresh.failed(RuntimeError("boom"))
    assert str(directory.last_error) == "refreshing endpoints failed: RuntimeError('boom')"
    [record] = caplog.records
    assert record.getMessage() == "miko: refreshing endpoints failed" and record.exc_info is not None


# ----- registrations -------------------------------------------------------------------


def registered(ttl: float | None = 0.6, **fields: Any) -> Lease:
    core: Core[httpx.Client, object] = Core(options())
    script = Script(httpx.Response(201, json=endpoint_json("e-1", "web", ttl="600ms", **fields)))
    lease = script.run(core.register("web", {"publicAddress": "http://e.example:8080", "ttl": "600ms"}, ttl))
    [call] = script.calls
    assert (call.method, call.path) == ("POST", "/v1/services/web/endpoints")
    assert call.json == {"publicAddress": "http://e.example:8080", "ttl": "600ms", "id": "e-1"}
    return lease


def test_register_keeps_the_id_for_registering_again() -> None:
    lease = registered()
    assert lease.id == "e-1" and lease.body["id"] == "e-1" and lease.endpoint.ttl == "600ms"
    core: Core[httpx.Client, object] = Core(options())
    with pytest.raises(miko.InvalidRequest) as invalid:
        Script(error(400, "invalid_request", "bad address")).run(core.register("web", {}, None))
    assert invalid.value.code == "invalid_request" and str(invalid.value) == "registering in 'web': bad address"
    with pytest.raises(miko.MikoUnreachable):
        Script(httpx.ConnectError("refused")).run(core.register("web", {}, None))


def test_heartbeat_renews_or_registers_again(caplog: pytest.LogCaptureFixture) -> None:
    lease = registered()
    script = Script(httpx.Response(200, json=endpoint_json("e-1", status="warning")))
    assert script.run(lease.heartbeat()).status == "warning" and lease.endpoint.status == "warning"
    assert [(c.method, c.path) for c in script.calls] == [("PUT", "/v1/services/web/endpoints/e-1/heartbeat")]

    script = Script(error(404, "not_found", "gone"), httpx.Response(201, json=endpoint_json("e-1")))
    with caplog.at_level(logging.INFO, logger="miko"):
        assert script.run(lease.heartbeat()).status == "passing"
    assert [(c.method, c.path) for c in script.calls] == [
        ("PUT", "/v1/services/web/endpoints/e-1/heartbeat"),
        ("POST", "/v1/services/web/endpoints"),
    ]
    assert script.calls[1].json == lease.body
    assert [r.getMessage() for r in caplog.records] == ["miko: endpoint e-1 of web is gone, registering again"]

    with pytest.raises(miko.Forbidden):
        Script(error(403, "forbidden", "no")).run(lease.heartbeat())
    with pytest.raises(miko.MikoUnreachable):
        Script(httpx.ReadTimeout("slow")).run(lease.heartbeat())


def test_heartbeat_schedule(caplog: pytest.LogCaptureFixture) -> None:
    lease = registered(ttl=3.0)
    assert lease.heartbeats and lease.delay == 1.0
    with caplog.at_level(logging.WARNING, logger="miko"):
        lease.beat_failed(miko.MikoUnreachable("down"))
        assert lease.delay == 0.2 and isinstance(lease.last_error, miko.MikoUnreachable)
        lease.beat_failed(ValueError("odd body"))
    assert [lease.delay, lease.last_error is not None] == [0.4, True]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "miko: heartbeat of web/e-1 failed: down"),
        ("ERROR", "miko: heartbeat of web/e-1 failed"),
    ]
    for _ in range(5):
        lease.beat_failed(miko.MikoUnreachable("down"))
    assert lease.delay == 1.0  # never beyond the interval
    lease.beat_succeeded()
    assert lease.delay == 1.0 and lease.last_error is None
    static = registered(ttl=None)
    assert not static.heartbeats
    with pytest.raises(RuntimeError):
        static.delay  # noqa: B018
    assert static.end() and not static.end()


def test_deregister_quietly_or_not(caplog: pytest.LogCaptureFixture) -> None:
    lease = registered()
    for status in (200, 204, 404):
        script = Script(httpx.Response(status))
        script.run(lease.deregister(quiet=False))
        assert [(c.method, c.path) for c in script.calls] == [("DELETE", "/v1/services/web/endpoints/e-1")]
    with pytest.raises(miko.MikoError, match="deregistering 'e-1': HTTP 500"):
        Script(httpx.Response(500)).run(lease.deregister(quiet=False))
    with caplog.at_level(logging.WARNING, logger="miko"):
        Script(httpx.ConnectError("refused")).run(lease.deregister(quiet=True))
    assert [r.getMessage() for r in caplog.records] == [
        f"miko: deregistering web/e-1 failed: Miko at {ADDRESS} is unreachable: refused"
    ]


# ----- a client's state ----------------------------------------------------------------


class FakeHttp:
    def __init__(self, service: str) -> None:
        self.service = service
        self.is_closed = False


def test_first_wait_then_fail_fast() -> None:
    core: Core[FakeHttp, str] = Core(options(timeout=4.0))
    assert not core.ready()
    assert core.wait_limit(None) == 4.0 and core.wait_limit(0.5) == 0.5
    with pytest.raises(miko.MikoUnreachable, match="no endpoint list from Miko"):
        core.waited(None)
    assert core.wait_limit(None) is None  # the first wait ran out: later calls do not wait
    assert core.wait_limit(1.0) == 1.0  # an explicit timeout still waits
    core.follower.received(error(401, "unauthorized", "unknown token"))
    with pytest.raises(miko.Unauthorized):
        core.waited(None)
    core.follower.received(listing(1))
    assert core.ready()
    core.waited(None)


def test_close_hands_over_what_the_client_owned() -> None:
    core: Core[FakeHttp, str] = Core(options())
    shared = core.http("web", {}, lambda service, kwargs: FakeHttp(service))
    assert core.http("web", {}, lambda service, kwargs: FakeHttp("other")) is shared
    shared.is_closed = True
    fresh = core.http("web", {}, lambda service, kwargs: FakeHttp(service))
    assert fresh is not shared
    own = core.http("web", {"timeout": 1}, lambda service, kwargs: FakeHttp(service))
    with pytest.raises(ValueError, match="invalid service name"):
        core.http("Not A Service", {}, lambda service, kwargs: FakeHttp(service))
    assert core.adopt("registration-1") and core.adopt("registration-2")
    core.forget("registration-2")

    leftovers = core.close()
    assert leftovers is not None and leftovers.registrations == ["registration-1"]
    assert {id(c) for c in leftovers.clients} == {id(fresh), id(own)}
    assert core.close() is None and core.closed
    assert not core.adopt("late")
    with pytest.raises(miko.MikoError, match="closed"):
        core.ready()
    with pytest.raises(miko.MikoError, match="closed"):
        core.http("web", {}, lambda service, kwargs: FakeHttp(service))


def test_call_options_and_http_settings() -> None:
    assert Call("DELETE", "/x").options() == {}
    timeout = httpx.Timeout(1.0)
    assert Call("POST", "/x", json={"a": 1}, timeout=timeout).options() == {"json": {"a": 1}, "timeout": timeout}
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    kwargs = {"transport": transport, "max_attempts": 1, "headers": {"x": "y"}}
    assert http_settings(kwargs) == (transport, 1, {"headers": {"x": "y"}, "timeout": 10.0})
    assert http_settings({"timeout": 2}) == (None, None, {"timeout": 2})
    assert "transport" in kwargs  # the caller's arguments stay as they were


# ----- failover ------------------------------------------------------------------------


def failover(method: str = "GET", max_attempts: int = 3, **request: Any) -> tuple[Failover, Directory]:
    directory = Directory(address_kind="public", strategy="round_robin", zone=None, cooldown=10.0)
    directory.apply(1, {"web": [endpoint_json("a"), endpoint_json("b")]})
    outgoing = httpx.Request(method, "http://web/x", **request)
    return Failover(directory, "web", outgoing, max_attempts, rng=random.Random(5)), directory


def test_failover_moves_on_at_once_then_backs_off() -> None:
    attempts, _ = failover(max_attempts=4)
    first, pause = attempts.next_target()
    assert pause == 0.0
    second, pause = attempts.next_target()
    assert pause == 0.0 and second.endpoint.id != first.endpoint.id
    third, pause = attempts.next_target()  # every endpoint tried: a jittered pause first
    assert third.endpoint.id in {"a", "b"} and 0.0 <= pause <= 0.1


def test_failover_resends_what_is_safe_to_resend() -> None:
    get, directory = failover("GET")
    target, _ = get.next_target()
    assert get.retry_after_error(target, httpx.ReadTimeout("slow"))
    assert directory.is_down("web", target.endpoint.id)
    target, _ = get.next_target()
    assert get.retry_after_status(target, httpx.Response(503))
    assert not get.retry_after_status(target, httpx.Response(500))
    target, _ = get.next_target()
    assert not get.retry_after_error(target, httpx.ConnectError("refused"))  # third and last attempt

    post, _ = failover("POST", content=b"{}")
    target, _ = post.next_target()
    assert post.retry_after_error(target, httpx.ConnectError("refused"))  # never left
    assert not post.retry_after_error(target, httpx.ReadTimeout("slow"))  # may have been served
    assert not post.retry_after_status(target, httpx.Response(503))
    keyed, _ = failover("POST", content=b"{}", headers={"Idempotency-Key": "k"})
    target, _ = keyed.next_target()
    assert keyed.retry_after_status(target, httpx.Response(502))
    streamed, _ = failover("PUT", content=iter([b"chunk"]))
    target, _ = streamed.next_target()
    assert not streamed.retry_after_error(target, httpx.ConnectError("refused"))  # cannot be replayed
    assert not streamed.retry_after_error(target, httpx.UnsupportedProtocol("ftp"))
