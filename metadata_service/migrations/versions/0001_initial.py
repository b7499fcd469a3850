"""Initial schema: catalog revisions, models, nodes + leases, selection audit, flow runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("revision"),
    )
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("flow", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("backend", sa.String(length=50), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flow_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_runs_flow"), ["flow"], unique=False)
        batch_op.create_index(batch_op.f("ix_flow_runs_digest"), ["digest"], unique=False)

    op.create_table(
        "inventory_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "models",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("cluster", sa.String(length=253), nullable=True),
        sa.Column("arch", sa.String(length=32), nullable=False),
        sa.Column("driver_version", sa.String(length=64), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("inventory_hash", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nodes_cluster"), ["cluster"], unique=False)

    op.create_table(
        "selection_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("catalog_revision", sa.String(length=64), nullable=False),
        sa.Column("inventory_revision", sa.Integer(), nullable=False),
        sa.Column("feasible", sa.Boolean(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("solve_seconds", sa.Float(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("selection_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_selection_audit_created_at"), ["created_at"], unique=False)

    op.create_table(
        "catalog_pointer",
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["catalog_revisions.id"],
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "flow_tasks",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=253), nullable=True),
        sa.Column("runtime", sa.JSON(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["flow_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "name"),
    )
    op.create_table(
        "heartbeats",
        sa.Column("node", sa.String(length=253), nullable=False),
        sa.Column("inventory_hash", sa.String(length=64), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("beats", sa.Integer(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["node"], ["nodes.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node"),
    )
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.create_index("ix_heartbeats_available_last_seen", ["available", "last_seen"], unique=False)

    op.create_table(
        "node_components",
        sa.Column("node", sa.String(length=253), nullable=False),
        sa.Column("component", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["node"], ["nodes.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node", "component"),
    )
    op.create_table(
        "node_gpus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=253), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=200), nullable=False),
        sa.Column("memory_mib", sa.Integer(), nullable=True),
        sa.Column("compute_capability", sa.String(length=16), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("free", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["node"], ["nodes.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("node_gpus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_gpus_node"), ["node"], unique=False)

    op.bulk_insert(
        sa.table("inventory_state", sa.column("id"), sa.column("revision"), sa.column("changed_at")),
        [{"id": 1, "revision": 0, "changed_at": 0.0}],
    )


def downgrade() -> None:
    with op.batch_alter_table("node_gpus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_gpus_node"))

    op.drop_table("node_gpus")
    op.drop_table("node_components")
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.drop_index("ix_heartbeats_available_last_seen")

    op.drop_table("heartbeats")
    op.drop_table("flow_tasks")
    op.drop_table("catalog_pointer")
    with op.batch_alter_table("selection_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_selection_audit_created_at"))

    op.drop_table("selection_audit")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nodes_cluster"))

    op.drop_table("nodes")
    op.drop_table("models")
    op.drop_table("inventory_state")
    with op.batch_alter_table("flow_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_runs_digest"))
        batch_op.drop_index(batch_op.f("ix_flow_runs_flow"))

    op.drop_table("flow_runs")
    op.drop_table("catalog_revisions")
