"""images.taken_at: when a picture was taken (EXIF DateTimeOriginal, else file mtime), for date filters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:10:00.000000

Backfill: each existing row gets the EXIF date of its file when the file is still there and has one,
else the mtime the catalog recorded (`mtime_ns`), so date filters cover workspaces indexed before this.
"""
from alembic import op
import sqlalchemy as sa

from indexer.imaging.taken import file_taken_at

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.add_column(sa.Column('taken_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_images_taken_at', ['taken_at'], unique=False)
    images = sa.table('images', sa.column('id', sa.Integer), sa.column('path', sa.Text),
                      sa.column('mtime_ns', sa.BigInteger), sa.column('taken_at', sa.DateTime))
    conn = op.get_bind()
    rows = conn.execute(sa.select(images.c.id, images.c.path, images.c.mtime_ns)).all()
    for start in range(0, len(rows), _BATCH):
        values = [{"rid": rid, "taken": file_taken_at(path, mtime_ns)} for rid, path, mtime_ns in rows[start:start + _BATCH]]
        conn.execute(images.update().where(images.c.id == sa.bindparam("rid")).values(taken_at=sa.bindparam("taken")),
                     values)


def downgrade() -> None:
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index('ix_images_taken_at')
        batch_op.drop_column('taken_at')
