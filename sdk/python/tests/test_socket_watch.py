"""The sync client's long-poll watch: closing the client never leaves a socket open."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from miko._long_poll import _SocketWatch, _Stopped
from support import clean_env

# close() arrives while the long-poll's connection is being made: the watch sees
# connect_tcp.started before the client stops, and connect_tcp.complete after.
CONNECT_WHILE_STOPPING = """
import gc, socket, threading
import httpx
from miko._long_poll import _SocketWatch, _Stopped

with socket.create_server(("127.0.0.1", 0)) as listener:
    stop = threading.Event()
    watch = _SocketWatch(stop)

    def hook(event, info):
        watch(event, info)
        if event == "connection.connect_tcp.started":
            stop.set()

    with httpx.Client(trust_env=False) as client:
        try:
            client.get(f"http://127.0.0.1:{listener.getsockname()[1]}/", extensions={"trace": hook})
        except _Stopped:
            print("stopped")
    accepted, _ = listener.accept()
    with accepted:
        accepted.settimeout(5)
        print("closed" if accepted.recv(1) == b"" else "open")
gc.collect()
"""


def test_a_connection_made_while_stopping_is_closed() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", CONNECT_WHILE_STOPPING],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    # The server saw the connection end: it does not hold a shutdown.
    assert result.stdout.split() == ["stopped", "closed"]
    assert "ResourceWarning" not in result.stderr, result.stderr


class FakeStream:
    def __init__(self, sock: socket.socket | None = None) -> None:
        self.sock = sock
        self.closed = False

    def get_extra_info(self, info: str) -> Any:
        return self.sock if info == "socket" else None

    def close(self) -> None:
        self.closed = True


def test_tls_setup_while_stopping_closes_the_newest_stream() -> None:
    stop = threading.Event()
    watch = _SocketWatch(stop)
    raw, tls = FakeStream(), FakeStream()
    watch("connection.connect_tcp.started", {})
    watch("connection.connect_tcp.complete", {"return_value": raw})
    watch("connection.start_tls.started", {})
    watch("connection.start_tls.complete", {"return_value": tls})
    stop.set()
    with pytest.raises(_Stopped):
        watch("http11.send_request_headers.started", {})
    # Handed to the HTTP layer already: it closes the connection itself.
    assert not raw.closed and not tls.closed

    watch = _SocketWatch(stop := threading.Event())
    watch("connection.connect_tcp.complete", {"return_value": raw})
    watch("connection.start_tls.complete", {"return_value": tls})
    stop.set()
    with pytest.raises(_Stopped):
        watch("connection.start_tls.failed", {})
    assert tls.closed


def test_interrupt_reaches_the_tls_socket_and_cleanup_runs() -> None:
    stop = threading.Event()
    watch = _SocketWatch(stop)
    left, right = socket.socketpair()
    with left, right:
        watch("connection.connect_tcp.complete", {"return_value": FakeStream()})
        watch("connection.start_tls.complete", {"return_value": FakeStream(left)})
        watch("http11.receive_response_headers.started", {})
        stop.set()
        watch.interrupt()
        right.settimeout(5)
        assert right.recv(1) == b""  # the blocking query's socket was shut down
        # The HTTP layer's cleanup after the interrupted read is not cut short.
        watch("http11.response_closed.started", {})
        watch("http11.response_closed.complete", {})
