"""Test helpers: a real Miko server (``node bin/miko.js serve``) and real backend HTTP servers."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[3]
MIKO_BIN = REPO_ROOT / "bin" / "miko.js"
BACKEND = Path(__file__).with_name("backend_server.py")

ADMIN = "admin-token-0123456789"
INTERNAL = "internal-token-0123456789"
REGISTER = "register-token-0123456789"
#: Reads and writes the keys under billing/ only.
BILLING = "billing-token-0123456789"
#: Only reads them: secret values are hidden from it.
BILLING_READER = "billing-reader-0123456789"

CONFIG = """\
http: {{ port: {port} }}
general: {{ dataDir: ./data, shutdownTimeout: 2s }}
registry: {{ deregisterCriticalAfter: 1m }}
auth:
  tokens:
    - {{ name: admin, secret: "{admin}", roles: [admin] }}
    - {{ name: mesh, secret: "{internal}", roles: [internal] }}
    - {{ name: reg, secret: "{register}", roles: [register] }}
    - {{ name: billing, secret: "{billing}", roles: [internal], kv: [{{ prefix: billing/, access: write }}] }}
    - {{ name: billing-reader, secret: "{reader}", roles: [internal], kv: [{{ prefix: billing/, access: read }}] }}
"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MIKO_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Output:
    """Drains a child's stdout on a thread and hands lines matching a pattern to a queue."""

    def __init__(self, process: subprocess.Popen[str], pattern: re.Pattern[str]) -> None:
        self.lines: list[str] = []
        self._matches: queue.Queue[re.Match[str] | None] = queue.Queue()
        self._pattern = pattern
        self._thread = threading.Thread(target=self._drain, args=(process,), daemon=True)
        self._thread.start()

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
            match = self._pattern.search(line)
            if match:
                self._matches.put(match)
        self._matches.put(None)

    def close(self, process: subprocess.Popen[str]) -> None:
        """After the child exited: the pipe reaches its end, then is closed."""
        self._thread.join(5)
        if process.stdout is not None:
            process.stdout.close()

    def wait(self, timeout: float) -> re.Match[str]:
        try:
            match = self._matches.get(timeout=timeout)
        except queue.Empty:
            match = None
        if match is None:
            raise RuntimeError("child did not become ready:\n" + "".join(self.lines[-30:]))
        return match


class MikoServer:
    """One Miko process in its own directory; restartable on the same port and data dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen[str] | None = None
        self.output: _Output | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> MikoServer:
        if port is not None:
            self.port = port
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "config.yaml").write_text(
            CONFIG.format(
                port=self.port,
                admin=ADMIN,
                internal=INTERNAL,
                register=REGISTER,
                billing=BILLING,
                reader=BILLING_READER,
            )
        )
        self.process = subprocess.Popen(
            ["node", str(MIKO_BIN), "serve"],
            cwd=self.directory,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = _Output(self.process, re.compile(r"Listening on http://[^:\s]+:(\d+)"))
        self.port = int(self.output.wait(30).group(1))
        return self

    def stop(self) -> int:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return 0 if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if self.output is not None:
            self.output.close(process)
        if code != 0:
            lines = self.output.lines[-40:] if self.output else []
            sys.stderr.write("Miko exited with {}:\n{}".format(code, "".join(lines)))
        return code

    def api(self, token: str | None = ADMIN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=self.url, headers=headers, timeout=5, verify=False
        )  # plain HTTP: no CA bundle to load

    def register(self, service: str, token: str = REGISTER, **body: Any) -> dict[str, Any]:
        with self.api(token) as api:
            response = api.post(f"/v1/services/{service}/endpoints", json=body)
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

    def put_key(self, key: str, value: Any) -> dict[str, Any]:
        """Writes a key the way an operator would, with the admin token."""
        with self.api(ADMIN) as api:
            response = api.put(f"/v1/kv/{key}", json={"value": value})
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

    def service(self, service: str) -> list[dict[str, Any]]:
        """The service's endpoints as an admin sees them ([] when unknown)."""
        with self.api(ADMIN) as api:
            response = api.get(f"/v1/services/{service}")
            if response.status_code == 404:
                return []
            response.raise_for_status()
            return response.json()["endpoints"]  # type: ignore[no-any-return]


class Backend:
    """A backend HTTP server in its own process, so that killing it drops every connection."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(BACKEND), name, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env(),
        )
        self.output = _Output(self.process, re.compile(r"PORT (\d+)"))
        self.port = int(self.output.wait(15).group(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.output.close(self.process)


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Calls ``check`` until it returns a truthy value and no exception, or fails."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            error: BaseException | None = None
        except Exception as caught:  # retried until the deadline
            error = caught
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last error: {error!r})")
        time.sleep(interval)


class CountingTransport(httpx.BaseTransport):
    """Wraps the default transport and records the port of every attempt."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport(verify=False)  # plain HTTP: no CA bundle to load
        self.ports: list[int | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.ports.append(request.url.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncCountingTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of :class:`CountingTransport`."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=False)  # plain HTTP: no CA bundle to load
        self.ports: list[int | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.ports.append(request.url.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
