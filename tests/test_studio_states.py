"""The Studio's states beyond the happy path (Streamlit AppTest on the small real corpus): the URL restores a
session, the full-size viewer, the query as pictures, an empty workspace, missing weights before the
parameter form, the History page, the StyO form's learning rate."""
from __future__ import annotations

import pytest
from blend_stylizer import BLEND, register_blend
from browser.studio_support import StudioCorpus
from streamlit.testing.v1 import AppTest
from studio_apptest import TIMEOUT, captions, result_captions, run, texts

from generation.history import list_generations
from generation.inputs import resolve_content, resolve_style
from generation.jobs import GenerationRequest, build_stylizer, generate
from generation.records import record_generation
from indexer.workspace import Workspace
from ui.studio import APP_FILE

pytest_plugins = ("studio_apptest",)  # its fixtures: corpus, studio, ws

def _fresh(home: object, monkeypatch: pytest.MonkeyPatch, params: dict | None = None) -> AppTest:
    """A new session on workspace `home`, opened at a URL with `params`."""
    monkeypatch.setenv("STYLELENS_HOME", str(home))
    monkeypatch.delenv("STYLELENS_DB_URL", raising=False)
    at = AppTest.from_file(str(APP_FILE), default_timeout=TIMEOUT)
    for name, value in (params or {}).items():
        at.query_params[name] = value
    return run(at)


def _sidebar(at: AppTest) -> str:
    return texts(at.sidebar.caption)


def test_a_link_restores_query_picks_content_and_page(corpus: StudioCorpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ui.studio.grid.PAGE_SIZE", 12)
    a, b, cat = corpus.ids["scene0_style0_v0.png"], corpus.ids["scene0_style2_v0.png"], corpus.ids["chelsea.png"]
    at = _fresh(corpus.home, monkeypatch, {"q": "a cat", "pick": [f"id:{a}", f"id:{b}", "/etc/passwd"],
                                           "content": f"id:{cat}", "page": "2"})
    assert at.text_input(key="q_text").value == "a cat"
    assert [c.split()[0] for c in result_captions(at)] == ["#13", "#14", "#15"]  # page 2 of the search
    sidebar = _sidebar(at)
    assert "Styles picked: 2 (scene0_style0_v0.png" in sidebar and "passwd" not in sidebar  # no file outside
    assert f"Content to stylize: chelsea.png (id {cat})" in sidebar
    run(at.button(key="search_grid-prev").click())
    assert "page" not in at.query_params  # page 1 is the default: left out of the URL
    run(at.button(key=f"search_grid-{corpus.ids['coffee.png']}-style").click())
    assert list(at.query_params["pick"]) == [f"id:{a}", f"id:{b}", f"id:{corpus.ids['coffee.png']}"]
    assert at.query_params["content"] in (f"id:{cat}", [f"id:{cat}"])


def test_the_viewer_shows_the_full_image_where_it_is_and_both_scores(studio: AppTest, corpus: StudioCorpus) -> None:
    cat = corpus.ids["chelsea.png"]
    studio.text_input(key="q_text").set_value("a cat")
    run(studio)
    content_score = float(result_captions(studio)[0].split(" · ")[1])
    run(studio.button(key=f"search_grid-{cat}-view").click())
    shown = texts(studio.markdown) + texts(studio.caption)
    assert f"**chelsea.png** · id {cat} · corpus photos" in shown and str(corpus.photos / "chelsea.png") in shown
    assert "451 × 300 px · PNG" in shown
    metrics = {m.label: float(m.value) for m in studio.metric}
    assert set(metrics) == {"content similarity", "style similarity"}
    assert metrics["content similarity"] == pytest.approx(content_score, abs=1e-3)  # the search's own score
    assert -1 <= metrics["style similarity"] <= 1 and metrics["style similarity"] != metrics["content similarity"]
    run(studio.button(key=f"viewer-{cat}-style").click())
    assert "chelsea.png (id 3) is now a picked style (1 picked" in texts(studio.success).replace(
        f"(id {cat})", "(id 3)")


def test_the_query_is_shown_as_pictures(studio: AppTest, corpus: StudioCorpus) -> None:
    a, b = corpus.ids["scene0_style0_v0.png"], corpus.ids["coffee.png"]
    studio.text_input(key="q_text").set_value(f"id:{a} - 0.5:id:{b}")
    run(studio)
    assert [c for c in captions(studio) if c.startswith("query:")] == [f"query: id {a}", f"query: id {b} (-0.5)"]


def test_an_empty_workspace_points_to_the_index_page(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    Workspace.open(tmp_path / "ws").close()
    at = _fresh(tmp_path / "ws", monkeypatch)
    assert "no images yet" in texts(at.info) and not at.error
    assert [link.proto.page for link in at.get("page_link")] and "Index page" in at.get("page_link")[0].proto.label
    run(at.switch_page("refine_page.py"))
    assert "no images yet" in texts(at.info) and not at.error
    run(at.switch_page("history_page.py"))
    assert "No generations yet" in texts(at.info)


def test_missing_weights_are_said_before_any_parameter(studio: AppTest) -> None:
    run(studio.switch_page("refine_page.py"))
    run(studio.selectbox(key="gen_method").set_value("diffstyle"))
    assert studio.selectbox(key="gen-diffstyle-model").value == "diffstyle/celebahq"  # the method's default
    [warning] = [w.value for w in studio.warning if "not on this machine" in w.value]
    assert warning.startswith("The weights of diffstyle/celebahq are not on this machine")
    assert "  \n" in warning  # its line break is kept on the page
    from huggingface_hub import constants

    # the files, the exact folder to put them in, and only what this page offers (no CLI flags, no API options)
    assert "unet/diffusion_pytorch_model.safetensors" in warning and f"({constants.HF_HUB_CACHE})" in warning
    assert 'choose another model in the "Model" list' in warning and "--" not in warning and "=True" not in warning
    assert not [n for n in studio.number_input if n.key.startswith("gen-diffstyle-")]  # no parameter form
    run(studio.selectbox(key="gen-diffstyle-model").set_value("diffstyle/tiny-pixel"))
    assert studio.number_input(key="gen-diffstyle-gamma") and not studio.warning


def test_parasol_never_defaults_to_its_placeholder(studio: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STYLELENS_PARASOL_CHECKPOINTS", raising=False)
    run(studio.switch_page("refine_page.py"))
    run(studio.selectbox(key="gen_method").set_value("parasol"))
    picker = studio.selectbox(key="gen-parasol-model")
    assert picker.options[0].startswith("<") and not picker.value.startswith("<")


def test_history_page_lists_runs_and_regenerates_one(studio: AppTest, corpus: StudioCorpus, ws: Workspace,
                                                     tmp_path) -> None:
    register_blend()
    request = GenerationRequest(resolve_content(ws, f"id:{corpus.ids['coffee.png']}"),
                                [resolve_style(ws, f"id:{corpus.ids['scene1_style1_v0.png']}")], {}, 4)
    generated = generate(build_stylizer(BLEND), request, tmp_path / "run", progress=False)
    record_id = record_generation(ws, request, generated)
    run(studio.switch_page("history_page.py"))
    entry = list_generations(ws, limit=1)[0]
    assert entry.record.id == record_id
    assert f"**{entry.summary()}**" in texts(studio.markdown)
    assert f"#{record_id} stylize · {BLEND} · 1 image · seed 4" in entry.summary()
    assert f"content id:{corpus.ids['coffee.png']} · styles id:{corpus.ids['scene1_style1_v0.png']}" in texts(
        studio.caption)
    assert f"record {record_id}" in captions(studio)
    run(studio.button(key=f"history-{record_id}-regenerate").click())
    assert f"byte-identical to record {record_id}" in texts(studio.success)
    assert len(list((corpus.home / "generated").iterdir())) >= 1


def test_styo_form_leaves_the_learning_rate_to_its_default(studio: AppTest) -> None:
    run(studio.switch_page("styo_page.py"))
    lr = studio.number_input(key="styo_lr")
    assert lr.value is None  # the placeholder says the default, not "0.0e+0"


def test_image_scores_agree_with_each_spaces_search(ws: Workspace, corpus: StudioCorpus) -> None:
    from retrieval.query import parse_query
    from retrieval.scores import image_scores
    from retrieval.search import joint_search, search

    a, cat = corpus.ids["scene1_style2_v0.png"], corpus.ids["chelsea.png"]
    [hit] = joint_search(ws, "a cat", f"id:{a}", k=1)
    assert image_scores(ws, hit.id, parse_query("a cat"), parse_query(f"id:{a}")) == pytest.approx(hit.scores)
    style_hits = {h.id: h.score for h in search(ws, f"id:{cat}", space="style", k=15, collapse=False)}
    scores = image_scores(ws, a, parse_query(f"id:{cat}"))  # one query read in both spaces
    assert scores["style"] == pytest.approx(style_hits[a], abs=1e-5) and set(scores) == {"content", "style"}


def test_search_says_what_a_text_query_matched_and_can_keep_copies(studio: AppTest) -> None:
    studio.text_input(key="q_text").set_value("a cup of coffee")
    run(studio)
    [expander] = [e for e in studio.expander if e.label == "What the text query matched"]
    shown = texts(expander.code)
    assert shown.startswith("explain: 'a cup of coffee' in content space") and "espresso" in shown
    assert studio.session_state["search_last_request"].collapse is True
    studio.toggle(key="q_collapse").set_value(False)
    run(studio)
    assert studio.session_state["search_last_request"].collapse is False


def test_a_weak_text_match_is_flagged_on_the_page(studio: AppTest) -> None:
    studio.text_input(key="q_text").set_value("quantum entanglement")
    run(studio)
    assert "'quantum entanglement' matches none of the 1000 labels" in texts(studio.warning)


def test_search_filters_are_the_libraries_and_a_bad_value_is_said(studio: AppTest, corpus: StudioCorpus) -> None:
    studio.text_input(key="q_text").set_value("a cup of coffee")
    studio.text_input(key="f_path").set_value("*/photos/c*")
    run(studio)
    names = [c.split(" · ")[0].split(" ", 1)[1] for c in result_captions(studio)]
    expected = sorted(n for n in corpus.ids if n.startswith("c") and (corpus.photos / n).exists())
    assert sorted(names) == expected and expected  # exactly the photos whose names start with c
    studio.text_input(key="f_after").set_value("next tuesday")
    run(studio)
    assert "Filters not applied: cannot read the date 'next tuesday'" in texts(studio.warning)
