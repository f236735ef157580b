"""How the API is served: gunicorn with :mod:`registry.serve.gunicorn_conf`, sized to the CPUs.

``modelgate serve`` and the container run the same gunicorn configuration; ``serve`` only
adds the address and the process counts it was asked for.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

GUNICORN_CONFIG = "python:registry.serve.gunicorn_conf"
APP = "registry:create_app()"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cpu_count(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: the container's CPU limit when it has one (cgroup v2
    ``cpu.max``, rounded up), else the CPUs it may be scheduled on. ``os.cpu_count()``
    would count the whole node, and size a pod limited to one CPU for sixty-four."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit visible: not in a container, or an older runtime
    return len(os.sched_getaffinity(0))


def default_workers(cpus: int | None = None) -> int:
    """gunicorn's rule of thumb, 2 x CPUs + 1, capped at 8: each process holds its own
    database pool, and more processes than that buy little over threads."""
    return min(2 * (cpus or cpu_count()) + 1, 8)


def gunicorn_command(
    *, host: str, port: int, workers: int | None = None, threads: int | None = None
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        GUNICORN_CONFIG,
        "--bind",
        f"{host}:{port}",
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    return [*command, APP]


def serve(*, host: str, port: int, workers: int | None, threads: int | None) -> None:
    """Replace this process with gunicorn.

    A fresh interpreter rather than gunicorn inside this one: the metrics of several worker
    processes are only added up if ``PROMETHEUS_MULTIPROC_DIR`` is set before
    prometheus_client is first imported, which this process has long done.
    """
    command = gunicorn_command(host=host, port=port, workers=workers, threads=threads)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # noqa: S606 - our own interpreter, arguments built above
