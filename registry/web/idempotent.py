"""``Idempotency-Key`` on POST: run the view once per key, answer retries from the store.

The rules live in :mod:`registry.domain.idempotency`; this is the HTTP side, applied by
:func:`registry.web.auth.requires` to every authenticated POST that carries the header (the
native API and the MLflow layer alike).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, make_response, request
from sqlalchemy.exc import IntegrityError

from registry.config import secret_keys
from registry.domain import idempotency
from registry.domain.errors import Conflict
from registry.domain.principal import Principal
from registry.extensions import db

HEADER = "Idempotency-Key"
KEPT_HEADERS = ("Content-Type", "ETag", "Location")


def wanted() -> bool:
    return request.method == "POST" and HEADER in request.headers


def run(principal: Principal, view: Callable[[], Any]) -> Response:
    claim = idempotency.Claim(
        principal.id,
        idempotency.check_key(request.headers[HEADER]),
        idempotency.fingerprint(
            request.method,
            request.path,
            request.query_string.decode("latin-1"),
            request.get_data(cache=True),
        ),
    )
    stored = idempotency.replay(db.session, claim)
    db.session.commit()
    if stored is not None:
        return _replayed(stored)
    idempotency.stage(db.session, claim)
    try:
        response = make_response(view())
    except IntegrityError as exc:
        if "idempotency_keys" not in str(exc.orig):
            raise
        # A retry raced us with the same key and committed first: our change rolled back.
        db.session.rollback()
        stored = idempotency.replay(db.session, claim)
        if stored is None:
            raise Conflict("A request with this Idempotency-Key is being applied.") from None
        return _replayed(stored)
    finally:
        left_unwritten = idempotency.unstage(db.session) is not None
    if not left_unwritten:  # the key committed with the change: keep the answer for retries
        headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        # A secret shown once (a new token, a webhook's secret) is shown once: never kept.
        kept, withheld = idempotency.withhold_secrets(response.get_data(as_text=True))
        if withheld:
            headers[idempotency.WITHHELD_HEADER] = ", ".join(withheld)
        # Sealed all the same: the rest of an answer is nobody else's business either.
        body = secret_keys.app_box(current_app).seal(kept)
        idempotency.store_answer(db.session, claim, response.status_code, body, headers)
        db.session.commit()
    return response


def _replayed(stored: idempotency.Stored) -> Response:
    body = secret_keys.app_box(current_app).open(stored.body)
    response = Response(body, status=stored.status_code)
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
