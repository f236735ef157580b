"""Sizing the API server to the CPUs the container may use."""

import os

import pytest

from registry.serve import server


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("150000 100000\n", 2), ("50000 100000\n", 1), ("400000 100000\n", 4)],
)
def test_a_cpu_limit_counts_rounded_up(tmp_path, cpu_max, expected):
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert server.cpu_count(tmp_path / "cpu.max") == expected


def test_without_a_limit_the_schedulable_cpus_count(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert server.cpu_count(tmp_path / "cpu.max") == len(os.sched_getaffinity(0))
    assert server.cpu_count(tmp_path / "absent") == len(os.sched_getaffinity(0))


def test_workers_follow_the_cpus_up_to_eight():
    assert [server.default_workers(n) for n in (1, 2, 3, 4, 16)] == [3, 5, 7, 8, 8]


def test_serve_runs_the_image_configuration_with_the_counts_asked_for():
    command = server.gunicorn_command(host="0.0.0.0", port=9000, workers=3, threads=None)  # noqa: S104
    assert command[1:] == [
        "-m",
        "gunicorn",
        "--config",
        "python:registry.serve.gunicorn_conf",
        "--bind",
        "0.0.0.0:9000",
        "--workers",
        "3",
        "registry:create_app()",
    ]
