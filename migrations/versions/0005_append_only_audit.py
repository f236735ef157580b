"""Make the audit ledger append-only on PostgreSQL, and index time as a seq bound.

On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE on audit_events for everyone but
a superuser who deliberately disables it; the application never edits an event. SQLite has
no such guard: there the hash chain (``modelgate audit verify``) is the evidence.

Revision ID: 0005
Revises: 0004
Created: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_events_at", "audit_events")
    op.create_index("ix_audit_events_at_seq", "audit_events", ["at", "seq"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
    """)
    op.execute("""
        CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """)
    op.execute("""
        CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_index("ix_audit_events_at_seq", "audit_events")
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
