"""exactly once: remembered idempotency keys; one open dossier per person and action;
sign-in attempts (failures and lockouts)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('method_path', sa.String(length=600), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('response_body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('username', 'key', name=op.f('uq_idempotency_keys_username'))
    )
    op.create_index(op.f('ix_idempotency_keys_created_at'), 'idempotency_keys', ['created_at'], unique=False)
    op.create_table('dossier_claims',
    sa.Column('dossier_id', sa.String(length=64), nullable=False),
    sa.Column('nir_hash', sa.String(length=64), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('action_id', sa.String(length=64), nullable=False),
    sa.Column('start_date', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_dossier_claims')),
    sa.UniqueConstraint('nir_hash', 'siret', 'action_id', 'start_date',
                        name='uq_dossier_claims_person_action')
    )

    op.create_table('sign_in_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_attempts'))
    )
    op.create_index(op.f('ix_sign_in_attempts_username'), 'sign_in_attempts', ['username'], unique=False)
    op.create_index(op.f('ix_sign_in_attempts_address'), 'sign_in_attempts', ['address'], unique=False)
    op.create_index(op.f('ix_sign_in_attempts_at'), 'sign_in_attempts', ['at'], unique=False)


def downgrade() -> None:
    op.drop_table('sign_in_attempts')
    op.drop_table('dossier_claims')
    op.drop_index(op.f('ix_idempotency_keys_created_at'), table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
