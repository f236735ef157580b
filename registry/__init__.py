"""Modelgate: a model registry with a governance workflow."""

from registry.app import create_app

__all__ = ["create_app"]
