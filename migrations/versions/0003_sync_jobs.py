"""sync runs become jobs: a state any process can show, progress, a heartbeat

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.alter_column('outcome', new_column_name='state', existing_type=sa.String(),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('progress_done', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('progress_total', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('heartbeat_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE sync_run SET state = 'done' WHERE state = 'ok'")
    op.execute("UPDATE sync_run SET state = 'abandoned' WHERE state = 'interrupted'")


def downgrade() -> None:
    op.execute("UPDATE sync_run SET state = 'ok' WHERE state = 'done'")
    op.execute("UPDATE sync_run SET state = 'interrupted' WHERE state IN ('abandoned', 'queued')")
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('progress_total')
        batch_op.drop_column('progress_done')
        batch_op.alter_column('state', new_column_name='outcome', existing_type=sa.String(),
                              existing_nullable=False)
