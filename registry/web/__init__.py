"""Request plumbing: what every HTTP request goes through, whichever surface it is for.

The native API (:mod:`registry.api`), the MLflow layer (:mod:`registry.mlflow`) and the
console (:mod:`registry.ui`) all stand on these; the domain never imports them.

- :mod:`~registry.web.auth`: the permission each route declares, and who is calling;
- :mod:`~registry.web.authentication`: bearer tokens (Modelgate's and OIDC's) to principals;
- :mod:`~registry.web.guessing`: failed authentications limited per client address;
- :mod:`~registry.web.ratelimit`: the per-caller rate limit;
- :mod:`~registry.web.idempotent`: ``Idempotency-Key`` on POST;
- :mod:`~registry.web.errors`: every error in one JSON shape;
- :mod:`~registry.web.refusals`: refused requests on the record;
- :mod:`~registry.web.observability`: request ids and logging;
- :mod:`~registry.web.metrics`: Prometheus figures and ``/metrics``.

Nothing is imported here: the gunicorn configuration imports observability before the
metrics directory is fixed, so importing this package must not import prometheus_client.
"""
