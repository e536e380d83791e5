"""Codes for an unseen style exemplar S: facial destylisation (paper section 3.1) and latent optimisation of
its extrinsic code (section 3.4 / 4.3 "unseen styles"), as `destylize.py` and `refine_exstyle.py` do.

1. Latent initialisation: z_e+ = E(S) (pSp into Z+).
2. Latent optimisation (stage II of destylisation, only when the style set's fine-tuned StyleGAN g' is
   here): z+ starts at z_e+ and minimises L_perc(g'(z+), S) + 0.1 L_ID(g'(z+), S) + sigma(z+) (+ 1e5 times
   the noise regulariser, the noise maps being optimised too), Adam lr 0.1 with a cosine ramp; without g'
   this stage is skipped (z^_e+ = z_e+) and the result says so.
3. Image embedding: z_i+ = E(g(z^_e+)) (g = the intrinsic StyleGAN, truncation 0.7 towards 0), rows 8-17
   (0-based: the paper's layers 9-18) of both z^_e+ and z_i+ taken from z_e+ (as the official script, to keep
   the exemplar's colours in the pair).
4. Extrinsic code refinement: with G frozen, z_e+ is optimised so G(z_i+, f(z_e+), 1) reconstructs S:
   L_perc + L_CX (+ 1e5 noise regulariser); structure rows lr 0.005, colour rows lr 0.01, noise lr 0.1.

Loss terms need weights (VGG19 for perceptual / contextual, ArcFace for identity); those not here are left
out and `ExemplarResult.terms` names the ones used. With no VGG the reconstruction term is a pixel MSE at
256 px. Simplification: the official perceptual term in steps 2 and 4 is LPIPS-VGG16; here it is an L1
distance between VGG19 relu_1 features (`losses.perceptual`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..base import StylizeError
from . import losses
from .irse import ArcFace
from .losses import VGG19Features
from .network import DualStyleGAN
from .psp import PSPEncoder
from .stylegan2 import Generator

KEEP_COLOUR_FROM = 8  # destylize.py keeps rows 8-17 of z_e+ in z_i+
TERMS_ORDER = ("perceptual", "contextual", "pixel_l2", "identity", "latent_spread", "noise")


@dataclass(frozen=True)
class ExemplarSettings:
    """Steps, learning rates and loss weights (the official scripts' defaults)."""

    refine_steps: int = 100
    destylise_steps: int = 300
    lr_colour: float = 0.01
    lr_structure: float = 0.005
    lr_destylise: float = 0.1
    truncation: float = 0.7
    id_weight: float = 0.1
    noise_weight: float = 1e5
    cx_band_width: float = 0.2
    loss_size: int = losses.LOSS_SIZE  # images are compared at this size (the tiny model uses less)


@dataclass
class ExemplarNets:
    """The networks the extraction uses; the optional ones may be None (their terms are then left out)."""

    model: DualStyleGAN
    encoder: PSPEncoder
    finetuned: Generator | None = None
    vgg: VGG19Features | None = None
    arcface: ArcFace | None = None


@dataclass
class ExemplarResult:
    """z_e+ (refined), z_i+, E(S), the terms used, whether stage II ran, and each phase's loss per step."""

    extrinsic: torch.Tensor
    intrinsic: torch.Tensor
    encoded: torch.Tensor
    terms: tuple[str, ...]
    destylised: bool
    history: dict[str, list[float]] = field(default_factory=dict)


def available_terms(nets: ExemplarNets) -> tuple[str, ...]:
    """Every term the networks here allow (identity and latent_spread belong to destylisation, which
    needs g'; pixel_l2 needs no weights)."""
    have = {"noise", "pixel_l2"} | ({"perceptual", "contextual"} if nets.vgg is not None else set())
    if nets.finetuned is not None:
        have.add("latent_spread")
        if nets.arcface is not None:
            have.add("identity")
    return tuple(t for t in TERMS_ORDER if t in have)


def default_terms(nets: ExemplarNets) -> tuple[str, ...]:
    """The paper's terms that can run here: VGG terms when VGG19 is here, else the pixel fallback."""
    have = available_terms(nets)
    drop = "pixel_l2" if "perceptual" in have else ""
    return tuple(t for t in have if t != drop)


def resolve_terms(nets: ExemplarNets, requested: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The requested terms (None: `default_terms`), refusing one whose weights are not here, by name, and a
    set without any reconstruction term."""
    if requested is None:
        return default_terms(nets)
    have = available_terms(nets)
    need = {"perceptual": "VGG19 weights (vgg19.pth)", "contextual": "VGG19 weights (vgg19.pth)",
            "identity": "ArcFace weights (model_ir_se50.pth) and the fine-tuned g' (finetune-000600.pt)",
            "latent_spread": "the fine-tuned g' (finetune-000600.pt)"}
    for term in requested:
        if term not in have:
            raise StylizeError(f"exemplar_losses: {term!r} needs {need.get(term, 'weights')} which are not here; "
                               f"available: {list(have)}")
    if not {"perceptual", "contextual", "pixel_l2"} & set(requested):
        raise StylizeError("exemplar_losses needs a reconstruction term: perceptual, contextual or pixel_l2")
    return tuple(t for t in TERMS_ORDER if t in requested)


def _cosine_lr(t: float, initial: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    ramp = min(1.0, (1 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial * ramp * min(1.0, t / rampup)


def _noises(g: Generator, generator: torch.Generator) -> list[torch.Tensor]:
    return [n.float().requires_grad_(True) for n in g.make_noise(1, generator)]


def _reconstruction(nets: ExemplarNets, terms: tuple[str, ...], fake: torch.Tensor, target: torch.Tensor,
                    target_feats: list[torch.Tensor] | None, contextual: bool, band: float) -> dict[str, torch.Tensor]:
    fake = losses.to_loss_size(fake, target.shape[-1])
    out: dict[str, torch.Tensor] = {}
    if "pixel_l2" in terms:
        out["pixel_l2"] = losses.pixel_l2(fake, target)
    if target_feats is not None and ("perceptual" in terms or "contextual" in terms):
        feats = nets.vgg(fake.to(target_feats[0].dtype))
        if "perceptual" in terms:
            out["perceptual"] = losses.perceptual(feats, target_feats)
        if contextual and "contextual" in terms:
            out["contextual"] = losses.contextual(feats[2], target_feats[2], band_width=band)
    return out


def extract(nets: ExemplarNets, style: torch.Tensor, settings: ExemplarSettings, terms: tuple[str, ...],
            generator: torch.Generator, on_step: Callable[[], None] | None = None) -> ExemplarResult:
    """Codes for the exemplar `style` ((1, 3, H, W) in [-1, 1], square). Deterministic for a generator seed."""
    model, s = nets.model, settings
    g = model.generator
    dtype = next(model.parameters()).dtype
    target = losses.to_loss_size(style.float(), s.loss_size)
    target_feats = None
    with torch.no_grad():
        encoded = nets.encoder.encode(style.to(dtype)).float()
        if nets.vgg is not None:
            target_feats = [f.detach() for f in nets.vgg(target.to(next(nets.vgg.parameters()).dtype))]
    history: dict[str, list[float]] = {"destylise": [], "refine": []}
    zhat, noises = encoded, _noises(g, generator)
    destylise = nets.finetuned is not None and s.destylise_steps > 0
    if destylise:
        zhat = encoded.clone().requires_grad_(True)
        opt = torch.optim.Adam([zhat, *noises], lr=s.lr_destylise)
        for i in range(s.destylise_steps):
            opt.param_groups[0]["lr"] = _cosine_lr(i / s.destylise_steps, s.lr_destylise)
            img, _ = nets.finetuned([zhat.to(dtype)], z_plus_latent=True, noise=[n.to(dtype) for n in noises])
            parts = _reconstruction(nets, terms, img.float(), target, target_feats, False, s.cx_band_width)
            if "identity" in terms:
                parts["identity"] = s.id_weight * losses.identity(nets.arcface, img.float(), target)
            if "latent_spread" in terms:
                parts["latent_spread"] = losses.latent_spread(zhat)
            history["destylise"].append(_step(opt, parts, noises, terms, s.noise_weight))
            if on_step:
                on_step()
        zhat = zhat.detach()
    with torch.no_grad():
        keep = encoded[:, KEEP_COLOUR_FROM:]
        zhat = torch.cat([zhat[:, :KEEP_COLOUR_FROM], keep], 1)
        face, _ = g([zhat.to(dtype)], z_plus_latent=True, truncation=s.truncation, truncation_latent=0,
                    noise=[n.detach().to(dtype) for n in noises])
        intrinsic = nets.encoder.encode(losses.to_loss_size(face.float()).to(dtype)).float()
        intrinsic[:, KEEP_COLOUR_FROM:] = keep
    extrinsic = refine(nets, intrinsic, encoded, target, target_feats, settings, terms, generator, history, on_step)
    return ExemplarResult(extrinsic, intrinsic, encoded, terms, destylise, history)


def _step(opt: torch.optim.Optimizer, parts: dict[str, torch.Tensor], noises: list[torch.Tensor],
          terms: tuple[str, ...], noise_weight: float) -> float:
    if "noise" in terms:
        parts["noise"] = noise_weight * losses.noise_regularize(noises)
    loss = torch.stack([v.float() for v in parts.values()]).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.noise_normalize_(noises)
    return float(loss.detach())


def refine(nets: ExemplarNets, intrinsic: torch.Tensor, extrinsic: torch.Tensor, target: torch.Tensor,
           target_feats: list[torch.Tensor] | None, settings: ExemplarSettings, terms: tuple[str, ...],
           generator: torch.Generator, history: dict[str, list[float]],
           on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """Optimise the extrinsic code so G(z_i+, f(z_e+), 1) reconstructs the exemplar; returns z_e+."""
    s, model = settings, nets.model
    if s.refine_steps == 0:
        return extrinsic.detach().clone()
    n = len(model.structure_layers)
    dtype = next(model.parameters()).dtype
    ex_s = extrinsic[:, :n].detach().clone().requires_grad_(True)
    ex_c = extrinsic[:, n:].detach().clone().requires_grad_(True)
    noises = _noises(model.generator, generator)
    opt = torch.optim.Adam([{"params": [ex_c], "lr": s.lr_colour}, {"params": [ex_s], "lr": s.lr_structure},
                            {"params": noises, "lr": 0.1}])
    for _ in range(s.refine_steps):
        code = torch.cat([ex_s, ex_c], 1).to(dtype)
        img, _ = model([intrinsic.to(dtype)], model.map_extrinsic(code), z_plus_latent=True,
                       noise=[x.to(dtype) for x in noises], use_res=True)
        parts = _reconstruction(nets, terms, img.float(), target, target_feats, True, s.cx_band_width)
        history["refine"].append(_step(opt, parts, noises, terms, s.noise_weight))
        if on_step:
            on_step()
    return torch.cat([ex_s, ex_c], 1).detach()
