"""gunicorn settings for the API, the container's command and what ``modelgate serve`` runs:

    gunicorn -c python:registry.serve.gunicorn_conf 'registry:create_app()'

gunicorn applies ``GUNICORN_CMD_ARGS`` and command-line flags after this module, so any value
here can be changed per deployment (``GUNICORN_CMD_ARGS="--timeout 120"``). Process counts
come from MODELGATE_WEB_WORKERS and MODELGATE_WEB_THREADS, the port from ``PORT`` (8080).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Several worker processes only add up their metrics when PROMETHEUS_MULTIPROC_DIR is set
# before prometheus_client is first imported, which importing ``registry`` does: so this
# comes before any other import of ours. The chart sets it to an emptyDir; without it, a
# private directory is made for this server and removed when it stops.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PRIVATE_METRICS_DIR = None
if not os.environ.get(MULTIPROC_ENV):
    _PRIVATE_METRICS_DIR = tempfile.mkdtemp(prefix="modelgate-metrics-")
    os.environ[MULTIPROC_ENV] = _PRIVATE_METRICS_DIR

from gunicorn import glogging  # noqa: E402

# Aliased: gunicorn reads every module-level name that is one of its settings ("config" is).
from registry import config as _config  # noqa: E402
from registry.serve.server import default_workers as _default_workers  # noqa: E402
from registry.web import observability as _observability  # noqa: E402

LOG_FORMAT = _config.setting("LOG_FORMAT")
if (_config.setting("DATABASE_URL") or "sqlite://").startswith("sqlite"):
    # gunicorn started directly on the embedded database (``modelgate serve`` has done this
    # already): SQLite makes its files with the process's umask.
    from registry.config import keyfiles as _keyfiles

    _keyfiles.create_files_private()

bind = [f"0.0.0.0:{os.environ.get('PORT', '8080')}"]
workers = _config.setting("WEB_WORKERS") or _default_workers()
threads = _config.setting("WEB_THREADS")
worker_class = "gthread"
# A worker that answers nothing for this long is killed and replaced (a request stuck on a
# lock or a dead peer); the statement timeout (15 s) ends slow queries well before.
timeout = 60
# On SIGTERM the workers finish what they are serving for up to this long; the chart's
# terminationGracePeriodSeconds covers it plus the preStop pause.
graceful_timeout = 30
# Longer than the idle timeout of the usual load balancers (60 s), so they never send a
# request down a connection gunicorn is closing; gthread keeps idle ones off the threads.
keepalive = 75
# Replace each worker after about this many requests, so a slow leak cannot grow without
# bound; the jitter keeps the workers from all restarting at once. Each replaced worker
# leaves its counter files in PROMETHEUS_MULTIPROC_DIR until the pod restarts, so this is
# kept high.
max_requests = 10_000
max_requests_jitter = 1_000
# The workers' heartbeat files: tmpfs, writable under a read-only root filesystem, and
# never stalled by a slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# gunicorn 25+ opens a control socket in $XDG_RUNTIME_DIR or ~/.gunicorn: not writable
# under a read-only root filesystem, shared by every server one user runs, and unused here
# (no gunicornc). Kubernetes stops and scales the pods instead.
control_socket_disable = True
loglevel = _config.setting("LOG_LEVEL").lower()
errorlog = "-"
accesslog = "-"
# request_id is ours (the answer's X-Request-ID); client_request_id is what the caller sent.
# The principal is the authenticated caller's id (user:..., service:...) or "-": the app
# leaves it in the WSGI environ (registry.web.observability.PRINCIPAL_ENVIRON), never a token.
access_log_format = (
    '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s '
    "client_request_id=%({x-request-id}i)s principal=%({modelgate.principal}e)s"
)


class Logger(glogging.Logger):
    """gunicorn's error and access logs in MODELGATE_LOG_FORMAT. In JSON each access line
    carries the method, path, status, size, duration and request id as fields."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if LOG_FORMAT != "json":
            return
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setFormatter(_observability.JsonFormatter())

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if LOG_FORMAT != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        sent = atoms.get("{x-request-id}i", "-")
        self.access_log.info(
            "%s %s %s",
            atoms["m"],
            atoms["U"],
            atoms["s"],
            extra={
                "request_id": atoms.get("{x-request-id}o", "-"),
                "client_request_id": sent if _observability.is_safe_id(sent) else None,
                "principal": environ.get(_observability.PRINCIPAL_ENVIRON),
                "method": atoms["m"],
                "path": atoms["U"],
                "query": atoms["q"] or None,
                "status": int(atoms["s"]),
                "bytes": atoms["B"],
                "duration_ms": round(atoms["D"] / 1000, 3),
                "remote_addr": atoms["h"],
                "user_agent": atoms["a"],
            },
        )


logger_class = Logger


def on_starting(server: Any) -> None:
    """Before the first worker: start the metrics directory empty (a restarted container
    keeps its emptyDir, and the last run's counts must not be added to this one's), record
    the policy set in force in the audit ledger if it changed, warn of what it leaves
    ungoverned, and bring the artifact store up to date (files of an earlier release's
    layout, digests of older versions)."""
    for stale in Path(os.environ[MULTIPROC_ENV]).glob("*.db"):
        stale.unlink()
    from registry.domain import policy_files
    from registry.serve.startup import (
        record_policies,
        upgrade_artifact_store,
        warn_about_policies,
        warn_without_checkpoint_key,
    )

    settings = _config.load()
    _observability.configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
    loaded = policy_files.load(settings["POLICY_PATH"])
    warn_about_policies(loaded)
    record_policies(settings["DATABASE_URL"], loaded)
    upgrade_artifact_store(settings["DATABASE_URL"], settings["ARTIFACT_ROOT"])
    warn_without_checkpoint_key(settings)


def post_worker_init(worker: Any) -> None:
    """Without Redis, each API process runs the embedded webhook sender and sweeps; with or
    without, it writes the summaries of the refusals it counted (registry.web.refusals)."""
    from registry.delivery import embedded
    from registry.web import refusals

    embedded.start(worker.wsgi)
    refusals.start(worker.wsgi)


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stopping cleanly writes the refusals it counted but had not yet written."""
    from registry.web import refusals

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        refusals.stop(app)


def child_exit(server: Any, worker: Any) -> None:
    """A worker has gone: drop its share of the gauges that sum over live processes."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _PRIVATE_METRICS_DIR:
        shutil.rmtree(_PRIVATE_METRICS_DIR, ignore_errors=True)
