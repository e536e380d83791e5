"""vectors out of the catalog: embeddings point at rows of .npy shards under vectors/<space>/

Every space's blobs are streamed, `PAGE` rows at a time (never all in memory), into shards of at most
`SHARD_ROWS` rows written atomically under the workspace's `vectors/` folder; each embedding row gets its
(shard_id, row) and the blob column is dropped. `db.upgrade` runs this in one transaction (SQLite included):
a kill mid-way leaves the old catalog untouched, and the shard files already written are orphans that the
next index checkpoint deletes (`indexer.vectors.store.remove_orphans`). Downgrade puts the blobs back (the
shard files stay, unreferenced). Needs the workspace folder (`db.upgrade(engine, home)`; for a SQLite catalog
its folder is assumed).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:00:00.000000
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlalchemy as sa
from alembic import op

from indexer.layout import WorkspaceLayout
from indexer.vectors import store as vector_store

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

PAGE = 16_384  # blobs read per query
SHARD_ROWS = 1 << 20  # rows per shard written

spaces_t = sa.table('spaces', sa.column('id', sa.Integer), sa.column('name', sa.String), sa.column('dim', sa.Integer))
shards_t = sa.table('vector_shards', sa.column('id', sa.Integer), sa.column('space_id', sa.Integer),
                    sa.column('file', sa.Text), sa.column('rows', sa.BigInteger), sa.column('dim', sa.Integer),
                    sa.column('bytes', sa.BigInteger), sa.column('created_at', sa.DateTime(timezone=True)))
emb_t = sa.table('embeddings', sa.column('image_id', sa.Integer), sa.column('space_id', sa.Integer),
                 sa.column('vector', sa.LargeBinary), sa.column('shard_id', sa.Integer), sa.column('row', sa.BigInteger))


def _layout() -> WorkspaceLayout:
    """The workspace's folders: the home StyleLens passes, else the folder of a SQLite catalog file (a workspace
    keeps its catalog at its top, e.g. when the alembic command line runs this)."""
    home = op.get_context().config.attributes.get('workspace_home')
    url = op.get_bind().engine.url
    if home is None and url.get_backend_name() == 'sqlite' and url.database not in (None, '', ':memory:'):
        home = Path(url.database.removeprefix('file:')).parent
    if home is None:
        raise RuntimeError("migration 0006 moves the vectors into the workspace folder: run it through StyleLens "
                           "(opening the workspace), or set config.attributes['workspace_home']")
    return WorkspaceLayout(Path(home))


def upgrade() -> None:
    op.create_table('vector_shards',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('space_id', sa.Integer(), nullable=False),
                    sa.Column('file', sa.Text(), nullable=False),
                    sa.Column('rows', sa.BigInteger(), nullable=False),
                    sa.Column('dim', sa.Integer(), nullable=False),
                    sa.Column('bytes', sa.BigInteger(), nullable=False),
                    sa.Column('dead', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.ForeignKeyConstraint(['space_id'], ['spaces.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_vector_shards_space_id', 'vector_shards', ['space_id'], unique=False)
    with op.batch_alter_table('embeddings') as b:  # plain ADD COLUMNs: no table rebuild yet
        b.add_column(sa.Column('shard_id', sa.Integer(), nullable=True))
        b.add_column(sa.Column('row', sa.BigInteger(), nullable=True))
    layout = _layout()
    bind = op.get_bind()
    for space_id, name, dim in bind.execute(sa.select(spaces_t.c.id, spaces_t.c.name, spaces_t.c.dim)).all():
        _move_space(bind, layout, space_id, name, dim)
    with op.batch_alter_table('embeddings') as b:
        b.drop_column('vector')
        b.alter_column('shard_id', existing_type=sa.Integer(), nullable=False)
        b.alter_column('row', existing_type=sa.BigInteger(), nullable=False)
        b.create_foreign_key('fk_embeddings_shard_id', 'vector_shards', ['shard_id'], ['id'])
        b.create_index('ix_embeddings_shard_row', ['shard_id', 'row'], unique=False)
        # a space's ids and count without scanning every space's rows (the primary key leads with image_id)
        b.create_index('ix_embeddings_space_image', ['space_id', 'image_id'], unique=False)


def _move_space(bind: sa.Connection, layout: WorkspaceLayout, space_id: int, name: str, dim: int) -> None:
    """Write one space's blobs into shards (image-id order) and point its embeddings at them."""
    total = bind.execute(sa.select(sa.func.count()).select_from(emb_t).where(emb_t.c.space_id == space_id)).scalar()
    after = -1
    for start in range(0, total, SHARD_ROWS):
        size = min(SHARD_ROWS, total - start)
        first = bind.execute(sa.select(sa.func.min(emb_t.c.image_id))
                             .where(emb_t.c.space_id == space_id, emb_t.c.image_id > after)).scalar()
        file = vector_store.new_shard_file(name, first)
        shard_id = bind.execute(sa.insert(shards_t).values(space_id=space_id, file=file, rows=size, dim=dim, bytes=0,
                                                           created_at=sa.func.now()).returning(shards_t.c.id)).scalar()
        last: list[int] = [after]

        def pages(shard_id: int = shard_id, size: int = size, last: list[int] = last):  # noqa: ANN202
            done = 0
            while done < size:
                rows = bind.execute(sa.select(emb_t.c.image_id, emb_t.c.vector)
                                    .where(emb_t.c.space_id == space_id, emb_t.c.image_id > last[0])
                                    .order_by(emb_t.c.image_id).limit(min(PAGE, size - done))).all()
                if not rows:
                    raise RuntimeError(f"space {name}: embeddings changed during the migration")
                bad = next((i for i, blob in rows if blob is None or len(blob) != 4 * dim), None)
                if bad is not None:
                    raise RuntimeError(f"image {bad}'s {name} vector is not {dim} float32 values; nothing was changed")
                bind.execute(sa.update(emb_t).where(emb_t.c.image_id == sa.bindparam('iid'),
                                                    emb_t.c.space_id == space_id)
                             .values(shard_id=shard_id, row=sa.bindparam('r')),
                             [{"iid": i, "r": done + n} for n, (i, _blob) in enumerate(rows)])
                done += len(rows)
                last[0] = rows[-1][0]
                yield np.frombuffer(b"".join(blob for _i, blob in rows), dtype=np.float32).reshape(len(rows), dim)

        nbytes = vector_store.write_shard(vector_store.shard_path(layout, file), pages(), size, dim)
        bind.execute(sa.update(shards_t).where(shards_t.c.id == shard_id).values(bytes=nbytes))
        after = last[0]


def downgrade() -> None:
    layout = _layout()
    bind = op.get_bind()
    with op.batch_alter_table('embeddings') as b:
        b.add_column(sa.Column('vector', sa.LargeBinary(), nullable=True))
    for shard_id, file, dim in bind.execute(sa.select(shards_t.c.id, shards_t.c.file, shards_t.c.dim)).all():
        matrix = np.load(vector_store.shard_path(layout, file), mmap_mode='r')
        after = -1
        while True:
            rows = bind.execute(sa.select(emb_t.c.image_id, emb_t.c.space_id, emb_t.c.row)
                                .where(emb_t.c.shard_id == shard_id, emb_t.c.image_id > after)
                                .order_by(emb_t.c.image_id).limit(PAGE)).all()
            if not rows:
                break
            bind.execute(sa.update(emb_t).where(emb_t.c.image_id == sa.bindparam('iid'),
                                                emb_t.c.space_id == sa.bindparam('sid'))
                         .values(vector=sa.bindparam('blob')),
                         [{"iid": i, "sid": s, "blob": np.asarray(matrix[r], dtype='<f4').tobytes()} for i, s, r in rows])
            after = rows[-1][0]
        del matrix
    with op.batch_alter_table('embeddings') as b:
        b.drop_index('ix_embeddings_space_image')
        b.drop_index('ix_embeddings_shard_row')
        b.drop_constraint('fk_embeddings_shard_id', type_='foreignkey')
        b.drop_column('shard_id')
        b.drop_column('row')
        b.alter_column('vector', existing_type=sa.LargeBinary(), nullable=False)
    op.drop_index('ix_vector_shards_space_id', table_name='vector_shards')
    op.drop_table('vector_shards')
