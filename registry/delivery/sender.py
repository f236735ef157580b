"""Sending one webhook delivery over HTTP, safely, and the loop that drives claims.

The target is checked on the address actually connected to: the host is resolved once,
every address it resolves to must be allowed (by default no loopback, private, link-local,
metadata, multicast or reserved address, nor one smuggled inside an IPv6 address: a
webhook is how an outsider with an admin token would otherwise probe the cluster; see
:mod:`registry.domain.destinations`), plain http only reaches this machine unless allowed,
and the connection is made to that checked address while TLS still verifies the
certificate for the host name. Redirects are not followed
and the response is read only up to a cap.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from sqlalchemy.orm import Session

from registry.domain import webhooks
from registry.domain.destinations import Reach
from registry.domain.sealing import SecretBox
from registry.domain.webhooks import Claim, Outcome, Result

log = logging.getLogger("modelgate.webhooks")


@dataclass(frozen=True)
class Target(Reach):
    """Where a subscriber may be (the address and scheme rules) and the HTTP timeouts."""

    timeout: float = 10.0

    @property
    def lease(self) -> dt.timedelta:
        """How long a claim holds: one whole attempt (bounded by ``timeout``) and slack."""
        return dt.timedelta(seconds=2 * self.timeout + 10)


def send(url: str, body: str, headers: dict[str, str], target: Target) -> Result:
    """POST ``body`` to ``url``; never raises, always says what happened."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return Result(error=f"cannot resolve {host!r}: {exc}")
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        reason = target.refuses(address)
        if reason is not None:
            return Result(
                error=f"refused: {host!r} resolves to {address}, {reason}", retryable=False
            )
    reason = target.refuses_plain_http(parts.scheme, addresses)
    if reason is not None:
        return Result(error=f"refused: {reason}", retryable=False)
    address = addresses[0]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # ``total`` bounds the whole attempt, so a receiver that answers byte by byte cannot hold
    # a sender (and its claim) longer than the timeout.
    timeout = urllib3.Timeout(total=target.timeout, connect=min(5.0, target.timeout))
    pool = _pool(parts.scheme, address, port, host)
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    started = time.perf_counter()
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body.encode(),
            headers={**headers, "host": host_header},
            redirect=False,
            preload_content=False,
            retries=False,
            timeout=timeout,
        )
        snippet = response.read(webhooks.SNIPPET, decode_content=False)
        if response.length_remaining == 0:
            response.release_conn()  # read to the end: the connection can serve the next one
        else:
            response.close()  # more than we read, or no length: not reusable
    except urllib3.exceptions.HTTPError as exc:
        return Result(latency_ms=_ms(started), error=f"{type(exc).__name__}: {exc}")
    status = response.status
    error = None
    if 300 <= status < 400:
        error = f"redirect to {response.headers.get('location', '?')} not followed"
    return Result(
        status=status,
        latency_ms=_ms(started),
        error=error,
        snippet=snippet.decode("utf-8", "replace"),
        retry_after=_retry_after(response.headers.get("retry-after")),
    )


_POOLS: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
_POOLS_LOCK = threading.Lock()
MAX_POOLS = 256


def _pool(scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
    """Keep-alive connections per checked address and host name, so a busy subscriber is
    not sent a TCP (and TLS) handshake with every delivery."""
    key = (scheme, address, port, host)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            if len(_POOLS) >= MAX_POOLS:
                _POOLS.pop(next(iter(_POOLS))).close()
            if scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    address,
                    port,
                    server_hostname=host,
                    assert_hostname=host,
                    cert_reqs="CERT_REQUIRED",
                    retries=False,
                    maxsize=4,
                )
            else:
                pool = urllib3.HTTPConnectionPool(address, port, retries=False, maxsize=4)
            _POOLS[key] = pool
        return pool


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def deliver_due(
    session: Session, box: SecretBox, target: Target, schedule: Sequence[float]
) -> list[Outcome | None]:
    """Send, from this process and one after another, every delivery that is due and held
    by no one: the embedded sender's sweep, and `modelgate webhooks sweep`."""
    ids = webhooks.due(session, redispatch_after=0)
    session.commit()
    return [deliver(session, i, box, target, schedule) for i in ids]


def deliver(
    session: Session, delivery_id: int, box: SecretBox, target: Target, schedule: Sequence[float]
) -> Outcome | None:
    """Claim, send and record one delivery; None when it was not ours to send.

    Two short transactions around the HTTP call, never one held open across it: the claim
    (a lease) is committed first, the outcome afterwards.
    """
    claimed: Claim | None = webhooks.claim(session, delivery_id, box, lease=target.lease)
    session.commit()
    if claimed is None:
        return None
    result = send(
        claimed.url, claimed.body, webhooks.headers_for(claimed, int(time.time())), target
    )
    outcome = webhooks.record_result(session, delivery_id, result, schedule)
    session.commit()
    log.info(
        "webhook delivery %s to webhook %s: %s (status %s%s)",
        delivery_id,
        claimed.webhook_id,
        outcome.state,
        result.status,
        f", {result.error}" if result.error else "",
    )
    return outcome
