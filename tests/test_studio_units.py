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
