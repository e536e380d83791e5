"""StyO through both interfaces on the tiny model: `stylelens train styo` (new, resumed, listed) then
`stylelens stylize --method styo --model styo/NAME` (recorded, regenerated exactly), and the Studio's StyO
page (fine-tune form with uploads, progress, the model card's stylize) plus the generate panel's picker."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from generation.records import load_record
from indexer.workspace import Workspace
from ui.cli import main
from ui.studio import APP_FILE
from synthetic_images import smooth_noise

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = "styo/tiny-sd15"


_image = smooth_noise


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("styo-ui")
    (root / "faces").mkdir()
    for i in range(2):
        _image(20 + i, (36, 36)).save(root / "faces" / f"{i}.png")
    _image(1, (40, 40)).save(root / "source.png")
    _image(2, (40, 40)).save(root / "target.png")
    return {"root": root, "faces": root / "faces", "source": root / "source.png", "target": root / "target.png"}


def _run(capsys, *args: str) -> tuple[int, object, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in args else out), err


def test_cli_finetunes_resumes_lists_and_stylizes_with_the_model(capsys, files, tmp_path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    code, data, err = _run(capsys, "train", "styo", "--name", "me", "--source", str(files["source"]), "--target",
                           str(files["target"]), "--aux", str(files["faces"]), "--base", TINY, "--steps", "2",
                           "--lr", "1e-3", "--json", *ws)
    assert code == 0, err
    assert data["model_id"] == "styo/me" and data["step"] == 2 and data["kind"] == "full"
    assert data["identifiers"] == {"S_src": "olis", "S_tgt": "lun", "C_src": "hta", "C_tgt": "dits"}
    assert Path(data["folder"]) == (tmp_path / "ws" / "models" / "styo" / "me").resolve()
    code, data, err = _run(capsys, "styo", "finetune", "--name", "me", "--steps", "3", "--json", *ws)  # resume
    assert code == 0 and data["step"] == 3, err  # the old spelling still works, with a one-line notice
    assert err.splitlines()[0] == "stylelens: `styo finetune` is deprecated; use `stylelens train styo`"
    code, _, err = _run(capsys, "train", "styo", "--name", "me", "--lora", *ws)
    assert code == 1 and "fine-tuned with lora=False, not True" in err and "Traceback" not in err
    code, listing, err = _run(capsys, "models", "list", "--json", *ws)
    rows = {g["model_id"]: g for g in listing["generators"] if g["method"] == "styo"}
    assert rows["styo/me"]["weights_present"] and "step 3 of 3" in rows["styo/me"]["description"]
    code, listed, _ = _run(capsys, "styo", "list", "--json", *ws)
    assert [r["model_id"] for r in listed] == ["styo/me"]

    out = tmp_path / "out"
    code, data, err = _run(capsys, "stylize", "--method", "styo", "--model", "styo/me", "--content",
                           str(files["source"]), "--style", str(files["target"]), "--param", "num_inference_steps=3",
                           "--param", "n_s=2", "--seed", "5", "--out", str(out), "--json", *ws)
    assert code == 0, err
    assert data["method"] == "styo" and data["params"]["n_s"] == 2 and data["params"]["height"] == 32
    assert data["model_ids"]["model"] == "styo/me" and data["model_ids"]["step"] == "3"
    code, again, err = _run(capsys, "regenerate", str(data["record_id"]), "--out", str(tmp_path / "re"), "--json", *ws)
    assert code == 0 and again["identical"], err
    code, _, err = _run(capsys, "stylize", "--method", "styo", "--model", "me", "--content", str(files["source"]),
                        "--style", str(files["source"]), "--out", str(tmp_path / "bad"), *ws)
    assert code == 1 and "style is baked into model 'styo/me'" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "stylize", "--method", "styo", "--model", "nobody", "--content", str(files["source"]),
                        "--style", str(files["target"]), "--out", str(tmp_path / "bad"), *ws)
    assert code == 1 and "no fine-tuned StyO model 'nobody'" in err


def run(target) -> AppTest:  # noqa: ANN001 - the app, or one of its widgets after an interaction
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_studio_page_fine_tunes_from_uploads_and_stylizes(files, tmp_path, monkeypatch) -> None:
    home = tmp_path / "ws"
    Workspace.open(home).close()
    monkeypatch.setenv("STYLELENS_HOME", str(home))
    monkeypatch.delenv("STYLELENS_DB_URL", raising=False)
    at = run(AppTest.from_file(str(APP_FILE), default_timeout=120))
    run(at.switch_page("styo_page.py"))
    assert at.title[0].value == "StyO" and "No fine-tuned StyO models" in " ".join(i.value for i in at.info)
    run(at.button(key="styo_go").click())
    assert "model name is 1-64 letters" in at.error[0].value
    at.text_input(key="styo_name").set_value("studio")
    run(at.button(key="styo_go").click())
    assert "needs source, target, aux" in at.error[0].value
    at.file_uploader(key="styo_source").upload("me.png", files["source"].read_bytes(), "image/png")
    at.file_uploader(key="styo_target").upload("art.png", files["target"].read_bytes(), "image/png")
    run(at)
    at.text_input(key="styo_aux_folder").set_value(str(files["faces"]))
    at.selectbox(key="styo_base").set_value(TINY)
    at.number_input(key="styo_steps").set_value(2)
    run(at.button(key="styo_go").click())
    assert not at.error, [e.value for e in at.error]
    assert "styo/studio: 2 of 2 iterations" in " ".join(s.value for s in at.success)
    at.number_input(key="styo-params-num_inference_steps").set_value(2)
    run(at.button(key="styo-stylize-studio").click())
    assert not at.error, [e.value for e in at.error]
    [record_id] = re.findall(r"generation record (\d+)", " ".join(c.value for c in at.caption))
    ws = Workspace.open(home)
    try:
        record = load_record(ws, int(record_id))
    finally:
        ws.close()
    assert record.method == "styo" and record.options == {"model": "styo/studio"}
    assert record.params["num_inference_steps"] == 2 and record.model_ids["step"] == "2"

    run(at.switch_page("refine_page.py"))  # the generate panel offers the fine-tuned model for method styo
    run(at.selectbox(key="gen_method").set_value("styo"))
    assert at.selectbox(key="gen-styo-model").options[0] == "styo/studio"
