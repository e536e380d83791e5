"""The consistency report finds each kind of disagreement between catalog, stored vectors and indexes."""
from __future__ import annotations

from pathlib import Path

from corpus_factory import pattern_image
from sqlalchemy import delete, select, update

from indexer.catalog.schema import CorpusRoot, Embedding, ImageRecord
from indexer.consistency import check_consistency
from indexer.pipeline.run import index_paths


def _corpus(root: Path, n: int = 6) -> None:
    root.mkdir()
    for i in range(n):
        pattern_image((64, 64), ((i * 40, 0, 0), (0, 255 - i * 30, 0), (0, 0, 90), (200, 200, i * 20))).save(
            root / f"img{i}.png")


def test_an_indexed_workspace_is_consistent_and_each_break_is_named(workspace, tmp_path: Path) -> None:
    _corpus(tmp_path / "c")
    index_paths(workspace, [str(tmp_path / "c")], "c", profile="tiny", workers=0, progress=False)
    report = check_consistency(workspace)
    assert report.ok and len(report.indexed) == 6, report.problems
    with workspace.session() as s:
        first, second = s.scalars(select(ImageRecord.id).order_by(ImageRecord.id).limit(2))
        s.execute(delete(Embedding).where(Embedding.image_id == first))  # a vector lost
        s.execute(update(ImageRecord).where(ImageRecord.id == second).values(status="duplicate", duplicate_of=None))
    problems = check_consistency(workspace).problems
    assert "1 duplicate record(s) point to no original" in problems
    assert "content stored vectors: 1 indexed image(s) missing" in problems
    assert "content index: 1 id(s) not indexed in the catalog" in problems  # the demoted image is still there


def test_a_file_under_two_nested_roots_or_another_corpus_root_is_named(workspace, tmp_path: Path) -> None:
    _corpus(tmp_path / "c")
    (tmp_path / "c" / "sub").mkdir()
    pattern_image((64, 64)).save(tmp_path / "c" / "sub" / "x.png")
    index_paths(workspace, [str(tmp_path / "c")], "c", profile="tiny", workers=0, progress=False)
    _corpus(tmp_path / "d", 1)
    index_paths(workspace, [str(tmp_path / "d")], "d", workers=0, progress=False)
    with workspace.session() as s:
        x = s.scalar(select(ImageRecord).where(ImageRecord.path == "sub/x.png"))
        nested = CorpusRoot(corpus_id=x.corpus_id, path=str(tmp_path / "c" / "sub"))
        s.add(nested)
        s.flush()  # the same file again, relative to a root nested in its own
        s.add(ImageRecord(corpus_id=x.corpus_id, root_id=nested.id, path="x.png", bytes=1, mtime_ns=1, status="failed"))
        d_root = s.scalar(select(CorpusRoot.id).where(CorpusRoot.path == str(tmp_path / "d")))
        s.execute(update(ImageRecord).where(ImageRecord.id == x.id - 1).values(root_id=d_root))
    problems = check_consistency(workspace).problems
    assert problems == ["1 path(s) catalogued twice in one corpus", "1 image(s) under a root of another corpus"]
