"""PARASOL end to end through the CLI on a tiny workspace: index -> mine-triplets -> train parasol (encoders from
the mining run's spaces) -> stylize --method parasol with the checkpoint -> exact regenerate -> parasol-grid."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import cli_error, cli_json

from generation.parasol.tiny import synthetic_triplets

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_train_on_a_mining_run_then_stylize_regenerate_and_grid(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STYLELENS_PARASOL_CHECKPOINTS", raising=False)
    images = tmp_path / "imgs"
    synthetic_triplets(images, n=3)
    (images / "triplets.jsonl").unlink()
    ws = ["--workspace", str(tmp_path / "ws")]
    cli_json(capsys, "index", str(images), "--corpus", "c", "--profile", "tiny", "--workers", "0", *ws)
    cli_json(capsys, "mine-triplets", "--train", "c", "--style-db", "c", "--content-db", "c", "-k", "3",
         "--content-ceiling", "1", "--style-ceiling", "1", "--run", "r1", *ws)

    train = ["train", "parasol", "--run", "r1", "--base", "tiny", "--steps", "2", "--batch-size", "2", *ws]
    # the tiny profile's style space is the Magenta predictor (ONNX): no gradients for MSE(a_s, A(x'))
    err = cli_error(capsys, *train)
    assert "w_s = 1 needs gradients through tiny/magenta-style" in err and "set w_s=0" in err
    summary = cli_json(capsys, *train, "--w-s", "0", "--checkpoint-every", "1")
    out_dir = tmp_path / "ws" / "parasol" / "r1"
    assert summary["out_dir"] == str(out_dir) and summary["step"] == 2 and summary["triplets"] == 9
    assert (summary["style_encoder"], summary["content_encoder"]) == ("tiny/magenta-style", "tiny/efficientnet-lite")
    assert (out_dir / "loss_curve.png").is_file() and (out_dir / "checkpoint" / "model.safetensors").is_file()
    again = cli_json(capsys, *train, "--w-s", "0", "--steps", "3")  # the same folder resumes
    assert (again["step"], again["steps_run"]) == (3, 1)
    listed = [g for g in cli_json(capsys, "models", "list", *ws)["generators"] if g["method"] == "parasol"]
    assert [g["model_id"] for g in listed] == [str(out_dir), "parasol/tiny"] and "step 3" in listed[0]["description"]

    made = cli_json(capsys, "stylize", "--method", "parasol", "--model", str(out_dir), "--content",
                str(images / "000_y.png"), "--style", str(images / "001_s.png"), "--param", "steps=4",
                "--param", "lam=2", "--param", "g_s=2.5", "--seed", "4", "--out", str(tmp_path / "out"), *ws)
    assert made["method"] == "parasol" and made["params"]["lam"] == 2 and made["params"]["g_s"] == 2.5
    assert made["params"]["height"] == 32 and made["model_ids"]["model"] == str(out_dir)
    assert made["model_ids"]["checkpoint_id"].endswith("@3")
    regen = cli_json(capsys, "regenerate", str(made["record_id"]), "--out", str(tmp_path / "re"), *ws)
    assert regen["identical"] is True

    grid = cli_json(capsys, "parasol-grid", "--model", str(out_dir), "--content", str(images / "000_y.png"),
                "--content", str(images / "001_y.png"), "--style", str(images / "000_s.png"), "--style",
                str(images / "002_s.png"), "--steps", "2", "--param", "steps=3", "--param", "lam=1",
                "--out", str(tmp_path / "grid"), *ws)
    assert len(grid["outputs"]) == 4 and (tmp_path / "grid" / "parasol-grid.png").is_file()
    assert json.loads((tmp_path / "grid" / "parasol-grid.json").read_text())["params"]["lam"] == 1
    err = cli_error(capsys, "parasol-grid", "--model", str(out_dir), "--content", str(images / "000_y.png"),
                "--style", str(images / "000_s.png"), "--out", str(tmp_path / "g2"), *ws)
    assert "--content twice and --style twice" in err
    err = cli_error(capsys, "train", "parasol", "--run", "nope", "--base", "tiny", *ws)
    assert "no mining run named 'nope'" in err
