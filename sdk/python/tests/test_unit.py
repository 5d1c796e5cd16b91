"""Endpoint choice, circuit breaker, URL rewriting and options, without a server."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import miko
from miko._directory import Directory, Target
from miko._options import duration_text, parse_miko_address


def ep(id: str, service: str = "web", **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "service": service,
        "publicAddress": fields.pop("publicAddress", f"http://{id}.example:8080"),
        "protocol": "http",
        "weight": 1,
        "tags": [],
        "metadata": {},
        "status": "passing",
        "source": "registered",
        "registeredAt": "2026-01-01T00:00:00.000Z",
        "lastSeenAt": "2026-01-01T00:00:00.000Z",
        **fields,
    }


def directory(**options: Any) -> Directory:
    settings: dict[str, Any] = {"address_kind": "public", "strategy": "round_robin", "zone": None, "cooldown": 10.0}
    settings.update(options)
    return Directory(**settings, rng=random.Random(7))


def test_endpoint_from_json() -> None:
    endpoint = miko.Endpoint.from_json(
        ep("a", internalAddress="http://10.0.0.1:80", zone="eu-1", tags=["x"], metadata={"k": "v"}, ttl="15s")
    )
    assert endpoint.id == "a" and endpoint.service == "web" and endpoint.passing
    assert endpoint.address() == "http://a.example:8080"
    assert endpoint.address("internal") == "http://10.0.0.1:80"
    assert endpoint.tags == ("x",) and dict(endpoint.metadata) == {"k": "v"} and endpoint.ttl == "15s"
    assert endpoint.registered_at is not None and endpoint.registered_at.year == 2026
    assert hash(endpoint) == hash(
        miko.Endpoint.from_json(ep("a", internalAddress="http://10.0.0.1:80", zone="eu-1", tags=["x"], ttl="15s"))
    )
    public_only = miko.Endpoint.from_json(ep("b"))
    assert public_only.address("internal") == "http://b.example:8080"


def test_round_robin_skips_non_passing_and_keeps_order() -> None:
    d = directory()
    d.apply(1, {"web": [ep("a"), ep("b"), ep("c", status="critical"), ep("d", status="warning")]})
    picks = [d.pick("web").endpoint.id for _ in range(6)]
    assert picks == ["a", "b", "a", "b", "a", "b"]
    assert [e.id for e in d.endpoints("web")] == ["a", "b", "c", "d"]


def test_weighted_random_follows_weights_and_zero_weight_drains() -> None:
    d = directory(strategy="weighted_random")
    d.apply(1, {"web": [ep("heavy", weight=9), ep("light", weight=1), ep("drained", weight=0)]})
    counts = Counter(d.pick("web").endpoint.id for _ in range(2000))
    assert counts["drained"] == 0
    assert 0.8 < counts["heavy"] / 2000 < 0.97
    d.apply(2, {"web": [ep("drained", weight=0)]})
    assert d.pick("web").endpoint.id == "drained"


def test_zone_first_prefers_the_zone_and_falls_back() -> None:
    d = directory(strategy="zone_first", zone="eu-1")
    d.apply(1, {"web": [ep("far", zone="us-1"), ep("near-1", zone="eu-1"), ep("near-2", zone="eu-1")]})
    assert {d.pick("web").endpoint.id for _ in range(10)} == {"near-1", "near-2"}
    d.apply(2, {"web": [ep("far", zone="us-1"), ep("near-1", zone="eu-1", status="critical")]})
    assert d.pick("web").endpoint.id == "far"


def test_unknown_service_and_no_healthy_endpoint() -> None:
    d = directory(strict=True)
    d.apply(1, {"web": [ep("a", status="critical")]})
    with pytest.raises(miko.UnknownService) as unknown:
        d.pick("nope")
    assert unknown.value.service == "nope" and "nope" in str(unknown.value)
    with pytest.raises(miko.NoHealthyEndpoint) as none:
        d.pick("web")
    assert none.value.service == "web" and "web" in str(none.value)


def test_panic_mode_chooses_among_non_passing_endpoints_unless_strict() -> None:
    d = directory(strategy="zone_first", zone="eu-1")
    down = [
        ep("far", zone="us-1", status="critical"),
        ep("near-1", zone="eu-1", status="warning"),
        ep("near-2", zone="eu-1", status="critical"),
        ep("drained", zone="eu-1", status="critical", weight=0),
    ]
    d.apply(1, {"web": down, "ok": [ep("x", service="ok")]})
    # Zone and weights apply as usual among the non-passing endpoints.
    assert {d.pick("web").endpoint.id for _ in range(10)} == {"near-1", "near-2"}
    assert d.panic_services == ["web"]
    # One endpoint passing again: only it is chosen, and the panic is over.
    d.apply(2, {"web": [ep("far", zone="us-1"), *down[1:]]})
    assert {d.pick("web").endpoint.id for _ in range(10)} == {"far"}
    assert d.panic_services == []
    strict = directory(strict=True)
    strict.apply(1, {"web": down})
    with pytest.raises(miko.NoHealthyEndpoint):
        strict.pick("web")
    assert strict.panic_services == []


def test_public_mode_ignores_internal_only_endpoints() -> None:
    d = directory()
    d.apply(1, {"web": [ep("inner", publicAddress=None, internalAddress="http://10.0.0.1:80"), ep("outer")]})
    assert [e.id for e in d.endpoints("web")] == ["outer"]
    d.apply(2, {"web": [ep("inner", publicAddress=None, internalAddress="http://10.0.0.1:80")]})
    with pytest.raises(miko.NoHealthyEndpoint, match="public address"):
        d.pick("web")
    internal = directory(address_kind="internal")
    internal.apply(1, {"web": [ep("inner", publicAddress=None, internalAddress="http://10.0.0.1:80")]})
    assert internal.pick("web").address == "http://10.0.0.1:80"


def test_breaker_skips_marked_endpoint_until_it_passes_again() -> None:
    d = directory()
    d.apply(1, {"web": [ep("a"), ep("b")]})
    a = d.endpoints("web")[0]
    d.mark_down(a)
    assert {d.pick("web").endpoint.id for _ in range(6)} == {"b"}
    # An unrelated change where "a" still passes keeps the mark.
    d.apply(2, {"web": [ep("a"), ep("b")], "other": [ep("x", service="other")]})
    assert {d.pick("web").endpoint.id for _ in range(6)} == {"b"}
    # Critical, then passing again: the list says it recovered.
    d.apply(3, {"web": [ep("a", status="critical"), ep("b")]})
    assert d.is_down("web", "a")
    d.apply(4, {"web": [ep("a"), ep("b")]})
    assert not d.is_down("web", "a")
    assert {d.pick("web").endpoint.id for _ in range(6)} == {"a", "b"}


def test_breaker_cooldown_ends_and_all_down_still_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("miko._directory.time.monotonic", lambda: clock[0])
    d = directory(cooldown=5.0)
    d.apply(1, {"web": [ep("a"), ep("b")]})
    a, b = d.endpoints("web")
    d.mark_down(a)
    d.mark_down(b)
    # Everything cooling down: still answer rather than fail.
    assert d.pick("web").endpoint.id in {"a", "b"}
    clock[0] += 6
    assert not d.is_down("web", "a")
    assert {d.pick("web").endpoint.id for _ in range(4)} == {"a", "b"}


def test_pick_excludes_tried_endpoints() -> None:
    d = directory()
    d.apply(1, {"web": [ep("a"), ep("b"), ep("c")]})
    a = d.pick("web").endpoint.id
    b = d.pick("web", [a]).endpoint.id
    c = d.pick("web", [a, b]).endpoint.id
    assert len({a, b, c}) == 3
    assert d.pick("web", [a, b, c]).endpoint.id in {"a", "b", "c"}


@pytest.mark.parametrize(
    ("address", "protocol", "request_url", "expected", "host"),
    [
        ("http://10.0.0.5:8080", "http", "http://web/v1/x?q=1", "http://10.0.0.5:8080/v1/x?q=1", "10.0.0.5:8080"),
        ("http://10.0.0.5:8080/api/", "http", "http://web/v1/x", "http://10.0.0.5:8080/api/v1/x", "10.0.0.5:8080"),
        ("10.0.0.5:8443", "https", "http://web/", "https://10.0.0.5:8443/", "10.0.0.5:8443"),
        ("db.internal:5432", "tcp", "http://web/a%20b", "http://db.internal:5432/a%20b", "db.internal:5432"),
        ("wss://ws.example.com", "wss", "http://web/socket", "https://ws.example.com/socket", "ws.example.com"),
        ("http://[::1]:9000", "http", "http://web/", "http://[::1]:9000/", "[::1]:9000"),
    ],
)
def test_target_rewrites_urls(address: str, protocol: str, request_url: str, expected: str, host: str) -> None:
    endpoint = miko.Endpoint(id="x", service="web", protocol=protocol, public_address=address)
    target = Target.parse(endpoint, address)
    assert target is not None
    assert str(target.url_for(httpx.URL(request_url))) == expected
    assert target.netloc == host


def test_parse_miko_address() -> None:
    assert parse_miko_address("http://127.0.0.1:8740/") == "http://127.0.0.1:8740"
    assert parse_miko_address("miko.internal:8740") == "http://miko.internal:8740"
    assert parse_miko_address("https://miko.example.com/base/") == "https://miko.example.com/base"


def test_duration_text() -> None:
    assert duration_text(15) == "15s"
    assert duration_text(1.5) == "1500ms"
    assert duration_text(0.0001) == "1ms"


def test_option_validation() -> None:
    with pytest.raises(ValueError, match="zone"):
        miko.Client("http://127.0.0.1:1", strategy="zone_first")
    with pytest.raises(ValueError, match="strategy"):
        miko.Client("http://127.0.0.1:1", strategy="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="address_kind"):
        miko.Client("http://127.0.0.1:1", address_kind="private")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_attempts"):
        miko.Client("http://127.0.0.1:1", max_attempts=0)


def test_exception_hierarchy() -> None:
    for error in (
        miko.MikoUnreachable,
        miko.Unauthorized,
        miko.UnknownService,
        miko.NoHealthyEndpoint,
        miko.InvalidAddress,
    ):
        assert issubclass(error, miko.MikoError)
    assert issubclass(miko.Forbidden, miko.Unauthorized)
    assert issubclass(miko.InvalidAddress, ValueError)
    assert issubclass(miko.UnknownService, LookupError)


@pytest.fixture
def offline() -> Iterator[miko.Client]:
    """A client whose list is set by the test (its Miko address answers nothing)."""
    client = miko.Client("http://127.0.0.1:9", timeout=0.2, backoff_max=5)
    client._directory.apply(
        1,
        {
            "web": [
                ep("a", publicAddress="http://10.0.0.1:8080/base"),
                ep("b", publicAddress="10.0.0.2:8080"),
            ]
        },
    )
    yield client
    client.close()


def test_transport_rewrites_and_passes_other_hosts_through(offline: miko.Client) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"url": str(request.url)})

    http = offline.http("web", transport=httpx.MockTransport(handler))
    first = http.get("/x", params={"q": "1"})
    second = http.get("/x")
    assert first.json()["url"] == "http://10.0.0.1:8080/base/x?q=1"
    assert second.json()["url"] == "http://10.0.0.2:8080/x"
    assert [r.headers["host"] for r in seen] == ["10.0.0.1:8080", "10.0.0.2:8080"]
    assert first.request.url == httpx.URL("http://web/x?q=1")  # the caller's request is untouched
    assert miko.endpoint_of(first).id == "a"  # type: ignore[union-attr]
    outside = http.get("http://example.com/y")
    assert outside.json()["url"] == "http://example.com/y" and miko.endpoint_of(outside) is None


def test_transport_retry_rules(offline: miko.Client) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.host}")
        if request.url.host == "10.0.0.1":
            return httpx.Response(503)
        return httpx.Response(200)

    http = offline.http("web", transport=httpx.MockTransport(handler), max_attempts=2)
    assert http.post("/p", content=b"x").status_code == 503  # not idempotent: the 503 comes back
    assert offline._directory.is_down("web", "a")
    offline._directory._down.clear()
    offline._directory._turn.clear()
    assert http.post("/p", content=b"x", headers={"Idempotency-Key": "k1"}).status_code == 200
    assert calls[-2:] == ["POST 10.0.0.1", "POST 10.0.0.2"]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    broken = offline.http("web", transport=httpx.MockTransport(refuse), max_attempts=3)
    with pytest.raises(httpx.ConnectError):
        broken.get("/")
    assert offline._directory.is_down("web", "a") and offline._directory.is_down("web", "b")
