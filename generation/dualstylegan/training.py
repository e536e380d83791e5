"""Progressive fine-tuning of DualStyleGAN (paper section 3.3), as `pretrain_dualstylegan.py` (stages I-II)
and `finetune_dualstylegan.py` (stage III) do it; `stylelens train dualstylegan` (`stages`) drives it on a GPU.

Only the extrinsic path (`res`, T_s `style`) is trained; g stays frozen. Every stage uses StyleGAN2's
non-saturating logistic GAN loss with R1 (gamma 10, every 16 D steps) and path-length regularisation
(weight 2, every 4 G steps), Adam lr 0.002 with the lazy-regularisation beta/lr correction, and an EMA copy
of the extrinsic path (half-life 10k images at batch 32; the official script averages `res` only and leaves
T_s of g_ema at its initial values, here both are averaged).

- Stage I: `network.stage1_init` (ModRes convs ~0, T_c = identity): G(z1, f(z2), 1) is g's style mixing.
- Stage II (source domain): G(z1, z~2, 1) ~ g(z_l+) (rows < l from z1, rows >= l from z2) under a VGG
  perceptual loss (relu1-3, weight 0.5 each) + 0.1 adversarial; z~2 = f(z2), or every `subspace_freq`-th
  step E(g(z2)); l = 7, 6, 5 for 300, 300, 3000 iterations.
- Stage III (target domain): alternating steps (a) random intrinsic z with exemplar codes: style loss
  lambda_CX * CX(relu3_1) + lambda_FM * FM(relu2_1, relu3_1) against the exemplar, identity loss against
  g(z), L2 of the extrinsic-path weights, adversarial; (b) paired codes (z_i+, z_e+) of exemplar S (colour
  rows of z_i+ re-drawn, z_e+ jittered by N(0, 0.1^2)): the same plus lambda_perc * VGG L1 (relu2 0.5,
  relu3 1) reconstruction of S. Per style (lambda_ID, lambda_reg, iterations): cartoon (1, 0.015, 1400),
  caricature (4, 0.005, 1000), anime (1, 0.02, 2100).
Simplified: no adaptive augmentation (ADA) and no multi-GPU data parallelism (the paper used 8 GPUs x 4).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import autograd, nn
from torch.nn import functional as F

from . import losses
from .irse import ArcFace
from .losses import VGG19Features
from .network import DualStyleGAN
from .psp import PSPEncoder
from .stylegan2 import Discriminator

STAGE2_PERC = (0.5, 0.5, 0.5, 0.0, 0.0)
STAGE3_PERC = (0.0, 0.5, 1.0, 0.0, 0.0)
STAGE3_STYLES = {"cartoon": (1.0, 0.015, 1400), "caricature": (4.0, 0.005, 1000), "anime": (1.0, 0.02, 2100)}


@dataclass(frozen=True)
class GANConfig:
    """StyleGAN2 training defaults shared by both stages."""

    lr: float = 0.002
    r1: float = 10.0
    d_reg_every: int = 16
    path_regularize: float = 2.0
    path_batch_shrink: int = 2
    g_reg_every: int = 4
    mixing: float = 0.9
    ema_decay: float = 0.5 ** (32 / (10 * 1000))


@dataclass(frozen=True)
class Stage2Config:
    iters: tuple[int, ...] = (300, 300, 3000)
    mix_layers: tuple[int, ...] = (7, 6, 5)
    lambda_adv: float = 0.1
    perc_weights: tuple[float, ...] = STAGE2_PERC
    subspace_freq: int = 4


@dataclass(frozen=True)
class Stage3Config:
    iters: int = 1400
    lambda_adv: float = 1.0
    lambda_perc: float = 1.0
    lambda_cx: float = 0.25
    lambda_fm: float = 0.25
    lambda_id: float = 1.0
    lambda_reg: float = 0.015
    subspace_freq: int = 2
    subspace_std: float = 0.1
    random_ind: int = 8

    @classmethod
    def for_style(cls, style: str, **overrides: float) -> Stage3Config:
        """The paper's (lambda_ID, lambda_reg, iterations) for cartoon / caricature / anime, else cartoon's."""
        lam_id, lam_reg, iters = STAGE3_STYLES.get(style, STAGE3_STYLES["cartoon"])
        return cls(**{"iters": iters, "lambda_id": lam_id, "lambda_reg": lam_reg, **overrides})


@dataclass
class PairedData:
    """Stage III supervision: exemplar images S (N, 3, H, W) in [-1, 1] (or uint8 0-255), their intrinsic
    codes z_i+ (Z+) and extrinsic codes already mapped to W+ (N, rows, dim)."""

    images: torch.Tensor
    instyles: torch.Tensor
    exstyles_w: torch.Tensor

    def sample(self, batch: int, gen: torch.Generator, std: float, random_ind: int) -> tuple[torch.Tensor, ...]:
        idx = torch.randint(0, len(self.images), (batch,), generator=gen)
        instyle = self.instyles[idx].clone()
        if random_ind < instyle.shape[1]:  # break the colour link between content and target
            instyle[:, random_ind:] = torch.randn(instyle[:, random_ind:].shape, generator=gen)
        exstyle = self.exstyles_w[idx] + std * torch.randn(self.exstyles_w[idx].shape, generator=gen)
        images = self.images[idx]
        if images.dtype == torch.uint8:
            images = images.float() / 127.5 - 1
        return exstyle, instyle, images


def d_logistic(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def g_nonsaturating(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()


def r1_penalty(d: nn.Module, real: torch.Tensor) -> torch.Tensor:
    real = real.detach().requires_grad_(True)
    grad, = autograd.grad(d(real).sum(), real, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


@dataclass
class Trainer:
    """One G (extrinsic path only), its EMA copy, one D and their optimisers; `step_*` run one iteration."""

    generator: DualStyleGAN
    discriminator: Discriminator
    encoder: PSPEncoder
    vgg: VGG19Features
    arcface: ArcFace | None = None
    gan: GANConfig = field(default_factory=GANConfig)
    seed: int = 0
    loss_size: int = losses.LOSS_SIZE  # VGG losses compare images at this size (256 in the paper)

    def __post_init__(self) -> None:
        g, c = self.generator, self.gan
        g.generator.requires_grad_(False)
        self.g_ema = copy.deepcopy(g).eval().requires_grad_(False)
        self.g_params = [*g.res.parameters(), *g.style.parameters()]
        g_ratio, d_ratio = c.g_reg_every / (c.g_reg_every + 1), c.d_reg_every / (c.d_reg_every + 1)
        self.g_optim = torch.optim.Adam(self.g_params, lr=c.lr * g_ratio, betas=(0.0, 0.99 ** g_ratio))
        self.d_optim = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr * d_ratio,
                                        betas=(0.0, 0.99 ** d_ratio))
        self.gen = torch.Generator("cpu").manual_seed(self.seed)
        self.iteration = 0
        self.mean_path = torch.zeros(())

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen).to(self.device)

    def _mixing_z(self, batch: int) -> list[torch.Tensor]:
        dim = self.generator.style_dim
        two = torch.rand((), generator=self.gen).item() < self.gan.mixing
        return [self._randn(batch, dim), self._randn(batch, dim)] if two else [self._randn(batch, dim)]

    def _d_step(self, real: torch.Tensor, fake: torch.Tensor, weight: float = 1.0) -> float:
        self.generator.requires_grad_(False)
        self.discriminator.requires_grad_(True)
        loss = d_logistic(self.discriminator(real), self.discriminator(fake.detach())) * weight
        self.d_optim.zero_grad()
        loss.backward()
        self.d_optim.step()
        if self.iteration % self.gan.d_reg_every == 0:
            r1 = r1_penalty(self.discriminator, real)
            self.d_optim.zero_grad()
            (self.gan.r1 / 2 * r1 * self.gan.d_reg_every).backward()
            self.d_optim.step()
        return float(loss.detach())

    def _g_update(self, loss: torch.Tensor) -> None:
        self.discriminator.requires_grad_(False)
        self.g_optim.zero_grad()
        loss.backward()
        self.g_optim.step()

    def _path_step(self, exstyle: torch.Tensor) -> None:
        """Path-length regularisation of the W -> image Jacobian (every g_reg_every iterations)."""
        if self.iteration % self.gan.g_reg_every:
            return
        g = self.generator
        batch = max(1, exstyle.shape[0] // self.gan.path_batch_shrink)
        with torch.no_grad():
            w = g.generator.latents(self._mixing_z(batch), inject_index=self._inject())
        w.requires_grad_(True)
        img, _ = g([w], exstyle[:batch], input_is_latent=True)
        noise = torch.randn(img.shape, generator=self.gen).to(img) / math.sqrt(img.shape[2] * img.shape[3])
        grad, = autograd.grad((img * noise).sum(), w, create_graph=True)
        lengths = grad.pow(2).sum(2).mean(1).sqrt()
        self.mean_path = self.mean_path.to(lengths) + 0.01 * (lengths.mean().detach() - self.mean_path.to(lengths))
        penalty = (lengths - self.mean_path).pow(2).mean()
        self._g_update(self.gan.path_regularize * self.gan.g_reg_every * penalty + 0 * img[0, 0, 0, 0])

    def _inject(self) -> int:
        return int(torch.randint(1, self.generator.n_latent, (), generator=self.gen))

    def _finish(self) -> None:
        """EMA of the trained extrinsic path (res and T_s) into g_ema; next iteration."""
        with torch.no_grad():
            for ema, p in zip([*self.g_ema.res.parameters(), *self.g_ema.style.parameters()], self.g_params,
                              strict=True):
                ema.mul_(self.gan.ema_decay).add_(p, alpha=1 - self.gan.ema_decay)
        self.iteration += 1

    def _vgg(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.vgg(losses.to_loss_size(x, self.loss_size))

    def step_stage2(self, real: torch.Tensor, mix_layer: int, config: Stage2Config = Stage2Config()) -> dict:
        """One stage-II iteration on a batch of real source-domain faces `real`."""
        g, b = self.generator, real.shape[0]
        z1, z2 = self._randn(b, g.style_dim), self._randn(b, g.style_dim)
        with torch.no_grad():
            target, _ = g([z1, z2], None, use_res=False, inject_index=mix_layer)
            style_img, _ = g([z2], None, use_res=False)
            psp = g.generator.map_zplus(self.encoder.encode(style_img))
        encoded = self.iteration % config.subspace_freq == 0
        instyle = [z1.unsqueeze(1).repeat(1, g.n_latent, 1)] if encoded else [z1]
        exstyle = psp if encoded else g.generator.style(z2).detach()
        with torch.no_grad():
            fake, _ = g(instyle, exstyle, z_plus_latent=encoded)
        d_loss = self._d_step(real, fake, config.lambda_adv)
        self.generator.requires_grad_(False)
        for p in self.g_params:
            p.requires_grad_(True)
        fake, _ = g(instyle, exstyle, z_plus_latent=encoded)
        perc = losses.perceptual(self._vgg(fake), [f.detach() for f in self._vgg(target)], config.perc_weights)
        adv = g_nonsaturating(self.discriminator(fake)) * config.lambda_adv
        self._g_update(perc + adv)
        self._path_step(g.generator.style(self._randn(max(1, b // 2), g.style_dim)).detach())
        self._finish()
        return {"d": d_loss, "perc": float(perc.detach()), "adv": float(adv.detach())}

    def step_stage3(self, data: PairedData, batch: int, config: Stage3Config = Stage3Config()) -> dict:
        """One stage-III iteration: alternately random-content style transfer and paired reconstruction."""
        g = self.generator
        paired = self.iteration % config.subspace_freq != 0
        exstyle, instyle, real = (t.to(self.device) for t in data.sample(batch, self.gen, config.subspace_std,
                                                                         config.random_ind))
        styles = [instyle] if paired else self._mixing_z(batch)
        with torch.no_grad():
            fake, _ = g(styles, exstyle, z_plus_latent=paired, inject_index=self._inject())
        d_loss = self._d_step(real, fake, config.lambda_adv)
        self.generator.requires_grad_(False)
        for p in self.g_params:
            p.requires_grad_(True)
        inject = self._inject()
        fake, _ = g(styles, exstyle, z_plus_latent=paired, inject_index=inject)
        with torch.no_grad():
            real_feats = self._vgg(real)
            content, _ = g(styles, None, use_res=False, z_plus_latent=paired, inject_index=inject)
        fake_feats = self._vgg(fake)
        parts = {"cx": config.lambda_cx * losses.contextual(fake_feats[2], real_feats[2]),
                 "fm": config.lambda_fm * losses.feature_matching(fake_feats, real_feats),
                 "reg": config.lambda_reg * sum(p.norm() for p in g.res.parameters()),
                 "adv": config.lambda_adv * g_nonsaturating(self.discriminator(fake))}
        if self.arcface is not None and config.lambda_id > 0:
            parts["id"] = config.lambda_id * losses.identity(self.arcface, fake, content)
        if paired:
            parts["perc"] = config.lambda_perc * losses.perceptual(fake_feats, real_feats, STAGE3_PERC)
        self._g_update(sum(parts.values()))
        self._path_step(exstyle)
        self._finish()
        return {"d": d_loss, **{k: float(v.detach()) for k, v in parts.items()}}
