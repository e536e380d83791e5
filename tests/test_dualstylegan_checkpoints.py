"""DualStyleGAN's checkpoints on tiny seeded models: the released names and shapes load strictly (anything
else is refused by name), the pickled code files are read without running code from them, converted
safetensors files load back, and missing weights name the files, the download page and the licence."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from PIL import Image

from generation import ContentRef, StyleRef
from generation.dualstylegan import Params, WeightsMissingError, create, list_models, tiny
from generation.dualstylegan.checkpoints import (
    CheckpointError,
    convert_folder,
    load_strict,
    load_style_codes,
    load_torch,
    read_pickled_npy,
)
from generation.dualstylegan.network import DualStyleGAN
from generation.dualstylegan.psp import GradualStyleEncoder
from image_checks import assert_images_close
from synthetic_images import noise_with_square

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CENTRE = dict(align="centre", output_size=64)


@pytest.fixture(scope="module")
def parts() -> tiny.Parts:
    return tiny.build()


def _image(seed: int, size: tuple[int, int] = (96, 80)) -> Image.Image:
    return noise_with_square(seed, size, colour=(220, 60, 40))


# ------------------------------------------------------------------------------------------------ checkpoints


def official_generator_shapes() -> dict[str, tuple[int, ...]]:
    """The names and shapes of the released generator.pt's g_ema, written out from the official layout
    (rosinality StyleGAN2 config-f at 1024 + DualStyleGAN's extrinsic path with res_index 6)."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
    s: dict[str, tuple[int, ...]] = {}
    for i in (1, 2):
        s.update({f"style.{i}.weight": (512, 512), f"style.{i}.bias": (512,)})
    for i in range(1, 9):
        s.update({f"generator.style.{i}.weight": (512, 512), f"generator.style.{i}.bias": (512,)})
    s["generator.input.input"] = (1, 512, 4, 4)

    def styled(name: str, cin: int, cout: int, up: bool) -> None:
        s.update({f"{name}.conv.weight": (1, cout, cin, 3, 3), f"{name}.conv.modulation.weight": (cin, 512),
                  f"{name}.conv.modulation.bias": (cin,), f"{name}.noise.weight": (1,),
                  f"{name}.activate.bias": (cout,)})
        if up:
            s[f"{name}.conv.blur.kernel"] = (4, 4)

    def rgb(name: str, cin: int, up: bool) -> None:
        s.update({f"{name}.conv.weight": (1, 3, cin, 1, 1), f"{name}.conv.modulation.weight": (cin, 512),
                  f"{name}.conv.modulation.bias": (cin,), f"{name}.bias": (1, 3, 1, 1)})
        if up:
            s[f"{name}.upsample.kernel"] = (4, 4)

    styled("generator.conv1", 512, 512, False)
    rgb("generator.to_rgb1", 512, False)
    for j, res in enumerate([8, 16, 32, 64, 128, 256, 512, 1024]):
        styled(f"generator.convs.{2 * j}", ch[res // 2], ch[res], True)
        styled(f"generator.convs.{2 * j + 1}", ch[res], ch[res], False)
        rgb(f"generator.to_rgbs.{j}", ch[res], True)
    for i in range(17):
        side = 2 ** ((i + 5) // 2)
        s[f"generator.noises.noise_{i}"] = (1, 1, side, side)
    for k in range(18):
        if k < 7:
            for conv in ("conv", "conv2"):
                s.update({f"res.{k}.{conv}.0.weight": (512, 512, 3, 3), f"res.{k}.{conv}.1.bias": (512,)})
            for norm in ("norm", "norm2"):
                s.update({f"res.{k}.{norm}.style.weight": (1024, 512), f"res.{k}.{norm}.style.bias": (1024,)})
        else:
            s.update({f"res.{k}.weight": (512, 512), f"res.{k}.bias": (512,)})
    return s


def test_the_released_generator_layout_is_exactly_ours_and_loads_strictly() -> None:
    expected = official_generator_shapes()
    assert len(expected) == 253  # the released g_ema's entry count
    with torch.device("meta"):
        model = DualStyleGAN(1024, 512, 8, 2, res_index=6)
        state = {k: torch.empty(v) for k, v in expected.items()}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    load_strict(model, state, "generator.pt (g_ema)")
    renamed = dict(state)
    renamed["res.7.linear.weight"] = renamed.pop("res.7.weight")
    with pytest.raises(CheckpointError, match=r"1 missing: res\.7\.weight.*1 unexpected: res\.7\.linear\.weight"):
        load_strict(model, renamed, "generator.pt (g_ema)")
    resized = dict(state, **{"res.0.conv.0.weight": torch.empty(512, 512, 1, 1, device="meta")})
    with pytest.raises(CheckpointError, match=r"res\.0\.conv\.0\.weight: file \(512, 512, 1, 1\) vs model "
                                              r"\(512, 512, 3, 3\)"):
        load_strict(model, resized, "generator.pt (g_ema)")


def test_the_released_psp_encoder_layout_is_ir_se_50_with_18_styles() -> None:
    with torch.device("meta"):
        enc = GradualStyleEncoder()
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert len(shapes) == 621
    assert shapes["input_layer.0.weight"] == (64, 3, 3, 3) and shapes["latlayer1.weight"] == (512, 256, 1, 1)
    assert shapes["body.3.shortcut_layer.0.weight"] == (128, 64, 1, 1)  # first unit of stage 2
    assert "body.0.shortcut_layer.0.weight" not in shapes  # 64 -> 64: a max-pool shortcut
    assert shapes["body.23.res_layer.5.fc1.weight"] == (32, 512, 1, 1)  # 24 units: 3 + 4 + 14 + 3
    convs = {i: sum(1 for k in shapes if k.startswith(f"styles.{i}.convs.") and k.endswith("weight"))
             for i in range(18)}
    assert [convs[i] for i in (0, 2, 3, 6, 7, 17)] == [4, 4, 5, 5, 6, 6]  # 16, 32, 64 px maps down to 1x1


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("dsg-ckpt")
    tiny.write_official_layout(root, "cartoon")
    return root


def test_official_files_load_through_the_safe_readers_and_convert_to_safetensors(official_folder, parts) -> None:
    codes = load_style_codes(official_folder / "cartoon" / "refined_exstyle_code.npy")
    assert list(codes) == list(tiny.CODE_NAMES) and codes["tiny-01.png"].shape == (1, 18, 32)
    np.testing.assert_array_equal(codes["tiny-02.png"], parts.codes["tiny-02.png"] + np.float32(0.1))
    s = create(model="dualstylegan/cartoon", checkpoint_dir=str(official_folder))
    content = ContentRef(image=_image(1))
    params = dict(style_id=2, **CENTRE)
    before = s.stylize(content, [StyleRef(image=_image(2))], params, seed=3).images[0]
    assert s.stylize(content, [StyleRef(image=_image(2))], params, seed=3).images[0].tobytes() == before.tobytes()
    written = {p.name for p in convert_folder(official_folder)}
    assert {"generator.safetensors", "encoder.safetensors", "encoder.json", "sampler.safetensors",
            "refined_exstyle_code.safetensors", "refined_exstyle_code.json"} <= written
    for name in ("generator.pt", "encoder.pt", "refined_exstyle_code.npy", "exstyle_code.npy"):
        (official_folder / name).unlink(missing_ok=True)
        (official_folder / "cartoon" / name).unlink(missing_ok=True)
    again = create(model="dualstylegan/cartoon", checkpoint_dir=str(official_folder))
    after = again.stylize(content, [StyleRef(image=_image(2))], params, seed=3).images[0]
    assert again.loaded.files.generator.suffix == ".safetensors"
    for net in ("generator", "encoder"):  # the converter copies values: bit for bit, and in the same layout
        _assert_same_tensors(getattr(s.loaded, net).state_dict(), getattr(again.loaded, net).state_dict())
    # Same weights, but another loader and another run: GEMM/conv kernels may round differently (issue 15:
    # an AVX-512 machine moved one byte by one level), so one uint8 level, on few pixels.
    assert_images_close(after, before)


def _assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Equal names, dtypes, strides and bits, and both 64-byte aligned as torch allocates: MKL's sgemv rounds
    differently for a weight at an address that is not 16-byte aligned, as safetensors' mmapped views are
    (issue 15: `load_tensors` clones them, so both loaders give the model memory of the same kind)."""
    assert a.keys() == b.keys()
    for k, x in a.items():
        y = b[k]
        assert (x.dtype, x.stride(), x.storage_offset()) == (y.dtype, y.stride(), y.storage_offset()), k
        assert torch.equal(x, y), k
        assert x.data_ptr() % 64 == y.data_ptr() % 64 == 0, (k, x.data_ptr() % 64, y.data_ptr() % 64)


def test_the_official_sampler_file_loads_strictly_and_samples_as_the_networks_it_holds(tmp_path, parts) -> None:
    tiny.write_official_layout(tmp_path, "cartoon")
    expected = parts.sampler.sample(1, torch.Generator().manual_seed(0))
    for name in ("sampler.pt", "sampler.safetensors"):  # as released, then converted (the .pt removed)
        s = create(model="dualstylegan/cartoon", checkpoint_dir=str(tmp_path))
        assert s.files.sampler.name == name
        # the in-memory networks vs the same weights read from a file: agreement to float32 rounding (two
        # small MLP layers over <= 16 inputs of size ~1: a few ulps, far inside 1e-5), not bit for bit
        torch.testing.assert_close(s.extrinsic([], Params(sample_style=True), seed=0), expected, atol=1e-5, rtol=1e-5)
        if name == "sampler.pt":
            convert_folder(tmp_path)
            (tmp_path / "cartoon" / "sampler.pt").unlink()
    state = torch.load(tmp_path / "cartoon" / "generator.pt", weights_only=True)  # any other file is refused
    torch.save({"color": state["g_ema"], "structure": state["g_ema"]}, tmp_path / "cartoon" / "sampler.pt")
    (tmp_path / "cartoon" / "sampler.safetensors").unlink()
    with pytest.raises(CheckpointError, match="structure.lin_out.weight"):
        create(model="dualstylegan/cartoon", checkpoint_dir=str(tmp_path)).extrinsic([], Params(sample_style=True), 0)


def test_sampling_runs_in_the_model_dtype() -> None:
    sampler = tiny.sampler()
    expected = sampler.sample(2, torch.Generator().manual_seed(4))
    low = tiny.sampler().to(torch.bfloat16).sample(2, torch.Generator().manual_seed(4))  # float32 noise before
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), expected, atol=0.1, rtol=0.05)


def test_converted_files_without_their_json_are_refused_by_name(tmp_path) -> None:
    tiny.write_official_layout(tmp_path, "cartoon")
    convert_folder(tmp_path)
    codes = tmp_path / "cartoon" / "refined_exstyle_code.safetensors"
    (tmp_path / "cartoon" / "refined_exstyle_code.json").unlink()
    with pytest.raises(CheckpointError, match="needs refined_exstyle_code.json next to it"):
        load_style_codes(codes)
    (tmp_path / "cartoon" / "refined_exstyle_code.json").write_text('{"names": ["a.png"]}')
    with pytest.raises(CheckpointError, match="codes do not match"):
        load_style_codes(codes)
    (tmp_path / "cartoon" / "refined_exstyle_code.json").write_text("{")
    with pytest.raises(CheckpointError, match="needs refined_exstyle_code.json"):
        load_style_codes(codes)
    codes.write_bytes(b"not safetensors")
    (tmp_path / "cartoon" / "refined_exstyle_code.json").write_text('{"names": []}')
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_style_codes(codes)
    for path in (codes, codes.with_suffix(".json"), tmp_path / "encoder.pt", tmp_path / "encoder.json"):
        path.unlink()  # the raw codes (converted with their JSON) are used; the encoder has lost its JSON
    s = create(model="dualstylegan/cartoon", checkpoint_dir=str(tmp_path))
    with pytest.raises(CheckpointError, match="encoder.safetensors needs encoder.json next to it with its 'opts'"):
        s.stylize(ContentRef(image=_image(1)), [StyleRef(image=_image(2))], dict(style_id=0, **CENTRE))


def test_an_encoder_of_another_kind_is_refused_by_name(tmp_path) -> None:
    tiny.write_official_layout(tmp_path, "cartoon")
    obj = torch.load(tmp_path / "encoder.pt", weights_only=True)
    for opts, message in (({"encoder_type": "Encoder4Editing"}, "encoder_type 'Encoder4Editing' is not supported"),
                          ({"start_from_latent_avg": True}, "start_from_latent_avg but it has no latent_avg")):
        torch.save({"state_dict": obj["state_dict"], "opts": {**obj["opts"], **opts}}, tmp_path / "encoder.pt")
        s = create(model="dualstylegan/cartoon", checkpoint_dir=str(tmp_path))
        with pytest.raises(CheckpointError, match=message):
            s.stylize(ContentRef(image=_image(1)), [StyleRef(image=_image(2))], dict(style_id=0, **CENTRE))


def test_code_files_are_read_without_running_pickled_code(tmp_path) -> None:
    good = tmp_path / "codes.npy"
    np.save(good, {"a.png": np.ones((1, 18, 4), np.float32)})
    assert read_pickled_npy(good)["a.png"].sum() == 72

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    for payload in ({"a.png": Evil()}, OrderedDict(a=np.ones(3))):
        bad = tmp_path / "bad.npy"
        np.save(bad, payload)
        with pytest.raises(CheckpointError, match=r"global '(builtins\.print|collections\.OrderedDict)' is not "
                                                  r"allowed"):
            read_pickled_npy(bad)
    evil_pt = tmp_path / "evil.pt"
    with open(evil_pt, "wb") as f:
        pickle.dump({"g_ema": Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="tensors-only loader|cannot be read"):
        load_torch(evil_pt)


def test_missing_weights_name_the_files_the_page_and_the_licence(tmp_path) -> None:
    s = create(model="dualstylegan/anime", checkpoint_dir=str(tmp_path))
    with pytest.raises(WeightsMissingError) as err:
        s.stylize(ContentRef(image=_image(1)), [StyleRef(image=_image(2))], {"style_id": 0})
    text = str(err.value)
    for part in ("encoder.pt", "anime/generator.pt", "anime/refined_exstyle_code.npy", "S-Lab License 1.0",
                 "github.com/williamyang1991/DualStyleGAN", "hf download CVPR/DualStyleGAN", str(tmp_path)):
        assert part in text, part
    from generation.dualstylegan import convert

    assert convert.main([str(tmp_path)]) == 1  # nothing to convert in an empty folder
    rows = {r.model_id: r for r in list_models()}
    assert {"dualstylegan/cartoon", "dualstylegan/caricature", "dualstylegan/anime", "dualstylegan/tiny"} <= set(rows)
    assert rows["dualstylegan/tiny"].weights_present and "non-commercial" in rows["dualstylegan/cartoon"].licence


def test_the_checkpoint_folder_is_the_option_else_the_variable_else_the_given_workspaces(tmp_path,
                                                                                        monkeypatch) -> None:
    from generation.dualstylegan.models import ENV_DIR, checkpoint_dir
    from indexer.layout import WorkspaceLayout

    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.setenv("STYLELENS_HOME", str(tmp_path / "not-read"))
    ws = WorkspaceLayout(tmp_path / "ws")
    assert checkpoint_dir(None, ws) == tmp_path / "ws" / "models" / "dualstylegan"
    assert checkpoint_dir(None, None) is None and checkpoint_dir(tmp_path / "given", ws) == tmp_path / "given"
    assert create(model="dualstylegan/anime", workspace=ws).files.root == ws.models_dir("dualstylegan")
    with pytest.raises(WeightsMissingError, match="(?s)no checkpoint folder.*checkpoint_dir=DIR"):
        create(model="dualstylegan/anime")
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "from-env"))
    assert create(model="dualstylegan/anime", workspace=ws).files.root == tmp_path / "from-env"
    assert not (tmp_path / "not-read").exists()
