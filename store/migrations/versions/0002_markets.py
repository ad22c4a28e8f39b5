"""markets: the market projection, and each dossier's market session

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('markets',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('lot_number', sa.String(length=10), nullable=False),
    sa.Column('lot_title', sa.String(length=255), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('amount_excl_tax', sa.String(length=32), nullable=False),
    sa.Column('amount_incl_tax', sa.String(length=32), nullable=False),
    sa.Column('funding_source', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('total_paid', sa.String(length=32), nullable=False),
    sa.Column('notification_date', sa.String(length=10), nullable=True),
    sa.Column('start_date', sa.String(length=10), nullable=True),
    sa.Column('end_date', sa.String(length=10), nullable=True),
    sa.Column('settlement_date', sa.String(length=10), nullable=True),
    sa.Column('interruption_reason', sa.Text(), nullable=True),
    sa.Column('payments', sa.JSON(), nullable=False),
    sa.Column('amendments', sa.JSON(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('dossier_counts', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('manager', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_markets')),
    sa.UniqueConstraint('reference', 'lot_number', name=op.f('uq_markets_reference'))
    )
    with op.batch_alter_table('markets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_markets_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_markets_siret'), ['siret'], unique=False)
        batch_op.create_index(batch_op.f('ix_markets_state'), ['state'], unique=False)

    op.create_table('market_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('market_id', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('places', sa.Integer(), nullable=False),
    sa.Column('places_used', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.String(length=10), nullable=False),
    sa.Column('end_date', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'],
                            name=op.f('fk_market_sessions_market_id_markets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_market_sessions')),
    sa.UniqueConstraint('market_id', 'session_id', name=op.f('uq_market_sessions_market_id'))
    )
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('market_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('session_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_dossiers_market_id'), ['market_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossiers_market_id'))
        batch_op.drop_column('session_id')
        batch_op.drop_column('market_id')
    op.drop_table('market_sessions')
    with op.batch_alter_table('markets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_markets_state'))
        batch_op.drop_index(batch_op.f('ix_markets_siret'))
        batch_op.drop_index(batch_op.f('ix_markets_created_at'))
    op.drop_table('markets')
