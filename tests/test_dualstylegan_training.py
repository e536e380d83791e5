"""DualStyleGAN's progressive fine-tuning (stages I-III) on a tiny 64 px model, CPU: a few steps of each
stage run with finite losses, move only the extrinsic path, and `stylelens train dualstylegan` writes checkpoints
that load strictly back; its codes action writes code files the safe reader accepts. The old script still runs."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from generation.dualstylegan import stages, tiny
from generation.dualstylegan.checkpoints import load_strict, load_style_codes, load_torch
from generation.dualstylegan.network import ModRes, stage1_init
from generation.dualstylegan.stylegan2 import Discriminator
from generation.dualstylegan.training import PairedData, Stage2Config, Stage3Config, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = 64
CHANNELS = {k: v for k, v in tiny.CHANNELS.items() if k <= SIZE}


def _trainer(seed: int = 0) -> Trainer:
    g = tiny.generator(seed, SIZE)
    return Trainer(g, Discriminator(SIZE, channels=CHANNELS), tiny.encoder(seed + 1, g.n_latent), tiny.vgg(),
                   tiny.arcface(), seed=seed, loss_size=32)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_stage_1_then_2_trains_only_the_extrinsic_path() -> None:
    trainer = _trainer()
    stage1_init(trainer.generator, seed=0)
    trainer.g_ema.load_state_dict(trainer.generator.state_dict())
    g = trainer.generator
    assert all(abs(float(b.conv[0].weight.detach().std()) - 0.01) < 0.005 for b in g.res if isinstance(b, ModRes))
    torch.testing.assert_close(g.res[8].weight / 32 ** 0.5, torch.eye(32), atol=0.01, rtol=0)
    frozen, ext, ema = _snapshot(g.generator), _snapshot(g.res), _snapshot(trainer.g_ema.res)
    real = torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    logs = [trainer.step_stage2(real, layer, Stage2Config()) for layer in (7, 6, 5)]
    assert all(np.isfinite(v) for log in logs for v in log.values()) and set(logs[0]) == {"d", "perc", "adv"}
    assert all(torch.equal(v, g.generator.state_dict()[k]) for k, v in frozen.items())  # g stays frozen
    moved = max(float((v - g.res.state_dict()[k]).abs().max()) for k, v in ext.items())
    ema_moved = max(float((v - trainer.g_ema.res.state_dict()[k]).abs().max()) for k, v in ema.items())
    assert moved > 1e-4 and 0 < ema_moved < moved  # the EMA copy follows, slower
    assert trainer.iteration == 3


def test_stage_3_alternates_random_content_and_paired_reconstruction() -> None:
    trainer = _trainer(1)
    g = trainer.generator
    gen = torch.Generator().manual_seed(2)
    ex = torch.randn(3, g.n_latent, g.style_dim, generator=gen)
    data = PairedData((torch.rand(3, 3, SIZE, SIZE, generator=gen) * 255).to(torch.uint8),
                      torch.randn(3, g.n_latent, g.style_dim, generator=gen), g.generator.map_zplus(ex).detach())
    before = _snapshot(g.res)
    config = Stage3Config.for_style("caricature")
    assert (config.lambda_id, config.lambda_reg, config.iters) == (4.0, 0.005, 1000)
    logs = [trainer.step_stage3(data, 2, config) for _ in range(2)]
    assert "perc" not in logs[0] and "perc" in logs[1]  # iteration 0: random z; iteration 1: paired codes
    assert {"cx", "fm", "reg", "adv", "id", "d"} <= set(logs[0])
    assert all(np.isfinite(v) for log in logs for v in log.values())
    assert max(float((v - g.res.state_dict()[k]).abs().max()) for k, v in before.items()) > 1e-4


@pytest.fixture(scope="module")
def script():
    path = Path(__file__).resolve().parent.parent / "scripts" / "train_dualstylegan.py"
    spec = importlib.util.spec_from_file_location("train_dualstylegan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train(capsys, *args: str) -> None:
    from ui.cli import main

    code = main(["train", "dualstylegan", *args])
    assert code == 0, capsys.readouterr().err


def test_train_dualstylegan_runs_every_stage_and_its_files_load_back(script, tmp_path, capsys) -> None:
    pre = tmp_path / "generator-pretrain.pt"
    _train(capsys, "stage2", "--tiny", "--iters", "1", "1", "--mix-layers", "7", "6", "--batch", "2", "--out", str(pre))
    ckpt = load_torch(pre)
    assert set(ckpt) == {"g", "d", "g_ema"}
    fresh = tiny.generator(9, SIZE)
    load_strict(fresh, ckpt["g_ema"], "generator-pretrain.pt (g_ema)")
    # the deprecated script: the same arguments, a one-line notice
    final = script.main(["stage3", "cartoon", "--tiny", "--iters", "2", "--batch", "2", "--save-every", "1",
                         "--save-begin", "1", "--out", str(tmp_path / "cartoon")])
    assert final.name == "generator-000002.pt" and (tmp_path / "cartoon" / "generator-000001.pt").is_file()
    load_strict(fresh, load_torch(final)["g_ema"], "generator.pt (g_ema)")
    assert "`scripts/train_dualstylegan.py` is deprecated; use `stylelens train dualstylegan`" in capsys.readouterr().err

    images = tmp_path / "style-images"
    images.mkdir()
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(images / f"s{i}.png")
    folder = tmp_path / "codes"
    _train(capsys, "codes", "cartoon", "--tiny", "--images", str(images), "--steps", "1", "--out", str(folder))
    ins, exs = load_style_codes(folder / "instyle_code.npy"), load_style_codes(folder / "exstyle_code.npy")
    assert list(ins) == list(exs) == ["s0.png", "s1.png"] and ins["s0.png"].shape == (1, 18, 32)


def test_the_loss_networks_are_frozen_in_eval_mode_on_the_device(tmp_path, monkeypatch) -> None:
    """`codes` destylises one image at a time: ArcFace (loaded in training mode) must be in eval mode there,
    else its batch norm refuses a batch of 1 and its dropout makes the identity loss random."""
    monkeypatch.setattr(stages, "load_encoder", lambda path: tiny.encoder().train())
    monkeypatch.setattr(stages, "load_vgg", lambda path: tiny.vgg().train())
    monkeypatch.setattr(stages, "load_arcface", lambda path: tiny.arcface().train())
    (tmp_path / "model_ir_se50.pth").write_bytes(b"")
    import argparse

    nets = stages._real_nets(argparse.Namespace(checkpoint_dir=str(tmp_path), vgg=None, device="cpu"))
    for net in nets:
        assert not net.training and not any(p.requires_grad for p in net.parameters())
    from generation.dualstylegan import losses

    face = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert float(losses.identity(nets[2], face, face)) < 1e-5  # batch 1 runs; same face, same identity
