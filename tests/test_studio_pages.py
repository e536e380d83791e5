"""The Studio's pages (Streamlit AppTest) on a small real corpus indexed with the starter models: what a
person does on each page reaches the library, and what the library returns is what the page shows."""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from browser.studio_support import StudioCorpus, build_corpus
from PIL import Image
from streamlit.testing.v1 import AppTest

from generation.records import load_record
from indexer.status import failed_files
from indexer.workspace import Workspace
from retrieval.collections import add_images, collection_items, create_collection
from ui.studio import APP_FILE

TIMEOUT = 120  # the first run imports torch and loads the models; the machine is small and shared


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> StudioCorpus:
    return build_corpus(tmp_path_factory.mktemp("studio"))


@pytest.fixture
def studio(corpus: StudioCorpus, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("STYLELENS_HOME", str(corpus.home))
    monkeypatch.delenv("STYLELENS_DB_URL", raising=False)
    return run(AppTest.from_file(str(APP_FILE), default_timeout=TIMEOUT))


@pytest.fixture
def ws(corpus: StudioCorpus):
    workspace = Workspace.open(corpus.home)
    yield workspace
    workspace.close()


def run(target) -> AppTest:  # noqa: ANN001 - the app, or one of its widgets after an interaction
    """Run the app and insist that nothing surfaced as a traceback."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def result_captions(at: AppTest) -> list[str]:
    return [c for c in captions(at) if c.startswith("#")]


def texts(elements) -> str:  # noqa: ANN001 - an AppTest element list
    return "\n".join(str(e.value) for e in elements)


def png_bytes(path: Path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ search


def test_text_search_shows_the_right_photo_first_with_scores(studio: AppTest, corpus: StudioCorpus) -> None:
    studio.text_input(key="q_text").set_value("a cat")
    run(studio)
    first = result_captions(studio)[0]
    assert first.startswith("#1 chelsea.png · ") and f"id {corpus.ids['chelsea.png']}" in first
    assert float(first.split(" · ")[1]) > 0


def test_paging_walks_through_all_results(studio: AppTest, corpus: StudioCorpus) -> None:
    studio.text_input(key="q_text").set_value("a cat")
    run(studio)
    first_page = result_captions(studio)
    assert len(first_page) == 12 and len(corpus.ids) == 15
    run(studio.button(key="search_grid-next").click())
    second_page = result_captions(studio)
    assert [c.split()[0] for c in second_page] == ["#13", "#14", "#15"]
    assert not {c.split()[1] for c in first_page} & {c.split()[1] for c in second_page}


def test_image_upload_searches_by_example_and_is_stored_by_hash(studio: AppTest, corpus: StudioCorpus) -> None:
    data = (corpus.photos / "coffee.png").read_bytes()
    studio.file_uploader(key="q_upload_0").upload("my coffee.png", data, "image/png")
    run(studio)
    first = result_captions(studio)[0]
    assert first.startswith("#1 coffee.png · 1.000")  # the indexed file finds itself exactly
    stored = corpus.home / "uploads" / f"{hashlib.sha256(data).hexdigest()}.png"
    assert stored.read_bytes() == data


def test_bad_upload_is_refused_with_a_message(studio: AppTest, corpus: StudioCorpus) -> None:
    before = set((corpus.home / "uploads").glob("*")) if (corpus.home / "uploads").exists() else set()
    studio.file_uploader(key="q_upload_0").upload("cat.png", b"this is not an image", "image/png")
    run(studio)
    assert "cat.png is not a usable image: not an image (unrecognised format)" in texts(studio.error)
    assert set((corpus.home / "uploads").glob("*")) == before


def test_query_errors_are_messages_not_tracebacks(studio: AppTest) -> None:
    studio.text_input(key="q_text").set_value("id:99999")
    run(studio)
    assert "Search failed" in texts(studio.error) and "99999" in texts(studio.error)


def test_more_like_this_style_and_content(studio: AppTest, corpus: StudioCorpus) -> None:
    styled = corpus.ids["scene1_style2_v0.png"]
    studio.text_input(key="q_text").set_value(f"id:{styled}")
    run(studio)
    run(studio.button(key=f"search_grid-{styled}-mls").click())
    assert studio.radio(key="q_mode").value == "style" and studio.text_input(key="q_text").value == f"id:{styled}"
    names = [c.split()[1] for c in result_captions(studio)]
    assert names[0] == "scene1_style2_v0.png"
    assert set(names[1:3]) == {"scene0_style2_v0.png", "scene2_style2_v0.png"}  # the same style, other scenes
    run(studio.button(key=f"search_grid-{styled}-mlc").click())
    assert studio.radio(key="q_mode").value == "content"


def test_joint_search_fuses_content_and_the_style_picked_from_a_result(studio: AppTest, corpus: StudioCorpus) -> None:
    styled = corpus.ids["scene0_style1_v0.png"]
    studio.text_input(key="q_text").set_value(f"id:{styled}")
    run(studio)
    run(studio.button(key=f"search_grid-{styled}-style").click())
    assert "is now a picked style (1 picked" in texts(studio.success)
    studio.radio(key="q_mode").set_value("joint")
    studio.text_input(key="q_text").set_value("a cat")
    run(studio)
    assert studio.text_input(key="q_style").value == f"id:{styled}"
    studio.slider(key="q_alpha").set_value(1.0)  # pure content
    run(studio)
    first = result_captions(studio)[0]
    assert first.startswith("#1 chelsea.png") and "content " in first and "style " in first


def test_add_to_collection_and_stylize_from_a_result(studio: AppTest, corpus: StudioCorpus, ws: Workspace) -> None:
    studio.text_input(key="q_text").set_value("a cat")
    run(studio)
    cat = corpus.ids["chelsea.png"]
    run(studio.button(key=f"search_grid-{cat}-add").click())
    assert "choose a collection" in texts(studio.error)
    studio.text_input(key="target-name").set_value("cats")
    run(studio.button(key="target-create").click())
    run(studio.button(key=f"search_grid-{cat}-add").click())
    assert f"Added chelsea.png (id {cat}) to cats" in texts(studio.success)
    [item] = collection_items(ws, "cats")
    assert (item.image_id, item.added_by) == (cat, "query:a cat")
    run(studio.button(key=f"search_grid-{cat}-stylize").click())
    assert studio.title[0].value == "Refine"
    assert f"chelsea.png (id {cat}) is the content to stylize" in texts(studio.info)


# ------------------------------------------------------------------------------------------------ refine


def _pick_two_styles(studio: AppTest, corpus: StudioCorpus) -> tuple[int, int]:
    """On the Refine page, add two styles by id and set a 3-step path; returns their ids."""
    run(studio.switch_page("refine_page.py"))
    a, b = corpus.ids["scene0_style0_v0.png"], corpus.ids["scene0_style2_v0.png"]
    for image_id in (a, b):
        studio.number_input(key="refine_add_id").set_value(image_id)
        run(studio.button(key="refine_add_id_go").click())
    studio.number_input(key="refine_steps").set_value(3)
    return a, b


def _use_uploaded_content(studio: AppTest, corpus: StudioCorpus) -> None:
    studio.file_uploader(key="gen_content_upload").upload("rocket.png", png_bytes(corpus.photos / "rocket.jpg"),
                                                          "image/png")
    run(studio)
    run(studio.button(key="gen_use_upload").click())


def test_refine_walks_between_styles_and_generates_a_strip(studio: AppTest, corpus: StudioCorpus, ws: Workspace,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _pick_two_styles(studio, corpus)
    run(studio)
    slider = studio.select_slider(key="refine_pos_3")
    assert slider.options == ["A 1.00 B 0.00", "A 0.50 B 0.50", "A 0.00 B 1.00"]
    assert result_captions(studio)[0].startswith(f"#1 scene0_style0_v0.png · 1.000 · id {a}")
    run(slider.set_value(2))
    assert result_captions(studio)[0].startswith(f"#1 scene0_style2_v0.png · 1.000 · id {b}")

    _use_uploaded_content(studio, corpus)
    assert studio.selectbox(key="gen_method").value == "fast"
    studio.number_input(key="gen-fast-content_size").set_value(64)
    studio.number_input(key="gen-fast-style_size").set_value(64)
    run(studio.button(key="gen_go").click())
    assert not studio.error, texts(studio.error)
    [bar] = studio.get("progress")
    assert bar.value == 100 and "3 of 3 images" in bar.text
    assert "interpolation strip (fast, record" in " ".join(captions(studio))
    [grid] = list((corpus.home / "generated").glob("*/*-strip.png"))
    assert Image.open(grid).width >= 3 * 64
    record = load_record(ws, 1)
    assert record.kind == "interpolate" and record.params["content_size"] == 64
    assert [s["source"] for s in record.inputs["styles"]] == [f"id:{a}", f"id:{b}"]
    assert record.inputs["steps"] == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert Path(record.out_dir) == grid.parent and len(record.output_paths()) == 3


def test_refine_generates_with_diffstyle_picked_by_method_and_model(studio: AppTest, corpus: StudioCorpus,
                                                                   ws: Workspace) -> None:
    _pick_two_styles(studio, corpus)
    _use_uploaded_content(studio, corpus)
    run(studio.selectbox(key="gen_method").set_value("diffstyle"))
    models = studio.selectbox(key="gen-diffstyle-model")
    assert models.value == "diffstyle/celebahq" and "diffstyle/tiny-pixel" in models.options
    run(models.set_value("diffstyle/tiny-pixel"))
    for name, value in (("inversion_steps", 3), ("generation_steps", 3), ("gamma", 0.5)):
        studio.number_input(key=f"gen-diffstyle-{name}").set_value(value)
    run(studio.button(key="gen_go").click())
    assert not studio.error, texts(studio.error)
    [record_id] = re.findall(r"interpolation strip \(diffstyle, record (\d+)\)", " ".join(captions(studio)))
    record = load_record(ws, int(record_id))
    assert record.method == "diffstyle" and record.kind == "interpolate"
    assert record.params["gamma"] == 0.5 and record.params["generation_steps"] == 3
    assert record.model_ids["model"] == "diffstyle/tiny-pixel" and len(record.output_paths()) == 3


def test_refine_generates_with_dualstylegan_blending_two_exemplars(studio: AppTest, corpus: StudioCorpus,
                                                                   ws: Workspace) -> None:
    _pick_two_styles(studio, corpus)
    _use_uploaded_content(studio, corpus)
    run(studio.selectbox(key="gen_method").set_value("dualstylegan"))
    models = studio.selectbox(key="gen-dualstylegan-model")
    assert models.value == "dualstylegan/cartoon" and "dualstylegan/tiny" in models.options
    run(models.set_value("dualstylegan/tiny"))
    for name, value in (("w_s", 0.5), ("exemplar_steps", 0), ("destylise_steps", 0), ("output_size", 64)):
        studio.number_input(key=f"gen-dualstylegan-{name}").set_value(value)
    studio.selectbox(key="gen-dualstylegan-align").set_value("centre")
    studio.selectbox(key="gen-dualstylegan-preserve_colour").set_value("weights")
    run(studio.button(key="gen_go").click())
    assert not studio.error, texts(studio.error)
    [record_id] = re.findall(r"interpolation strip \(dualstylegan, record (\d+)\)", " ".join(captions(studio)))
    record = load_record(ws, int(record_id))
    assert record.method == "dualstylegan" and record.kind == "interpolate" and len(record.output_paths()) == 3
    assert record.params["weights"] == [0.5] * 7 + [1.0] * 11 and record.params["preserve_colour"] == "weights"
    assert record.params["align"] == "centre" and record.model_ids["model"] == "dualstylegan/tiny"
    assert {Image.open(p).size for p in record.output_paths()} == {(64, 64)}


def test_refine_generates_with_a_trained_parasol_checkpoint(studio: AppTest, corpus: StudioCorpus, ws: Workspace,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from generation.parasol.tiny import synthetic_triplets
    from generation.parasol.train import TrainConfig, train

    run_dir = tmp_path / "parasol-run"
    train(TrainConfig("tiny/aladin", "tiny/open_clip", base="tiny", steps=1, batch_size=2, device="cpu"),
          synthetic_triplets(tmp_path / "triplets", n=2), run_dir, progress=False)
    monkeypatch.setenv("STYLELENS_PARASOL_CHECKPOINTS", str(run_dir))
    _pick_two_styles(studio, corpus)
    _use_uploaded_content(studio, corpus)
    run(studio.selectbox(key="gen_method").set_value("parasol"))
    models = studio.selectbox(key="gen-parasol-model")
    assert models.value == str(run_dir) and "parasol/tiny" in models.options
    for name, value in (("steps", 3), ("lam", 1)):
        studio.number_input(key=f"gen-parasol-{name}").set_value(value)
    studio.number_input(key="gen-parasol-g_s").set_value(2.0)
    run(studio.button(key="gen_go").click())
    assert not studio.error, texts(studio.error)
    [record_id] = re.findall(r"interpolation strip \(parasol, record (\d+)\)", " ".join(captions(studio)))
    record = load_record(ws, int(record_id))
    assert record.method == "parasol" and record.kind == "interpolate" and len(record.output_paths()) == 3
    assert record.params["lam"] == 1 and record.params["steps"] == 3 and record.params["g_s"] == 2.0
    assert record.model_ids["model"] == str(run_dir) and record.model_ids["checkpoint_id"].endswith("@1")


def test_refine_takes_an_uploaded_style_and_results_lead_back_to_search(studio: AppTest,
                                                                       corpus: StudioCorpus) -> None:
    run(studio.switch_page("refine_page.py"))
    studio.number_input(key="refine_add_id").set_value(corpus.ids["scene2_style1_v0.png"])
    run(studio.button(key="refine_add_id_go").click())
    studio.file_uploader(key="refine_style_upload").upload(
        "mine.png", (corpus.art / "scene1_style0_v0.png").read_bytes(), "image/png")
    run(studio)
    run(studio.button(key="refine_add_upload").click())
    assert [c for c in captions(studio) if not c.startswith("#")][:2] == [
        f"A · scene2_style1_v0.png (id {corpus.ids['scene2_style1_v0.png']})", "B · mine.png"]
    run(studio.select_slider(key="refine_pos_5").set_value(4))
    assert result_captions(studio)[0].startswith("#1 scene1_style0_v0.png · 1.000")  # the upload's own file
    hit = corpus.ids["scene1_style0_v0.png"]
    run(studio.button(key=f"refine_grid-4-{hit}-mlc").click())
    assert studio.title[0].value == "Search" and studio.text_input(key="q_text").value == f"id:{hit}"
    assert result_captions(studio)[0].startswith("#1 scene1_style0_v0.png · 1.000")


def test_refine_needs_two_styles(studio: AppTest) -> None:
    run(studio.switch_page("refine_page.py"))
    assert "Pick two or more styles" in texts(studio.info)
    assert studio.button(key="gen_go").disabled


# ------------------------------------------------------------------------------------------- collections


def test_collection_items_are_tagged_annotated_removed_and_exported(studio: AppTest, corpus: StudioCorpus,
                                                                     ws: Workspace, tmp_path: Path) -> None:
    create_collection(ws, "picks", "for the test")
    ids = [corpus.ids[n] for n in ("coffee.png", "rocket.jpg", "camera.png")]
    add_images(ws, "picks", ids, added_by="test")
    run(studio.switch_page("collections_page.py"))
    studio.selectbox(key="collection_shown").set_value("picks")
    run(studio)
    assert sum("added by test" in c for c in captions(studio)) == 3
    studio.text_input(key=f"coll-picks-{ids[0]}-tags").set_value("drinks, brown")
    studio.text_input(key=f"coll-picks-{ids[0]}-note").set_value("the espresso")
    run(studio.button(key=f"coll-picks-{ids[0]}-save").click())
    item = next(i for i in collection_items(ws, "picks") if i.image_id == ids[0])
    assert item.tags == ("brown", "drinks") and item.note == "the espresso"
    assert any("tags: brown, drinks · note: the espresso" in c for c in captions(studio))
    run(studio.button(key=f"coll-picks-{ids[1]}-remove").click())
    assert [i.image_id for i in collection_items(ws, "picks")] == [ids[0], ids[2]]
    assert f"Removed id {ids[1]} from picks" in texts(studio.success)

    out = tmp_path / "picks-parquet"
    studio.selectbox(key="export_format").set_value("parquet")
    run(studio)
    studio.text_input(key="export_out-picks-parquet").set_value(str(out))
    run(studio.button(key="export_go").click())
    assert f"Exported 2 items of picks as parquet to {out}" in texts(studio.success)
    assert sorted(p.name for p in out.iterdir()) and any(p.suffix == ".parquet" for p in out.rglob("*"))
    run(studio.button(key="export_go").click())  # OUT is not empty now: refused, with the library's reason
    assert "Export failed" in texts(studio.error)


def test_triplet_mining_shows_x_y_s_rows(studio: AppTest, corpus: StudioCorpus) -> None:
    run(studio.switch_page("collections_page.py"))
    studio.selectbox(key="mine_train").set_value("photos")
    studio.selectbox(key="mine_style_db").set_value("art")
    studio.selectbox(key="mine_content_db").set_value("photos")
    studio.number_input(key="mine_k").set_value(5)
    studio.text_input(key="mine_run").set_value("studio-run")
    run(studio.button(key="mine_go").click())
    assert "Run studio-run: " in texts(studio.success)
    manifest = corpus.home / "mining" / "studio-run" / "triplets.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(rows) == 6
    table = studio.dataframe[-1].value
    assert list(table.columns[:3]) == ["x", "y (content)", "s (style)"] and len(table) == 6
    first = rows[0]
    assert table.iloc[0]["x"] == f"{Path(first['x_path']).name} (id {first['x_id']})"
    assert Path(first["s_path"]).parent == corpus.art and Path(first["y_path"]).parent == corpus.photos
    shown = captions(studio)
    assert f"x · {Path(first['x_path']).name} (id {first['x_id']})" in shown
    assert f"s: same style · {Path(first['s_path']).name} (id {first['s_id']})" in shown


# ------------------------------------------------------------------------------------------------ index


def test_index_page_adds_a_corpus_and_shows_failures_and_spaces(studio: AppTest, corpus: StudioCorpus, ws: Workspace,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "more"
    folder.mkdir()
    Image.open(corpus.photos / "astronaut.png").convert("RGB").resize((96, 96)).save(folder / "small.jpg")
    (folder / "broken.png").write_bytes(b"this is not an image")
    run(studio.switch_page("index_page.py"))
    studio.text_input(key="index_folder").set_value(str(folder))
    studio.text_input(key="index_corpus").set_value("more")
    studio.selectbox(key="index_role").set_value("content")
    studio.number_input(key="index_workers").set_value(0)
    run(studio.button(key="index_go").click())
    assert "Corpus more (content), profile starter: 1 added" in texts(studio.success)
    assert "1 failed" in texts(studio.success)
    [bar] = studio.get("progress")
    assert bar.value == 100
    [reason] = [f["reason"] for f in failed_files(ws) if f["path"].endswith("broken.png")]
    assert reason == "not an image (unrecognised format)"
    failures = [d.value for d in studio.dataframe]
    assert any((t.get("path") == str(folder / "broken.png")).any() and (t.get("reason") == reason).any()
               for t in failures if "reason" in t.columns)
    spaces = next(t for t in failures if "space" in t.columns)
    assert sorted(spaces["space"]) == ["content", "layout", "style"] and (spaces["vectors"] == len(corpus.ids) + 1).all()

    studio.text_input(key="index_folder").set_value(str(tmp_path / "missing"))
    run(studio.button(key="index_go").click())
    assert "No such folder" in texts(studio.error)
