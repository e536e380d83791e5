"""`stylelens stylize | interpolate | regenerate` and the generator rows of `models list`, in-process through
ui.cli.main: JSON contracts, records, exact regeneration and one-line errors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from blend_stylizer import BLEND, BlendStylizer, register_blend
from corpus_factory import pattern_image

import generation
from generation.registry import GeneratorInfo
from ui.cli import main


def _run(capsys, *args: str) -> tuple[int, object, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() and "--json" in args and code == 0 else out), err


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-gen")
    rng = np.random.default_rng(4)
    for i in range(4):
        pattern_image((64, 48), tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))).save(
            root / f"{i}.png")
    register_blend()
    return root


def test_stylize_json_record_and_regenerate(capsys, images: Path, tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    out = tmp_path / "out"
    code, data, err = _run(capsys, "stylize", "--method", BLEND, "--content", str(images / "0.png"),
                           "--style", f"{images / '1.png'}:0.7", "--style", str(images / "2.png"), "--out", str(out),
                           "--seed", "3", "--param", "strength=0.4", "--param", "colour_match=none", "--json", *ws)
    assert code == 0, err
    assert {"outputs", "record_id", "method", "params", "seed"} <= set(data)
    assert data["method"] == BLEND and data["seed"] == 3 and data["params"]["strength"] == 0.4
    assert len(data["outputs"]) == 1 and Path(data["outputs"][0]).parent == out.resolve()
    assert Path(data["outputs"][0]).is_file() and data["model_ids"] == {"blend": "blend-v1"}

    code, again, err = _run(capsys, "regenerate", str(data["record_id"]), "--out", str(tmp_path / "re"), "--json", *ws)
    assert code == 0, err
    assert again["identical"] is True and again["differing"] == []
    assert Path(again["outputs"][0]).read_bytes() == Path(data["outputs"][0]).read_bytes()

    # the same request into the same folder is refused (one line, no traceback) unless --overwrite
    args = ["stylize", "--method", BLEND, "--content", str(images / "0.png"), "--style", f"{images / '1.png'}:0.7",
            "--style", str(images / "2.png"), "--out", str(out), "--seed", "3", "--param", "strength=0.4",
            "--param", "colour_match=none", *ws]
    code, _, err = _run(capsys, *args)
    assert code == 1 and "already exists" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, *args, "--overwrite")
    assert code == 0, err


def test_interpolate_writes_a_grid_and_single_images_in_one_record(capsys, images: Path, tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    code, data, err = _run(capsys, "interpolate", "--method", BLEND, "--content", str(images / "0.png"),
                           "--style", str(images / "1.png"), "--style", str(images / "2.png"), "--style",
                           str(images / "3.png"), "--steps", "5", "--out", str(tmp_path / "strip"), "--json", *ws)
    assert code == 0, err
    assert len(data["outputs"]) == 5 and Path(data["grid"]).is_file() and data["grid"].endswith("-strip.png")
    assert [s["weights"] for s in data["steps"]] == [[1, 0, 0], [0.5, 0.5, 0], [0, 1, 0], [0, 0.5, 0.5], [0, 0, 1]]
    assert [s["outputs"] for s in data["steps"]] == [[p] for p in data["outputs"]]
    code, again, err = _run(capsys, "regenerate", str(data["record_id"]), "--out", str(tmp_path / "re"), "--json", *ws)
    assert code == 0 and again["identical"], err
    assert (tmp_path / "re" / Path(data["grid"]).name).read_bytes() == Path(data["grid"]).read_bytes()


def test_fast_method_runs_for_real_and_regenerates_exactly(capsys, images: Path, tmp_path: Path) -> None:
    pytest.importorskip("generation.fast")
    ws = ["--workspace", str(tmp_path / "ws")]
    code, data, err = _run(capsys, "stylize", "--method", "fast", "--content", str(images / "0.png"), "--style",
                           str(images / "1.png"), "--param", "content_size=64", "--param", "style_size=64",
                           "--out", str(tmp_path / "fast"), "--json", *ws)
    assert code == 0, err
    assert data["method"] == "fast" and data["params"]["content_size"] == 64
    from PIL import Image

    assert max(Image.open(data["outputs"][0]).size) == 64
    code, again, err = _run(capsys, "regenerate", str(data["record_id"]), "--out", str(tmp_path / "re"), "--json", *ws)
    assert code == 0 and again["identical"], err


def test_diffstyle_method_runs_with_its_params_recorded_and_regenerates_exactly(capsys, images: Path,
                                                                                tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    code, data, err = _run(capsys, "stylize", "--method", "diffstyle", "--model", "diffstyle/tiny-pixel",
                           "--content", str(images / "0.png"), "--style", str(images / "1.png"), "--seed", "2",
                           "--param", "inversion_steps=4", "--param", "generation_steps=5", "--param", "gamma=0.5",
                           "--param", "mask_box=[0, 0, 1, 0.5]", "--out", str(tmp_path / "ds"), "--json", *ws)
    assert code == 0, err
    assert data["method"] == "diffstyle" and data["model_ids"] == {"model": "diffstyle/tiny-pixel", "source": "tiny"}
    assert {k: data["params"][k] for k in ("gamma", "omega", "t_edit", "t_boost", "inversion_steps",
                                            "generation_steps", "mask_box", "height", "width")} == {
        "gamma": 0.5, "omega": 0.3, "t_edit": 400, "t_boost": 200, "inversion_steps": 4, "generation_steps": 5,
        "mask_box": [0, 0, 1, 0.5], "height": 16, "width": 16}
    code, again, err = _run(capsys, "regenerate", str(data["record_id"]), "--out", str(tmp_path / "re"), "--json", *ws)
    assert code == 0 and again["identical"], err
    code, _, err = _run(capsys, "stylize", "--method", "diffstyle", "--model", "diffstyle/tiny-pixel", "--content",
                        str(images / "0.png"), "--style", str(images / "1.png"), "--param", "t_boost=900",
                        "--out", str(tmp_path / "bad"), *ws)
    assert code == 1 and "t_boost (900) must not exceed t_edit (400)" in err and "Traceback" not in err


def test_dualstylegan_method_runs_an_unseen_exemplar_and_regenerates_exactly(capsys, images: Path,
                                                                              tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    common = ["--method", "dualstylegan", "--model", "dualstylegan/tiny", "--content", str(images / "0.png"),
              "--style", str(images / "1.png"), "--param", "align=centre", "--param", "output_size=48"]
    code, data, err = _run(capsys, "stylize", *common, "--seed", "2", "--param", "exemplar_steps=0", "--param",
                           "destylise_steps=0", "--param", "w_s=0.5", "--param", "preserve_colour=intrinsic",
                           "--out", str(tmp_path / "dsg"), "--json", *ws)
    assert code == 0, err
    assert data["method"] == "dualstylegan" and data["model_ids"] == {"model": "dualstylegan/tiny", "source": "tiny"}
    p = data["params"]
    assert p["weights"] == [0.5] * 7 + [1.0] * 11 and p["align"] == "centre" and p["preserve_colour"] == "intrinsic"
    assert p["exemplar_losses"] == ["perceptual", "contextual", "identity", "latent_spread", "noise"]
    code, again, err = _run(capsys, "regenerate", str(data["record_id"]), "--out", str(tmp_path / "re"), "--json", *ws)
    assert code == 0 and again["identical"], err
    code, _, err = _run(capsys, "stylize", *common, "--param", "style_id=7", "--out", str(tmp_path / "bad"), *ws)
    assert code == 1 and "style_id 7 is out of range" in err and "Traceback" not in err


def test_parasol_method_runs_with_its_params_recorded_and_regenerates_exactly(capsys, images: Path,
                                                                              tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    code, data, err = _run(capsys, "stylize", "--method", "parasol", "--model", "parasol/tiny", "--content",
                           str(images / "0.png"), "--style", str(images / "1.png"), "--seed", "2", "--param", "steps=4",
                           "--param", "lam=2", "--param", "g_y=1.5", "--param", "inversion_noise=independent",
                           "--out", str(tmp_path / "p"), "--json", *ws)
    assert code == 0, err
    assert data["method"] == "parasol" and data["model_ids"] == {"model": "parasol/tiny"}
    assert {k: data["params"][k] for k in ("steps", "lam", "g_s", "g_y", "invert", "inversion_noise", "height",
                                            "width", "colour_match")} == {
        "steps": 4, "lam": 2, "g_s": 3.0, "g_y": 1.5, "invert": True, "inversion_noise": "independent",
        "height": 32, "width": 32, "colour_match": "none"}
    code, again, err = _run(capsys, "regenerate", str(data["record_id"]), "--out", str(tmp_path / "re"), "--json", *ws)
    assert code == 0 and again["identical"], err
    code, _, err = _run(capsys, "stylize", "--method", "parasol", "--model", "parasol/tiny", "--content",
                        str(images / "0.png"), "--style", str(images / "1.png"), "--param", "steps=4", "--param",
                        "lam=9", "--out", str(tmp_path / "bad"), *ws)
    assert code == 1 and "lam must be an integer in [0, 4]" in err and "Traceback" not in err


@pytest.mark.parametrize("extra, message", [
    (["--content", "nope.png", "--style", "x.png"], "no such image file: nope.png"),
    (["--content", "id:777", "--style", "{0}"], "no image with id 777"),
    (["--content", "{0}", "--style", "{0}", "--param", "bogus=1"], "unknown parameter"),
    (["--content", "{0}", "--style", "{0}", "--param", "novalue"], "KEY=VALUE"),
    (["--content", "{0}"], "at least one --style"),
    (["--style", "{0}"], "--content PATH|ID or --prompt"),
    (["--content", "{0}", "--style", "{0}:-1"], "must be a finite number >= 0"),
    (["--content", "{0}", "--style", "{0}:0"], "weights sum to 0"),
])
def test_stylize_errors_are_one_clear_line(capsys, images: Path, tmp_path: Path, extra, message) -> None:
    extra = [e.format(images / "0.png") for e in extra]
    code, _, err = _run(capsys, "stylize", "--method", BLEND, "--out", str(tmp_path / "o"), *extra,
                        "--workspace", str(tmp_path / "ws"))
    assert code == 1 and message in err and "Traceback" not in err, err


def test_unknown_and_broken_methods(capsys, images: Path, tmp_path: Path, request) -> None:
    def broken_listing() -> list[GeneratorInfo]:
        raise ImportError("No module named 'fancy_diffusion'")

    def broken_factory(**_):
        raise ImportError("No module named 'fancy_diffusion'")

    generation.register("test-broken", broken_factory, broken_listing)
    request.addfinalizer(lambda: generation.registry._REGISTERED.pop("test-broken", None))  # keep it out of other tests
    ws = ["--workspace", str(tmp_path / "ws")]
    common = ["--content", str(images / "0.png"), "--style", str(images / "1.png"), "--out", str(tmp_path / "o"), *ws]
    code, _, err = _run(capsys, "stylize", "--method", "no-such-method", *common)
    assert code == 1 and "unknown stylization method 'no-such-method'" in err
    code, _, err = _run(capsys, "stylize", "--method", "test-broken", *common)
    assert code == 1 and "unavailable here" in err and "fancy_diffusion" in err and "Traceback" not in err

    code, listing, err = _run(capsys, "models", "list", "--json")
    assert code == 0, err
    rows = {g["method"]: g for g in listing["generators"]}
    assert rows["test-broken"]["available"] is False and "fancy_diffusion" in rows["test-broken"]["reason"]
    assert rows[BLEND]["available"] is True and rows[BLEND]["model_id"] == "blend-v1"
    assert listing["encoders"] and all("encoder_id" in m for m in listing["encoders"])
    code, text, _ = _run(capsys, "models", "list")
    assert code == 0 and "test-broken" in text and "UNAVAILABLE" in text


def test_the_workspace_is_passed_to_methods_that_keep_models_in_it(capsys, images: Path, tmp_path: Path, request,
                                                                   monkeypatch) -> None:
    seen: list[tuple[str, Path, str | None]] = []

    def factory(workspace=None, **_):  # noqa: ANN001, ANN202
        seen.append(("create", workspace.home, os.environ.get("STYLELENS_HOME")))
        return BlendStylizer()

    def listing(workspace=None) -> list[GeneratorInfo]:  # noqa: ANN001
        seen.append(("list", workspace.home, os.environ.get("STYLELENS_HOME")))
        return [GeneratorInfo("test-ws", "ws-model", "a model kept in the workspace", True)]

    generation.register("test-ws", factory, listing, uses_workspace=True)
    request.addfinalizer(lambda: generation.registry._REGISTERED.pop("test-ws", None))
    monkeypatch.delenv("STYLELENS_HOME", raising=False)
    home, env_home = tmp_path / "ws", tmp_path / "env"
    code, _, err = _run(capsys, "stylize", "--method", "test-ws", "--content", str(images / "0.png"), "--style",
                        str(images / "1.png"), "--out", str(tmp_path / "o"), "--workspace", str(home))
    assert code == 0, err
    code, listing_json, err = _run(capsys, "models", "list", "--json", "--workspace", str(home))
    assert code == 0 and any(g["model_id"] == "ws-model" for g in listing_json["generators"]), err
    monkeypatch.setenv("STYLELENS_HOME", str(env_home))
    assert _run(capsys, "models", "list", "--json")[0] == 0
    assert not env_home.exists()  # listing models opens (and so creates) no workspace
    # --workspace reaches the method as a parameter; nothing sets $STYLELENS_HOME for it
    assert seen == [("create", home.resolve(), None), ("list", home.resolve(), None),
                    ("list", env_home.resolve(), str(env_home))]


def test_regenerate_unknown_record_and_retrieve_flags(capsys, images: Path, tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    code, _, err = _run(capsys, "regenerate", "41", "--out", str(tmp_path / "o"), *ws)
    assert code == 1 and "no generation record 41" in err
    code, _, err = _run(capsys, "interpolate", "--retrieve", "--style", "1", "--style", "2", "--method", BLEND, *ws)
    assert code == 1 and "drop --method" in err
    code, _, err = _run(capsys, "interpolate", "--method", BLEND, "--style", "1", *ws)
    assert code == 1 and "at least two --style" in err


def test_interpolate_retrieve_prints_results_per_step(capsys, images: Path, tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path / "ws")]
    code, _, err = _run(capsys, "index", str(images), "--corpus", "c", "--profile", "tiny", "--workers", "0", *ws)
    assert code == 0, err
    code, hits, _ = _run(capsys, "search", "--like", "1", "--space", "style", "-k", "3", "--json", *ws)
    code, data, err = _run(capsys, "interpolate", "--retrieve", "--style", "1", "--style", "id:3", "--steps", "4",
                           "-k", "3", "--json", *ws)
    assert code == 0, err
    assert data["space"] == "style" and len(data["steps"]) == 4
    assert data["steps"][0]["weights"] == [1.0, 0.0] and data["steps"][-1]["weights"] == [0.0, 1.0]
    assert [h["id"] for h in data["steps"][0]["hits"]] == [h["id"] for h in hits]
    assert data["steps"][-1]["hits"][0]["id"] == 3
    code, text, _ = _run(capsys, "interpolate", "--retrieve", "--style", str(images / "0.png"), "--style", "2",
                         "--steps", "3", "-k", "2", *ws)
    assert code == 0 and text.count("step ") == 3
