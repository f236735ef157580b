"""Least privilege on PostgreSQL: the service runs as a role that cannot rewrite history.

Two roles: the migration role owns the schema (it creates and alters the tables, and only
an owner may drop or disable the audit ledger's append-only trigger), and the application
role, which the long-running processes use, gets exactly what they need: reading and
writing the registry's tables, but on ``audit_events`` only INSERT and SELECT, on the chain
head only SELECT and UPDATE, and on ``alembic_version`` only SELECT. PostgreSQL itself then
refuses the application an UPDATE, DELETE or TRUNCATE of an event, ``ALTER TABLE ...
DISABLE TRIGGER`` and ``session_replication_role`` — whatever bug or stolen credential
drives it.

The grants cover every table in the schema, so they are made again after each upgrade
(``modelgate db upgrade`` with MODELGATE_DATABASE_APP_ROLE, or ``modelgate db grant``): a
table a later release adds is covered the moment it exists. GRANT and REVOKE are
idempotent, so running them twice changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

# What the application may not do even though it may write elsewhere: table -> privileges.
RESTRICTED = {
    "audit_events": "UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER",
    "audit_chain_head": "INSERT, DELETE, TRUNCATE, REFERENCES, TRIGGER",
    "alembic_version": "INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER",
}


class RoleError(RuntimeError):
    """The role cannot be made the application role (it does not exist, or holds more
    than it should)."""


def grant_application_role(connection: sa.Connection, role: str) -> list[str]:
    """Give ``role`` the application's privileges on the current schema, as its owner;
    returns the statements run. Refuses a role that could bypass them."""
    if connection.dialect.name != "postgresql":
        raise RoleError("An application role applies to PostgreSQL only.")
    found = connection.execute(
        sa.text(
            "SELECT rolsuper, rolbypassrls, pg_has_role(:role, "
            "(SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = 'audit_events'), 'MEMBER') AS owns, current_user = :role AS me "
            "FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role},
    ).one_or_none()
    if found is None:
        raise RoleError(
            f"The role {role!r} does not exist; create it first "
            f"(CREATE ROLE {role} LOGIN PASSWORD '...')."
        )
    if found.me or found.owns:
        raise RoleError(
            f"The role {role!r} owns the schema (or is a member of its owner), so it could "
            "disable the audit ledger's trigger: run the service as another role."
        )
    if found.rolsuper:
        raise RoleError(f"The role {role!r} is a superuser; no privilege binds it.")
    quoted = connection.dialect.identifier_preparer.quote(role)
    schema = connection.dialect.identifier_preparer.quote(
        connection.execute(sa.text("SELECT current_schema()")).scalar_one()
    )
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}",
        *(
            f"REVOKE {privileges} ON {schema}.{table} FROM {quoted}"
            for table, privileges in RESTRICTED.items()
        ),
    ]
    for statement in statements:
        connection.exec_driver_sql(statement)
    return statements
