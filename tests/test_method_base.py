"""The pieces `generation.method` gives every method: option checking, the one weights-missing error worded
per interface, progress with an ETA, and the result cache."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from generation import StylizeError
from generation.diffstyle import WeightsMissingError as DiffStyleWeightsMissing
from generation.dualstylegan import WeightsMissingError as DualStyleGANWeightsMissing
from generation.instantstyle import WeightsMissingError as InstantStyleWeightsMissing
from generation.method import MethodOptions, Progress, ResultCache, check_options
from generation.parasol import WeightsMissingError as ParasolWeightsMissing
from generation.styo import WeightsMissingError as StyOWeightsMissing
from generation.weights import WeightsMissingError, spell_option


@dataclass(frozen=True)
class _Options(MethodOptions):
    allow_download: bool = False


def test_options_are_checked_against_the_declared_dataclass() -> None:
    opts = check_options(_Options, {"model": "m", "device": None, "dtype": "", "allow_download": True}, "demo")
    assert opts == _Options(model="m", device="auto", dtype="auto", allow_download=True)  # None / "": default
    with pytest.raises(StylizeError, match=r"unknown demo option\(s\) \['steps'\]; known: \['model', 'device', "
                                           r"'dtype', 'allow_download'\]"):
        check_options(_Options, {"steps": 3}, "demo")


def test_every_method_raises_the_one_weights_missing_type() -> None:
    assert {DiffStyleWeightsMissing, DualStyleGANWeightsMissing, InstantStyleWeightsMissing,
            ParasolWeightsMissing, StyOWeightsMissing} == {WeightsMissingError}
    assert issubclass(WeightsMissingError, StylizeError)


def test_the_message_names_the_files_the_folder_and_each_interfaces_own_option() -> None:
    err = WeightsMissingError("Demo model 'demo/x'", [("/models/demo", "unet.safetensors"),
                                                       ("/models/demo", "vae.safetensors")],
                              where="/models/demo", hub=False, notes=["a note line"],
                              fixes=[("checkpoint_dir", "DIR"), ("allow_download", "")])
    library, cli, studio = (err.message(i) for i in ("library", "cli", "studio"))
    assert library == str(err)
    assert library.splitlines() == [
        "Demo model 'demo/x' cannot load: these files are not in /models/demo:",
        "  - /models/demo: unet.safetensors, vae.safetensors",
        "a note line",
        "or pass checkpoint_dir=DIR, allow_download=True."]
    assert cli.splitlines()[-1] == "or pass --checkpoint-dir DIR, --allow-download."
    # the Studio has no checkpoint-folder or download field: it names nothing it does not offer
    assert studio.splitlines() == library.splitlines()[:3]
    with_model = WeightsMissingError("Demo model 'demo/x'", [("/m", "u.safetensors")], where="/m", hub=False,
                                     fixes=[("model", "<folder>"), ("allow_download", "")])
    assert with_model.message("studio").splitlines()[-1] == 'or choose another model in the "Model" list.'
    assert cli.splitlines()[:3] == library.splitlines()[:3]
    assert err.files == ["/models/demo/unet.safetensors", "/models/demo/vae.safetensors"]
    with pytest.raises(ValueError, match="interface"):
        spell_option("model", "x", "web")  # type: ignore[arg-type]


def test_a_hub_model_says_how_to_download_and_a_load_failure_keeps_its_reason() -> None:
    hub = WeightsMissingError("Demo 'd'", [("org/repo", "model_index.json")], fixes=[("model", "<folder>")])
    assert "hf download org/repo model_index.json" in str(hub) and "(downloads are off)" in str(hub)
    failed = WeightsMissingError("Demo 'd'", reason="disk said no", fixes=[("model", "<folder>")])
    assert failed.message("cli") == "Demo 'd' could not load (disk said no)\nor pass --model <folder>."


def test_progress_reports_each_step_with_an_eta_from_the_mean_step_time(monkeypatch) -> None:
    clock = iter([100.0, 102.0, 104.0, 110.0, 111.0])
    monkeypatch.setattr("generation.method.time.monotonic", lambda: next(clock))
    events = []
    with Progress(4, "demo", events.append) as bar:
        bar.update(1)   # 2 s for 1 step: 3 left -> 6 s
        bar.update(1)   # 4 s for 2 steps: 2 left -> 4 s
        bar.update(2, total=5)  # a corrected total: 10 s for 4 steps, 1 left -> 2.5 s
        bar.update(1)
    assert [(e.done, e.total, e.elapsed, e.eta) for e in events] == [
        (1, 4, 2.0, 6.0), (2, 4, 4.0, 4.0), (4, 5, 10.0, 2.5), (5, 5, 11.0, 0.0)]


def test_the_result_cache_keeps_the_most_recently_used() -> None:
    cache: ResultCache[str] = ResultCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")
    assert "b" not in cache and cache.get("a") == "A" and cache.get("c") == "C" and len(cache) == 2
    assert cache.get("b") is None


def test_model_configs_have_one_format_and_old_files_still_read(tmp_path) -> None:
    from generation.model_config import FORMAT, ConfigError, read_config, write_config

    path = write_config(tmp_path / "m.json", "parasol", {"step": 3, "base": "tiny"})
    assert json.loads(path.read_text()) == {"base": "tiny", "format": FORMAT, "method": "parasol", "step": 3}
    assert read_config(path, "parasol") == {"step": 3, "base": "tiny"}
    assert read_config(path, "parasol", keep_keys=True)["method"] == "parasol"
    with pytest.raises(ConfigError, match="not a styo model config of format 1"):
        read_config(path, "styo")
    old = tmp_path / "old.json"
    old.write_text('{"names": ["a.png"]}')  # a side file DualStyleGAN's converter wrote before the format
    assert read_config(old, "dualstylegan") == {"names": ["a.png"]}
    with pytest.raises(ConfigError, match="format"):
        read_config(old, "styo", legacy=False)
    with pytest.raises(ValueError, match="cannot say method='styo'"):
        write_config(tmp_path / "x.json", "parasol", {"method": "styo"})
    old.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        read_config(old, "parasol")


def test_dualstylegan_side_files_are_written_in_the_format_and_old_ones_read(tmp_path) -> None:
    import numpy as np

    from generation.dualstylegan.checkpoints import convert_file, load_style_codes

    codes = tmp_path / "exstyle_code.npy"
    np.save(codes, {"a.png": np.ones((1, 18, 4), np.float32), "b.png": np.zeros((1, 18, 4), np.float32)})
    convert_file(codes)
    side = tmp_path / "exstyle_code.json"
    assert json.loads(side.read_text())["method"] == "dualstylegan"
    converted = tmp_path / "exstyle_code.safetensors"
    assert list(load_style_codes(converted)) == ["a.png", "b.png"]
    side.write_text(json.dumps({"names": ["a.png", "b.png"]}))  # as the converter wrote it before
    assert list(load_style_codes(converted)) == ["a.png", "b.png"]


def test_a_stylizer_without_steps_of_its_own_reports_one_when_done() -> None:
    """Progress lives in `Stylizer.stylize` itself, so every stylizer (not only a `Method`) reports."""
    from blend_stylizer import BlendStylizer
    from PIL import Image

    from generation import ContentRef, StyleRef

    events = []
    image = Image.new("RGB", (16, 16), (200, 30, 30))
    result = BlendStylizer().stylize(ContentRef(image=image), [StyleRef(image=image)], on_progress=events.append)
    assert result.images and [(e.done, e.total, e.eta) for e in events] == [(1, 1, 0.0)]
