"""Collections, exports and triplet mining through the CLI (tiny models), with provenance and exact ids."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import cli_error, cli_json
from corpus_factory import pattern_image



@pytest.fixture
def ws(capsys, tmp_path: Path) -> list[str]:
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(4)
    for i in range(6):
        pattern_image((64, 64), tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))).save(root / f"{i}.png")
    w = ["--workspace", str(tmp_path / "ws")]
    cli_json(capsys, "index", str(root), "--corpus", "c", "--profile", "tiny", "--workers", "0", *w)
    return w


def test_collection_lifecycle_with_provenance(capsys, ws: list[str], tmp_path: Path) -> None:
    cli_json(capsys, "collection", "create", "picks", "--description", "test set", *ws)
    hits = cli_json(capsys, "search", "--like", "3", "-k", "2", "--no-collapse", "--add-to", "picks", *ws)
    assert hits[0]["id"] == 3
    other = next(i for i in range(1, 7) if i not in {h["id"] for h in hits})
    added = cli_json(capsys, "collection", "add", "picks", "--ids", str(other), "3", "--tag", "b", "--tag", "a",
                "--note", "hand", *ws)
    assert added == {"added": [other], "already": [3]}
    item = cli_json(capsys, "collection", "tag", "picks", str(other), "--add", "c", "--remove", "a", "--note", "edited", *ws)
    assert item["tags"] == ["b", "c"] and item["note"] == "edited"
    items = cli_json(capsys, "collection", "show", "picks", *ws)
    assert [i["image_id"] for i in items] == [h["id"] for h in hits] + [other]  # in the order they came
    assert {i["added_by"] for i in items[:2]} == {"query:id:3"} and items[2]["added_by"] == "ids"
    assert all(i["added_at"] and i["path"].endswith(".png") and len(i["sha256"]) == 64 for i in items)
    assert cli_json(capsys, "collection", "remove", "picks", "--ids", "3", *ws) == {"removed": 1}
    listed = cli_json(capsys, "collection", "list", *ws)
    assert [(c["name"], c["description"], c["items"]) for c in listed] == [("picks", "test set", 2)]
    assert "no collection named 'nope'" in cli_error(capsys, "collection", "show", "nope", *ws)
    assert "already exists" in cli_error(capsys, "collection", "create", "picks", *ws)
    assert "no indexed image with id 999" in cli_error(capsys, "collection", "add", "picks", "--ids", "999", *ws)


def test_style_neighbourhood_matches_brute_force(capsys, ws: list[str]) -> None:
    from indexer.spaces import get_space
    from indexer.workspace import Workspace
    from retrieval.catalog_lookup import corpus_vectors

    cli_json(capsys, "collection", "create", "near", *ws)
    workspace = Workspace.open(ws[1])
    ids, vecs = corpus_vectors(workspace, get_space(workspace, "style"), "c")
    workspace.close()
    exemplar = int(ids[2])
    dist = 1.0 - vecs @ vecs[2]
    threshold = float(np.sort(dist)[3]) + 1e-6  # the exemplar and its 3 nearest
    expected = [int(ids[j]) for j in np.argsort(dist, kind="stable") if dist[j] <= threshold][:3]
    out = cli_json(capsys, "collection", "add", "near", "--near", str(exemplar), "--max-distance", str(threshold),
              "--cap", "3", *ws)
    assert out["added"] == expected and expected[0] == exemplar
    items = cli_json(capsys, "collection", "show", "near", *ws)
    assert all(i["added_by"].startswith(f"neighbourhood:{exemplar}@") for i in items)


def test_export_refuses_to_overwrite_and_mining_writes_its_manifest(capsys, ws: list[str], tmp_path: Path) -> None:
    cli_json(capsys, "collection", "create", "set", *ws)
    cli_json(capsys, "collection", "add", "set", "--ids", "1", "2", "4", "--tag", "x", *ws)
    out = tmp_path / "export"
    report = cli_json(capsys, "export", "set", str(out), "--format", "imagefolder", "--vectors", *ws)
    lines = [json.loads(line) for line in (out / "train" / "metadata.jsonl").read_text().splitlines()]
    assert report["n_items"] == 3 and sorted(r["id"] for r in lines) == [1, 2, 4]
    assert all((out / "train" / r["file_name"]).is_file() and r["tags"] == ["x"] for r in lines)
    assert all(len(r["vector_content"]) == 32 and len(r["vector_style"]) == 16 for r in lines)
    refused = cli_error(capsys, "export", "set", str(out), "--format", "imagefolder", *ws)
    assert "exist" in refused and "--overwrite" in refused and "overwrite=True" not in refused
    cli_json(capsys, "export", "set", str(out), "--format", "parquet", "--overwrite", *ws)
    assert not (out / "train").exists() and list(out.glob("*.parquet"))

    summary = cli_json(capsys, "mine-triplets", "--train", "c", "--style-db", "c", "--content-db", "c", "-k", "3",
                  "--content-ceiling", "1", "--style-ceiling", "1", "--run", "r1", *ws)
    assert summary["train_images"] == 6 and summary["complete"] == 6  # ceilings of 1 drop nothing
    rows = [json.loads(line) for line in Path(summary["manifest_jsonl"]).read_text().splitlines()]
    assert [r["x_id"] for r in rows] == sorted(r["x_id"] for r in rows) and all(r["s_id"] != r["x_id"] for r in rows)
    assert Path(summary["histograms"]).is_file()


def test_an_item_whose_file_left_the_catalog_is_kept_and_skipped_with_its_reason(capsys, ws: list[str],
                                                                                tmp_path: Path) -> None:
    cli_json(capsys, "collection", "create", "keep", *ws)
    cli_json(capsys, "collection", "add", "keep", "--ids", "2", "5", *ws)
    gone = Path(cli_json(capsys, "collection", "show", "keep", *ws)[0]["path"])
    gone.unlink()
    assert cli_json(capsys, "index", str(tmp_path / "imgs"), "--corpus", "c", "--workers", "0", *ws)["removed"] == 1
    items = cli_json(capsys, "collection", "show", "keep", *ws)
    assert [(i["image_id"], i["path"]) for i in items] == [(None, str(gone)), (5, items[1]["path"])]
    report = cli_json(capsys, "export", "keep", str(tmp_path / "out"), "--format", "folder", *ws)
    assert report["n_items"] == 1
    assert [(s["path"], s["reason"].split(";")[0]) for s in report["skipped"]] == \
        [(str(gone), "its image left the catalog (file deleted or moved since it was added)")]
