"""person fields: a person's identity sealed under their own data key, keyed hashes to find
them, and the restrictions of processing in force

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 05:30:00

Rows written before are converted in place: each NIR and identity sealed under its person's
key (the same key as their dossier workflows), then the clear columns are dropped. Converting
needs the process's keys (its environment), which a fresh database never does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_CLEAR = ('birth_name', 'usage_name', 'first_names', 'birth_date', 'sex', 'email', 'phone')


def upgrade() -> None:
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('identity_sealed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('name_terms', sa.Text(), nullable=False,
                                      server_default=' '))
        batch_op.add_column(sa.Column('identity_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_persons_identity_hash'), ['identity_hash'],
                              unique=False)
    _seal_existing_rows()
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index('ix_persons_birth_name')
        for name in _CLEAR:
            batch_op.drop_column(name)
    op.create_table(
        'processing_restrictions',
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('nir_hash', sa.String(length=64), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('request_id', 'nir_hash', name=op.f('pk_processing_restrictions')),
    )
    with op.batch_alter_table('processing_restrictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processing_restrictions_nir_hash'), ['nir_hash'],
                              unique=False)


def _seal_existing_rows() -> None:
    connection = op.get_bind()
    persons = sa.table('persons', sa.column('id', sa.Integer), sa.column('nir_hash', sa.String),
                       sa.column('nir_encrypted', sa.LargeBinary),
                       sa.column('erased_at', sa.DateTime),
                       *(sa.column(name, sa.String) for name in _CLEAR),
                       sa.column('key_id', sa.String),
                       sa.column('identity_sealed', sa.LargeBinary),
                       sa.column('name_terms', sa.Text), sa.column('identity_hash', sa.String))
    rows = connection.execute(sa.select(persons).where(persons.c.erased_at.is_(None))).all()
    if not rows:
        return
    # Imported here: only a store holding persons needs the keys (and the environment).
    from crypto.codec import open_keys
    from settings import load
    from store.crypto import cipher_for, open_nir
    from store.person_fields import Identity, PersonFields

    settings = load()
    cipher = cipher_for(settings)
    fields = PersonFields(cipher, open_keys(settings))
    for row in rows:
        identity = Identity(**{name: getattr(row, name) for name in _CLEAR})
        nir = open_nir(cipher, row.nir_encrypted, row.nir_hash)
        connection.execute(persons.update().where(persons.c.id == row.id)
                           .values(**fields.columns(nir, row.nir_hash, identity)))


def downgrade() -> None:
    """Back to clear columns and NIRs under the store's key, each opened with its person's
    key (an erased one, or one whose key is gone, comes back blank)."""
    op.drop_table('processing_restrictions')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        for column in (sa.Column('birth_name', sa.String(length=200), nullable=False,
                                 server_default=''),
                       sa.Column('usage_name', sa.String(length=200), nullable=True),
                       sa.Column('first_names', sa.String(length=200), nullable=False,
                                 server_default=''),
                       sa.Column('birth_date', sa.String(length=10), nullable=False,
                                 server_default=''),
                       sa.Column('sex', sa.String(length=1), nullable=False, server_default='-'),
                       sa.Column('email', sa.String(length=320), nullable=True),
                       sa.Column('phone', sa.String(length=32), nullable=True)):
            batch_op.add_column(column)
        batch_op.create_index('ix_persons_birth_name', ['birth_name'], unique=False)
    _open_existing_rows()
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_identity_hash'))
        for name in ('identity_hash', 'name_terms', 'identity_sealed', 'key_id'):
            batch_op.drop_column(name)


def _open_existing_rows() -> None:
    connection = op.get_bind()
    persons = sa.table('persons', sa.column('id', sa.Integer), sa.column('nir_hash', sa.String),
                       sa.column('nir_encrypted', sa.LargeBinary),
                       sa.column('key_id', sa.String),
                       sa.column('identity_sealed', sa.LargeBinary),
                       *(sa.column(name, sa.String) for name in _CLEAR))
    rows = connection.execute(sa.select(persons).where(
        persons.c.identity_sealed.is_not(None))).all()
    if not rows:
        return
    from dataclasses import asdict

    from crypto.codec import open_keys
    from settings import load
    from store.crypto import cipher_for, seal_nir
    from store.person_fields import PersonFields

    settings = load()
    cipher = cipher_for(settings)
    fields = PersonFields(cipher, open_keys(settings))
    for row in rows:
        # The NIR back under the store's key too (an erased person's: the placeholder).
        nir = seal_nir(cipher, fields.nir(row), row.nir_hash)  # type: ignore[arg-type]
        connection.execute(persons.update().where(persons.c.id == row.id).values(
            nir_encrypted=nir, **asdict(fields.open(row))))  # type: ignore[arg-type]
