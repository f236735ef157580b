"""Failed authentications, limited per client address before any credential is looked up.

The per-caller rate limit (:mod:`registry.web.ratelimit`) is keyed on the credential presented,
so every wrong guess arrives with a fresh budget: it cannot slow guessing down. This limit
counts only failures (an unknown, revoked, expired or forged token, a wrong metrics token),
keyed on where they come from, and once an address is over it every request from there that
carries a credential is refused with ``429 RATE_LIMITED`` before the credential is looked up:
a guess that is never checked cannot succeed, and costs the registry nothing.

The address is the connecting one, or the one the trusted proxies in front of Modelgate
report (``MODELGATE_TRUSTED_PROXY_HOPS``, applied by werkzeug's ProxyFix). IPv6 addresses
count per /64, the block one subscriber is usually given, so walking through one's own
addresses does not reset the count. The price: clients sharing an address (a NAT, a proxy
that is not declared) share the budget, so one of them failing often enough holds back the
rest for a while.

Counted with the ``limits`` library: in Redis when ``MODELGATE_REDIS_URL`` is set, so the
count holds across processes and replicas; in memory otherwise. When Redis fails, counting
falls back to memory for a while rather than refusing (or admitting) everyone.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from registry.domain.errors import Unauthenticated

log = logging.getLogger("modelgate.auth")

EXTENSION = "modelgate.auth_failures"
REDIS_RETRY_SECONDS = 30.0
T = TypeVar("T")


class TooManyFailures(TooManyRequests):
    """Over the limit: answered as ``429 RATE_LIMITED`` with ``Retry-After``."""

    def __init__(self, retry_after: int, limit: RateLimitItem) -> None:
        super().__init__(
            f"Too many failed authentications from your address (the limit is {limit}); "
            f"retry in {retry_after} s with a valid token."
        )
        self.retry_after = retry_after
        # registry.web.errors.handle_http_exception sends these headers with the error body.
        self.data = {"headers": {"Retry-After": str(retry_after)}}


def address_key(address: str | None) -> str:
    """What one client is counted as: its IPv4 address, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailedAuthLimit:
    """Counts failed authentications per address and refuses addresses over the limit."""

    def __init__(self, limit: str, redis_url: str | None = None, key_prefix: str = "") -> None:
        self.items = parse_many(limit)
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._redis = (
            SlidingWindowCounterRateLimiter(
                RedisStorage(
                    redis_url,
                    key_prefix=f"{key_prefix}modelgate-auth-failures",
                    socket_timeout=1.0,
                    socket_connect_timeout=1.0,
                )
            )
            if redis_url
            else None
        )
        self._redis_down_until = 0.0

    def _call(self, operation: Callable[[SlidingWindowCounterRateLimiter], T]) -> T:
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                return operation(self._redis)
            except Exception as exc:  # noqa: BLE001 - any Redis failure: count in memory
                log.warning(
                    "failed-authentication counts fall back to memory for %.0f s: %s",
                    REDIS_RETRY_SECONDS,
                    exc,
                )
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        return operation(self._memory)

    def refuse_if_over(self, address: str | None) -> None:
        """Raise TooManyFailures if ``address`` has failed too often lately."""
        key = address_key(address)
        for item in self.items:
            if not self._call(lambda limiter, item=item: limiter.test(item, key)):
                stats = self._call(lambda limiter, item=item: limiter.get_window_stats(item, key))
                raise TooManyFailures(max(1, math.ceil(stats.reset_time - time.time())), item)

    def failed(self, address: str | None) -> None:
        key = address_key(address)
        for item in self.items:
            self._call(lambda limiter, item=item: limiter.hit(item, key))


@contextlib.contextmanager
def counting_failures() -> Iterator[None]:
    """Around one authentication: refuse at once when the caller's address is over the
    limit, and count it if the credential does not verify."""
    limit: FailedAuthLimit | None = current_app.extensions.get(EXTENSION)
    if limit is None:
        yield
        return
    address = request.remote_addr
    limit.refuse_if_over(address)
    try:
        yield
    except Unauthenticated:
        limit.failed(address)
        raise


def init_app(app: Flask) -> None:
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        # Only X-Forwarded-For, and only as many entries as there are proxies we run: the
        # rest of the header is whatever the client wrote.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
    limit = app.config["AUTH_FAILURE_LIMIT"]
    if limit:
        app.extensions[EXTENSION] = FailedAuthLimit(
            limit, app.config["REDIS_URL"], app.config["REDIS_KEY_PREFIX"]
        )
