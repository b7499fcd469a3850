"""Selection audit: the answer stored once by its hash (`selection_answers`), the audit row names it.

A cached selection wrote its whole answer (several KiB of JSON) into every audit row; now each
distinct answer is stored once and an audit row holds its SHA-256 (`answer_hash`). Rows written
before this migration keep their answer in `answer`, which becomes nullable.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "selection_answers",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    with op.batch_alter_table("selection_audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_hash", sa.String(length=64), nullable=True))
        batch_op.alter_column("answer", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("selection_audit", schema=None) as batch_op:
        batch_op.alter_column("answer", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("answer_hash")
    op.drop_table("selection_answers")
