"""kpis: definitions in full, events, entered values, served counts, gate state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('served_hour',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flag', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('environment', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('app', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('hour', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('yes', sa.Integer(), nullable=False),
    sa.Column('no', sa.Integer(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flag', 'environment', 'app', 'hour')
    )
    with op.batch_alter_table('served_hour', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_served_hour_flag'), ['flag'], unique=False)

    op.create_table('kpi_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('kpi_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'idempotency_key')
    )
    with op.batch_alter_table('kpi_event', schema=None) as batch_op:
        batch_op.create_index('ix_kpi_event_plan_kpi_at', ['plan_id', 'kpi_key', 'at'], unique=False)

    op.create_table('kpi_value',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('kpi_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sample', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kpi_value', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kpi_value_plan_id'), ['plan_id'], unique=False)

    with op.batch_alter_table('kpi', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('aggregation', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('window', sqlmodel.sql.sqltypes.AutoString(length=80), server_default='', nullable=False))
        batch_op.add_column(sa.Column('cohort', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
        batch_op.add_column(sa.Column('min_sample', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('scale', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('feature', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))

    with op.batch_alter_table('phase_control', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gate', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('gate_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('gate_by', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('gate_reason', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('verdict_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('verdict_text', sa.Text(), server_default='', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('phase_control', schema=None) as batch_op:
        batch_op.drop_column('verdict_text')
        batch_op.drop_column('verdict_at')
        batch_op.drop_column('verdict')
        batch_op.drop_column('gate_reason')
        batch_op.drop_column('gate_by')
        batch_op.drop_column('gate_at')
        batch_op.drop_column('gate')

    with op.batch_alter_table('kpi', schema=None) as batch_op:
        batch_op.drop_column('feature')
        batch_op.drop_column('scale')
        batch_op.drop_column('min_sample')
        batch_op.drop_column('cohort')
        batch_op.drop_column('window')
        batch_op.drop_column('aggregation')
        batch_op.drop_column('unit')

    with op.batch_alter_table('kpi_value', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kpi_value_plan_id'))

    op.drop_table('kpi_value')
    with op.batch_alter_table('kpi_event', schema=None) as batch_op:
        batch_op.drop_index('ix_kpi_event_plan_kpi_at')

    op.drop_table('kpi_event')
    with op.batch_alter_table('served_hour', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_served_hour_flag'))

    op.drop_table('served_hour')
