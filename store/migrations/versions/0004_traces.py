"""traces: the AGORA exchange log, the identity-vector archive, the audit journal of
consultations (hash-chained), signed checkpoints and legal holds

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _chained() -> list[sa.Column]:
    return [
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', sa.String(length=40), nullable=False),
        sa.Column('content_digest', sa.String(length=64), nullable=False),
        sa.Column('prev_digest', sa.String(length=64), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('redacted_at', sa.String(length=40), nullable=True),
    ]


def upgrade() -> None:
    op.create_table('agora_traces', *_chained(),
    sa.Column('received_at', sa.String(length=40), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('dossier_id', sa.String(length=64), nullable=True),
    sa.Column('market_id', sa.String(length=64), nullable=True),
    sa.Column('acting_user', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=200), nullable=True),
    sa.Column('vector_id', sa.String(length=80), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('fault_code', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_agora_traces')),
    )
    op.create_index('ix_agora_traces_dossier_at', 'agora_traces', ['dossier_id', 'at'])
    op.create_index('ix_agora_traces_market_at', 'agora_traces', ['market_id', 'at'])
    op.create_index('ix_agora_traces_at', 'agora_traces', ['at'])
    op.create_index(op.f('ix_agora_traces_acting_user'), 'agora_traces', ['acting_user'])
    op.create_index(op.f('ix_agora_traces_vector_id'), 'agora_traces', ['vector_id'])

    op.create_table('identity_vectors', *_chained(),
    sa.Column('assertion_id', sa.String(length=80), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('pagm', sa.Text(), nullable=False),
    sa.Column('not_before', sa.String(length=40), nullable=False),
    sa.Column('not_on_or_after', sa.String(length=40), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_identity_vectors')),
    sa.UniqueConstraint('assertion_id', name=op.f('uq_identity_vectors_assertion_id')),
    )

    op.create_table('audit_journal', *_chained(),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('records', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_journal')),
    )
    op.create_index(op.f('ix_audit_journal_username'), 'audit_journal', ['username'])

    op.create_table('trace_chain_heads',
    sa.Column('chain', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_trace_chain_heads')),
    )

    op.create_table('trace_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('first_seq', sa.Integer(), nullable=False),
    sa.Column('anchor_digest', sa.String(length=64), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('certificate', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_checkpoints')),
    )
    op.create_index(op.f('ix_trace_checkpoints_chain'), 'trace_checkpoints', ['chain'])

    op.create_table('trace_legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.String(length=40), nullable=False),
    sa.Column('ends_at', sa.String(length=40), nullable=False),
    sa.Column('dossier_ids', sa.Text(), nullable=False),
    sa.Column('placed_by', sa.String(length=64), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('release_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_legal_holds')),
    )


def downgrade() -> None:
    for table in ('trace_legal_holds', 'trace_checkpoints', 'trace_chain_heads', 'audit_journal',
                  'identity_vectors', 'agora_traces'):
        op.drop_table(table)
