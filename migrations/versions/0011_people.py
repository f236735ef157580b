"""People behind tokens: persons on requests and approvals, governed tokens and bindings,
short token prefixes.

Four-eyes rules now compare people, not credentials: a request records the person behind its
requester and each approval the person behind its approver (a service token's owner). Tokens
and role bindings carrying roles the policy governs wait, ``pending``, for a second admin.
Stored token prefixes are cut to what identifies a token without helping to guess it.

Existing data: a token whose owner is a service id (``service:bootstrap-admin``, the API's
default before) is given the owner of that service account's tokens when they agree, so
chains of minted tokens end at a person; the persons of existing requests, approvals, tokens
and bindings are resolved the same way (a principal id that resolves to no one stays its own
person). Prefixes become ``mgt_`` and four characters, or four characters for the
bootstrap token, which may have been chosen (and as short as 16). Audit events already
written keep the prefixes they recorded: the ledger is append-only.

Revision ID: 0011
Revises: 0010
Created: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

GENERATED_PREFIX = 8  # "mgt_" and four characters
CHOSEN_PREFIX = 4  # a quarter of the shortest bootstrap token the old rules allowed

tokens = sa.table(
    "api_tokens",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("owner", sa.String),
    sa.column("prefix", sa.String),
    sa.column("created_by", sa.String),
    sa.column("created_by_person", sa.String),
)
bindings = sa.table(
    "role_bindings",
    sa.column("id", sa.Integer),
    sa.column("created_by", sa.String),
    sa.column("created_by_person", sa.String),
)
requests = sa.table(
    "transition_requests",
    sa.column("id", sa.Integer),
    sa.column("requested_by", sa.String),
    sa.column("requested_by_person", sa.String),
)
approvals = sa.table(
    "approvals",
    sa.column("id", sa.Integer),
    sa.column("by", sa.String),
    sa.column("person", sa.String),
)


def _governance_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_by_person", sa.String(256), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("approved_by", sa.String(256), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for table in ("api_tokens", "role_bindings"):
        with op.batch_alter_table(table) as batch:
            for column in _governance_columns():
                batch.add_column(column)
    with op.batch_alter_table("transition_requests") as batch:
        batch.add_column(sa.Column("requested_by_person", sa.String(256), nullable=True))
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("person", sa.String(256), nullable=True))

    _fill(op.get_bind())

    for table in ("api_tokens", "role_bindings"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("created_by_person", existing_type=sa.String(256), nullable=False)
            batch.create_check_constraint(
                f"ck_{table}_state_known", "state IN ('active', 'pending')"
            )
    with op.batch_alter_table("transition_requests") as batch:
        batch.alter_column("requested_by_person", existing_type=sa.String(256), nullable=False)
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("person", existing_type=sa.String(256), nullable=False)


def _fill(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(tokens.c.id, tokens.c.name, tokens.c.owner, tokens.c.prefix, tokens.c.created_by)
    ).all()
    owner = {row.id: row.owner for row in rows}
    by_name: dict[str, list[int]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row.id)

    def account_owner(principal_id: str, exclude: int | None = None) -> str | None:
        """The one person behind a service account's tokens, if they agree on one."""
        kind, _, name = principal_id.partition(":")
        if kind != "service":
            return None
        found = {owner[i] for i in by_name.get(name, []) if i != exclude}
        if len(found) != 1:
            return None
        (person,) = found
        return None if person.startswith("service:") else person

    # Owners that are service ids name the account whose token minted them: follow the
    # chain to a person, one link per pass.
    for _ in range(len(rows)):
        changed = False
        for row in rows:
            person = account_owner(owner[row.id], exclude=row.id)
            if person is not None and person != owner[row.id]:
                owner[row.id], changed = person, True
        if not changed:
            break

    def person_of(principal_id: str) -> str:
        return account_owner(principal_id) or principal_id

    for row in rows:
        bootstrap = row.name == "bootstrap-admin" and row.created_by == "system:modelgate"
        keep = CHOSEN_PREFIX if bootstrap or not row.prefix.startswith("mgt_") else GENERATED_PREFIX
        conn.execute(
            tokens.update()
            .where(tokens.c.id == row.id)
            .values(
                owner=owner[row.id],
                prefix=row.prefix[:keep],
                created_by_person=person_of(row.created_by),
            )
        )
    for table, key, who, person in (
        (bindings, bindings.c.id, bindings.c.created_by, bindings.c.created_by_person),
        (requests, requests.c.id, requests.c.requested_by, requests.c.requested_by_person),
        (approvals, approvals.c.id, approvals.c.by, approvals.c.person),
    ):
        for row_id, principal_id in conn.execute(sa.select(key, who)).all():
            conn.execute(
                table.update().where(key == row_id).values({person.name: person_of(principal_id)})
            )


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("person")
    with op.batch_alter_table("transition_requests") as batch:
        batch.drop_column("requested_by_person")
    for table in ("role_bindings", "api_tokens"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"ck_{table}_state_known", type_="check")
            for column in ("approved_at", "approved_by", "state", "created_by_person"):
                batch.drop_column(column)
