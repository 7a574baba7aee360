"""phases run themselves: leads' actions in phase_control (phase.status goes), the controller's lease and state

A phase that was `paused` or `rolled_back` in the old status column becomes held or rolled back in
phase_control, so that a plan keeps what its leads decided; the other statuses follow from time now.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    control = op.create_table('phase_control',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('phase_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('kept', sa.Boolean(), nullable=False),
    sa.Column('cause', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'phase_key')
    )
    with op.batch_alter_table('phase_control', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phase_control_plan_id'), ['plan_id'], unique=False)

    phase = sa.table('phase', sa.column('plan_id', sa.Integer), sa.column('key', sa.String),
                     sa.column('status', sa.String))
    now = datetime.now(UTC)
    rows = op.get_bind().execute(sa.select(phase.c.plan_id, phase.c.key, phase.c.status)
                                 .where(phase.c.status.in_(['paused', 'rolled_back']))).all()
    if rows:
        op.bulk_insert(control, [
            {'plan_id': plan_id, 'phase_key': key, 'state': 'held' if status == 'paused' else 'rolled_back',
             'since': now, 'kept': False, 'cause': '', 'started_at': None,
             'reason': f'was {status.replace("_", " ")} before phases ran themselves (migration 0005)',
             'actor': 'migration', 'status': '', 'updated_at': now}
            for plan_id, key, status in rows])
    with op.batch_alter_table('phase', schema=None) as batch_op:
        batch_op.drop_column('status')

    # the controller: one leader among all processes, a plan's sync mode and what the controller found
    op.create_table('leader_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sync_mode', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='auto',
                                      nullable=False))
        batch_op.add_column(sa.Column('sync_state', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('sync_state_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sync_state_detail', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('pending_changes', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), server_default='',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_column('digest')
    with op.batch_alter_table('plan', schema=None) as batch_op:
        for column in ('pending_changes', 'sync_state_detail', 'sync_state_at', 'sync_state', 'sync_mode'):
            batch_op.drop_column(column)
    op.drop_table('leader_lease')
    with op.batch_alter_table('phase', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default='planned'))
    control = sa.table('phase_control', sa.column('plan_id', sa.Integer), sa.column('phase_key', sa.String),
                       sa.column('state', sa.String))
    phase = sa.table('phase', sa.column('plan_id', sa.Integer), sa.column('key', sa.String),
                     sa.column('status', sa.String))
    bind = op.get_bind()
    for plan_id, key, state in bind.execute(sa.select(control.c.plan_id, control.c.phase_key, control.c.state)
                                            .where(control.c.state != '')).all():
        bind.execute(phase.update().where(phase.c.plan_id == plan_id, phase.c.key == key)
                     .values(status='paused' if state == 'held' else 'rolled_back'))
    with op.batch_alter_table('phase_control', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phase_control_plan_id'))
    op.drop_table('phase_control')
