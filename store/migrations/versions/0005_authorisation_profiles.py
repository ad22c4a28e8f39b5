"""authorisation profiles: each user's PAGM per role, and the hash-chained history of every
grant, change and revocation of a role or PAGM

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_role_profiles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role_code', sa.String(length=32), nullable=False),
    sa.Column('profiles', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE',
                            name=op.f('fk_user_role_profiles_user_id_users')),
    sa.ForeignKeyConstraint(['role_code'], ['roles.code'],
                            name=op.f('fk_user_role_profiles_role_code_roles')),
    sa.PrimaryKeyConstraint('user_id', 'role_code', name=op.f('pk_user_role_profiles')),
    )

    op.create_table('authorisation_history',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('content_digest', sa.String(length=64), nullable=False),
    sa.Column('prev_digest', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('redacted_at', sa.String(length=40), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('profiles_before', sa.Text(), nullable=False),
    sa.Column('profiles_after', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_authorisation_history')),
    )
    op.create_index(op.f('ix_authorisation_history_username'), 'authorisation_history',
                    ['username'])


def downgrade() -> None:
    op.drop_index(op.f('ix_authorisation_history_username'), table_name='authorisation_history')
    op.drop_table('authorisation_history')
    op.drop_table('user_role_profiles')
