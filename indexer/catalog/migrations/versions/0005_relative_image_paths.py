"""image paths relative to their corpus root

Each image gets `root_id` (its corpus root) and its `path` becomes relative to that root; roots inside the
workspace home become relative to it. Ids, vectors and everything else stay as they are. `db.upgrade` runs
this in one transaction (SQLite included), so a kill mid-way leaves the old catalog untouched.

Revision ID: 0005
Revises: 0003 (re-chain after 0004 when branches merge)
Create Date: 2026-12-03 13:30:00.000000
"""
from __future__ import annotations

import os

from alembic import op
import sqlalchemy as sa

from indexer.catalog.paths import join_root, relative_to, root_abspath, stored_root

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s"}
roots_t = sa.table('corpus_roots', sa.column('id', sa.Integer), sa.column('corpus_id', sa.Integer),
                   sa.column('path', sa.Text))
images_t = sa.table('images', sa.column('id', sa.Integer), sa.column('corpus_id', sa.Integer),
                    sa.column('root_id', sa.Integer), sa.column('path', sa.Text), sa.column('relpath', sa.Text))


def _home() -> str | None:
    return op.get_context().config.attributes.get('workspace_home')


def _unique_name(columns: list[str]) -> str:
    """The name of images' unique constraint on `columns`; an unnamed one (SQLite's original table) is known
    to batch mode by NAMING's name."""
    bind = op.get_bind()
    for uq in sa.inspect(bind).get_unique_constraints('images'):
        if uq['column_names'] == columns:
            return uq['name'] or f"uq_images_{columns[0]}"
    raise RuntimeError(f"images has no unique constraint on {columns}")


def upgrade() -> None:
    with op.batch_alter_table('images') as b:  # plain ADD COLUMNs: no table rebuild yet
        b.add_column(sa.Column('root_id', sa.Integer(), nullable=True))
        b.add_column(sa.Column('relpath', sa.Text(), nullable=True))
    _split_paths()
    old_unique = _unique_name(['corpus_id', 'path'])
    with op.batch_alter_table('images', naming_convention=NAMING) as b:
        b.drop_constraint(old_unique, type_='unique')
        b.drop_column('path')
        b.create_unique_constraint('uq_images_root_id', ['root_id', 'relpath'])  # follows the rename below
        b.alter_column('relpath', new_column_name='path', existing_type=sa.Text(), nullable=False)
        b.alter_column('root_id', existing_type=sa.Integer(), nullable=False)
        b.create_foreign_key('fk_images_root_id', 'corpus_roots', ['root_id'], ['id'], ondelete='CASCADE')
    _relative_roots()


def _split_paths() -> None:
    """Fill root_id/relpath: each image goes to the innermost root of its corpus that holds it; an image under
    none (never written so, but be safe) gets its folder as a new root."""
    bind = op.get_bind()
    roots: dict[int, dict[int, str]] = {}
    for rid, cid, path in bind.execute(sa.select(roots_t.c.id, roots_t.c.corpus_id, roots_t.c.path)):
        roots.setdefault(cid, {})[rid] = path
    updates = []
    for iid, cid, path in bind.execute(sa.select(images_t.c.id, images_t.c.corpus_id, images_t.c.path)):
        found = _innermost(roots.get(cid, {}), path)
        if found is None:
            folder = os.path.dirname(path)
            rid = bind.execute(sa.insert(roots_t).values(corpus_id=cid, path=folder).returning(roots_t.c.id)).scalar()
            roots.setdefault(cid, {})[rid] = folder
            found = (rid, relative_to(folder, path))
        updates.append({"iid": iid, "rid": found[0], "rel": found[1]})
    if updates:
        bind.execute(sa.update(images_t).where(images_t.c.id == sa.bindparam('iid'))
                     .values(root_id=sa.bindparam('rid'), relpath=sa.bindparam('rel')), updates)


def _innermost(roots: dict[int, str], path: str) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for rid, root in sorted(roots.items(), key=lambda item: len(item[1])):
        rel = relative_to(root, path)
        if rel is not None:
            best = (rid, rel)
    return best


def _relative_roots() -> None:
    """Roots inside the workspace home are stored relative to it."""
    home = _home()
    if home is None:
        return
    bind = op.get_bind()
    for rid, path in bind.execute(sa.select(roots_t.c.id, roots_t.c.path)).all():
        if os.path.isabs(path) and stored_root(home, path) != path:
            bind.execute(sa.update(roots_t).where(roots_t.c.id == rid).values(path=stored_root(home, path)))


def downgrade() -> None:
    bind = op.get_bind()
    home = _home() or os.getcwd()
    roots = {rid: root_abspath(home, p) for rid, p in bind.execute(sa.select(roots_t.c.id, roots_t.c.path))}
    with op.batch_alter_table('images') as b:
        b.add_column(sa.Column('relpath', sa.Text(), nullable=True))  # holds the absolute path for a moment
    rows = bind.execute(sa.select(images_t.c.id, images_t.c.root_id, images_t.c.path)).all()
    if rows:
        bind.execute(sa.update(images_t).where(images_t.c.id == sa.bindparam('iid'))
                     .values(relpath=sa.bindparam('abs')),
                     [{"iid": i, "abs": join_root(roots[r], p)} for i, r, p in rows])
    for rid, path in roots.items():
        bind.execute(sa.update(roots_t).where(roots_t.c.id == rid).values(path=path))
    with op.batch_alter_table('images', naming_convention=NAMING) as b:
        b.drop_constraint('uq_images_root_id', type_='unique')
        b.drop_constraint('fk_images_root_id', type_='foreignkey')
        b.drop_column('path')
        b.drop_column('root_id')
        b.alter_column('relpath', new_column_name='path', existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table('images') as b:  # after the rename: in the same batch the constraint was lost
        b.create_unique_constraint('images_corpus_id_path_key', ['corpus_id', 'path'])
