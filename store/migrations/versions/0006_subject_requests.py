"""subject requests: the data-protection officer's role, and when a person's data were
crypto-erased

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    roles = sa.table('roles', sa.column('code', sa.String), sa.column('label', sa.String))
    op.bulk_insert(roles, [{'code': 'dpo', 'label': 'Délégué à la protection des données'}])


def downgrade() -> None:
    op.execute("DELETE FROM user_roles WHERE role_code = 'dpo'")
    op.execute("DELETE FROM roles WHERE code = 'dpo'")
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
