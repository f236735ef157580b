"""``modelgate role-binding``: grant roles to users, groups and service accounts."""

from __future__ import annotations

import click

from registry.cli.common import operator_session
from registry.domain.principal import system


@click.group("role-binding")
def role_binding() -> None:
    """Role bindings: grant roles to users, groups and service accounts."""


@role_binding.command("create")
@click.option("--subject", required=True, help="user:<sub>, group:<name> or service:<name>.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["viewer", "contributor", "approver", "auditor", "admin"]),
)
@click.option("--model-pattern", default="*", show_default=True)
@click.option("--stage", "stages", multiple=True, help="Narrow an approver binding.")
def role_binding_create(
    subject: str, role: str, model_pattern: str, stages: tuple[str, ...]
) -> None:
    """Grant a role."""
    from registry.domain import identity

    with operator_session() as session:
        info = identity.create_binding(
            session,
            system(),
            subject=subject,
            role=role,
            model_pattern=model_pattern,
            stages=list(stages) or None,
        )
        session.commit()
    click.echo(
        f"Binding {info.id}: {info.subject} is {info.role} on {info.model_pattern!r}"
        + (f" for {', '.join(info.stages)}" if info.stages else "")
        + "."
    )


@role_binding.command("list")
@click.option("--subject")
def role_binding_list(subject: str | None) -> None:
    """List role bindings."""
    from registry.domain import identity

    with operator_session() as session:
        for info in identity.list_bindings(session, system(), subject=subject):
            stages = ",".join(info.stages) if info.stages else "all stages"
            click.echo(
                f"{info.id:>5}  {info.subject:<32} {info.role:<12} "
                f"{info.model_pattern:<16} {stages:<24} {info.state}"
            )


@role_binding.command("approve")
@click.argument("binding_id", type=int)
def role_binding_approve(binding_id: int) -> None:
    """Approve a role binding made over the API that awaits a second admin."""
    from registry.domain import identity

    with operator_session() as session:
        info = identity.approve_binding(session, system(), binding_id)
        session.commit()
    click.echo(f"Approved binding {info.id}: {info.subject} is {info.role}.")


@role_binding.command("delete")
@click.argument("binding_id", type=int)
def role_binding_delete(binding_id: int) -> None:
    """Remove a role binding by id."""
    from registry.domain import identity

    with operator_session() as session:
        identity.delete_binding(session, system(), binding_id)
        session.commit()
    click.echo(f"Removed binding {binding_id}.")
