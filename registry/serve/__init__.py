"""Serving the API: the gunicorn configuration, how many processes, what runs once at start.

- :mod:`~registry.serve.gunicorn_conf`: gunicorn's settings, the container's command
  (``gunicorn --config python:registry.serve.gunicorn_conf 'registry:create_app()'``) and
  what ``modelgate serve`` runs;
- :mod:`~registry.serve.server`: the command line ``modelgate serve`` replaces itself with,
  and the number of worker processes for the CPUs at hand;
- :mod:`~registry.serve.startup`: what a starting service does once, before it serves.

Nothing is imported here: gunicorn imports gunicorn_conf, which must fix the metrics
directory before anything imports prometheus_client.
"""
