"""The sans-I/O core that both clients drive.

Everything the SDK decides about talking to Miko lives here: which request comes next (the
endpoint list, a blocking query with ``index`` and ``wait``, a registration, a heartbeat, a
deregistration), what each answer means (status codes, the error envelope
``{"error": {"code", "message"}}``, staleness), how long to back off, and whether a failed
request to a service goes on to another endpoint. Nothing here connects, sends, receives or
sleeps: :class:`~miko.Client` performs the calls with ``httpx.Client`` on threads,
:class:`~miko.AsyncClient` with ``httpx.AsyncClient`` in tasks, and both hand back what came
of them.

Conversations of more than one request are generators (:data:`Exchange`): they yield a
:class:`Call`, receive its :data:`Answer` and finally return their result, so that a heartbeat
that finds its endpoint gone and registers it again is written once for both clients.
"""

from __future__ import annotations

import logging
import random
import threading
import weakref
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

import httpx

from ._directory import Directory, Target, read_list
from ._errors import MikoError, MikoUnreachable, Unauthorized, error_from_response, unreachable
from ._models import Endpoint
from ._options import SERVICE_NAME, Options, Seconds, seconds
from ._registration import endpoint_path, endpoints_path, heartbeat_interval, retry_delay

__all__ = [
    "Answer",
    "Call",
    "Core",
    "Exchange",
    "Failover",
    "Lease",
    "ListFollower",
    "Step",
    "ask",
    "check_service",
    "closed_error",
    "http_settings",
]

logger = logging.getLogger("miko")

T = TypeVar("T")

ENDPOINTS_PATH = "/v1/endpoints"
#: The long-poll keeps one connection to Miko.
POLL_LIMITS = httpx.Limits(max_connections=1, max_keepalive_connections=1)

#: Methods that are safe to send again to another endpoint after a partial failure.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Answers that mean "this endpoint cannot serve now": retried on the next endpoint.
RETRY_STATUSES = frozenset({502, 503, 504})

# The request never reached the endpoint: safe to resend whatever the method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
# The request may have reached the endpoint: resent only when idempotent.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


# ----- calls and exchanges -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One request to Miko's API, for a client to send. What is left unset keeps the
    sending httpx client's default."""

    method: str
    path: str
    json: Mapping[str, Any] | None = None
    params: httpx.QueryParams | None = None
    timeout: httpx.Timeout | None = None
    headers: Mapping[str, str] | None = None

    def options(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client.request`` beyond method and path."""
        options: dict[str, Any] = {}
        if self.json is not None:
            options["json"] = self.json
        if self.params is not None:
            options["params"] = self.params
        if self.timeout is not None:
            options["timeout"] = self.timeout
        if self.headers is not None:
            options["headers"] = self.headers
        return options


#: What a client hands back for a call: Miko's answer, or the error that stood in its way.
Answer: TypeAlias = httpx.Response | httpx.HTTPError
#: A conversation with Miko: yields calls, is sent their answers, returns its result.
Exchange: TypeAlias = Generator[Call, Answer, T]


def ask(address: str, call: Call) -> Exchange[httpx.Response]:
    """Sends one call; a transport failure means Miko is unreachable."""
    answer = yield call
    if isinstance(answer, httpx.HTTPError):
        raise unreachable(address, answer) from answer
    return answer


def closed_error() -> MikoError:
    return MikoError("the Miko client is closed")


def check_service(service: str) -> None:
    if not isinstance(service, str) or not SERVICE_NAME.match(service):
        raise ValueError(f"invalid service name {service!r}: expected a DNS label")


def http_settings(kwargs: Mapping[str, Any]) -> tuple[Any, int | None, dict[str, Any]]:
    """Splits the keyword arguments of ``http(service, ...)``: the transport that reaches the
    endpoints, ``max_attempts``, and the rest for the httpx client (a 10 s timeout unless
    given)."""
    settings = dict(kwargs)
    inner = settings.pop("transport", None)
    max_attempts = settings.pop("max_attempts", None)
    settings.setdefault("timeout", 10.0)
    return inner, max_attempts, settings


# ----- following the endpoint list -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """What to do after a read of the endpoint list."""

    #: Seconds to wait before the next read (0: at once).
    delay: float
    #: Whether callers waiting for the first list can stop waiting: a list arrived, or Miko
    #: refused the token (waiting longer would not change that).
    settled: bool


class ListFollower:
    """Keeps a :class:`Directory` up to date with Miko's list: the next read (a blocking
    query once a list is known), and what each outcome means for the cached list, the
    log and the backoff."""

    def __init__(self, options: Options, directory: Directory, rng: random.Random | None = None) -> None:
        self._options = options
        self._directory = directory
        self._rng = rng or random.Random()
        self._index: int | None = None
        self._failures = 0

    def next_call(self) -> Call:
        # After a failure, a plain read: Miko may be a new process with nothing new to say,
        # and its first answer is what ends the staleness.
        index = self._index if self._failures == 0 else None
        options = self._options
        return Call(
            "GET",
            ENDPOINTS_PATH,
            params=options.poll_params(index),
            timeout=options.poll_timeout(blocking=index is not None),
        )

    def received(self, response: httpx.Response) -> Step:
        """Miko answered the last read."""
        if response.status_code != 200:
            return self.failed(error_from_response(response, "reading endpoints"))
        try:
            index, services = read_list(response)
            self._directory.apply(index, services)
        except Exception as error:  # a malformed list, or worse: the refresh failed all the same
            return self.failed(error)
        self._index = index
        self._failures = 0
        return Step(delay=0.0, settled=True)

    def failed(self, error: Exception) -> Step:
        """The last read failed: Miko unreachable (an ``httpx`` error), an error answer (a
        :class:`MikoError`), or anything else. The last good list stays in use; the first
        failure in a row is logged."""
        reason = self._reason(error)
        self._directory.failed(reason)
        if self._failures == 0:
            self._log(error, reason)
        self._failures += 1
        return Step(delay=self._backoff(), settled=isinstance(reason, Unauthorized))

    def _reason(self, error: Exception) -> MikoError:
        if isinstance(error, httpx.HTTPError):
            return unreachable(self._options.address, error)
        if isinstance(error, MikoError):
            return error
        return MikoError(f"refreshing endpoints failed: {error!r}")

    def _log(self, error: Exception, reason: MikoError) -> None:
        if isinstance(error, httpx.HTTPError):
            suffix = "; using the last good list" if self._directory.loaded else ""
            logger.warning("miko: %s%s", reason, suffix)
        elif isinstance(error, MikoError):
            logger.warning("miko: %s", error)
        else:
            logger.error("miko: refreshing endpoints failed", exc_info=error)

    def _backoff(self) -> float:
        """The first failure after a success retries at once; then 100 ms doubling, jittered,
        up to ``backoff_max``."""
        if self._failures <= 1:
            return 0.0
        cap = self._options.backoff_max
        return float(min(cap, 0.1 * 2.0 ** (self._failures - 2)) * self._rng.uniform(0.5, 1.0))


# ----- registrations -------------------------------------------------------------------


def post_registration(address: str, service: str, body: Mapping[str, Any]) -> Exchange[Endpoint]:
    response = yield from ask(address, Call("POST", endpoints_path(service), json=body))
    if response.status_code not in (200, 201):
        raise error_from_response(response, f"registering in {service!r}")
    return Endpoint.from_json(response.json(), service)


class Lease:
    """A registration as the SDK keeps it: the body to register again with, the endpoint as
    Miko last returned it, the heartbeat schedule, and whether it has ended."""

    def __init__(self, address: str, service: str, body: dict[str, Any], ttl: float | None, endpoint: Endpoint) -> None:
        self.address = address
        self.service = service
        self.body = body
        self.endpoint = endpoint
        self.last_error: MikoError | None = None
        self._interval = None if ttl is None else heartbeat_interval(ttl)
        self._failures = 0
        self._ended = False
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.endpoint.id

    @property
    def heartbeats(self) -> bool:
        """Whether the endpoint has a lease to renew (registered with a ttl)."""
        return self._interval is not None

    @property
    def delay(self) -> float:
        """Seconds until the next heartbeat: a third of the ttl; after failures, 200 ms
        doubling up to that."""
        if self._interval is None:
            raise RuntimeError("an endpoint registered without a ttl has no heartbeats")
        if self._failures == 0:
            return self._interval
        return retry_delay(self._failures, self._interval)

    def heartbeat(self) -> Exchange[Endpoint]:
        """Renews the lease; registers again (same id) when Miko no longer knows the endpoint."""
        path = endpoint_path(self.service, self.id) + "/heartbeat"
        response = yield from ask(self.address, Call("PUT", path))
        if response.status_code == 404:
            logger.info("miko: endpoint %s of %s is gone, registering again", self.id, self.service)
            self.endpoint = yield from post_registration(self.address, self.service, self.body)
            return self.endpoint
        if response.status_code != 200:
            raise error_from_response(response, f"heartbeat of {self.id!r}")
        self.endpoint = Endpoint.from_json(response.json(), self.service)
        return self.endpoint

    def beat_succeeded(self) -> None:
        self._failures = 0
        self.last_error = None

    def beat_failed(self, error: Exception) -> None:
        """A background heartbeat failed: logged, and the next one comes sooner."""
        self._failures += 1
        if isinstance(error, MikoError):
            self.last_error = error
            logger.warning("miko: heartbeat of %s/%s failed: %s", self.service, self.id, error)
        else:
            logger.error("miko: heartbeat of %s/%s failed", self.service, self.id, exc_info=error)

    def end(self) -> bool:
        """Marks the registration ended; True the first time only."""
        with self._lock:
            first = not self._ended
            self._ended = True
            return first

    def deregister(self, *, quiet: bool) -> Exchange[None]:
        """Removes the endpoint (already gone is fine). ``quiet``: a failure is logged rather
        than raised."""
        try:
            response = yield from ask(self.address, Call("DELETE", endpoint_path(self.service, self.id)))
            if response.status_code not in (200, 204, 404):
                raise error_from_response(response, f"deregistering {self.id!r}")
        except MikoError as error:
            if not quiet:
                raise
            logger.warning("miko: deregistering %s/%s failed: %s", self.service, self.id, error)


# ----- failover ------------------------------------------------------------------------


def _idempotent(request: httpx.Request) -> bool:
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


_RNG = random.Random()


def _backoff(attempt: int, rng: random.Random) -> float:
    """Full jitter, 25 ms doubling, at most 1 s."""
    return rng.uniform(0, min(1.0, 0.025 * (2 ** (attempt - 1))))


class Failover:
    """One request's way through a service's endpoints: which endpoint to try next and
    whether to pause first, and whether an error or an answer calls for another attempt."""

    __slots__ = ("_attempt", "_directory", "_max_attempts", "_request", "_rng", "_service", "_tried")

    def __init__(
        self,
        directory: Directory,
        service: str,
        request: httpx.Request,
        max_attempts: int,
        rng: random.Random | None = None,
    ) -> None:
        self._directory = directory
        self._service = service
        self._request = request
        self._max_attempts = max_attempts
        self._rng = rng or _RNG
        self._tried: list[str] = []
        self._attempt = 0

    def next_target(self) -> tuple[Target, float]:
        """The endpoint for the next attempt, and the seconds to pause before it: none when
        moving to an endpoint not tried yet, a jittered backoff when all were."""
        self._attempt += 1
        target = self._directory.pick(self._service, self._tried)
        endpoint_id = target.endpoint.id
        if endpoint_id in self._tried:
            return target, _backoff(self._attempt, self._rng)
        self._tried.append(endpoint_id)
        return target, 0.0

    def retry_after_error(self, target: Target, error: Exception) -> bool:
        """A connection error or timeout marks the endpoint down; the request goes on when it
        never left, or when it is idempotent, as long as its body can be sent again."""
        request = self._request
        if isinstance(error, _NOT_SENT):
            self._directory.mark_down(target.endpoint)
            return self._attempt < self._max_attempts and _replayable(request)
        if isinstance(error, _MAYBE_SENT):
            self._directory.mark_down(target.endpoint)
            return self._attempt < self._max_attempts and _idempotent(request) and _replayable(request)
        return False

    def retry_after_status(self, target: Target, response: httpx.Response) -> bool:
        """A 502, 503 or 504 marks the endpoint down; an idempotent, replayable request goes on."""
        if response.status_code not in RETRY_STATUSES:
            return False
        self._directory.mark_down(target.endpoint)
        request = self._request
        return self._attempt < self._max_attempts and _idempotent(request) and _replayable(request)


# ----- a client's state ----------------------------------------------------------------


class _Closable(Protocol):
    @property
    def is_closed(self) -> bool: ...


HttpT = TypeVar("HttpT", bound=_Closable)
RegT = TypeVar("RegT")


@dataclass(frozen=True)
class Leftovers(Generic[HttpT, RegT]):
    """What a closing client still owns: registrations to end, HTTP clients to close."""

    registrations: list[RegT]
    clients: list[HttpT]


class Core(Generic[HttpT, RegT]):
    """Everything a client knows and decides, without its I/O: the options, the endpoint
    list and how it is followed, whether the client is ready or closed, and what it owns
    (the service HTTP clients it made, the registrations to end)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.directory = Directory(
            address_kind=options.address_kind,
            strategy=options.strategy,
            zone=options.zone,
            cooldown=options.cooldown,
            strict=options.strict,
        )
        self.follower = ListFollower(options, self.directory)
        self._lock = threading.Lock()
        self._closed = False
        self._gave_up = False
        self._registrations: set[RegT] = set()
        self._http: dict[str, HttpT] = {}
        self._other_http: weakref.WeakSet[HttpT] = weakref.WeakSet()

    def api_settings(self) -> dict[str, Any]:
        """Keyword arguments of the httpx clients that talk to Miko."""
        options = self.options
        return {
            "base_url": options.address,
            "headers": dict(options.headers),
            "timeout": options.timeout,
            "verify": options.miko_tls(),
            "trust_env": False,
        }

    # ----- lifecycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise closed_error()

    def close(self) -> Leftovers[HttpT, RegT] | None:
        """Marks the client closed and hands over what it owned; None when it already was."""
        with self._lock:
            if self._closed:
                return None
            self._closed = True
            leftovers: Leftovers[HttpT, RegT] = Leftovers(
                list(self._registrations), [*self._http.values(), *self._other_http]
            )
            self._registrations.clear()
            self._http.clear()
        return leftovers

    # ----- the first list --------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the first list is here; raises when the client closed before it came."""
        if self.directory.loaded:
            return True
        self.check_open()
        return False

    def wait_limit(self, timeout: Seconds | None) -> float | None:
        """How long to wait for the first list: ``timeout``, or the client's once (later
        calls without a timeout fail fast until a list arrives: None)."""
        if timeout is not None:
            return seconds(timeout, "timeout", allow_zero=True)
        return None if self._gave_up else self.options.timeout

    def waited(self, timeout: Seconds | None) -> None:
        """After the wait: returns when the first list is here, raises why not otherwise
        (the client closed, the token refused, Miko unreachable)."""
        directory = self.directory
        if directory.loaded:
            return
        self.check_open()
        if timeout is None:
            self._gave_up = True
        raise directory.last_error or MikoUnreachable(f"no endpoint list from Miko at {self.options.address} yet")

    # ----- what the client owns --------------------------------------------------------

    def http(self, service: str, kwargs: dict[str, Any], make: Callable[[str, dict[str, Any]], HttpT]) -> HttpT:
        """The service's HTTP client: without keyword arguments the same one each time (a new
        one once it was closed), with them a new one; ``make`` builds it. Either way the
        client's close closes it."""
        check_service(service)
        self.check_open()
        if kwargs:
            client = make(service, kwargs)
            with self._lock:
                self._other_http.add(client)
            return client
        with self._lock:
            cached = self._http.get(service)
            if cached is None or cached.is_closed:
                cached = self._http[service] = make(service, {})
            return cached

    def register(self, service: str, body: dict[str, Any], ttl: float | None) -> Exchange[Lease]:
        """Registers an endpoint; later registrations of it keep the id Miko gave."""
        endpoint = yield from post_registration(self.options.address, service, body)
        body["id"] = endpoint.id
        return Lease(self.options.address, service, body, ttl, endpoint)

    def adopt(self, registration: RegT) -> bool:
        """Keeps a registration to end at close; False when the client closed meanwhile."""
        with self._lock:
            if self._closed:
                return False
            self._registrations.add(registration)
            return True

    def forget(self, registration: RegT) -> None:
        with self._lock:
            self._registrations.discard(registration)
