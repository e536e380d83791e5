"""PARASOL training on tiny models (METHODS.md 1c): the loss falls, condition dropout at the configured rates,
exact resumption from safetensors checkpoints, the encoder-gradient refusal, manifests and base models."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import generation.parasol.train as train_mod
from generation.base import StylizeError
from generation.parasol.conditioning import dropout_masks
from generation.parasol.data import TripletData, read_manifest
from generation.parasol.models import WeightsMissingError, load_base
from generation.parasol.tiny import synthetic_triplets, tiny_model
from generation.parasol.train import TrainConfig, evaluate, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(style_encoder="tiny/aladin", content_encoder="tiny/open_clip", base="tiny", device="cpu",
            learning_rate=1e-3, conditioner_lr=1e-3)


@pytest.fixture(scope="module")
def triplets(tmp_path_factory):
    return synthetic_triplets(tmp_path_factory.mktemp("parasol-train"), n=4)


def test_loss_falls_over_a_few_steps_on_a_tiny_triplet_set(triplets, tmp_path: Path) -> None:
    model = tiny_model()
    data = TripletData(triplets, 32, model.style, model.content)
    start = evaluate(model, data, range(4))
    frozen = {k: v.clone() for k, v in [*model.vae.state_dict().items(), *model.style.encoder.net.state_dict().items()]}
    summary = train(TrainConfig(**TINY, steps=20, batch_size=4, checkpoint_every=100), triplets, tmp_path / "run",
                    progress=False, model=model)
    end = evaluate(model, data, range(4))
    assert end < 0.85 * start, (start, end)
    now = {**model.vae.state_dict(), **model.style.encoder.net.state_dict()}
    assert all(torch.equal(now[k], v) for k, v in frozen.items())  # the autoencoder and encoders stay frozen
    from generation.parasol.models import load_checkpoint_model

    after, saved = load_checkpoint_model(Path(summary.checkpoint), "cpu")
    assert evaluate(after, TripletData(triplets, 32, after.style, after.content), range(4)) == pytest.approx(end)
    history = json.loads((Path(summary.checkpoint) / "trainer.json").read_text())["history"]
    assert [h["step"] for h in history] == list(range(1, 21)) and saved["step"] == 20
    assert all(h["style"] > 0 and h["content"] > 0 for h in history)  # both modality losses are in the objective
    assert all(h["loss"] == pytest.approx(h["dm"] + h["style"] + h["content"], rel=1e-5) for h in history)
    assert Path(summary.loss_curve).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_condition_dropout_has_the_configured_rates_exactly() -> None:
    n, rates = 20000, (0.1, 0.2, 0.05)  # style only, content only, both
    keep_s, keep_y = dropout_masks(n, *rates, torch.Generator().manual_seed(7))
    u = torch.rand(n, generator=torch.Generator().manual_seed(7), dtype=torch.float64)  # the same draws
    both, only_s = int((~keep_s & ~keep_y).sum()), int((~keep_s & keep_y).sum())
    only_y, none = int((keep_s & ~keep_y).sum()), int((keep_s & keep_y).sum())
    assert both == int((u < 0.05).sum()) and only_s == int(((u >= 0.05) & (u < 0.15)).sum())
    assert only_y == int(((u >= 0.15) & (u < 0.35)).sum()) and none == n - both - only_s - only_y
    for count, p in ((both, 0.05), (only_s, 0.1), (only_y, 0.2)):
        assert abs(count - n * p) < 4 * (n * p * (1 - p)) ** 0.5, (count, p)
    with pytest.raises(ValueError, match="sum to at most 1"):
        dropout_masks(4, 0.5, 0.4, 0.2, torch.Generator())


@pytest.mark.parametrize("rates, style_kept, content_kept", [
    ((1.0, 0.0, 0.0), False, True), ((0.0, 1.0, 0.0), True, False), ((0.0, 0.0, 1.0), False, False),
    ((0.0, 0.0, 0.0), True, True)])
def test_the_training_loop_drops_at_the_configured_rates(triplets, tmp_path: Path, monkeypatch, rates,
                                                         style_kept, content_kept) -> None:
    seen = []
    original = train_mod.training_losses

    def spy(model, x, a_s, c_y, t, noise, latent_noise, keep_s, keep_y, w_s, w_y):
        seen.append((keep_s.clone(), keep_y.clone()))
        return original(model, x, a_s, c_y, t, noise, latent_noise, keep_s, keep_y, w_s, w_y)

    monkeypatch.setattr(train_mod, "training_losses", spy)
    cfg = TrainConfig(**TINY, steps=2, batch_size=3, w_s=0.0, w_y=0.0, checkpoint_every=10,
                      p_drop_style=rates[0], p_drop_content=rates[1], p_drop_both=rates[2])
    train(cfg, triplets, tmp_path / "run", progress=False)
    assert len(seen) == 2 and all(len(s) == 3 for s, _ in seen)
    assert all(bool(s.all()) == style_kept and bool(s.any()) == style_kept for s, _ in seen)
    assert all(bool(y.all()) == content_kept and bool(y.any()) == content_kept for _, y in seen)


def test_resuming_continues_exactly_and_checkpoints_are_safetensors(triplets, tmp_path: Path) -> None:
    cfg = dict(TINY, batch_size=3, trainable="attention", checkpoint_every=10)
    train(TrainConfig(**cfg, steps=4), triplets, tmp_path / "straight", progress=False)
    def ctrl_c(step: int, total: int, losses: dict) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # stopped after step 2: that step is checkpointed on the way out
        train(TrainConfig(**cfg, steps=4), triplets, tmp_path / "split", progress=False, on_step=ctrl_c)
    resumed = train(TrainConfig(**cfg, steps=4), triplets, tmp_path / "split", progress=False)
    assert (resumed.step, resumed.steps_run) == (4, 2)
    a = load_file(str(tmp_path / "straight" / "checkpoint" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    unet_keys = [k for k in a if k.startswith("unet.")]
    assert unet_keys and all(".attn2." in k for k in unet_keys)  # only the trained layers are carried
    assert {"conditioner.null_style", "conditioner.null_content", "conditioner.slots"} <= set(a)
    with safe_open(str(tmp_path / "split" / "checkpoint" / "training_state.safetensors"), "pt") as fh:
        meta = json.loads(fh.metadata()["meta"])
        assert meta["step"] == 4 and "rng.generator" in fh.keys() and any(k.startswith("optimizer.") for k in fh.keys())
    assert not list((tmp_path / "split").glob("*.pt")) and not list((tmp_path / "split").rglob("*.bin"))
    assert not list((tmp_path / "split").glob(".*"))  # no temporary folder or file left by the atomic saves
    with pytest.raises(StylizeError, match="other settings"):
        train(TrainConfig(**{**cfg, "trainable": "all"}, steps=6), triplets, tmp_path / "split", progress=False)
    with pytest.raises(StylizeError, match="already holds a PARASOL checkpoint"):
        train(TrainConfig(**cfg, steps=6), triplets, tmp_path / "split", resume=False, progress=False)
    # the trained checkpoint is a stylizer model: its weights are the saved ones, its id names the step
    from generation import ContentRef, StyleRef, create_stylizer

    stylizer = create_stylizer("parasol", model=str(tmp_path / "split"), device="cpu")
    assert stylizer.model_ids["checkpoint_id"].endswith("@4") and stylizer.model_ids["base"] == "tiny"
    unet = dict(stylizer.model.unet.named_parameters())
    assert all(torch.equal(unet[k[5:]], a[k]) for k in unet_keys)
    from PIL import Image

    image = Image.open(triplets[0].y)
    out = stylizer.stylize(ContentRef(image=image), [StyleRef(image=Image.open(triplets[0].s))], {"steps": 3, "lam": 1})
    assert out.images[0].size == (32, 32)


def test_a_ctrl_c_in_the_middle_of_a_step_still_resumes_exactly(triplets, tmp_path: Path, monkeypatch) -> None:
    # review (issue 9): the interrupt lands inside the step's computation, after its batch and draws were taken
    cfg = dict(TINY, batch_size=3, trainable="attention", checkpoint_every=10, steps=4)
    train(TrainConfig(**cfg), triplets, tmp_path / "straight", progress=False)
    original, calls = train_mod.training_losses, []

    def interrupted_in_step_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(train_mod, "training_losses", interrupted_in_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**cfg), triplets, tmp_path / "split", progress=False)
    monkeypatch.setattr(train_mod, "training_losses", original)
    resumed = train(TrainConfig(**cfg), triplets, tmp_path / "split", progress=False)
    assert (resumed.step, resumed.steps_run) == (4, 2)
    a = load_file(str(tmp_path / "straight" / "checkpoint" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_damaged_checkpoint_files_are_refused_by_name(triplets, tmp_path: Path) -> None:
    # review (issue 9): a truncated safetensors file raised safetensors' own error (a traceback in the CLI)
    from PIL import Image

    from generation import ContentRef, StyleRef, create_stylizer

    cfg = dict(TINY, batch_size=2, steps=1)
    train(TrainConfig(**cfg), triplets, tmp_path / "run", progress=False)
    state = tmp_path / "run" / "checkpoint" / "training_state.safetensors"
    state.write_bytes(state.read_bytes()[:40])
    with pytest.raises(StylizeError, match="training_state.safetensors"):
        train(TrainConfig(**{**cfg, "steps": 2}), triplets, tmp_path / "run", progress=False)
    weights = tmp_path / "run" / "checkpoint" / "model.safetensors"
    weights.write_bytes(b"not a safetensors file")
    stylizer = create_stylizer("parasol", model=str(tmp_path / "run"), device="cpu")
    with pytest.raises(StylizeError, match="model.safetensors"):
        stylizer.stylize(ContentRef(image=Image.open(triplets[0].y)), [StyleRef(image=Image.open(triplets[0].s))],
                         {"steps": 2, "lam": 1})


def test_a_checkpoint_samples_in_half_precision(triplets, tmp_path: Path) -> None:
    # review (issue 9): the conditioner was cast to the sampling dtype, so M(a_s) failed on float32 descriptors
    # with "mat1 and mat2 must have the same dtype" (dtype auto is float16 on CUDA); bfloat16 shows it on a CPU
    from PIL import Image

    from generation import ContentRef, StyleRef, create_stylizer

    train(TrainConfig(**TINY, batch_size=2, steps=1), triplets, tmp_path / "run", progress=False)
    stylizer = create_stylizer("parasol", model=str(tmp_path / "run"), device="cpu", dtype="bfloat16")
    out = stylizer.stylize(ContentRef(image=Image.open(triplets[0].y)), [StyleRef(image=Image.open(triplets[0].s))],
                           {"steps": 2, "lam": 1})
    assert out.images[0].size == (32, 32) and stylizer.model.dtype == torch.bfloat16


def test_a_loss_the_encoder_cannot_serve_is_refused_before_loading(triplets, tmp_path: Path) -> None:
    cfg = dict(TINY, style_encoder="tiny/magenta-style", steps=1)
    with pytest.raises(StylizeError, match=r"w_s = 0.5 needs gradients through tiny/magenta-style"):
        train(TrainConfig(**{**cfg, "w_s": 0.5}), triplets, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint").exists()
    summary = train(TrainConfig(**{**cfg, "w_s": 0.0}), triplets, tmp_path / "run", progress=False)
    assert summary.step == 1 and summary.last["style"] == 0.0


@pytest.mark.parametrize("change, message", [
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"p_drop_style": 0.6, "p_drop_content": 0.6}, "must not exceed 1"),
    ({"w_y": -1.0}, "w_y must be a number"),
    ({"trainable": "lora"}, "trainable must be one of"),
    ({"mixed_precision": "fp8"}, "mixed_precision must be one of"),
    ({"resolution": 40}, "resolution 40 is not a multiple of 16"),
])
def test_bad_training_settings_are_refused_by_name(triplets, tmp_path: Path, change, message) -> None:
    with pytest.raises(StylizeError) as err:
        train(TrainConfig(**{**TINY, "steps": 1, **change}), triplets, tmp_path / "run", progress=False)
    assert message in str(err.value)


def test_manifests_skip_incomplete_rows_and_resolve_relative_paths(triplets, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"x_id": 1, "x_path": triplets[0].x, "y_id": 2, "y_path": triplets[0].y, "s_id": 3, "s_path": triplets[0].s},
            {"x_id": 4, "x_path": "x.png", "y_id": 5, "y_path": "y.png", "s_id": 6, "s_path": "s.png"},
            {"x_id": 7, "x_path": triplets[1].x, "y_id": None, "y_path": None, "s_id": 8, "s_path": triplets[1].s}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "triplets.parquet")
    manifest = read_manifest(tmp_path)
    assert manifest.skipped == 1 and manifest.triplets[0].y == triplets[0].y
    assert manifest.triplets[1].x == str(tmp_path / "x.png")
    (tmp_path / "bad.jsonl").write_text('{"x_path": "a"}\n')
    with pytest.raises(StylizeError, match="x_path, y_path and s_path"):
        read_manifest(tmp_path / "bad.jsonl")
    with pytest.raises(StylizeError, match="no triplet manifest"):
        read_manifest(tmp_path / "nothing.jsonl")


def test_base_models_load_from_a_local_folder_and_missing_weights_name_the_files(tmp_path: Path) -> None:
    from generation.diffusion.tiny import components

    parts = components("sd15", 0)
    folder = tmp_path / "sd"
    for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        parts[name].save_pretrained(folder / name)
    unet, vae, scheduler = load_base(str(folder))
    reference = parts["unet"].state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in unet.state_dict().items())
    assert scheduler["beta_schedule"] == "scaled_linear"
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsMissingError, match=r"unet/diffusion_pytorch_model\.safetensors"):
        load_base(str(folder))
    with pytest.raises(WeightsMissingError, match="hf download stable-diffusion-v1-5/stable-diffusion-v1-5"):
        load_base("sd15")
