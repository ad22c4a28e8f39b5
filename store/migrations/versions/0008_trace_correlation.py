"""trace correlation: the API request id (X-Request-Id) an AGORA exchange came from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agora_traces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('correlation_id', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_agora_traces_correlation_id', ['correlation_id'])


def downgrade() -> None:
    with op.batch_alter_table('agora_traces', schema=None) as batch_op:
        batch_op.drop_index('ix_agora_traces_correlation_id')
        batch_op.drop_column('correlation_id')
