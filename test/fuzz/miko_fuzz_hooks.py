"""Schemathesis hooks for fuzzing Miko, loaded through SCHEMATHESIS_HOOKS by test_openapi.py.

They steer part of the generated data towards requests Miko accepts, so that the fuzzer reaches
storage and the scheduler instead of stopping at validation, and add two checks for data stored
but unreadable: after any write the read routes still answer, and successful answers match the
API's own schema (what they show is what the next start must load).
"""
from __future__ import annotations

import os
import re
import zlib
from typing import Any

import requests
import schemathesis

# A loopback port nothing listens on: the tasks the fuzzer declares fail fast and go nowhere.
CLOSED_URL = "http://127.0.0.1:9/fuzz"

# Live keys whose runtime changes leave the harness working: its token, port, data dir, storage,
# body limit and the registry.maxWait that bounds blocking reads are left alone. Two thirds of
# the generated keys are mapped to one of these, the rest stay random so unknown keys are fuzzed.
SAFE_KEYS = (
    "general.logLevel",
    "http.publicUrl",
    "registry.publicRead",
    "registry.deregisterCriticalAfter",
    "registry.static",
    "scheduler.maxRunningTasks",
    "scheduler.historyRetention",
    "scheduler.tasks",
    "websocket.maxMessageBytes",
    "websocket.maxSubscriptions",
    "websocket.pingInterval",
)

READ_ROUTES = ("/v1/tasks", "/v1/endpoints", "/v1/services", "/v1/config", "/healthz", "/readyz")


def _stable_index(text: str, size: int) -> int:
    # crc32 rather than hash(): Python randomizes str hashes per process, the run must not vary.
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % size


def _path_of(context: schemathesis.HookContext) -> str:
    return context.operation.path if context.operation is not None else ""


@schemathesis.hook
def map_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any] | None) -> Any:
    key = (path_parameters or {}).get("key")
    if _path_of(context) == "/v1/config/{key}" and isinstance(key, str):
        index = _stable_index(key, 3 * len(SAFE_KEYS))
        if index < 2 * len(SAFE_KEYS):
            return {**(path_parameters or {}), "key": SAFE_KEYS[index % len(SAFE_KEYS)]}
    return path_parameters


# Boundary values a generator seldom draws on its own: huge and tiny durations, instants at the
# ends of the calendar. Repaired bodies take some of them, picked by a checksum of the body.
EDGE_DURATIONS = ("999999999999d", "106751991167d", "99999999999999999999999d", "1ms", "0.5ms", "1.5s", "25d", "99999999h")
EDGE_INSTANTS = ("1970-01-01T00:00:00Z", "2000-02-29T12:00:00.5Z", "9999-12-31T23:59:59Z", "2030-01-31T12:00:00+14:00", "0001-01-01T00:00:00Z")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,40}$")


class Picker:
    """Deterministic choices for one body, derived from its content."""

    def __init__(self, body: Any) -> None:
        self.seed = _stable_index(repr(body), 1 << 30)

    def pick(self, options: tuple[str, ...], salt: str) -> str:
        return options[_stable_index(f"{self.seed}:{salt}", len(options))]

    def often(self, salt: str) -> bool:
        return _stable_index(f"{self.seed}:{salt}", 3) != 0


def _edge_durations(record: dict[str, Any], keys: tuple[str, ...], picker: Picker) -> dict[str, Any]:
    return {
        key: picker.pick(EDGE_DURATIONS, key) if key in keys and isinstance(value, str) and picker.often(key) else value
        for key, value in record.items()
    }


def _repair_trigger(trigger: Any, picker: Picker, position: int) -> Any:
    if not isinstance(trigger, dict):
        return trigger
    repaired = {
        key: picker.pick(EDGE_INSTANTS, f"{key}{position}") if key in ("at", "startAt", "endAt") and isinstance(value, str) else value
        for key, value in trigger.items()
    }
    return _edge_durations(repaired, ("delay", "jitter"), picker)


def _repair_request(http: dict[str, Any]) -> dict[str, Any]:
    repaired = {**http, "url": CLOSED_URL}
    if "body" in repaired and repaired.get("method") in (None, "GET", "HEAD"):
        repaired["method"] = "POST"
    headers = repaired.get("headers")
    if isinstance(headers, dict):
        repaired["headers"] = {name: value for name, value in headers.items() if HEADER_NAME.match(name) and isinstance(value, str)}
    return repaired


def _repair_task(body: dict[str, Any], picker: Picker) -> dict[str, Any]:
    repaired = _edge_durations(body, ("timeout",), picker)
    if isinstance(body.get("http"), dict):
        repaired["http"] = _repair_request(body["http"])
    if isinstance(body.get("triggers"), list):
        repaired["triggers"] = [_repair_trigger(trigger, picker, index) for index, trigger in enumerate(body["triggers"])]
    if isinstance(body.get("retry"), dict):
        repaired["retry"] = _edge_durations(body["retry"], ("delay", "maxDelay", "jitter"), picker)
    return repaired


def _repair_registration(body: dict[str, Any], picker: Picker) -> dict[str, Any]:
    repaired = _edge_durations(body, ("ttl",), picker)
    for key, address in (("publicAddress", "http://127.0.0.1:9"), ("internalAddress", "127.0.0.1:9")):
        if isinstance(body.get(key), str):
            repaired[key] = address
    if "publicAddress" not in repaired and "internalAddress" not in repaired:
        repaired["publicAddress"] = "http://127.0.0.1:9"
    check = body.get("check")
    if isinstance(check, dict):
        probe = {"tcp": "127.0.0.1:9"} if "tcp" in check and "http" not in check else {"http": "http://127.0.0.1:9/health"}
        rest = {key: value for key, value in check.items() if key not in ("http", "tcp")}
        repaired["check"] = _edge_durations({**rest, **probe}, ("interval", "timeout"), picker)
    return repaired


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    # Generated tasks and registrations almost never pass validation as a whole (the schema says
    # `format: uri` where Miko wants an http(s) URL, a GET may not carry a body, ...), so most
    # are repaired into ones Miko accepts, with boundary values in their durations and instants;
    # a third stay as generated. Addresses are replaced with a closed loopback port.
    if not isinstance(body, dict):
        return body
    picker = Picker(body)
    if not picker.often("repair"):
        return body
    path = _path_of(context)
    if path == "/v1/tasks":
        return _repair_task(body, picker)
    if path == "/v1/services/{service}/endpoints":
        return _repair_registration(body, picker)
    return body


def _read(path: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {os.environ['MIKO_FUZZ_TOKEN']}"}
    return requests.get(f"{os.environ['MIKO_FUZZ_URL']}{path}", headers=headers, timeout=10)


def _broken_reads(paths: list[str]) -> dict[str, str]:
    answers = {path: _read(path) for path in paths}
    return {path: f"{answer.status_code} {answer.text[:300]}" for path, answer in answers.items() if answer.status_code != 200}


def _case_key(case: schemathesis.Case) -> str:
    return repr((case.method, case.operation.path, case.path_parameters, case.query, case.headers, case.body))


class ReadWatch:
    """Which read routes were already broken, so that a write is blamed only for what it broke.

    Once one write leaves a list unreadable, every later write would fail the check too and hide
    the culprit among followers. The verdict of each case is kept, because schemathesis replays a
    failing case and must see it fail again.
    """

    def __init__(self) -> None:
        # What is broken before this run's first write (an earlier run may have broken it).
        self.broken: set[str] = set(_broken_reads(list(READ_ROUTES))) if "MIKO_FUZZ_URL" in os.environ else set()
        self.verdicts: dict[str, dict[str, str]] = {}

    def verdict(self, case: schemathesis.Case, response: schemathesis.Response) -> dict[str, str]:
        key = _case_key(case)
        if key not in self.verdicts:
            broken = _broken_reads(self._paths(case, response))
            self.verdicts[key] = {path: answer for path, answer in broken.items() if path not in self.broken}
            self.broken = set(broken)
        return self.verdicts[key]

    @staticmethod
    def _paths(case: schemathesis.Case, response: schemathesis.Response) -> list[str]:
        paths = list(READ_ROUTES)
        if case.operation.path == "/v1/tasks" and case.method.upper() == "POST" and response.status_code == 201:
            created = response.json()
            if isinstance(created, dict) and isinstance(created.get("id"), str):
                paths.append(f"/v1/tasks/{requests.utils.quote(created['id'], safe='')}")
        return paths


WATCH = ReadWatch()


@schemathesis.check
def stored_data_stays_readable(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """After any write, every read route answers 200, and a created task can be read.

    Refused writes are checked too: a write answered with an error must have stored nothing
    harmful either, and skipping it would blame the next write for what it broke.
    """
    if case.method.upper() in ("GET", "HEAD"):
        return None
    broken = WATCH.verdict(case, response)
    if broken:
        lines = [f"GET {path} -> {answer}" for path, answer in broken.items()]
        raise AssertionError("this write left data the API cannot read:\n" + "\n".join(lines))
    return None


@schemathesis.check
def answers_match_the_schema(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """A successful answer matches the API's own schema.

    Miko reads what it stored with the same Schemas that describe its answers: a value shown
    outside them (a duration such as "1e+23d") is one the next start cannot load. Error answers
    are left out: the OpenAPI document describes 400s by the decoder's error class, while the
    edge answers them with the error envelope.
    """
    if not 200 <= response.status_code < 300:
        return None
    return case.operation.validate_response(response, case=case)
