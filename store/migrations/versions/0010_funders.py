"""funders: the action's funders with their shares, and the situation at entry and the exit's
reason code, on the dossier's row (the page reads them from the store)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# Every dossier stored so far is one of the Region's programme, registered before funders
# were carried: the Region at 100 %, the default of a new dossier (state_models/funders.py).
REGION_ONLY = [{"code": "2", "share": "100.00"}]


def upgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('funders', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('entry_situation', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('exit_reason_code', sa.String(length=32), nullable=True))
    dossiers = sa.table('dossiers', sa.column('funders', sa.JSON()))
    op.execute(dossiers.update().values(funders=REGION_ONLY))


def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_column('exit_reason_code')
        batch_op.drop_column('entry_situation')
        batch_op.drop_column('funders')
