"""Webhook delivery, after the commit: the outbox hand-off, the HTTP sender, the embedded runner.

The domain writes each delivery as an outbox row in the change's own transaction
(:mod:`registry.domain.webhooks`); from there:

- :mod:`~registry.delivery.outbox`: after a commit, hands the new deliveries to Celery by
  task name (or wakes the embedded runner), and holds what sending needs per app;
- :mod:`~registry.delivery.sender`: claims, sends (to a checked address) and records one
  delivery over HTTP;
- :mod:`~registry.delivery.embedded`: without Redis, the thread in each API process that does
  what the Celery workers and beat do otherwise.

The Celery tasks themselves are in the top-level ``workers`` package, which imports this one;
nothing here imports ``workers``.
"""
