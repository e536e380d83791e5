"""The indexing job: good and bad files, incremental re-runs, duplicates, index snapshots."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_consistent, catalog_paths
from corpus_factory import pattern_image, write_mixed_corpus
from sqlalchemy import select

from indexer.catalog.schema import ImageRecord, IndexSnapshot
from indexer.index_sync import checkpoint, load_index
from indexer.pipeline.run import index_paths
from indexer.spaces import get_space, set_index_factory
from indexer.vectors.selection import InvalidFactoryError
from indexer.status import workspace_status
from indexer.workspace import WorkspaceError


def _statuses(ws) -> dict[str, tuple[str, str | None]]:
    with ws.session() as s:
        rows = {i: (st, err) for i, st, err in s.execute(select(ImageRecord.id, ImageRecord.status, ImageRecord.error))}
    return {p: rows[i] for p, i in catalog_paths(ws).items()}


def test_mixed_corpus_indexes_every_good_file_and_records_every_bad_one(workspace, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    good, bad = write_mixed_corpus(root)
    reports: list[tuple[int, int]] = []
    summary = index_paths(workspace, [str(root)], "mixed", profile="tiny", workers=1, progress=False,
                          on_progress=lambda done, total: reports.append((done, total)))
    statuses = _statuses(workspace)
    total = reports[0][1]  # files handed to the decoders: all but those the scan already rejected
    assert reports[0] == (0, total) and reports[-1] == (total, total) and total > 0
    assert [d for d, _ in reports] == sorted({d for d, _ in reports}) and {t for _, t in reports} == {total}
    for name in good:
        status, error = statuses[os.path.join(str(root), name)]
        assert status in ("indexed", "duplicate"), (name, error)
    for name, expect in bad.items():
        if expect.stage == "direct":
            continue
        status, error = statuses[os.path.join(str(root), name).encode("utf-8", "surrogateescape").decode(
            "utf-8", "backslashreplace")] if "\udcff" in name else statuses[os.path.join(str(root), name)]
        assert status == "failed" and expect.reason in error, (name, error)
    n_bad = sum(1 for b in bad.values() if b.stage != "direct")
    assert summary.failed == n_bad == len(summary.failures)
    assert summary.added + summary.duplicates == len(good)
    assert summary.ignored == 1  # readme.txt
    indexed = assert_consistent(workspace)
    assert len(indexed) == summary.added
    again = index_paths(workspace, [str(root)], "mixed", workers=0, progress=False)
    assert (again.failed, again.added, again.updated) == (0, 0, 0)  # recorded failures are not retried
    assert again.unchanged == summary.added + summary.duplicates + summary.failed


def _write(path: Path, seed: int, size: int = 96) -> None:
    rng = np.random.default_rng(seed)
    colours = tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))
    pattern_image((size, size), colours).save(path)


def test_rerun_touches_only_new_changed_and_deleted_files(workspace, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(6):
        _write(root / f"img{i}.png", i)
    first = index_paths(workspace, [str(root)], "photos", profile="tiny", workers=0, progress=False)
    assert (first.added, first.updated, first.removed, first.unchanged) == (6, 0, 0, 0)
    ids_before = {p: st for p, st in _statuses(workspace).items()}
    again = index_paths(workspace, [str(root)], "photos", workers=0, progress=False)
    assert (again.added, again.updated, again.removed, again.unchanged, again.failed) == (0, 0, 0, 6, 0)

    old = catalog_paths(workspace)
    _write(root / "img1.png", 100)  # changed content
    os.utime(root / "img1.png", ns=(1, 1))
    (root / "img2.png").unlink()  # deleted
    _write(root / "new.png", 200)  # new
    third = index_paths(workspace, [str(root)], "photos", workers=0, progress=False)
    assert (third.added, third.updated, third.removed, third.unchanged) == (1, 1, 1, 4)
    now = catalog_paths(workspace)
    assert now[str(root / "img1.png")] == old[str(root / "img1.png")]  # updated in place, same id
    assert str(root / "img2.png") not in now
    indexed = assert_consistent(workspace)
    assert old[str(root / "img2.png")] not in indexed and len(indexed) == 6
    assert set(ids_before) - set(now) == {str(root / "img2.png")}


def test_exact_duplicates_are_stored_once_and_promoted_when_the_original_goes(workspace, tmp_path: Path) -> None:
    root = tmp_path / "dups"
    root.mkdir()
    _write(root / "a.png", 1)
    shutil.copy(root / "a.png", root / "b.png")
    shutil.copy(root / "a.png", root / "c.png")
    _write(root / "other.png", 2)
    summary = index_paths(workspace, [str(root)], "dups", profile="tiny", workers=0, progress=False)
    assert (summary.added, summary.duplicates) == (2, 2)
    statuses = _statuses(workspace)
    assert statuses[str(root / "a.png")][0] == "indexed"
    assert statuses[str(root / "b.png")][0] == statuses[str(root / "c.png")][0] == "duplicate"
    content = get_space(workspace, "content")
    before = load_index(workspace, content)
    (root / "a.png").unlink()
    index_paths(workspace, [str(root)], "dups", workers=0, progress=False)
    statuses = _statuses(workspace)
    assert statuses[str(root / "b.png")][0] == "indexed" and statuses[str(root / "c.png")][0] == "duplicate"
    assert_consistent(workspace)
    paths = catalog_paths(workspace)
    with workspace.session() as s:
        c_dup = s.scalar(select(ImageRecord.duplicate_of).where(ImageRecord.id == paths[str(root / "c.png")]))
    b_id = paths[str(root / "b.png")]
    assert c_dup == b_id
    after = load_index(workspace, content)
    assert before.ntotal == after.ntotal == 2
    # the new original changes content: its duplicate c takes over its old bytes, b gets new vectors
    _write(root / "b.png", 77)
    os.utime(root / "b.png", ns=(5, 5))
    summary = index_paths(workspace, [str(root)], "dups", workers=0, progress=False)
    assert (summary.updated, summary.unchanged) == (1, 2)
    statuses = _statuses(workspace)
    assert statuses[str(root / "b.png")][0] == statuses[str(root / "c.png")][0] == "indexed"
    assert len(assert_consistent(workspace)) == 3


def test_missing_root_keeps_its_catalog_entries(workspace, tmp_path: Path) -> None:
    root = tmp_path / "drive"
    root.mkdir()
    _write(root / "x.png", 3)
    index_paths(workspace, [str(root)], "drive", profile="tiny", workers=0, progress=False)
    shutil.rmtree(root)
    summary = index_paths(workspace, [str(root)], "drive", workers=0, progress=False)
    assert summary.removed == 0 and summary.failed == 0 and summary.kept_missing_roots == [str(root)]
    assert len(assert_consistent(workspace)) == 1
    assert set(_statuses(workspace)) == {str(root / "x.png")}


def test_a_missing_path_the_corpus_never_had_is_refused_before_anything_is_written(workspace, tmp_path) -> None:
    root = tmp_path / "drive"
    root.mkdir()
    _write(root / "x.png", 3)
    index_paths(workspace, [str(root)], "drive", profile="tiny", workers=0, progress=False)
    before = workspace_status(workspace)
    for corpus in ("drive", "new"):  # a typo beside a known corpus, and a new corpus from a typo
        with pytest.raises(WorkspaceError, match=r"drvie does not exist; check the path"):
            index_paths(workspace, [str(tmp_path / "drvie")], corpus, profile="tiny", workers=0, progress=False)
    assert workspace_status(workspace) == before  # no corpus, root or record was added


def test_forced_factory_and_corrupt_snapshot_are_handled(workspace, tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    for i in range(12):
        _write(root / f"{i}.png", i)
    index_paths(workspace, [str(root)], "c", profile="tiny", workers=0, progress=False)
    set_index_factory(workspace, "content", "HNSW16")
    content = get_space(workspace, "content")
    snap = checkpoint(workspace, content)
    assert snap.kind == "hnsw" and snap.ntotal == 12
    (root / "3.png").unlink()  # a removal from an HNSW index
    index_paths(workspace, [str(root)], "c", workers=0, progress=False)
    assert len(assert_consistent(workspace)) == 11
    with workspace.session() as s:
        file = s.scalar(select(IndexSnapshot.file).where(IndexSnapshot.space_id == content.id,
                                                         IndexSnapshot.is_current.is_(True)))
    path = workspace.index_dir / file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a torn file on disk
    assert len(load_index(workspace, content).ids()) == 11  # rebuilt from the catalog's vectors
    with pytest.raises(InvalidFactoryError, match="NotAnIndex42"):
        set_index_factory(workspace, "content", "NotAnIndex42")
    assert get_space(workspace, "content").index_factory == "HNSW16"  # a bad string is never kept


def test_profile_is_fixed_at_creation(workspace, tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    _write(root / "x.png", 1)
    index_paths(workspace, [str(root)], "p", profile="tiny", workers=0, progress=False)
    with pytest.raises(WorkspaceError, match="created with profile 'tiny'"):
        index_paths(workspace, [str(root)], "p", profile="starter", workers=0, progress=False)
    with pytest.raises(WorkspaceError, match="role"):
        index_paths(workspace, [str(root)], "p", role="style", workers=0, progress=False)


def test_encoders_can_be_chosen_per_space_for_a_new_workspace(workspace, tmp_path: Path) -> None:
    root = tmp_path / "e"
    root.mkdir()
    _write(root / "x.png", 1)
    with pytest.raises(Exception, match="(?i)unknown|known"):
        index_paths(workspace, [str(root)], "e", profile="tiny", encoders={"content": "tiny/nope"}, workers=0,
                    progress=False)
    assert workspace.get_setting("profile") is None  # a bad id leaves nothing half-created
    index_paths(workspace, [str(root)], "e", profile="tiny", encoders={"content": "tiny/open_clip"}, workers=0,
                progress=False)
    assert get_space(workspace, "content").encoder_id == "tiny/open_clip"
    assert get_space(workspace, "style").encoder_id == "tiny/magenta-style"
    with pytest.raises(WorkspaceError, match="uses 'tiny/open_clip'"):
        index_paths(workspace, [str(root)], "e", encoders={"content": "tiny/efficientnet-lite"}, workers=0,
                    progress=False)
