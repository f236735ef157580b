"""The ``modelgate`` command line: the ``main`` group, and one module per command group.

``serve`` (:mod:`~registry.cli.serve`), ``db`` (:mod:`~registry.cli.db`), ``policies``,
``audit``, ``keys``, ``worker`` and ``beat`` (:mod:`~registry.cli.worker`), ``webhooks``,
``import`` (:mod:`~registry.cli.importing`), ``requests``
(:mod:`~registry.cli.transition_requests`), ``token`` (:mod:`~registry.cli.tokens`) and
``role-binding`` (:mod:`~registry.cli.role_bindings`). Each module defines its group on its
own; they are attached to ``main`` here. The ``modelgate`` script is ``registry.cli:main``.
"""

from __future__ import annotations

import click

from registry import config
from registry.cli import (
    audit,
    db,
    importing,
    keys,
    policies,
    role_bindings,
    serve,
    tokens,
    transition_requests,
    webhooks,
    worker,
)
from registry.config import keyfiles


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelgate")
def main() -> None:
    """Modelgate: a model registry with a governance workflow."""
    if _embedded_or_sqlite():
        # Before anything touches the database: SQLite creates it, and its -wal and -shm,
        # with the process's umask (0644 under the usual 022).
        keyfiles.create_files_private()


def _embedded_or_sqlite() -> bool:
    import sqlalchemy as sa

    try:
        url = config.setting("DATABASE_URL")
        return url is None or config.is_sqlite(url)
    except (config.ConfigError, sa.exc.ArgumentError):  # the command reports a bad URL
        return False


for command in (
    serve.serve,
    db.db,
    policies.policies,
    audit.audit_group,
    worker.worker,
    worker.beat,
    webhooks.webhooks,
    importing.import_group,
    keys.keys_group,
    transition_requests.requests,
    tokens.token,
    role_bindings.role_binding,
):
    main.add_command(command)
