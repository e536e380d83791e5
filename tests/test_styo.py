"""StyO (METHODS.md section 4) on the tiny seeded SD1.5-layout model: the paper's prompt strings, rare-token
identifiers and the Content Index on the real CLIP tokenisation; FCC's attention swap (through its hook),
the identity P_sty = P_src, the start latent; IDL's loss going down, checkpoints that round-trip and resume
exactly, LoRA; the stylizer's input rule, parameters and errors; the auxiliary set from a folder or a corpus."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from generation.base import ContentRef, StyleRef, StylizeError
from generation.diffusion.tokenizer import offline_clip_tokenizer
from generation.styo import attention, auxset, checkpoint, fcc, identifiers, prompts, store
from generation.styo.encoding import encode_prompts
from generation.styo.finetune import finetune
from generation.styo.models import MODELS, WeightsMissingError, list_models, load_base, missing_files
from generation.styo.stylizer import create
from generation.styo.training import IDL, TrainSettings
from indexer.compat import import_torchvision
from indexer.imaging.decode import decode_file
from indexer.layout import WorkspaceLayout
from synthetic_images import smooth_noise

pytestmark = pytest.mark.usefixtures("one_torch_thread")

IDS = prompts.Identifiers("olis", "lun", "hta", "dits")
TINY = "styo/tiny-sd15"


@pytest.fixture(scope="module")
def tokenizer():
    return offline_clip_tokenizer()


_image = smooth_noise


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("styo-files")
    faces = root / "faces"
    faces.mkdir()
    for i in range(3):
        _image(10 + i).save(faces / f"face{i}.png")
    (faces / "notes.txt").write_text("not an image")
    _image(1, (48, 40)).save(root / "source.png")
    _image(2, (40, 48)).save(root / "target.jpg")
    return {"root": root, "faces": faces, "source": root / "source.png", "target": root / "target.jpg"}


@pytest.fixture
def layout(tmp_path) -> WorkspaceLayout:
    """The workspace folders of `tmp_path` (fine-tuned models go to its models/styo)."""
    return WorkspaceLayout(tmp_path)


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory) -> store.FineTuned:
    """A tiny full fine-tune of 3 iterations (a model to stylize with)."""
    home = tmp_path_factory.mktemp("styo-home")
    return finetune("pair", str(files["source"]), str(files["target"]), str(files["faces"]), base=TINY,
                    settings={"steps": 3, "lr": 1e-3}, ws=WorkspaceLayout(home), progress=False)


# -------------------------------------------------------------------------------------- prompts and tokens


def test_prompts_are_the_papers_strings_with_literal_not_and_repetitions() -> None:
    train = {k: prompts.text(p) for k, p in prompts.training_prompts(IDS).items()}
    assert train == {"src": "a drawing with olis not lun style of hta not dits portrait",
                     "tgt": "a drawing with lun not olis style of dits not hta portrait",
                     "aux": "a drawing with olis not lun style of portrait"}
    src, sty = prompts.inference_prompts(IDS, n_s=3, n_c=1)
    assert prompts.text(src) == ("a drawing with olis not lun olis not lun olis not lun style of "
                                 "hta not dits portrait")
    assert prompts.text(sty) == ("a drawing with lun not olis lun not olis lun not olis style of "
                                 "hta not dits portrait")
    src, sty = prompts.inference_prompts(IDS, n_s=1, n_c=2)
    assert prompts.text(sty) == "a drawing with lun not olis style of hta not dits hta not dits portrait"
    assert prompts.text(prompts.inference_prompts(IDS, 1, 1)[0]) == train["src"]  # n = 1: the plain prompts
    with pytest.raises(StylizeError, match="n_s must be an integer >= 1"):
        prompts.inference_prompts(IDS, n_s=0)


def test_identifiers_are_the_rarest_single_token_words_and_checked(tokenizer) -> None:
    chosen = identifiers.choose(tokenizer)
    assert chosen == IDS  # deterministic: the highest-id 3-4 letter whole words of CLIP's vocabulary
    vocab = tokenizer.get_vocab()
    ranks = [vocab[w + "</w>"] for w in chosen.words()]
    assert ranks == sorted(ranks, reverse=True) and min(ranks) > 49300
    for word in chosen.words():
        assert tokenizer(f"not {word}", add_special_tokens=False).input_ids == [vocab["not</w>"], vocab[word + "</w>"]]
    assert identifiers.check(tokenizer, prompts.Identifiers("sks", "olis", "lun", "hta")).s_src == "sks"
    for bad, message in ((("olis", "olis", "lun", "hta"), "four different words"),
                         (("portrait", "olis", "lun", "hta"), "template"),
                         (("xqzvbnw", "olis", "lun", "hta"), "S_src 'xqzvbnw' is not a single token"),
                         (("olis", "lun", "two words", "hta"), "C_src must be one word")):
        with pytest.raises(StylizeError, match=message):
            identifiers.check(tokenizer, prompts.Identifiers(*bad))


def test_content_index_on_the_real_tokenised_templates(tokenizer) -> None:
    src, sty = prompts.inference_prompts(IDS, 3, 1)
    # <sot> a drawing with (olis not lun) x3 style of | hta not dits portrait | <eot>
    assert prompts.content_index(tokenizer, src, sty) == [15, 16, 17, 18]
    ids = tokenizer(prompts.text(src)).input_ids
    assert tokenizer.convert_ids_to_tokens([ids[i] for i in [15, 16, 17, 18]]) == [
        "hta</w>", "not</w>", "dits</w>", "portrait</w>"]
    assert prompts.content_index(tokenizer, *prompts.inference_prompts(IDS, 1, 1)) == [9, 10, 11, 12]
    assert prompts.content_index(tokenizer, *prompts.inference_prompts(IDS, 2, 2)) == list(range(12, 19))
    # the two prompts differ exactly at the style identifiers
    a, b = tokenizer(prompts.text(src)).input_ids, tokenizer(prompts.text(sty)).input_ids
    assert [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y] == [4, 6, 7, 9, 10, 12]

    other = prompts.inference_prompts(IDS, 3, 2)[1]  # one more content group: a different length
    with pytest.raises(StylizeError, match="do not align"):
        prompts.content_index(tokenizer, src, other)
    swapped = prompts.template(("lun", "olis"), ("dits", "hta"), 3, 1)  # the content identifiers differ
    with pytest.raises(StylizeError, match="differ at token 15 outside the style identifiers"):
        prompts.content_index(tokenizer, src, swapped)
    with pytest.raises(StylizeError, match="over the text encoder's 77"):
        prompts.content_index(tokenizer, *prompts.inference_prompts(IDS, 20, 5))


# ------------------------------------------------------------------------------------------------- FCC


@pytest.fixture(scope="module")
def tiny_parts():
    return load_base(MODELS[TINY])


def _embeddings(parts, texts: list[str]) -> torch.Tensor:
    return encode_prompts(parts.tokenizer, parts.text_encoder, texts).float()


def _z0(parts) -> torch.Tensor:
    return torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(3))


def test_attention_swap_touches_only_the_content_columns_of_the_controlled_row(tiny_parts) -> None:
    src, sty = (prompts.text(p) for p in prompts.inference_prompts(IDS, 3, 1))
    index = prompts.content_index(tiny_parts.tokenizer, *prompts.inference_prompts(IDS, 3, 1))
    uncond, e_src, e_sty = _embeddings(tiny_parts, ["", src, sty]).split(1)
    seen: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    settings = fcc.FCCSettings(steps=2, guidance_scale=7.5)
    scheduler = fcc.make_scheduler(tiny_parts.scheduler_config)
    before = {k: type(v) for k, v in tiny_parts.unet.attn_processors.items()}
    fcc.sample(tiny_parts.unet, scheduler, _z0(tiny_parts), uncond, e_src, e_sty, index, settings,
               torch.Generator().manual_seed(0), observer=lambda layer, b, a: seen.append((layer, b, a)))
    layers = attention.cross_attention_layers(tiny_parts.unet)
    assert len(seen) == 2 * len(layers) and {s[0] + ".processor" for s in seen} == set(layers)
    assert {k: type(v) for k, v in tiny_parts.unet.attn_processors.items()} == before  # restored afterwards
    other = [i for i in range(77) if i not in index]
    moved = 0
    for _, b, a in seen:
        assert b.shape[0] == 4 and b.shape[-1] == 77  # [uncond src, uncond sty, src, sty] x heads x queries x keys
        assert torch.equal(a[:3], b[:3])  # the source rows and the unconditional rows are untouched
        assert torch.equal(a[3][..., index], b[2][..., index])  # content columns come from the source row
        assert torch.equal(a[3][..., other], b[3][..., other])  # every other column is the row's own
        moved += int(not torch.equal(b[3][..., index], b[2][..., index]))
    assert moved > 0  # the swap did change something


def test_controlled_layer_output_is_the_mixed_map_times_the_stylised_values(tiny_parts) -> None:
    unet = tiny_parts.unet
    name = attention.cross_attention_layers(unet)[0].removesuffix(".processor")
    module = unet.get_submodule(name)
    captured: dict[str, torch.Tensor] = {}

    def hook(_mod, args, kwargs, output) -> None:
        captured.setdefault("x", args[0] if args else kwargs["hidden_states"])
        captured.setdefault("ctx", kwargs["encoder_hidden_states"])
        captured.setdefault("out", output)

    def observe(layer: str, _before: torch.Tensor, after: torch.Tensor) -> None:
        if layer == name:
            captured.setdefault("m", after)

    control = attention.AttentionControl([5, 6, 7], [(0, 1)], observer=observe)
    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        with attention.controlled(unet, control), torch.no_grad():
            cond = _embeddings(tiny_parts, ["a drawing of a face", "a drawing of a cat"])
            unet(torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(1)), 500, encoder_hidden_states=cond)
    finally:
        handle.remove()
    with torch.no_grad():
        heads = module.heads
        v = module.to_v(captured["ctx"])
        v = v.view(2, 77, heads, -1).transpose(1, 2)
        expected = (captured["m"] @ v).transpose(1, 2).reshape(2, captured["x"].shape[1], -1)
        expected = module.to_out[0](expected)
    torch.testing.assert_close(captured["out"], expected, rtol=0, atol=1e-6)


def test_processor_without_control_equals_diffusers_attention(tiny_parts) -> None:
    unet = tiny_parts.unet
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(2))
    cond = _embeddings(tiny_parts, ["a drawing with olis", "a photo"])
    with torch.no_grad():
        reference = unet(x, 300, encoder_hidden_states=cond).sample
        with attention.controlled(unet, attention.AttentionControl([1, 2], [(0, 1)], enabled=False)):
            ours = unet(x, 300, encoder_hidden_states=cond).sample
        with attention.controlled(unet, attention.AttentionControl([1, 2], [(0, 1)])):
            swapped = unet(x, 300, encoder_hidden_states=cond).sample
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    assert torch.equal(swapped[0], ours[0]) and not torch.allclose(swapped[1], ours[1], atol=1e-4)


@pytest.mark.parametrize("guidance", [7.5, 1.0])
def test_with_p_sty_equal_to_p_src_the_controlled_pass_equals_the_source_pass_exactly(tiny_parts, guidance) -> None:
    src = prompts.inference_prompts(IDS, 3, 1)[0]
    index = prompts.content_index(tiny_parts.tokenizer, src, src)
    uncond, e_src = _embeddings(tiny_parts, ["", prompts.text(src)]).split(1)
    settings = fcc.FCCSettings(steps=4, guidance_scale=guidance)
    x_src, x_sty = fcc.sample(tiny_parts.unet, fcc.make_scheduler(tiny_parts.scheduler_config), _z0(tiny_parts),
                              uncond, e_src, e_src.clone(), index, settings, torch.Generator().manual_seed(0))
    assert torch.equal(x_src, x_sty)
    _, other = fcc.sample(tiny_parts.unet, fcc.make_scheduler(tiny_parts.scheduler_config), _z0(tiny_parts),
                          uncond, e_src, _embeddings(tiny_parts, ["a photo of a dog"]), index, settings,
                          torch.Generator().manual_seed(0))
    assert not torch.equal(x_src, other)


def test_start_latent_is_the_source_latent_noised_to_the_first_timestep(tiny_parts) -> None:
    scheduler = fcc.make_scheduler(tiny_parts.scheduler_config)
    steps = fcc.timesteps(scheduler, fcc.FCCSettings(steps=50), "cpu")
    assert int(steps[0]) == 981 and len(steps) == 50  # SD's DDIM schedule ("leading", offset 1)
    half = fcc.timesteps(scheduler, fcc.FCCSettings(steps=50, strength=0.5), "cpu")
    assert len(half) == 25 and torch.equal(half, steps[25:])
    z0 = _z0(tiny_parts)
    zt = fcc.start_latent(scheduler, z0, steps[0], torch.Generator().manual_seed(7))
    eps = torch.randn(z0.shape, generator=torch.Generator().manual_seed(7))
    a = float(scheduler.alphas_cumprod[981])
    torch.testing.assert_close(zt, a ** 0.5 * z0 + (1 - a) ** 0.5 * eps, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------------- IDL


def _idl(files, settings: TrainSettings) -> IDL:
    parts = load_base(MODELS[TINY], unet_dtype=torch.float32)
    train = {k: prompts.text(p) for k, p in prompts.training_prompts(IDS).items()}
    faces = [decode_file(p).image for p in sorted(files["faces"].glob("*.png"))]
    return IDL(parts, train, decode_file(files["source"]).image, decode_file(files["target"]).image, faces,
               settings, 32)


@pytest.mark.parametrize("lora, lr", [(False, 2e-3), (True, 3e-2)])
def test_a_few_training_steps_reduce_the_triple_loss(files, lora, lr) -> None:
    idl = _idl(files, TrainSettings(steps=8, lr=lr, lora=lora))
    base = {k: v.clone() for k, v in idl.unet.state_dict().items() if "lora" not in k}
    draws = range(8)
    before = idl.evaluate(draws)
    for step in draws:
        idl.train_step(step)
    after = idl.evaluate(draws)
    assert after < 0.97 * before, (before, after)
    frozen = {k: v for k, v in idl.unet.state_dict().items() if "lora" not in k}
    changed = [k for k in base if not torch.equal(base[k], frozen[k])]
    assert (changed == []) if lora else len(changed) > 0  # LoRA trains only its adapter
    noisy, noise, t = idl.draw(5)
    again = idl.draw(5)
    assert torch.equal(noisy, again[0]) and torch.equal(noise, again[1]) and torch.equal(t, again[2])
    assert noisy.shape == (3, 4, 16, 16) and noise.shape == (1, 4, 16, 16) and t.shape == (1,)  # one eps, one t


def test_checkpoints_round_trip_and_a_resumed_run_equals_an_uninterrupted_one(files, tmp_path, layout) -> None:
    args = (str(files["source"]), str(files["target"]), str(files["faces"]))
    straight = finetune("straight", *args, base=TINY, settings={"steps": 4, "lr": 1e-3}, ws=layout, progress=False)
    first = finetune("resumed", *args, base=TINY, settings={"steps": 4, "lr": 1e-3, "save_every": 2},
                     ws=layout, progress=False)
    assert first.step == 4
    # interrupt-and-resume: train 2, then resume to 4 from the saved checkpoint
    part = finetune("parted", *args, base=TINY, settings={"steps": 2, "lr": 1e-3}, ws=layout, progress=False)
    assert part.step == 2 and part.checkpoint.name == "step-000002"
    steps_seen: list[int] = []
    resumed = finetune("parted", settings={"steps": 4}, ws=layout, progress=False,
                       on_step=lambda done, total, loss: steps_seen.append(done))
    assert steps_seen == [3, 4] and resumed.step == 4 and resumed.record["losses"] == straight.record["losses"]
    weights = [checkpoint.load_finetuned(m, "cpu", torch.float32).unet.state_dict() for m in (straight, first, resumed)]
    for other in weights[1:]:
        assert weights[0].keys() == other.keys() and all(torch.equal(weights[0][k], other[k]) for k in weights[0])
    assert sorted(p.name for p in resumed.folder.iterdir()) == ["source.png", "step-000004", "styo.json", "target.jpg"]
    assert (resumed.checkpoint / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    from safetensors import safe_open

    with safe_open(str(resumed.checkpoint / "optimizer.safetensors"), framework="pt") as fh:
        about = json.loads(fh.metadata()["styo"])
    assert (about["step"], about["identifiers"], about["prompts"]) == (4, IDS.to_dict(), resumed.record["prompts"])
    record = resumed.record
    assert record["identifiers"] == IDS.to_dict() and record["prompts"]["sty"] == \
        "a drawing with lun not olis style of hta not dits portrait"
    assert record["training"]["lr"] == 1e-3 and record["training"]["optimizer"] == "Adam"
    assert record["aux"]["count"] == 3 and record["aux"]["skipped"] == []
    assert record["weights_sha256"] == checkpoint.sha256_file(resumed.weights_file)
    # nothing left to do; a different setting or image is refused by name
    assert finetune("parted", ws=layout, progress=False).step == 4
    with pytest.raises(StylizeError, match="fine-tuned with lora=False, not True"):
        finetune("parted", settings={"lora": True}, ws=layout, progress=False)
    with pytest.raises(StylizeError, match="fine-tuned on another source image"):
        finetune("parted", source=str(files["target"]), ws=layout, progress=False)
    with pytest.raises(StylizeError, match="already has 4 iterations"):
        finetune("parted", settings={"steps": 3}, ws=layout, progress=False)
    with store.training_lock(resumed.folder), pytest.raises(StylizeError, match="being fine-tuned by another run"):
        finetune("parted", settings={"steps": 5}, ws=layout, progress=False)


def test_a_refused_new_fine_tune_leaves_no_model_behind(files, tmp_path, layout) -> None:
    """Inputs the IDL refuses must not leave a half-made model folder that every later run would "resume"
    with the same bad setting (and `styo list` would show)."""
    args = (str(files["source"]), str(files["target"]), str(files["faces"]))
    with pytest.raises(StylizeError, match="resolution 40 is not a multiple of 16"):
        finetune("odd", *args, base=TINY, settings={"steps": 1, "resolution": 40}, ws=layout, progress=False)
    assert store.list_finetuned(layout) == [] and not (tmp_path / "models" / "styo" / "odd").exists()
    fixed = finetune("odd", *args, base=TINY, settings={"steps": 1, "resolution": 32}, ws=layout, progress=False)
    assert fixed.step == 1 and fixed.record["resolution"] == 32
    for settings, message in (({"lr": "fast"}, "lr must be a number"), ({"lr": True}, "lr must be a number")):
        with pytest.raises(StylizeError, match=message):
            finetune("bad-lr", *args, base=TINY, settings=settings, ws=layout, progress=False)
    for device, message in (("bogus", "device must be auto, cpu, cuda"),
                            *((("cuda", "no CUDA GPU"),) if not torch.cuda.is_available() else ())):
        with pytest.raises(StylizeError, match=message):
            finetune("bad-device", *args, base=TINY, settings={"steps": 1}, ws=layout, progress=False,
                     device=device)
    assert [m.name for m in store.list_finetuned(layout)] == ["odd"]


def test_ctrl_c_finishes_the_iteration_then_checkpoints_it(files, tmp_path, layout) -> None:
    import os
    import signal

    def interrupt(done: int, total: int, loss: float) -> None:
        if done == 2:
            os.kill(os.getpid(), signal.SIGINT)  # arrives "during" iteration 2's bookkeeping

    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN when pytest runs as a background job
    with pytest.raises(KeyboardInterrupt):
        finetune("stopped", str(files["source"]), str(files["target"]), str(files["faces"]), base=TINY,
                 settings={"steps": 5, "lr": 1e-3, "save_every": 100}, ws=layout, progress=False,
                 on_step=interrupt)
    stopped = store.read(tmp_path / "models" / "styo" / "stopped")
    assert stopped.step == 2 and stopped.checkpoint.name == "step-000002" and len(stopped.record["losses"]) == 2
    assert signal.getsignal(signal.SIGINT) is before  # the handler in place before is restored


def test_lora_fine_tune_saves_an_adapter_that_loads_back_and_resumes_exactly(files, tmp_path, layout) -> None:
    from safetensors.torch import load_file

    defaults = TrainSettings()
    assert (defaults.steps, defaults.learning_rate, TrainSettings(lora=True).learning_rate) == (400, 1e-6, 1e-4)
    args = (str(files["source"]), str(files["target"]), str(files["faces"]))
    lora = {"lora": True, "lora_rank": 2, "lr": 1e-2}
    model = finetune("lora", *args, base=TINY, settings={"steps": 2, **lora}, ws=layout, progress=False)
    assert model.record["training"]["lr"] == 1e-2 and model.weights_file.name == "lora.safetensors"
    finetune("lora-parted", *args, base=TINY, settings={"steps": 1, **lora}, ws=layout, progress=False)
    parted = finetune("lora-parted", settings={"steps": 2}, ws=layout, progress=False)
    saved = load_file(str(model.weights_file))
    resumed = load_file(str(parted.weights_file))
    assert saved.keys() == resumed.keys() and all(torch.equal(saved[k], resumed[k]) for k in saved)
    assert saved and all(".lora_A." in k or ".lora_B." in k for k in saved)
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in saved.items() if ".lora_B." in k)  # B trained
    loaded = checkpoint.load_finetuned(model, "cpu", torch.float32).unet.state_dict()
    for key, value in saved.items():
        [match] = [k for k in loaded if k.endswith(key.replace(".weight", ".default.weight"))]
        assert torch.equal(loaded[match], value)


def test_a_diffusers_folder_base_loads_through_the_real_path_and_fine_tunes(files, tmp_path, layout) -> None:
    """The real SD1.5 loading code (from_pretrained, safetensors, local files only) on the tiny model saved in
    the hub's layout: same weights and tokens as the in-memory model; a fine-tune from it stylizes."""
    import_torchvision()
    from diffusers import StableDiffusionPipeline

    from generation.styo.models import resolve_base
    from generation.diffusion.tiny import sd15_parts

    pipe = StableDiffusionPipeline(**sd15_parts(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(tmp_path / "sd", safe_serialization=True)
    spec = resolve_base(str(tmp_path / "sd"))
    assert spec.resolution == 32 and not spec.tiny and missing_files(spec) == []
    loaded, reference = load_base(spec), load_base(MODELS[TINY])
    for a, b in ((loaded.unet, reference.unet), (loaded.vae, reference.vae),
                 (loaded.text_encoder, reference.text_encoder)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sb)
    assert loaded.tokenizer("a drawing with olis").input_ids == [49406, 320, 3610, 593, 49397, 49407]
    (tmp_path / "sd" / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsMissingError, match=r"vae/diffusion_pytorch_model.safetensors"):
        load_base(spec)
    pipe.vae.save_pretrained(tmp_path / "sd" / "vae", safe_serialization=True)
    model = finetune("from-folder", str(files["source"]), str(files["target"]), str(files["faces"]),
                     base=str(tmp_path / "sd"), settings={"steps": 1}, ws=layout, progress=False)
    assert model.base_id == str((tmp_path / "sd").resolve())
    src, tgt = _inputs(files["source"])[0], _inputs(files["target"])[0]
    out = create(model=str(model.folder)).stylize(ContentRef(image=src), [StyleRef(image=tgt)],
                                                  {"num_inference_steps": 2})
    assert out.images[0].size == (32, 32)


# --------------------------------------------------------------------------------------------- stylizer


def _inputs(path: Path) -> tuple[Image.Image, str]:
    d = decode_file(path)
    return d.image, d.sha256


def test_stylize_matches_inputs_by_sha256_or_pixels_and_records_the_model(trained, files) -> None:
    stylizer = create(model=trained.model_id, workspace=WorkspaceLayout(trained.folder.parent.parent.parent))
    src, src_sha = _inputs(files["source"])
    tgt, tgt_sha = _inputs(files["target"])
    params = {"num_inference_steps": 3, "n_s": 2}
    a = stylizer.stylize(ContentRef(image=src, sha256=src_sha), [StyleRef(image=tgt, sha256=tgt_sha)], params, seed=4)
    b = stylizer.stylize(ContentRef(image=src), [StyleRef(image=tgt)], params, seed=4)  # matched by pixels
    assert a.images[0].size == (32, 32) and a.images[0].tobytes() == b.images[0].tobytes()
    assert a.params["height"] == 32 and a.params["n_s"] == 2 and a.params["guidance_scale"] == 7.5
    assert a.model_ids == {"model": "styo/pair", "base": TINY, "step": "3", "kind": "full",
                           "weights": trained.record["weights_sha256"][:16]}
    off = stylizer.stylize(ContentRef(image=src), [StyleRef(image=tgt)], {**params, "attention_control": False}, seed=4)
    assert off.images[0].tobytes() != a.images[0].tobytes()
    assert stylizer.prompts(stylizer.Params(n_s=2))[2] == [12, 13, 14, 15]


def test_stylize_refuses_images_the_model_was_not_fine_tuned_on(trained, files) -> None:
    stylizer = create(model=str(trained.folder))  # a model folder works as the model too
    src, _ = _inputs(files["source"])
    tgt, _ = _inputs(files["target"])
    with pytest.raises(StylizeError, match="fine-tuned on the source .*source.png"):
        stylizer.stylize(ContentRef(image=tgt), [StyleRef(image=tgt)], {"num_inference_steps": 1})
    with pytest.raises(StylizeError, match="style is baked into model 'styo/pair': pass its target image"):
        stylizer.stylize(ContentRef(image=src), [StyleRef(image=src)], {"num_inference_steps": 1})
    with pytest.raises(StylizeError, match="style is baked"):
        stylizer.stylize(ContentRef(image=src), [StyleRef(vector=np.ones(4))], {"num_inference_steps": 1})
    stylizer.stylize(ContentRef(image=src), [StyleRef(image=tgt), StyleRef(image=src, weight=0.0)],
                     {"num_inference_steps": 1})  # a zero-weight style is not used


@pytest.mark.parametrize("params, message", [
    ({"n_s": 0}, "n_s must be an integer in [1, 20]"),
    ({"n_c": 1.5}, "n_c must be an integer"),
    ({"guidance_scale": -1}, "guidance_scale must be a number in [0, 50]"),
    ({"num_inference_steps": 0}, "num_inference_steps must be an integer in [1, 1000]"),
    ({"strength": 0}, "strength must be a number in (0, 1]"),
    ({"strength": 0.1, "num_inference_steps": 5}, "at least 1 denoising step"),
    ({"attention_control": "yes"}, "attention_control must be true or false"),
    ({"height": 40}, "height 40 is not a multiple of 16"),
    ({"n_s": 20, "n_c": 5}, "83 tokens, over the text encoder's 77"),
])
def test_bad_parameters_are_refused_by_name(trained, files, params, message) -> None:
    src, _ = _inputs(files["source"])
    tgt, _ = _inputs(files["target"])
    with pytest.raises(StylizeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        create(model=str(trained.folder)).stylize(ContentRef(image=src), [StyleRef(image=tgt)], params)


def test_models_are_listed_resolved_and_missing_weights_named(trained, monkeypatch, tmp_path) -> None:
    ws = WorkspaceLayout(trained.folder.parent.parent.parent)
    assert trained.folder == ws.models_dir("styo") / "pair"
    monkeypatch.setenv("STYLELENS_HOME", str(tmp_path))  # the workspace is passed, never read from here
    rows = {r.model_id: r for r in list_models(ws) if r.method == "styo"}
    assert list(rows)[:1] == ["styo/pair"] and {"styo/sd15", TINY} <= set(rows)
    assert rows["styo/pair"].weights_present and "step 3 of 3" in rows["styo/pair"].description
    assert "styo/pair" not in {r.model_id for r in list_models()}  # no workspace: only the base models
    assert create(model="pair", workspace=ws).model.folder == trained.folder  # NAME or styo/NAME, in the workspace
    assert create(model=str(trained.folder)).model.folder == trained.folder  # a folder needs no workspace
    with pytest.raises(StylizeError, match="a model name .* is looked up in a workspace, and none was given"):
        create(model="pair")
    with pytest.raises(StylizeError, match="no fine-tuned StyO model 'nope'.*styo/pair"):
        create(model="nope", workspace=ws)
    with pytest.raises(StylizeError, match="styo needs a fine-tuned model"):
        create(workspace=ws)
    with pytest.raises(StylizeError, match="styo/sd15 is a base model: fine-tune it first"):
        create(model="styo/sd15")
    with pytest.raises(StylizeError, match="unknown styo option"):
        create(model="pair", steps=3, workspace=ws)
    with pytest.raises(StylizeError, match="keeps its model in a workspace"):
        finetune("other", progress=False)
    if missing_files(MODELS["styo/sd15"]):  # the real SD1.5 is not in this machine's HF cache
        with pytest.raises(WeightsMissingError, match=r"unet/diffusion_pytorch_model.safetensors(.|\n)*hf download"):
            load_base(MODELS["styo/sd15"])
    empty = store.FineTuned(tmp_path, dict(trained.record, checkpoint=None))
    with pytest.raises(WeightsMissingError, match="re-run `stylelens train styo --name pair`"):
        checkpoint.load_finetuned(empty, "cpu", torch.float32)
    with pytest.raises(StylizeError, match="model name"):
        store.check_name("../escape")


# ------------------------------------------------------------------------------------------ auxiliary set


def test_auxiliary_set_from_a_folder_and_from_a_corpus(files, workspace) -> None:
    folder = auxset.resolve(str(files["faces"]), limit=2, seed=0)
    assert len(folder.paths) == 2 and set(folder.paths) < {str(p) for p in files["faces"].glob("*.png")}
    assert auxset.resolve(str(files["faces"]), limit=2, seed=0).paths == folder.paths  # seeded sample
    assert len(auxset.resolve(str(files["faces"])).paths) == 3  # notes.txt is no image
    from indexer.catalog.paths import RootMap
    from indexer.catalog.schema import ImageRecord
    from indexer.corpora import ensure_corpus

    corpus = ensure_corpus(workspace, "faces", "content", [str(files["faces"])])
    faces = sorted(files["faces"].glob("*.png"))
    with workspace.session() as s:
        roots = RootMap.load(s, workspace.home, corpus.id)
        for i, p in enumerate(faces):
            sha = decode_file(p).sha256 if i else "0" * 64  # the first one "changed since it was indexed"
            root_id, relpath = roots.locate(str(p))
            s.add(ImageRecord(corpus_id=corpus.id, root_id=root_id, path=relpath, sha256=sha, bytes=1, mtime_ns=1, status="indexed"))
    chosen = auxset.resolve("corpus:faces", workspace)
    assert chosen.paths == [str(p) for p in faces[1:]] and chosen.skipped[0]["reason"].startswith("changed")
    assert auxset.reload(chosen.record()).sha256 == chosen.sha256
    with pytest.raises(StylizeError, match="needs a workspace"):
        auxset.resolve("corpus:faces")
    with pytest.raises(StylizeError, match="folder of face images or corpus:NAME"):
        auxset.resolve(str(files["source"]))
