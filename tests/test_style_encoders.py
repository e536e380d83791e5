"""ALADIN-ViT and CSD style encoders: tiny configs are deterministic, checkpoints in the official key layouts
round-trip through the `aladin/...:<path>` / `csd/...:<path>` ids, bad paths and keys fail with a useful
message, and the encoders serve as a workspace style space. Offline, tiny sizes only."""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from corpus_factory import pattern_image
from PIL import Image

from indexer.encoders import (
    EncoderError,
    build_encoder,
    create_encoder,
    list_models,
    model_info,
    style_aladin,
    style_csd,
)
from indexer.pipeline.run import index_paths
from indexer.spaces import list_spaces

TINY = {"tiny/aladin": style_aladin, "tiny/csd": style_csd}


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [pattern_image((48 + 8 * i, 40), tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4)))
            for i in range(3)]


def _embed(enc, images) -> np.ndarray:
    return enc.embed_images(np.stack([enc.preprocess(im) for im in images]))


@pytest.mark.parametrize("encoder_id", list(TINY))
def test_tiny_configs_are_deterministic_normalised_and_picklable(encoder_id: str) -> None:
    a, b = build_encoder(encoder_id, "cpu"), build_encoder(encoder_id, "cpu")
    va, vb = _embed(a, _images()), _embed(b, _images())
    assert va.dtype == np.float32 and va.shape == (3, a.dim) == (3, model_info(encoder_id).dim)
    np.testing.assert_allclose(np.linalg.norm(va, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(va, vb)  # same seed -> identical vectors
    other = TINY[encoder_id].create_tiny("cpu", seed=1)
    assert not np.allclose(_embed(other, _images()), va)
    assert a.tiny and not a.supports_text
    assert pickle.loads(pickle.dumps(a.preprocess)) == a.preprocess


def test_official_dims_are_documented_in_the_registry() -> None:
    infos = {m.encoder_id.split(":")[0]: m for m in list_models()}
    assert infos["aladin/vit-b16"].dim == 256 and infos["csd/vit-l14"].dim == 768
    assert not infos["aladin/vit-b16"].weights_present and not infos["csd/vit-l14"].weights_present
    assert infos["aladin/vit-b16"].role == infos["csd/vit-l14"].role == "style"


def test_configured_checkpoint_is_listed(monkeypatch, tmp_path: Path) -> None:
    ckpt = tmp_path / "aladinVIT_bamfg_64.47.pt"
    monkeypatch.setenv("STYLELENS_ALADIN_CHECKPOINT", str(ckpt))
    assert {m.encoder_id: m for m in list_models()}[f"aladin/vit-b16:{ckpt}"].weights_present is False
    ckpt.write_bytes(b"x")
    assert {m.encoder_id: m for m in list_models()}[f"aladin/vit-b16:{ckpt}"].weights_present is True


def test_aladin_checkpoint_round_trip_in_official_layout(tmp_path: Path) -> None:
    state = style_aladin.tiny_official_state(seed=0)
    assert "enc_style.transformer.encoder.layer.0.attn.query.weight" in state
    assert "enc_style.proj_head.fc2.weight" in state and not any(k.startswith("backbone") for k in state)
    path = tmp_path / "aladin_tiny.pt"
    torch.save(state, path)
    enc = create_encoder(f"aladin/tiny:{path}", device="cpu")
    assert enc.encoder_id == f"aladin/tiny:{path}" and enc.dim == 16
    np.testing.assert_array_equal(_embed(enc, _images()), _embed(build_encoder("tiny/aladin", "cpu"), _images()))


def _reference_aladin(state: dict, x: torch.Tensor, heads: int) -> torch.Tensor:
    """Our reading of the official ALADIN-ViT forward, in plain tensor ops on the official keys."""
    f = torch.nn.functional
    p = "enc_style.transformer."
    h = f.conv2d(x, state[p + "embeddings.patch_embeddings.weight"], state[p + "embeddings.patch_embeddings.bias"],
                 stride=state[p + "embeddings.patch_embeddings.weight"].shape[-1]).flatten(2).transpose(1, 2)
    h = torch.cat([state[p + "embeddings.cls_token"].expand(len(x), -1, -1), h], 1)
    h = h + state[p + "embeddings.position_embeddings"]
    n_layers = len({k.split(".")[4] for k in state if ".encoder.layer." in k})
    width = h.shape[-1]
    for i in range(n_layers):
        def L(name: str, i: int = i) -> tuple[torch.Tensor, torch.Tensor]:
            return state[f"{p}encoder.layer.{i}.{name}.weight"], state[f"{p}encoder.layer.{i}.{name}.bias"]

        y = f.layer_norm(h, (width,), *L("attention_norm"), eps=1e-6)
        q, k, v = (f.linear(y, *L(f"attn.{n}")).unflatten(-1, (heads, -1)).transpose(1, 2)
                   for n in ("query", "key", "value"))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1) @ v
        h = h + f.linear(att.transpose(1, 2).flatten(2), *L("attn.out"))
        y = f.layer_norm(h, (width,), *L("ffn_norm"), eps=1e-6)
        h = h + f.linear(f.gelu(f.linear(y, *L("ffn.fc1"))), *L("ffn.fc2"))
    code = f.layer_norm(h, (width,), state[p + "encoder.encoder_norm.weight"], state[p + "encoder.encoder_norm.bias"],
                        eps=1e-6)[:, 0]
    hd = "enc_style.proj_head."
    code = f.linear(f.leaky_relu(code), state[hd + "fc1.weight"], state[hd + "fc1.bias"])
    return f.linear(f.leaky_relu(code), state[hd + "fc2.weight"], state[hd + "fc2.bias"])


def test_aladin_key_mapping_matches_the_official_forward() -> None:
    state = style_aladin.tiny_official_state(seed=3)
    enc = style_aladin.create_tiny("cpu", seed=3)
    batch = np.stack([enc.preprocess(im) for im in _images()])
    ref = _reference_aladin(state, torch.from_numpy(batch), style_aladin.ARCHS["tiny"].heads)
    ref = (ref / ref.norm(dim=1, keepdim=True)).numpy()
    np.testing.assert_allclose(enc.embed_images(batch), ref, atol=1e-5)


def test_aladin_preprocess_stretches_like_the_official_resize() -> None:
    pre = style_aladin.aladin_preprocess(32)
    wide = pattern_image((128, 32))
    px = pre.pixels(wide)
    assert px.shape == (32, 32, 3)
    assert tuple(px[4, 4]) == tuple(np.asarray(wide)[2, 2]) and tuple(px[4, 28]) == tuple(np.asarray(wide)[2, 120])


def test_csd_checkpoint_round_trip_in_official_layout(tmp_path: Path) -> None:
    ckpt = style_csd.tiny_official_state(seed=0)
    keys = ckpt["model_state_dict"]
    assert {"module.last_layer_style", "module.last_layer_content", "module.backbone.conv1.weight",
            "module.backbone.transformer.resblocks.0.attn.in_proj_weight"} <= set(keys)
    assert "module.backbone.proj" not in keys
    path = tmp_path / "checkpoint.pth"
    torch.save(ckpt, path)
    enc = create_encoder(f"csd/tiny:{path}", device="cpu")
    assert enc.dim == 16
    tiny = build_encoder("tiny/csd", "cpu")
    np.testing.assert_array_equal(_embed(enc, _images()), _embed(tiny, _images()))
    # the style vector is backbone feature @ last_layer_style, L2-normalised, as in the official forward
    x = torch.from_numpy(np.stack([tiny.preprocess(im) for im in _images()]))
    with torch.no_grad():
        ref = tiny.net.backbone(x) @ keys["module.last_layer_style"]
    np.testing.assert_allclose(tiny.embed_images(x.numpy()), (ref / ref.norm(dim=1, keepdim=True)).numpy(), atol=1e-5)


@pytest.mark.parametrize("prefix,fix", [("aladin/vit-b16", "aladinVIT_bamfg_64.47.pt"),
                                        ("csd/vit-l14", "learn2phoenix/CSD")])
def test_missing_checkpoint_names_model_and_fix(tmp_path: Path, prefix: str, fix: str) -> None:
    with pytest.raises(EncoderError) as err:
        build_encoder(f"{prefix}:{tmp_path / 'nope.pt'}", "cpu")
    msg = str(err.value)
    assert "not found" in msg and prefix in msg and fix in msg


@pytest.mark.parametrize("prefix,state,fix", [
    ("aladin/tiny", lambda: style_csd.tiny_official_state()["model_state_dict"], "aladinVIT_bamfg_64.47.pt"),
    ("csd/tiny", lambda: style_aladin.tiny_official_state(), "tomg-group-umd/CSD-ViT-L"),
])
def test_wrong_keys_name_model_and_fix(tmp_path: Path, prefix: str, state, fix: str) -> None:
    path = tmp_path / "wrong.pt"
    torch.save(state(), path)
    with pytest.raises(EncoderError) as err:
        build_encoder(f"{prefix}:{path}", "cpu")
    msg = str(err.value)
    assert "does not match" in msg and prefix in msg and "missing keys" in msg and fix in msg


def test_bad_ids_are_rejected() -> None:
    for bad in ("aladin/vit-b16", "aladin/vit-h14:/x.pt", "csd/vit-l14:"):
        with pytest.raises(EncoderError, match="expected"):
            build_encoder(bad, "cpu")


def test_tiny_aladin_as_workspace_style_space(workspace, tmp_path: Path) -> None:
    root = tmp_path / "art"
    root.mkdir()
    for i, im in enumerate(_images()):
        im.save(root / f"p{i}.png")
    summary = index_paths(workspace, [str(root)], "art", profile="tiny", encoders={"style": "tiny/aladin"},
                          workers=0, progress=False)
    assert summary.added == 3 and summary.failed == 0
    spaces = {sp.name: sp for sp in list_spaces(workspace)}
    assert spaces["style"].encoder_id == "tiny/aladin" and spaces["style"].dim == 16
