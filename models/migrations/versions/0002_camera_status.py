"""camera status: per-camera health written by the monitor workers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('camera_status',
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('quality', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('health', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('camera_id')
    )


def downgrade() -> None:
    op.drop_table('camera_status')
