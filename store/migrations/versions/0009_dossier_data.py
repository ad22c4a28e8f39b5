"""dossier data: the values each acknowledged correction (re-engineering) changed, before
and after

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dossier_corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dossier_id', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=32), nullable=False),
        sa.Column('before', sa.Text(), nullable=True),
        sa.Column('after', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dossier_id', 'seq', 'field'),
    )
    with op.batch_alter_table('dossier_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_corrections_dossier_id'), ['dossier_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dossier_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossier_corrections_dossier_id'))
    op.drop_table('dossier_corrections')
