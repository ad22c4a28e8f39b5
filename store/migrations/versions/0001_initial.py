"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 12:07:42.968425
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('persons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nir_hash', sa.String(length=64), nullable=False),
    sa.Column('nir_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('birth_name', sa.String(length=200), nullable=False),
    sa.Column('usage_name', sa.String(length=200), nullable=True),
    sa.Column('first_names', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.String(length=10), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons')),
    sa.UniqueConstraint('nir_hash', name=op.f('uq_persons_nir_hash'))
    )
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_persons_birth_name'), ['birth_name'], unique=False)

    op.create_table('roles',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_roles'))
    )
    op.create_table('training_organisations',
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('siret', name=op.f('pk_training_organisations'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('auth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auth_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_tokens_token_hash'))
    )
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('dossiers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('action_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('duration_hours', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.String(length=10), nullable=False),
    sa.Column('end_date', sa.String(length=10), nullable=False),
    sa.Column('certification_code', sa.String(length=32), nullable=True),
    sa.Column('purchase_mode', sa.String(length=32), nullable=False),
    sa.Column('price', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('agora_dossier_id', sa.String(length=64), nullable=True),
    sa.Column('entry_date', sa.String(length=10), nullable=True),
    sa.Column('registration_fault', sa.Text(), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('manager', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_dossiers_person_id_persons')),
    sa.ForeignKeyConstraint(['siret'], ['training_organisations.siret'], name=op.f('fk_dossiers_siret_training_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossiers'))
    )
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossiers_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossiers_entry_date'), ['entry_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossiers_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossiers_siret'), ['siret'], unique=False)
        batch_op.create_index(batch_op.f('ix_dossiers_state'), ['state'], unique=False)

    op.create_table('nir_unmaskings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_nir_unmaskings_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nir_unmaskings'))
    )
    with op.batch_alter_table('nir_unmaskings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nir_unmaskings_username'), ['username'], unique=False)

    op.create_table('user_roles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role_code', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['role_code'], ['roles.code'], name=op.f('fk_user_roles_role_code_roles')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_roles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role_code', name=op.f('pk_user_roles'))
    )
    op.create_table('timeline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('acting_user', sa.String(length=64), nullable=True),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=200), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('state_after', sa.String(length=16), nullable=False),
    sa.Column('ack_id', sa.String(length=64), nullable=False),
    sa.Column('fault_code', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_timeline_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline')),
    sa.UniqueConstraint('dossier_id', 'seq', name=op.f('uq_timeline_dossier_id'))
    )
    # Roles are data the code checks against: frozen here, not imported from the models.
    roles = sa.table('roles', sa.column('code', sa.String), sa.column('label', sa.String))
    op.bulk_insert(roles, [
        {'code': 'dossier_manager', 'label': 'Gestionnaire de dossiers'},
        {'code': 'market_manager', 'label': 'Gestionnaire de marchés'},
        {'code': 'operator', 'label': 'Opérateur'},
        {'code': 'auditor', 'label': 'Auditeur (officier de sécurité)'},
        {'code': 'administrator', 'label': 'Administrateur'},
    ])


def downgrade() -> None:
    op.drop_table('timeline')
    op.drop_table('user_roles')
    with op.batch_alter_table('nir_unmaskings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nir_unmaskings_username'))

    op.drop_table('nir_unmaskings')
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossiers_state'))
        batch_op.drop_index(batch_op.f('ix_dossiers_siret'))
        batch_op.drop_index(batch_op.f('ix_dossiers_person_id'))
        batch_op.drop_index(batch_op.f('ix_dossiers_entry_date'))
        batch_op.drop_index(batch_op.f('ix_dossiers_created_at'))

    op.drop_table('dossiers')
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_tokens_user_id'))

    op.drop_table('auth_tokens')
    op.drop_table('users')
    op.drop_table('training_organisations')
    op.drop_table('roles')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_birth_name'))

    op.drop_table('persons')
