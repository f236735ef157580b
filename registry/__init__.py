"""Modelgate: a model registry with a governance workflow."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # create_app is imported on first use, not with the package: importing a light module
    # (registry.config, registry.serve.gunicorn_conf) must not load the app and everything it
    # imports, prometheus_client above all, which fixes its multiprocess mode on import.
    if name == "create_app":
        from registry.app import create_app

        return create_app
    raise AttributeError(f"module 'registry' has no attribute {name!r}")
