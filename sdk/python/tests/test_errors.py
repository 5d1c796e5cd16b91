"""Bad input: each mistake is a specific, documented exception."""

from __future__ import annotations

import time

import pytest

import miko
from support import REGISTER, MikoServer


@pytest.mark.parametrize(
    "address",
    [
        "",
        "   ",
        "miko",
        "ftp://miko:21",
        "http://",
        "http://miko:99999",
        "http://miko:0",
        "miko:port",
        "http://a b:1",
        "http://a..b",
        "http://miko?x=1",
    ],
)
def test_malformed_address_fails_at_construction(address: str) -> None:
    started = time.monotonic()
    with pytest.raises(miko.InvalidAddress):
        miko.Client(address)
    with pytest.raises(miko.InvalidAddress):
        miko.AsyncClient(address)
    assert time.monotonic() - started < 0.5  # no network involved


def test_missing_address_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIKO_ADDRESS", raising=False)
    with pytest.raises(miko.InvalidAddress, match="MIKO_ADDRESS"):
        miko.Client()


def test_address_and_token_from_the_environment(monkeypatch: pytest.MonkeyPatch, miko_server: MikoServer) -> None:
    monkeypatch.setenv("MIKO_ADDRESS", miko_server.url)
    monkeypatch.setenv("MIKO_TOKEN", "not-a-token")
    with miko.Client() as client:
        assert client.address == miko_server.url
        with pytest.raises(miko.Unauthorized):
            client.wait_ready()
    monkeypatch.setenv("MIKO_TOKEN", REGISTER)
    with miko.Client() as client:
        client.wait_ready()


def test_unknown_service(miko_server: MikoServer) -> None:
    with miko.Client(miko_server.url) as client:
        with pytest.raises(miko.UnknownService) as error:
            client.endpoints("no-such-service")
        assert error.value.service == "no-such-service"
        with pytest.raises(miko.UnknownService):
            client.pick("no-such-service")
        with pytest.raises(miko.UnknownService):
            client.http("no-such-service").get("/")
        with pytest.raises(ValueError):
            client.http("Not A Service")


def test_wrong_token_is_unauthorized_at_once(miko_server: MikoServer) -> None:
    with miko.Client(miko_server.url, token="wrong-token", timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(miko.Unauthorized) as error:
            client.endpoints("anything")
        assert time.monotonic() - started < 4  # not a timeout: Miko's answer
        assert error.value.status == 401 and error.value.code == "unauthorized"
        with pytest.raises(miko.Unauthorized):
            client.http("anything").get("/")
        assert client.stale and isinstance(client.last_error, miko.Unauthorized)
