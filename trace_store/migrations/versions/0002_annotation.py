"""Annotation: users (roles), projects (labelling settings per dataset), label leases (queue).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the users, projects and label_leases tables and the queue's trace index."""
    op.create_table(
        "users",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_users"),
    )
    op.create_table(
        "projects",
        sa.Column("dataset", sa.String(), nullable=False),
        sa.Column("modes", sa.Text(), nullable=False),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("blind", sa.Boolean(), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("guidelines", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", name="pk_projects"),
    )
    op.create_table(
        "label_leases",
        sa.Column("trace_id", sa.String(), nullable=False),
        sa.Column("annotator", sa.String(), nullable=False),
        sa.Column("dataset", sa.String(), nullable=False),
        sa.Column("acquired_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "annotator", name="pk_label_leases"),
        sa.ForeignKeyConstraint(
            ["trace_id"], ["traces.id"], name="fk_label_leases_trace_id_traces", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_label_leases_dataset_annotator", "label_leases", ["dataset", "annotator"])
    # The labelling queue walks a dataset's traces in import order (rid), skipping complete ones
    # (n_labels) without reading the table.
    op.create_index("ix_traces_dataset_rid_n_labels", "traces", ["dataset", "rid", "n_labels"])


def downgrade() -> None:
    """Drop what the upgrade created."""
    op.drop_index("ix_traces_dataset_rid_n_labels", table_name="traces")
    op.drop_table("label_leases")
    op.drop_table("projects")
    op.drop_table("users")
