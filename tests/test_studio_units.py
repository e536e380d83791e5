"""The Studio's helpers that need no running app: upload validation and storage, the `stylelens ui`
command line, the parameters form's reading of a stylizer's dataclass."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from corpus_factory import forged_png, pattern_image

from indexer.layout import WorkspaceLayout
from ui.cli import main
from ui.studio import APP_FILE, UPLOAD_LIMIT_MB
from ui.studio.uploads import UploadError, save_upload


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    pattern_image(size).save(buf, "PNG")
    return buf.getvalue()


def test_an_upload_is_stored_in_the_workspace_under_its_hash(tmp_path: Path) -> None:
    data = png()
    saved = save_upload(WorkspaceLayout(tmp_path), "../../etc/evil name.png", data)
    assert saved.path == tmp_path.resolve() / "uploads" / f"{hashlib.sha256(data).hexdigest()}.png"
    assert saved.path.read_bytes() == data and saved.name == "evil name.png"
    assert save_upload(WorkspaceLayout(tmp_path), "again.png", data).path == saved.path  # same bytes, same file
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == [saved.path.name]  # no temp files left


def test_the_suffix_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    buf = io.BytesIO()
    pattern_image((32, 32)).save(buf, "JPEG")
    assert save_upload(WorkspaceLayout(tmp_path), "photo.png", buf.getvalue()).path.suffix == ".jpg"


@pytest.mark.parametrize(("data", "limit", "message"), [
    (b"", None, "not a usable image: zero-byte file"),
    (b"GIF89a but not really", None, "not a usable image"),
    (forged_png(20000, 20000), None, "not a usable image"),  # 400 MP header: refused before decoding
    (png(), 100, "uploads are limited to"),
])
def test_bad_uploads_are_refused_and_nothing_is_written(tmp_path: Path, data: bytes, limit: int | None,
                                                        message: str) -> None:
    kwargs = {"max_bytes": limit} if limit else {}
    with pytest.raises(UploadError, match=message):
        save_upload(WorkspaceLayout(tmp_path), "x.png", data, **kwargs)
    assert not list((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else True


def test_an_uploads_link_leading_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    home, outside = tmp_path / "ws", tmp_path / "elsewhere"
    home.mkdir()
    outside.mkdir()
    os.symlink(outside, home / "uploads")
    with pytest.raises(UploadError, match="not a plain folder inside the workspace"):
        save_upload(WorkspaceLayout(home), "x.png", png())
    assert not list(outside.iterdir())


def test_ui_command_starts_streamlit_on_localhost_for_the_workspace(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr("ui.cli_ui._exec", lambda command, env: started.append((command, env)))
    assert main(["ui", "--workspace", str(tmp_path / "ws"), "--port", "8765"]) == 0
    [(command, env)] = started
    assert command[1:5] == ["-m", "streamlit", "run", str(APP_FILE)]
    flags = dict(zip(command[5::2], command[6::2]))
    assert flags == {"--server.address": "127.0.0.1", "--server.port": "8765", "--server.headless": "true",
                     "--browser.gatherUsageStats": "false", "--server.maxUploadSize": str(UPLOAD_LIMIT_MB),
                     "--server.fileWatcherType": "none", "--client.toolbarMode": "minimal"}
    assert env["STYLELENS_HOME"] == str((tmp_path / "ws").resolve())
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    assert (tmp_path / "ws" / "catalog.sqlite").is_file()  # opened (and migrated) before the server starts


def test_ui_command_refuses_a_bad_port_or_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ui.cli_ui._exec", lambda command, env: pytest.fail("must not start"))
    assert main(["ui", "--workspace", str(tmp_path / "ws"), "--port", "70000"]) == 1
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["ui", "--workspace", str(tmp_path / "file")]) == 1
    assert "is not a directory" in capsys.readouterr().err


def test_params_form_reads_the_fast_stylizers_parameters() -> None:
    from streamlit.testing.v1 import AppTest

    def page() -> None:
        import streamlit as st

        from generation.fast import FastParams
        from ui.studio.params_form import params_form

        st.session_state["values"] = params_form(FastParams, key="p")

    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception
    assert at.session_state["values"] == {"strength": 1.0, "preserve_colour": False, "content_size": 384,
                                          "style_size": 256, "colour_match": "none"}
    assert at.selectbox(key="p-colour_match").options == ["none", "style", "content"]
    at.number_input(key="p-strength").set_value(0.25).run()
    assert at.session_state["values"]["strength"] == 0.25


def test_params_form_covers_choices_optional_text_and_leaves_the_rest_to_defaults() -> None:
    from streamlit.testing.v1 import AppTest

    def page() -> None:
        from dataclasses import dataclass, field
        from typing import Literal

        import streamlit as st

        from ui.studio.params_form import params_form

        @dataclass
        class Params:
            mode: Literal["auto", "img2img"] = "img2img"
            description: str | None = None
            blocks: list[str] = field(default_factory=list)
            steps: int = 30

        st.session_state["values"] = params_form(Params, key="q")

    at = AppTest.from_function(page, default_timeout=60).run()
    assert at.session_state["values"] == {"mode": "img2img", "description": None, "steps": 30}
    at.text_input(key="q-description").set_value("a harbour").run()
    assert at.session_state["values"]["description"] == "a harbour"


# ------------------------------------------------------------------------ issue 20: state, words, defaults


def test_url_state_round_trips_and_leaves_defaults_out() -> None:
    from ui.studio.url_state import UrlState, from_params, to_params

    state = UrlState(text="a cat", mode="joint", style="id:7", alpha=0.25, picks=("id:7", "id:9"), content="id:3",
                     page=2)
    params = to_params(state)
    assert params == {"q": "a cat", "mode": "joint", "style": "id:7", "alpha": "0.25", "pick": ["id:7", "id:9"],
                      "content": "id:3", "page": "3"}
    as_lists = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    assert from_params(as_lists) == state
    assert to_params(UrlState()) == {}
    assert to_params(UrlState(mode="content", style="id:7", alpha=0.9)) == {}  # only a joint search has them


@pytest.mark.parametrize("params", [
    {"mode": ["sideways"]}, {"alpha": ["2"]}, {"alpha": ["nan"]}, {"page": ["0"]}, {"page": ["x"]}, {"pick": [""]},
])
def test_url_state_ignores_what_it_cannot_read(params: dict) -> None:
    from ui.studio.url_state import UrlState, from_params

    assert from_params(params) == UrlState()


def test_url_state_keeps_pick_order_and_drops_repeats() -> None:
    from ui.studio.url_state import from_params

    assert from_params({"pick": ["id:9", "id:7", "id:9"]}).picks == ("id:9", "id:7")


def test_messages_keep_line_breaks_and_use_the_studios_words() -> None:
    from ui.studio.collections_page import EXPORT_FIELDS
    from ui.studio.errors import in_studio_words
    from ui.studio.state import markdown_lines

    assert markdown_lines("first\nsecond") == "first  \nsecond"
    from ui.studio.state import escape_markdown

    assert escape_markdown("my_best*shot [2].png") == "my\\_best\\*shot \\[2\\].png"
    assert escape_markdown("chelsea.png") == "chelsea.png"
    text = ("output folder /x exists and is not empty; choose another folder, or pass --overwrite to replace an "
            "earlier StyleLens export there")
    said = in_studio_words(text, EXPORT_FIELDS)
    assert "--overwrite" not in said and "tick “Replace an earlier export in the output folder” to replace" in said
    assert in_studio_words("use --out-dir, not --out", {"--out": "A", "--out-dir": "B"}) == "use B, not A"


def test_mining_defaults_follow_the_corpus_roles() -> None:
    from indexer.corpora import CorpusInfo
    from retrieval.mining.defaults import MiningCorpora, default_mining_corpora

    def corpus(name: str, role: str) -> CorpusInfo:
        return CorpusInfo(1, name, role, ())

    assert default_mining_corpora([]) is None
    both = [corpus("art", "style"), corpus("mixed", "both"), corpus("photos", "content")]
    assert default_mining_corpora(both) == MiningCorpora(train="photos", style_db="art", content_db="photos")
    assert default_mining_corpora([corpus("mixed", "both")]) == MiningCorpora("mixed", "mixed", "mixed")
    assert default_mining_corpora([corpus("art", "style")]) == MiningCorpora("art", "art", "art")  # nothing else


def test_corpora_table_counts_zero_not_none() -> None:
    from ui.studio.index_page import corpus_rows

    rows = corpus_rows([{"name": "a", "role": "content", "roots": ["/a"], "images": {"indexed": 3, "failed": 1}},
                        {"name": "b", "role": "style", "roots": ["/b"], "images": {"indexed": 2}}])
    assert rows[1] == {"corpus": "b", "role": "style", "folders": "/b", "failed": 0, "indexed": 2}
    assert all(isinstance(r["failed"], int) for r in rows)


def test_styo_progress_says_setting_up_until_the_first_iteration() -> None:
    from concurrent.futures import Future

    from ui.studio.styo_page import FinetuneJob, finetune_progress

    job = FinetuneJob("mine", Future())
    fraction, text = finetune_progress(job)
    assert fraction == 0 and "setting up" in text and "0 of 0" not in text
    job.report(5, 20, 0.25)
    assert finetune_progress(job) == (0.25, "Fine-tuning mine: 5 of 20 iterations, loss 0.2500")


def test_missing_weights_are_worded_with_the_studio_fields_and_keep_their_lines() -> None:
    from generation.weights import WeightsMissingError
    from ui.studio.errors import message

    exc = WeightsMissingError("Demo model 'd'", [("/m", "unet.safetensors")], where="/m", hub=False,
                              fixes=[("model", "<folder>")])
    shown = message(exc)
    assert shown == exc.message("studio") != exc.message("cli")
    assert "\n" in shown and "unet.safetensors" in shown and "--model" not in shown


def test_generation_step_text_names_the_image_the_step_and_the_time_left() -> None:
    from generation.method import ProgressEvent
    from ui.studio.generate_panel import step_text

    assert step_text("parasol", 1, 3, ProgressEvent(12, 50, 6.0, 19.0)) == \
        "Generating with parasol: image 2 of 3, step 12 of 50, about 19 s left for this image"
    assert step_text("fast", 0, 1, ProgressEvent(1, 1, 0.2, 0.0)) == "Generating with fast: image 1 of 1, step 1 of 1"
