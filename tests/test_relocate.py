"""Moved corpus folders and copied workspaces: paths follow, nothing is embedded again."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_runner import cli_error, cli_json
from conftest import assert_consistent, catalog_paths
from corpus_factory import pattern_image
from pg_server import throwaway_server

import indexer.pipeline.run as run_mod
from indexer.corpora import get_corpus
from indexer.pipeline.run import index_paths
from indexer.relocate import RelocateError, relocate_corpus
from indexer.spaces import list_spaces
from indexer.status import workspace_status
from indexer.workspace import Workspace
from retrieval.catalog_lookup import corpus_vectors
from retrieval.search import search

NAMES = ("a.png", "b.png", os.path.join("sub", "c.png"), os.path.join("sub", "d.png"))


def write_folder(root: Path) -> None:
    rng = np.random.default_rng(3)
    for name in NAMES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        colours = tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))
        pattern_image((48, 48), colours).save(root / name)


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many batches the encoders embed (indexing runs in this process with workers=0)."""
    calls: list[int] = []
    real = run_mod.embed_prepared

    def counting(space, encoder, prepared):  # noqa: ANN001, ANN202
        calls.append(len(prepared))
        return real(space, encoder, prepared)

    monkeypatch.setattr(run_mod, "embed_prepared", counting)
    return calls


def vectors(ws: Workspace, corpus: str) -> dict[str, dict[int, bytes]]:
    """{space: {image id: vector bytes}} of the corpus."""
    out: dict[str, dict[int, bytes]] = {}
    for sp in list_spaces(ws):
        ids, vecs = corpus_vectors(ws, sp, corpus)
        out[sp.name] = {int(i): v.tobytes() for i, v in zip(ids, vecs)}
    return out


def hit_paths(ws: Workspace, ids: list[int]) -> set[str]:
    return {h.path for i in ids for h in search(ws, f"id:{i}", k=1)}


def indexed(ws: Workspace, root: Path) -> tuple[dict[str, int], dict]:
    summary = index_paths(ws, [str(root)], "photos", profile="tiny", workers=0, progress=False)
    assert (summary.added, summary.relocated) == (4, 0)
    return {os.path.relpath(p, root): i for p, i in catalog_paths(ws).items()}, vectors(ws, "photos")


def test_relocate_a_moved_folder_then_index_it(workspace: Workspace, tmp_path: Path, embed_calls: list[int]) -> None:
    old, new = tmp_path / "old" / "photos", tmp_path / "new" / "place"
    write_folder(old)
    ids, before = indexed(workspace, old)
    new.parent.mkdir()
    shutil.move(old, new)
    move = relocate_corpus(workspace, "photos", str(new))
    assert (move.old_root, move.new_root, move.images, move.checked) == (str(old), str(new), 4, 4)
    assert get_corpus(workspace, "photos").roots == (str(new),)
    assert catalog_paths(workspace) == {str(new / n): i for n, i in ids.items()}
    assert hit_paths(workspace, list(ids.values())) == {str(new / n) for n in NAMES}
    embed_calls.clear()
    again = index_paths(workspace, [str(new)], "photos", workers=0, progress=False)
    assert (again.added, again.updated, again.removed, again.unchanged, again.duplicates) == (0, 0, 0, 4, 0)
    assert embed_calls == []
    assert vectors(workspace, "photos") == before and assert_consistent(workspace) == set(ids.values())


def test_index_of_a_moved_folder_relocates_instead_of_re_embedding(workspace: Workspace, tmp_path: Path, capsys,
                                                                   embed_calls: list[int]) -> None:  # noqa: ANN001
    old, new = tmp_path / "old", tmp_path / "renamed"
    write_folder(old)
    ids, before = indexed(workspace, old)
    old.rename(new)
    embed_calls.clear()
    out = cli_json(capsys, "index", str(new), "--corpus", "photos", "--workspace", str(workspace.home), "--workers", "0")
    assert (out["relocated"], out["added"], out["unchanged"], out["duplicates"], out["removed"]) == (1, 0, 4, 0, 0)
    assert out["relocations"][0]["old_root"] == str(old) and out["relocations"][0]["new_root"] == str(new)
    assert embed_calls == []
    assert catalog_paths(workspace) == {str(new / n): i for n, i in ids.items()}
    assert get_corpus(workspace, "photos").roots == (str(new),)
    assert vectors(workspace, "photos") == before and assert_consistent(workspace) == set(ids.values())


def test_index_of_a_moved_copy_with_new_mtimes_relocates(workspace: Workspace, tmp_path: Path,
                                                         embed_calls: list[int]) -> None:
    old, copy = tmp_path / "old", tmp_path / "copy"
    write_folder(old)
    ids, before = indexed(workspace, old)
    shutil.copytree(old, copy, copy_function=shutil.copy)  # modification times not kept: sha256 decides
    shutil.rmtree(old)
    embed_calls.clear()
    again = index_paths(workspace, [str(copy)], "photos", workers=0, progress=False)
    assert (again.relocated, again.unchanged, again.added, again.duplicates, embed_calls) == (1, 4, 0, 0, [])
    assert catalog_paths(workspace) == {str(copy / n): i for n, i in ids.items()}
    assert vectors(workspace, "photos") == before


def test_relocated_copy_with_new_mtimes_is_hashed_not_re_embedded(workspace: Workspace, tmp_path: Path,
                                                                    embed_calls: list[int]) -> None:
    old, copy = tmp_path / "old", tmp_path / "copy"
    write_folder(old)
    ids, before = indexed(workspace, old)
    shutil.copytree(old, copy, copy_function=shutil.copy)  # modification times not kept
    shutil.rmtree(old)
    assert relocate_corpus(workspace, "photos", str(copy), str(old)).checked == 4
    pattern_image((48, 48), ((9, 9, 9), (200, 9, 9), (9, 200, 9), (9, 9, 200))).save(copy / "b.png")  # changed
    embed_calls.clear()
    again = index_paths(workspace, [str(copy)], "photos", workers=0, progress=False)
    assert (again.unchanged, again.updated, again.added, again.relocated) == (3, 1, 0, 0)
    assert embed_calls == [1] * len(list_spaces(workspace))  # b.png alone, once per space
    after = vectors(workspace, "photos")
    for space, vecs in before.items():
        assert {i: v for i, v in after[space].items() if i != ids["b.png"]} == \
            {i: v for i, v in vecs.items() if i != ids["b.png"]}
    assert catalog_paths(workspace) == {str(copy / n): i for n, i in ids.items()}
    assert_consistent(workspace)


def test_index_of_a_changed_copy_does_not_relocate(workspace: Workspace, tmp_path: Path) -> None:
    old, other = tmp_path / "old", tmp_path / "other"
    write_folder(old)
    indexed(workspace, old)
    write_folder(other)
    size = (other / "a.png").stat().st_size
    with open(other / "a.png", "r+b") as f:  # same names and sizes, one with other bytes: not the same files
        f.seek(size - 1)
        f.write(b"\0" if f.read(1) != b"\0" else b"\1")
    shutil.rmtree(old)
    summary = index_paths(workspace, [str(other)], "photos", workers=0, progress=False)
    assert summary.relocated == 0 and summary.kept_missing_roots == []
    assert sorted(get_corpus(workspace, "photos").roots) == [str(old), str(other)]


def test_relocate_refuses_a_folder_without_the_files(workspace: Workspace, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    old, wrong = tmp_path / "old", tmp_path / "wrong"
    write_folder(old)
    indexed(workspace, old)
    wrong.mkdir()
    shutil.copy(old / "a.png", wrong / "a.png")
    with pytest.raises(RelocateError, match=r"wrong/b\.png is missing; nothing was changed"):
        relocate_corpus(workspace, "photos", str(wrong))
    (wrong / "b.png").write_bytes(b"x")
    (wrong / "sub").mkdir()
    for name in NAMES[2:]:
        shutil.copy(old / name, wrong / name)
    with pytest.raises(RelocateError, match=r"b\.png has 1 bytes, the catalogued file \d+"):
        relocate_corpus(workspace, "photos", str(wrong))
    err = cli_error(capsys, "corpus", "relocate", "photos", str(wrong), "--workspace", str(workspace.home))
    assert "does not hold corpus 'photos'" in err
    assert "no corpus named 'nope'" in cli_error(capsys, "corpus", "relocate", "nope", str(wrong),
                                                 "--workspace", str(workspace.home))
    assert get_corpus(workspace, "photos").roots == (str(old),)
    assert set(catalog_paths(workspace)) == {str(old / n) for n in NAMES}


def test_relocate_names_the_root_when_several_could_have_moved(workspace: Workspace, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    one, two, moved = tmp_path / "one", tmp_path / "two", tmp_path / "moved"
    write_folder(one)
    (two / "x").mkdir(parents=True)
    shutil.copy(one / "a.png", two / "x" / "only.png")
    index_paths(workspace, [str(one), str(two)], "photos", profile="tiny", workers=0, progress=False)
    shutil.copytree(two, moved)
    with pytest.raises(RelocateError, match="has 2 roots .*; name the one that moved with --from OLDROOT"):
        relocate_corpus(workspace, "photos", str(moved))
    out = cli_json(capsys, "corpus", "relocate", "photos", str(moved), "--from", str(two),
                   "--workspace", str(workspace.home))
    assert out == {"corpus": "photos", "old_root": str(two), "new_root": str(moved), "images": 1, "checked": 1}
    assert catalog_paths(workspace)[str(moved / "x" / "only.png")]
    assert sorted(get_corpus(workspace, "photos").roots) == [str(moved), str(one)]


def test_a_copied_workspace_works_where_it_lands(tmp_path: Path, embed_calls: list[int]) -> None:
    home = tmp_path / "workspace-demo"
    data = home / "data" / "photos"
    write_folder(data)
    ws = Workspace.open(home)
    try:
        ids, before = indexed(ws, data)
    finally:
        ws.close()
    copy = tmp_path / "elsewhere" / "copied-demo"
    shutil.copytree(home, copy)
    for place in (copy, home):  # the copy has its own paths; the original keeps working as it was
        ws = Workspace.open(place)
        try:
            expected = {str(place / "data" / "photos" / n): i for n, i in ids.items()}
            assert catalog_paths(ws) == expected
            assert hit_paths(ws, list(ids.values())) == set(expected)
            status = workspace_status(ws)
            assert [c["roots"] for c in status["corpora"]] == [[str(place / "data" / "photos")]]
            embed_calls.clear()
            again = index_paths(ws, [str(place / "data" / "photos")], "photos", workers=0, progress=False)
            assert (again.added, again.unchanged, again.relocated, embed_calls) == (0, 4, 0, [])
            assert vectors(ws, "photos") == before
        finally:
            ws.close()


def test_relocate_on_postgresql(tmp_path: Path, embed_calls: list[int]) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    write_folder(old)
    with throwaway_server(port_offset=22) as server:
        ws = Workspace.open(tmp_path / "ws", db_url=server.url)
        try:
            ids, before = indexed(ws, old)
            old.rename(new)
            assert relocate_corpus(ws, "photos", str(new)).images == 4
            assert hit_paths(ws, list(ids.values())) == {str(new / n) for n in NAMES}
            embed_calls.clear()
            again = index_paths(ws, [str(new)], "photos", workers=0, progress=False)
            assert (again.unchanged, again.added, embed_calls) == (4, 0, [])
            assert vectors(ws, "photos") == before and assert_consistent(ws) == set(ids.values())
        finally:
            ws.close()


def test_a_nested_root_finds_files_recorded_under_the_outer_one(workspace: Workspace, tmp_path: Path,
                                                                embed_calls: list[int]) -> None:
    outer = tmp_path / "outer"
    write_folder(outer)
    ids, _ = indexed(workspace, outer)
    embed_calls.clear()
    inner = index_paths(workspace, [str(outer / "sub")], "photos", workers=0, progress=False)
    assert (inner.added, inner.unchanged, inner.duplicates, inner.removed, embed_calls) == (0, 2, 0, 0, [])
    pattern_image((48, 48), ((1, 2, 3),) * 4).save(outer / "sub" / "c.png")
    again = index_paths(workspace, [str(outer / "sub")], "photos", workers=0, progress=False)
    assert (again.added, again.updated, again.unchanged) == (0, 1, 1)
    assert catalog_paths(workspace) == {str(outer / n): i for n, i in ids.items()}  # same ids, once each
    assert_consistent(workspace)
