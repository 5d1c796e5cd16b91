"""OpenAPI fuzzing of a real Miko.

Schemathesis reads Miko's own /openapi.json and sends generated valid and invalid requests
(path and query values, headers, content types, bodies) to every operation, once as admin and
once anonymously. No answer may be a 5xx, and no accepted write may leave data the read routes
cannot show (miko_fuzz_hooks.py). Afterwards the read routes still answer, and Miko stops and
starts again cleanly on the same data.

The generated tasks and health checks name arbitrary addresses, and Miko acts on them: this
module runs only in a network namespace of its own that has nothing but loopback, which
test/fuzz/run.sh creates. Generation is deterministic, so a run repeats the previous one.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
READ_ROUTES = ("/v1/tasks", "/v1/endpoints", "/v1/services", "/v1/config", "/healthz", "/readyz")
RESTART_READS = ("/v1/tasks", "/v1/endpoints", "/v1/config")
# Examples per operation: enough to reach past validation, small enough to keep the whole module
# well under three minutes on a small machine.
ADMIN_EXAMPLES = 60
ANONYMOUS_EXAMPLES = 15
REPORT_DIR = Path(os.environ.get("MIKO_FUZZ_REPORT_DIR", tempfile.gettempdir())) / "miko-fuzz"


def _interfaces() -> set[str]:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return {line.split(":", 1)[0].strip() for line in lines}


def _bring_loopback_up() -> None:
    # A new network namespace starts with loopback down; this is `ip link set lo up` without
    # needing iproute2 (SIOCGIFFLAGS / SIOCSIFFLAGS with IFF_UP).
    request = struct.pack("16sh", b"lo", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack("16sh", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags | 0x1))


@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> None:
    if _interfaces() != {"lo"}:
        pytest.fail(
            "the fuzz test declares tasks and checks for arbitrary addresses: run it in a network "
            f"namespace with only loopback, with test/fuzz/run.sh (interfaces here: {sorted(_interfaces())})"
        )
    _bring_loopback_up()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(port: int) -> str:
    return "\n".join([
        "http:",
        f"  port: {port}",
        "auth:",
        "  tokens:",
        "    - name: fuzz-admin",
        f"      secret: {ADMIN_TOKEN}",
        "      roles: [admin]",
        "storage:",
        "  driver: sqlite",
        "",
    ])


@dataclass
class Miko:
    """One `miko serve` process in `directory`, logging to a file there."""

    directory: Path
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def _environment() -> dict[str, str]:
    # The developer's own MIKO_* variables would change the configuration under test.
    return {key: value for key, value in os.environ.items() if not key.startswith("MIKO_")}


def start_miko(directory: Path, log_name: str) -> Miko:
    log = directory / log_name
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(ROOT / "bin" / "miko.js"), "serve"],
            cwd=directory,
            env=_environment(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"Listening on http://[^:]+:(\d+)", log.read_text(errors="replace"))
        if match:
            return Miko(directory, process, log, f"http://127.0.0.1:{match.group(1)}")
        if process.poll() is not None:
            pytest.fail(f"miko exited with {process.returncode} before listening:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"miko did not listen within 30s:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="module")
def directory() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="miko-fuzz-"))
    (path / "config.yaml").write_text(_config(_free_port()))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def miko(directory: Path) -> Iterator[Miko]:
    process = start_miko(directory, "miko.log")
    yield process
    process.stop()


def read(miko: Miko, path: str, token: str | None = ADMIN_TOKEN) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.get(f"{miko.url}{path}", headers=headers, timeout=10)


def schemathesis(miko: Miko, label: str, examples: int, extra: list[str]) -> None:
    """Runs the schemathesis CLI against `miko`; fails with its failure report when it finds any."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{miko.url}/openapi.json",
        "--checks", "not_a_server_error,stored_data_stays_readable,answers_match_the_schema",
        "--mode", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(examples),
        # Derandomized: every run sends the same requests, so the test cannot flake on luck.
        "--generation-deterministic",
        # One worker: requests change shared state (config, tasks), their order must not vary.
        "--workers", "1",
        "--request-timeout", "15",
        "--continue-on-failure",
        "--suppress-health-check", "all",
        "--output-truncate", "false",
        "--no-color",
        "--report", "junit",
        "--report-junit-path", str(REPORT_DIR / f"schemathesis-{label}.xml"),
        *extra,
    ]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "miko_fuzz_hooks",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "MIKO_FUZZ_URL": miko.url,
        "MIKO_FUZZ_TOKEN": ADMIN_TOKEN,
    }
    result = subprocess.run(command, cwd=miko.directory, env=environment, capture_output=True, text=True, timeout=170)
    output = result.stdout + result.stderr
    (REPORT_DIR / f"schemathesis-{label}.txt").write_text(output)
    if result.returncode != 0:
        start = output.find("FAILURES")
        pytest.fail(f"schemathesis ({label}) found failures (exit {result.returncode}):\n{output[start if start >= 0 else 0:]}", pytrace=False)


def test_every_operation_as_admin(miko: Miko) -> None:
    schemathesis(miko, "admin", ADMIN_EXAMPLES, ["--header", f"Authorization: Bearer {ADMIN_TOKEN}"])


def test_every_operation_anonymously(miko: Miko) -> None:
    schemathesis(miko, "anonymous", ANONYMOUS_EXAMPLES, ["--generation-with-security-parameters", "false"])


def unhandled_errors(log: str) -> list[str]:
    """The distinct errors Miko logged as unhandled: the line after each such entry names it."""
    lines = log.splitlines()
    found = [lines[index + 1].strip() for index, line in enumerate(lines[:-1]) if "unhandled error" in line]
    return sorted(set(found))


def test_no_request_was_an_unhandled_error(miko: Miko) -> None:
    errors = unhandled_errors(miko.output())
    assert not errors, "Miko logged unhandled errors (see the schemathesis failures for the requests):\n" + "\n".join(errors)


def test_reads_answer_after_fuzzing(miko: Miko) -> None:
    answers = {path: read(miko, path).status_code for path in READ_ROUTES}
    assert answers == {path: 200 for path in READ_ROUTES}


def test_restart_on_the_same_data(miko: Miko, directory: Path) -> None:
    assert miko.stop() == 0, f"miko did not stop cleanly:\n{miko.output()[-3000:]}"
    again = start_miko(directory, "miko-restart.log")
    try:
        answers = {path: read(again, path).status_code for path in RESTART_READS}
        assert answers == {path: 200 for path in RESTART_READS}, again.output()[-3000:]
        # Data stored through the API that a restart cannot load again is lost data.
        skipped = [line for line in again.output().splitlines() if "skipping stored" in line]
        assert not skipped, "stored data was skipped at the restart:\n" + again.output()[-3000:]
    finally:
        assert again.stop() == 0, f"miko did not stop cleanly after the restart:\n{again.output()[-3000:]}"
