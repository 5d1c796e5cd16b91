"""Benchmark of the Python SDK against a real Miko and real backends.

    npm run build
    .venv/bin/pip install -e sdk/python
    .venv/bin/python scripts/bench/sdk/python/bench.py [--requests 10000] [--trials 5] [--write] [--smoke]

1. Overhead: GET requests through ``client.http(service)`` and through a plain ``httpx`` client
   with the backend's fixed address, interleaved one by one in one run (sync with 1 and N
   threads, asyncio); plus the SDK's own CPU cost over a stub transport.
2. Changes reaching the client: registration to ``pick`` finding it.
3. Failover under traffic: three backends, a request loop, one backend killed. Reports the
   requests that failed for the caller, and the time from the kill to the end of the last
   attempt the SDK made on the dead backend (after which it no longer chooses it).
4. Failover without traffic: the backends have an active TCP check in Miko (500 ms interval);
   reports the time from the kill until the client's list no longer offers the backend.

``--write`` replaces this SDK's section of docs/benchmarks.md (between its markers).
``--smoke`` (or ``MIKO_BENCH_SMOKE=1``) runs every step with the smallest sizes in a few seconds,
writes nothing, and fails unless every figure was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

import miko

ROOT = Path(__file__).resolve().parents[4]
BACKEND = Path(__file__).with_name("backend.mjs")
DOCS = ROOT / "docs" / "benchmarks.md"
ADMIN = "bench-admin-token-0123456789"
CONFIG = f"""\
http: {{ port: 0 }}
general: {{ dataDir: ./data, shutdownTimeout: 2s }}
registry: {{ deregisterCriticalAfter: 1m }}
auth:
  tokens:
    - {{ name: admin, secret: "{ADMIN}", roles: [admin] }}
"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MIKO_")}


def drain(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in process.stdout:
        pass


def read_port(process: subprocess.Popen[str], pattern: str) -> int:
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(pattern, line)
        if match:
            threading.Thread(target=drain, args=(process,), daemon=True).start()
            return int(match.group(1))
    raise RuntimeError("child exited before listening")


class Miko:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.yaml").write_text(CONFIG)
        self.process = subprocess.Popen(
            [str(ROOT / "bin" / "miko.js"), "serve"],
            cwd=directory,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        port = read_port(self.process, r"Listening on http://[^:\s]+:(\d+)")
        self.url = f"http://127.0.0.1:{port}"
        self.api = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN}"}, verify=False)

    def register(self, service: str, **body: object) -> None:
        self.api.post(f"/v1/services/{service}/endpoints", json=body).raise_for_status()

    def stop(self) -> None:
        self.api.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(15)


class Backend:
    def __init__(self, name: str) -> None:
        self.process = subprocess.Popen(
            ["node", str(BACKEND), name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.port = read_port(self.process, r"PORT (\d+)")
        self.url = f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# ----- 1. overhead ---------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def warmup_count(requests: int) -> int:
    """Requests sent before measuring: connections open, caches filled."""
    return min(200, requests)


def sync_overhead(miko_url: str, backend: Backend, requests: int, threads: int) -> tuple[list[float], list[float]]:
    """Plain and SDK requests interleaved one by one (alternating which goes first), so that
    both meet the same load from other processes; each timed from send to body read."""
    plain_times: list[float] = []
    sdk_times: list[float] = []
    lock = threading.Lock()
    with miko.Client(miko_url) as client, httpx.Client(base_url=backend.url, timeout=10, verify=False) as plain:
        sdk = client.http("bench")

        def worker(count: int) -> None:
            mine_plain: list[float] = []
            mine_sdk: list[float] = []
            for i in range(count):
                for http in (plain, sdk) if i % 2 == 0 else (sdk, plain):
                    started = time.perf_counter()
                    http.get("/item").read()
                    (mine_plain if http is plain else mine_sdk).append(time.perf_counter() - started)
            with lock:
                plain_times.extend(mine_plain)
                sdk_times.extend(mine_sdk)

        worker(warmup_count(requests))
        plain_times.clear()
        sdk_times.clear()
        pool = [threading.Thread(target=worker, args=(requests // threads,)) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    return plain_times, sdk_times


async def async_overhead(miko_url: str, backend: Backend, requests: int) -> tuple[list[float], list[float]]:
    plain_times: list[float] = []
    sdk_times: list[float] = []
    async with (
        miko.AsyncClient(miko_url) as client,
        httpx.AsyncClient(base_url=backend.url, timeout=10, verify=False) as plain,
    ):
        sdk = client.http("bench")
        warmup = warmup_count(requests)
        for i in range(requests + warmup):
            for http in (plain, sdk) if i % 2 == 0 else (sdk, plain):
                started = time.perf_counter()
                await http.get("/item")
                if i >= warmup:
                    (plain_times if http is plain else sdk_times).append(time.perf_counter() - started)
    return plain_times, sdk_times


def stub_cost(requests: int) -> tuple[float, float, float]:
    """The SDK's own CPU work per request, over a stub transport that answers without a
    network: µs per request for plain httpx and through the SDK, and µs per ``pick``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}")

    client = miko.Client("http://127.0.0.1:9", timeout=0.1, backoff_max=10)
    try:
        client._directory.apply(
            1,
            {
                "stub": [
                    {"id": f"s{i}", "service": "stub", "publicAddress": f"http://10.0.0.{i}:8080", "status": "passing"}
                    for i in range(1, 4)
                ]
            },
        )
        plain = httpx.Client(base_url="http://10.0.0.1:8080", transport=httpx.MockTransport(answer))
        sdk = client.http("stub", transport=httpx.MockTransport(answer))
        plain_times: list[float] = []
        sdk_times: list[float] = []
        rounds = 40
        per_round = max(1, requests // rounds)
        for round_ in range(rounds):
            for http in (plain, sdk) if round_ % 2 == 0 else (sdk, plain):
                # CPU time of this thread: what the SDK costs, whatever else the machine runs.
                started = time.thread_time()
                for _ in range(per_round):
                    http.get("/item")
                (plain_times if http is plain else sdk_times).append((time.thread_time() - started) / per_round)
        started = time.thread_time()
        for _ in range(requests):
            client.pick("stub")
        pick = (time.thread_time() - started) / requests
        return min(plain_times) * 1e6, min(sdk_times) * 1e6, pick * 1e6
    finally:
        client.close()


# ----- changes reaching the client -----------------------------------------------------


def propagation(server: Miko, samples: int) -> list[float]:
    """From sending a registration until ``pick`` on a running client finds it."""
    times: list[float] = []
    with miko.Client(server.url) as client:
        client.wait_ready()
        for i in range(samples):
            service = f"news-{i}"
            started = time.perf_counter()
            server.register(service, publicAddress=f"http://10.1.0.{i % 250 + 1}:80")
            while True:
                try:
                    client.pick(service)
                    break
                except miko.UnknownService:
                    time.sleep(0.0002)
            times.append((time.perf_counter() - started) * 1000)
    return times


# ----- 2. failover under traffic -------------------------------------------------------


class Recording(httpx.BaseTransport):
    """Records when each attempt to which port started and ended."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport(verify=False)
        self.attempts: list[tuple[float, float, int | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return self.inner.handle_request(request)
        finally:
            self.attempts.append((started, time.perf_counter(), request.url.port))

    def close(self) -> None:
        self.inner.close()


def failover_under_traffic(server: Miko, trial: int, threads: int) -> dict[str, float]:
    service = f"traffic-{trial}"
    backends = [Backend(f"t{i}") for i in range(3)]
    for backend in backends:
        server.register(service, publicAddress=backend.url)
    recording = Recording()
    errors = 0
    served = 0
    lock = threading.Lock()
    stop = threading.Event()
    try:
        with miko.Client(server.url) as client:
            while len(client.endpoints(service)) < 3:
                time.sleep(0.01)
            http = client.http(service, transport=recording)

            def loop() -> None:
                nonlocal errors, served
                while not stop.is_set():
                    try:
                        ok = http.get("/work").status_code == 200
                    except Exception:
                        ok = False
                    with lock:
                        served += 1
                        errors += 0 if ok else 1

            workers = [threading.Thread(target=loop) for _ in range(threads)]
            for worker in workers:
                worker.start()
            time.sleep(0.3)
            victim = backends[trial % 3]
            killed = time.perf_counter()
            victim.kill()
            time.sleep(1.0)
            stop.set()
            for worker in workers:
                worker.join()
            on_victim = [(s, e) for s, e, port in recording.attempts if port == victim.port and e >= killed]
            last = max(e for _, e in on_victim) if on_victim else killed
            return {
                "errors": errors,
                "requests": served,
                "attempts_on_dead": sum(1 for s, _ in on_victim if s >= killed),
                "ms_to_skip": (last - killed) * 1000,
            }
    finally:
        for backend in backends:
            backend.kill()


# ----- 3. failover without traffic -----------------------------------------------------


def failover_idle(server: Miko, trial: int) -> float:
    service = f"idle-{trial}"
    backends = [Backend(f"i{i}") for i in range(3)]
    check = {"interval": "500ms", "timeout": "200ms", "unhealthyThreshold": 1}
    for backend in backends:
        server.register(service, publicAddress=backend.url, check={"tcp": f"127.0.0.1:{backend.port}", **check})
    try:
        with miko.Client(server.url) as client:
            while sum(e.passing for e in client.endpoints(service)) < 3:
                time.sleep(0.01)
            victim = backends[trial % 3]
            killed = time.perf_counter()
            victim.kill()
            while any(e.passing and e.public_address == victim.url for e in client.endpoints(service)):
                time.sleep(0.001)
            return (time.perf_counter() - killed) * 1000
    finally:
        for backend in backends:
            backend.kill()


# ----- report --------------------------------------------------------------------------


def overhead_row(label: str, plain: list[float], sdk: list[float]) -> tuple[str, float]:
    pm, sm = statistics.fmean(plain) * 1e6, statistics.fmean(sdk) * 1e6
    p50, s50 = percentile(plain, 0.5) * 1e6, percentile(sdk, 0.5) * 1e6
    row = (
        f"| {label} | {len(sdk)} | {pm:.0f} | {sm:.0f} | **{sm / pm:.3f}** "
        f"| {p50:.0f} | {s50:.0f} | **{s50 / p50:.3f}** |"
    )
    return row, s50 / p50


def check_figures(figures: dict[str, float], smoke: bool) -> None:
    """Fails the run unless every figure is a finite number above 0: a benchmark that ran but
    measured nothing must not pass its smoke run."""
    bad = {name: value for name, value in figures.items() if not (0 < value < float("inf"))}
    if bad:
        sys.exit(f"sdk/python: figures missing or invalid: {bad}")
    print(f"sdk/python: {len(figures)} figures measured{' (smoke mode)' if smoke else ''}", file=sys.stderr)


def report(args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    directory = Path(tempfile.mkdtemp(prefix="miko-bench-"))
    server = Miko(directory / "miko")
    backend = Backend("bench")
    try:
        server.register("bench", publicAddress=backend.url)
        seq_plain, seq_sdk = sync_overhead(server.url, backend, args.requests, 1)
        par_plain, par_sdk = sync_overhead(server.url, backend, args.requests, args.threads)
        async_plain, async_sdk = asyncio.run(async_overhead(server.url, backend, args.requests // 2))
        stub_plain, stub_sdk, pick = stub_cost(args.requests)
        news = propagation(server, args.samples)
        traffic = [failover_under_traffic(server, trial, args.threads) for trial in range(args.trials)]
        idle = [failover_idle(server, trial) for trial in range(args.trials)]
    finally:
        backend.kill()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)

    rows = [
        overhead_row("sync `Client`, 1 thread", seq_plain, seq_sdk),
        overhead_row(f"sync `Client`, {args.threads} threads", par_plain, par_sdk),
        overhead_row("asyncio `AsyncClient`", async_plain, async_sdk),
    ]
    worst = max(ratio for _, ratio in rows)
    skip = [t["ms_to_skip"] for t in traffic]
    errors = sum(int(t["errors"]) for t in traffic)
    lines = [
        "<!-- bench:sdk-python -->",
        "## SDK: Python",
        "",
        f"`scripts/bench/sdk/python/bench.py` (`.venv/bin/python scripts/bench/sdk/python/bench.py --write`, after "
        f"`npm run build`): a real Miko, loopback backends (`node:http` answering 2 bytes with keep-alive), "
        f"{platform.python_implementation()} {platform.python_version()}, httpx {httpx.__version__}, "
        f"{os.cpu_count()} CPUs shared with other work.",
        "",
        "### Overhead per request",
        "",
        "GET requests through a plain httpx client with the backend's fixed address and through "
        "`client.http(service)`, interleaved one by one (alternating which goes first) so that both meet the same "
        "load from other processes; each timed from the call to the body read.",
        "",
        "| mode | requests per client | plain mean µs | SDK mean µs | ratio of means "
        "| plain p50 µs | SDK p50 µs | ratio of p50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(row for row, _ in rows),
        "",
        f"The SDK's own CPU cost, over `httpx.MockTransport` (no network), thread CPU time, best of 40 rounds: "
        f"{stub_sdk:.1f} µs per "
        f"request against {stub_plain:.1f} µs for plain httpx: **{stub_sdk - stub_plain:.1f} µs** of SDK work per "
        f"request (service lookup, pick, request copy, URL rewrite); `pick` alone {pick:.2f} µs.",
        "",
        "### Changes reaching the client",
        "",
        f"From sending a registration to Miko until `pick` on an already running client finds it (blocking query), "
        f"{len(news)} samples: median **{statistics.median(news):.1f} ms**, max {max(news):.1f} ms.",
        "",
        "### Failover",
        "",
        f"Three backends of one service; {args.threads} threads send GET requests in a loop through the SDK (default "
        "settings: 3 attempts, 10 s cool-down); one backend is killed (SIGKILL) after 300 ms and the loop runs 1 s "
        "more. *Detection* is the time from the kill to the end of the last attempt the SDK made on the dead backend; "
        "after it the backend is no longer chosen (0 attempts: a request in flight at the kill failed, marked it down "
        f"and was retried elsewhere). {args.trials} runs.",
        "",
        "| run | requests | caller-visible errors | attempts on the dead backend after its death | detection |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {i + 1} | {t['requests']:.0f} | {t['errors']:.0f} | {t['attempts_on_dead']:.0f} "
            f"| {t['ms_to_skip']:.1f} ms |"
            for i, t in enumerate(traffic)
        ),
        "",
        f"With traffic: detection median **{statistics.median(skip):.1f} ms**, max {max(skip):.1f} ms; "
        f"**{errors}** caller-visible errors in all.",
        "",
        "Without traffic nothing fails a request, so the news comes from Miko: the backends carry an active TCP check "
        "(500 ms interval, critical after one failure) and the blocking query brings the change. From the kill until "
        f"`pick` can no longer choose it, {args.trials} runs: median **{statistics.median(idle):.0f} ms**, "
        f"max {max(idle):.0f} ms (bounded by the check interval plus propagation).",
        "",
        f"Goal: under 5% overhead (here at most {(worst - 1) * 100:+.1f}%, ratio of p50s: "
        f"{'met' if worst < 1.05 else 'not met'}), failover with zero caller-visible errors "
        f"({errors}: {'met' if errors == 0 else 'not met'}).",
        "<!-- /bench:sdk-python -->",
    ]
    figures = {
        "worst ratio of p50": worst,
        "SDK work per request (µs)": stub_sdk,
        "propagation median (ms)": statistics.median(news),
        "idle failover detection median (ms)": statistics.median(idle),
    }
    return "\n".join(lines), figures


def write_section(section: str) -> None:
    """Replaces this SDK's section of docs/benchmarks.md (between its markers), or appends it."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(r"<!-- bench:sdk-python -->.*?<!-- /bench:sdk-python -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10000, help="requests per client in each overhead mode")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4, help="request threads in the failover trials")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument(
        "--smoke",
        action="store_true",
        default=os.environ.get("MIKO_BENCH_SMOKE") == "1",
        help="smallest sizes, a few seconds, nothing written (npm test runs this)",
    )
    args = parser.parse_args()
    args.samples = 20
    if args.smoke:
        args.requests, args.trials, args.threads, args.samples, args.write = 100, 1, 2, 5, False
    section, figures = report(args)
    print(section)
    check_figures(figures, args.smoke)
    if args.write:
        write_section(section)
        print(f"written to {DOCS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
