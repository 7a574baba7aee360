"""the strategy in full: goals per stakeholder, interests as a list, what each feature serves, resources

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('goal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('stakeholder', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('cohorts', sa.JSON(), nullable=False),
    sa.Column('kpis', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'key')
    )
    with op.batch_alter_table('goal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_plan_id'), ['plan_id'], unique=False)

    # a cohort's interests: one text ("a; b") becomes a list (["a", "b"]), kept in a new column
    with op.batch_alter_table('cohort', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interest_list', sa.JSON(), server_default='[]', nullable=False))
    cohort = sa.table('cohort', sa.column('id', sa.Integer()), sa.column('interests', sa.Text()),
                      sa.column('interest_list', sa.JSON()))
    connection = op.get_bind()
    for row_id, text in connection.execute(sa.select(cohort.c.id, cohort.c.interests)).all():
        tags = [t.strip() for t in (text or "").replace("\n", ";").split(";") if t.strip()]
        connection.execute(cohort.update().where(cohort.c.id == row_id).values(interest_list=tags))
    with op.batch_alter_table('cohort', schema=None) as batch_op:
        batch_op.drop_column('interests')
        batch_op.alter_column('interest_list', new_column_name='interests')

    with op.batch_alter_table('feature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('serves', sa.JSON(), server_default='[]', nullable=False))

    with op.batch_alter_table('phase', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community_managers', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('spent', sa.Float(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('phase', schema=None) as batch_op:
        batch_op.drop_column('spent')
        batch_op.drop_column('community_managers')

    with op.batch_alter_table('feature', schema=None) as batch_op:
        batch_op.drop_column('serves')

    with op.batch_alter_table('cohort', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interest_text', sa.Text(), server_default='', nullable=False))
    cohort = sa.table('cohort', sa.column('id', sa.Integer()), sa.column('interests', sa.JSON()),
                      sa.column('interest_text', sa.Text()))
    connection = op.get_bind()
    for row_id, tags in connection.execute(sa.select(cohort.c.id, cohort.c.interests)).all():
        connection.execute(cohort.update().where(cohort.c.id == row_id).values(interest_text="; ".join(tags or [])))
    with op.batch_alter_table('cohort', schema=None) as batch_op:
        batch_op.drop_column('interests')
        batch_op.alter_column('interest_text', new_column_name='interests')

    with op.batch_alter_table('goal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goal_plan_id'))

    op.drop_table('goal')
