"""Per-caller rate limiting (Flask-Limiter): each credential gets MODELGATE_RATE_LIMIT.

Counted in Redis when MODELGATE_REDIS_URL is set, so the limit holds across every API
process and replica; in each process's memory otherwise (the embedded default). If Redis
stops answering, counting falls back to memory rather than refusing requests: a limiter
must never be the reason the registry stops serving.

The key is a hash of the credential the request presents (bearer token or Basic password),
so each token has its own budget whichever process serves it; requests without one share a
budget per client address. Health, readiness and metrics are never limited.
"""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter

UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics")


def caller_key() -> str:
    _, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if credential:
        return "credential:" + hashlib.sha256(credential.encode()).hexdigest()[:32]
    return "address:" + (request.remote_addr or "unknown")


def init_app(app: Flask) -> Limiter | None:
    limit = app.config["RATE_LIMIT"]
    if not limit:
        return None
    redis_url = app.config["REDIS_URL"]
    limiter = Limiter(
        caller_key,
        app=app,
        default_limits=[limit],
        storage_uri=redis_url or "memory://",
        # Every key under the installation's prefix, as Celery's are.
        storage_options=(
            {"key_prefix": f"{app.config['REDIS_KEY_PREFIX']}modelgate-ratelimit"}
            if redis_url
            else {}
        ),
        strategy="fixed-window",
        headers_enabled=True,  # X-RateLimit-Limit/-Remaining/-Reset, and Retry-After on 429
        swallow_errors=True,
        in_memory_fallback_enabled=bool(redis_url),
        default_limits_exempt_when=lambda: request.path in UNLIMITED_PATHS,
    )
    app.extensions["modelgate.limiter"] = limiter
    return limiter
