"""A closed-loop HTTP load generator for the benchmarks: several processes, keep-alive, timed.

``concurrency`` clients run at once, spread over a few processes (threads within each, one
keep-alive ``http.client`` connection per client), so the generator is never the one
Python interpreter that saturates first. Each client sends its next request as soon as the
last one is answered, for ``duration`` seconds after a short warm-up that is not counted.
Loopback only: the target must be ``http://127.0.0.1:<port>``.

A scenario is a function ``(rng, counter)`` returning a generator of the requests of one
operation, sent in order on one connection; each ``yield`` receives the JSON answer of a
POST (the write mix registers a version, then moves that version). Each request is counted
on its own; a status other than the one expected is an error and ends the operation. The
processes are forked, so scenarios may be closures.

    from bench.load import Request, run
    result = run("http://127.0.0.1:5000", my_scenario, concurrency=32, duration=10)
    print(result.rps, result.p99_ms, result.errors)
"""

from __future__ import annotations

import http.client
import itertools
import json
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any = None  # sent as JSON when not None
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200


Scenario = Callable[[random.Random, int], Generator[Request, Any, None]]


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return self.percentile(50)

    @property
    def p95_ms(self) -> float:
        return self.percentile(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile(99)


def _client(
    host: str,
    port: int,
    scenario: Scenario,
    seed: int,
    measure_from: float,
    stop: float,
    out: dict[str, Any],
) -> None:
    rng = random.Random(seed)  # noqa: S311 - picks models to ask for, not secrets
    conn = http.client.HTTPConnection(host, port, timeout=30)
    latencies: list[float] = []
    errors = 0
    first_error = None
    for counter in itertools.count():
        if time.monotonic() >= stop:
            break
        operation = scenario(rng, seed * 1_000_000 + counter)
        answer: Any = None
        while True:
            try:
                req = operation.send(answer)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - a scenario that cannot go on is an error
                errors += 1
                first_error = first_error or f"scenario failed: {exc!r}"
                break
            body = None
            headers = dict(req.headers)
            if req.body is not None:
                body = json.dumps(req.body).encode()
                headers["Content-Type"] = "application/json"
            began = time.monotonic()
            try:
                conn.request(req.method, req.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                status, payload = -1, repr(exc).encode()
            ended = time.monotonic()
            if began >= measure_from and ended <= stop:
                latencies.append((ended - began) * 1000)
                if status != req.expect:
                    errors += 1
                    if first_error is None:
                        first_error = f"{req.method} {req.path}: {status} {payload[:300]!r}"
            if status != req.expect:
                operation.close()  # the rest of this operation depends on this request
                break
            answer = json.loads(payload) if payload and req.method != "GET" else None
    conn.close()
    out["latencies"].extend(latencies)
    out["errors"] += errors
    if first_error and not out["first_error"]:
        out["first_error"] = first_error


def _process(
    url: str,
    scenario: Scenario,
    clients: int,
    first_seed: int,
    measure_from: float,
    stop: float,
    queue: Any,
) -> None:
    parts = urlsplit(url)
    out: dict[str, Any] = {"latencies": [], "errors": 0, "first_error": None}
    threads = [
        threading.Thread(
            target=_client,
            args=(
                parts.hostname,
                parts.port,
                scenario,
                first_seed + i,
                measure_from,
                stop,
                out,
            ),
        )
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(out)


def run(
    url: str,
    scenario: Scenario,
    *,
    concurrency: int,
    duration: float = 10.0,
    warmup: float = 2.0,
    processes: int | None = None,
    seed: int = 1,
) -> Result:
    """Load ``url`` with ``concurrency`` clients for ``warmup + duration`` seconds and count
    only what was sent and answered within the last ``duration``."""
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"loopback targets only, not {url}")
    processes = processes or min(concurrency, max(2, os.cpu_count() or 2), 4)
    share = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start = time.monotonic() + 0.2
    measure_from = start + warmup
    stop = measure_from + duration
    workers = []
    first = seed * 1000
    for clients in share:
        p = context.Process(
            target=_process,
            args=(url, scenario, clients, first, measure_from, stop, queue),
        )
        first += clients
        p.start()
        workers.append(p)
    outs = [queue.get(timeout=warmup + duration + 120) for _ in workers]
    for p in workers:
        p.join()
    latencies = [ms for out in outs for ms in out["latencies"]]
    first_error = next((o["first_error"] for o in outs if o["first_error"]), None)
    return Result(
        requests=len(latencies),
        errors=sum(o["errors"] for o in outs),
        seconds=duration,
        latencies_ms=latencies,
        first_error=first_error,
    )
