"""What the command groups share: the settings, and the registry as the operator acts on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from registry import config
from registry.domain.errors import DomainError
from registry.domain.policy import PolicyError


def load_settings() -> dict[str, Any]:
    try:
        return config.load()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def operator_session() -> Iterator[Any]:
    """An app context and its session, for commands that act on the registry as the operator."""
    from registry import create_app
    from registry.extensions import db

    try:
        app = create_app()
    except (config.ConfigError, PolicyError) as exc:
        raise click.ClickException(str(exc)) from None
    with app.app_context():
        try:
            yield db.session
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(f"{exc.code}: {exc.message}") from None
