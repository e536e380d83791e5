"""Query expressions: signs, weights, image paths, catalog ids."""
from pathlib import Path

import pytest

from retrieval.query import QueryError, parse_query


def test_text_terms_with_weights_and_signs(tmp_path: Path) -> None:
    img = tmp_path / "pool.jpg"
    img.write_bytes(b"x")
    terms = parse_query(f'"2:golden retriever" + {img} - fruit')
    assert [(t.kind, t.value, t.weight) for t in terms] == [
        ("text", "golden retriever", 2.0), ("image", str(img), 1.0), ("text", "fruit", -1.0)]


def test_catalog_id_and_leading_minus() -> None:
    terms = parse_query("- 0.5:id:17 + sunset over the sea")
    assert [(t.kind, t.value, t.weight) for t in terms] == [("id", 17, -0.5), ("text", "sunset over the sea", 1.0)]


def test_hyphenated_words_stay_one_term() -> None:
    terms = parse_query("black-and-white photo")
    assert [(t.kind, t.value) for t in terms] == [("text", "black-and-white photo")]


@pytest.mark.parametrize("bad", ["", "   ", "cat + ", "id:abc", "./missing.jpg", "cat + 2:"])
def test_bad_queries_raise_clear_errors(bad: str) -> None:
    with pytest.raises(QueryError):
        parse_query(bad)
