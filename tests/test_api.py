"""The HTTP API (ui.api) through fastapi.testclient: exact ids for every endpoint and filter, the token and
write guards, limits and JSON errors."""
from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from filter_workspace import build, image_file
from sqlalchemy import update

from indexer.catalog.schema import ImageRecord
from indexer.limits import MAX_K
from indexer.spaces import get_space
from retrieval.catalog_lookup import stored_vectors
from ui.api.app import create_app
from ui.api.security import ServeConfigError, ServeSettings, check_bind

TOKEN = "t0ken-for-the-test-suite"


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    ws, ids = build(root)
    yield ws, ids, root
    ws.close()


@pytest.fixture(scope="module")
def client(fw):
    with TestClient(create_app(fw[0])) as c:
        yield c


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [h["id"] for h in response.json()["items"]]


def by_id(fw, i: int) -> dict:
    return {"query": {"image_id": fw[1][i]}, "k": 30, "collapse": False}


@pytest.mark.parametrize("filters, expected", [
    ({"corpora": ["b"]}, set(range(20, 30))),
    ({"path_glob": "*/a/y/*"}, set(range(10, 20))),
    ({"after": "2020-01-03T00:00:00", "before": "2020-01-06T00:00:00"}, {2, 3, 4}),
    ({"after": "2020-01-03T01:00:00+01:00", "before": "2020-01-06T00:00:00Z"}, {2, 3, 4}),  # zones: UTC
    ({"orientation": "portrait"}, {i for i in range(30) if i % 3 == 1}),
    ({"min_width": 70}, {i for i in range(30) if i % 3 == 0}),
    ({"min_height": 64, "corpora": ["b"]}, {i for i in range(20, 30) if i % 3 != 0}),
    ({"collections": ["fav"]}, {1, 2, 3}),
    ({"tags": ["red"]}, {2, 3, 25}),
])
def test_search_filters(fw, client, filters, expected) -> None:
    ids = fw[1]
    got = ids_of(client.post("/v1/search", json={**by_id(fw, 2), "filters": filters}))
    assert set(got) == {ids[i] for i in expected}


def test_search_by_id_base64_upload_vector_and_expression_find_the_image(fw, client) -> None:
    ws, ids, root = fw
    target = ids[13]
    first = ids_of(client.post("/v1/search", json=by_id(fw, 13)))[0]
    data = image_file(root / "data", 13).read_bytes()
    b64 = ids_of(client.post("/v1/search", json={"query": {"image_base64": base64.b64encode(data).decode()}}))[0]
    upload = client.post("/v1/search/upload", files={"image": ("q.png", data, "image/png")},
                         data={"params": '{"k": 3, "filters": {"corpora": ["a"]}}'})
    vector = stored_vectors(ws, get_space(ws, "content"), [target])[target].tolist()
    raw = ids_of(client.post("/v1/search", json={"query": {"vector": vector}, "k": 1}))
    expr = ids_of(client.post("/v1/search", json={"query": {"expression": f"2:id:{target} - 0.1:id:{ids[0]}"}}))[0]
    assert first == b64 == ids_of(upload)[0] == raw[0] == expr == target
    hit = client.post("/v1/search", json=by_id(fw, 13)).json()["items"][0]
    assert set(hit) == {"id", "path", "score", "scores", "corpus", "duplicates"}
    assert hit["corpus"] == "a" and hit["path"].endswith("13.png") and hit["score"] == pytest.approx(1, abs=1e-4)


def test_text_search_and_explanation(client) -> None:
    body = client.post("/v1/search", json={"query": {"text": "a red square"}, "k": 4}).json()
    assert len(body["items"]) == 4 and body["explain"][0]["text"] == "a red square"


def test_joint_search_and_paging(fw, client) -> None:
    ids = fw[1]
    joint = client.post("/v1/search", json={"space": "joint", "content": {"image_id": ids[5]},
                                            "style": {"image_id": ids[5]}, "alpha": 0.7, "k": 3}).json()
    assert joint["items"][0]["id"] == ids[5] and set(joint["items"][0]["scores"]) >= {"content", "style"}
    full = ids_of(client.post("/v1/search", json={**by_id(fw, 7), "k": 6}))
    page = client.post("/v1/search", json={**by_id(fw, 7), "k": 3, "offset": 3}).json()
    assert [h["id"] for h in page["items"]] == full[3:6] and page["next_offset"] == 6
    last = client.post("/v1/search", json={**by_id(fw, 7), "filters": {"collections": ["fav"]}, "k": 5}).json()
    assert len(last["items"]) == 3 and last["next_offset"] is None


@pytest.mark.parametrize("body, status, words", [
    ({"query": {"image_id": 1}, "k": MAX_K + 1}, 422, "k"),
    ({"query": {"image_id": 1}, "k": 10, "offset": MAX_K - 5}, 400, "offset + k"),
    ({"query": {"expression": "/etc/passwd"}}, 400, "file paths are not accepted"),
    ({"query": {"expression": "../../secret.jpg + cat"}}, 400, "file paths are not accepted"),
    ({"query": {"image_id": 1}, "filters": {"collections": ["nope"]}}, 400, "no collection named"),
    ({"query": {"image_base64": "***"}}, 400, "base64"),
    ({"query": {"image_base64": base64.b64encode(b"not an image").decode()}}, 400, "not a usable image"),
    ({"query": {"vector": [1.0, 2.0]}}, 400, "needs"),
    ({"query": {}}, 400, "at least one"),
    ({"space": "joint", "query": {"text": "x"}}, 400, "joint"),
    ({"query": {"text": "x"}, "bogus": 1}, 422, "bogus"),
])
def test_bad_requests_are_json_errors(client, body, status, words) -> None:
    r = client.post("/v1/search", json=body)
    assert r.status_code == status and words in r.json()["error"], r.text
    assert "Traceback" not in r.text


def test_upload_size_limit(client, monkeypatch) -> None:
    import ui.api.search as api_search

    monkeypatch.setattr(api_search, "MAX_UPLOAD_BYTES", 100)
    r = client.post("/v1/search", json={"query": {"image_base64": base64.b64encode(b"x" * 101).decode()}})
    assert r.status_code == 413 and "limited" in r.json()["error"]


def test_oversized_bodies_are_refused_before_reading(client) -> None:
    r = client.post("/v1/search/upload", content=b"x" * 10, headers={"content-length": str(2**31),
                                                                       "content-type": "multipart/form-data"})
    assert r.status_code == 413 and "MiB" in r.json()["error"]


def test_image_metadata_thumbnail_and_file(fw, client) -> None:
    ws, ids, root = fw
    meta = client.get(f"/v1/images/{ids[2]}").json()
    assert (meta["id"], meta["corpus"], meta["width"], meta["height"]) == (ids[2], "a", 64, 64)
    assert meta["taken_at"] == "2020-01-03T12:00:00" and meta["collections"] == ["fav"] and meta["tags"] == ["red"]
    thumb = client.get(f"/v1/images/{ids[2]}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    assert client.get(f"/v1/images/{ids[13]}/file").content == image_file(root / "data", 13).read_bytes()
    assert client.get("/v1/images/999999/file").status_code == 404
    assert client.get("/v1/images/0").status_code == 422


def test_file_outside_the_corpus_roots_is_never_served(fw, client, tmp_path) -> None:
    ws, ids, _root = fw
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"secret")
    with ws.session() as s:
        old = s.get(ImageRecord, ids[20]).path
        s.execute(update(ImageRecord).where(ImageRecord.id == ids[20]).values(path=str(outside)))
    try:
        r = client.get(f"/v1/images/{ids[20]}/file")
        assert r.status_code == 404 and "not available" in r.json()["error"] and b"secret" not in r.content
    finally:
        with ws.session() as s:
            s.execute(update(ImageRecord).where(ImageRecord.id == ids[20]).values(path=old))


def test_status_health_metrics(client) -> None:
    status = client.get("/v1/status").json()
    assert {c["name"] for c in status["corpora"]} == {"a", "b"}
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/v1/search", json={"query": {"text": "x"}, "k": 1})
    text = client.get("/metrics").text
    assert 'stylelens_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert 'stylelens_index_vectors{space="content"} 30' in text


def test_collections_read_and_guarded_writes(fw, client) -> None:
    ws, ids, _root = fw
    assert {c["name"]: c["items"] for c in client.get("/v1/collections").json()} == {"fav": 3, "misc": 1}
    assert [i["image_id"] for i in client.get("/v1/collections/fav").json()] == [ids[1], ids[2], ids[3]]
    assert client.get("/v1/collections/nope").status_code == 400
    refused = client.post("/v1/collections/misc/items", json={"image_ids": [ids[4]]})
    assert refused.status_code == 403 and "--allow-writes" in refused.json()["error"]
    with TestClient(create_app(ws, ServeSettings(allow_writes=True), warm=False)) as writer:
        assert writer.post("/v1/collections", json={"name": "new"}).status_code == 201
        added = writer.post("/v1/collections/new/items", json={"image_ids": [ids[4], ids[5]], "added_by": "query:cat",
                                                               "tags": ["x"]})
        assert added.json() == {"added": [ids[4], ids[5]], "already": []}
    items = client.get("/v1/collections/new").json()
    assert [(i["image_id"], i["added_by"], i["tags"]) for i in items] == [
        (ids[4], "api:query:cat", ["x"]), (ids[5], "api:query:cat", ["x"])]


def test_token_is_required_when_set(fw) -> None:
    with TestClient(create_app(fw[0], ServeSettings(token=TOKEN), warm=False)) as c:
        assert c.get("/healthz").status_code == 401
        assert c.get("/v1/status", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
        assert c.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_binding_beyond_loopback_needs_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    for host in ("0.0.0.0", "192.168.1.5", "example.org"):
        with pytest.raises(ServeConfigError, match="--token"):
            check_bind(host, None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(ServeConfigError, match="16"):
        check_bind("0.0.0.0", "short")


def test_internal_errors_are_json_without_traceback(fw, monkeypatch) -> None:
    import ui.api.search as api_search

    def boom(*_a, **_k):  # noqa: ANN202
        raise RuntimeError("secret internals /home/x")

    monkeypatch.setattr(api_search, "run_search", boom)
    with TestClient(create_app(fw[0], warm=False), raise_server_exceptions=False) as c:
        r = c.post("/v1/search", json={"query": {"text": "x"}})
    assert r.status_code == 500 and r.json() == {"error": "internal error; the server log has the details"}
