"""PostgreSQL: notify `rtfit_revisions` when the inventory revision or the active catalog changes.

Each process of the service keeps the revisions a selection is keyed on in memory and LISTENs on
this channel (metadata_service/revision_watch.py); a notification (its payload: the schema of
the table, so services in other schemas of the same database can tell theirs apart) makes it read
them again. Statement-level AFTER triggers on `inventory_state` (the inventory revision row) and
`catalog_pointer` (which catalog revision is active); PostgreSQL delivers the notification when
the writing transaction commits, once per transaction. SQLite needs nothing: the watch reads
`PRAGMA data_version` there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TRIGGERS = {"rtfit_inventory_state_notify": "inventory_state", "rtfit_catalog_pointer_notify": "catalog_pointer"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION rtfit_revisions_notify() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    PERFORM pg_notify('rtfit_revisions', TG_TABLE_SCHEMA);\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$"
    )
    for trigger, table in _TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION rtfit_revisions_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, table in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS rtfit_revisions_notify()")
