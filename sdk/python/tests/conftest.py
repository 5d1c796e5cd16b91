"""Fixtures: a real Miko server and real backend HTTP servers, started per run or per test."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import Backend, MikoServer


@pytest.fixture(scope="session")
def miko_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MikoServer]:
    """A Miko shared by all tests of a run (each test uses its own service names)."""
    server = MikoServer(tmp_path_factory.mktemp("miko")).start()
    yield server
    code = server.stop()
    if code != 0:
        # The server's own shutdown is not what these tests are about: reported, not failed.
        warnings.warn(f"Miko exited with {code} after SIGTERM; see its output on stderr", stacklevel=1)


@pytest.fixture
def start_miko(tmp_path: Path) -> Iterator[Callable[..., MikoServer]]:
    """Starts extra Miko servers owned by one test."""
    servers: list[MikoServer] = []

    def start(port: int | None = None) -> MikoServer:
        server = MikoServer(tmp_path / f"miko-{len(servers)}").start(port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def backend() -> Iterator[Callable[[str], Backend]]:
    """Starts backend servers, all killed at the end of the test."""
    started: list[Backend] = []

    def start(name: str) -> Backend:
        server = Backend(name)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def service() -> str:
    """A service name of its own for each test."""
    return f"svc-{uuid.uuid4().hex[:10]}"
