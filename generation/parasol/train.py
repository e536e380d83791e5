"""Training PARASOL on mined triplets (METHODS.md 1c), with accelerate.

One step, for a batch of triplets (x, y, s):
- z_0 = E(x) (a sample of the frozen VAE's posterior), t ~ U{0..T-1}, eps ~ N(0, I),
  z_t = sqrt(a_t) z_0 + sqrt(1 - a_t) eps;
- a_s = A(s), c_y = C(y) (the encoders' indexing path, no gradient), m_s = M(a_s); condition dropout
  replaces m_s and/or c_y by the null tokens at the configured rates (`conditioning.dropout_masks`);
- L_DM = MSE(eps, eps_theta(z_t, t, m_s, c_y));
- x' = D(x0_hat), the frozen decoder applied to the one-step prediction x0_hat = (z_t - sqrt(1 - a_t) eps_theta)
  / sqrt(a_t) (the usual choice; the review only says "the reconstruction x'"); gradients reach the U-Net
  through D and through the frozen encoders: L_s = MSE(a_s, A(x')), L_y = MSE(c_y, C(x')), each over the
  samples whose condition was kept (a dropped condition gave the model nothing to match). The descriptors
  are unit vectors, so MSE = |a - b|^2 / dim: small numbers, hence weights of order 1 or more;
- L = L_DM + w_s L_s + w_y L_y; the U-Net (all of it, or only its cross-attention layers) and the
  conditioner (M, token map, slot embeddings, null tokens) are trained; the VAE and encoders are frozen.

An encoder without gradients (the ONNX Magenta style predictor of the starter profile) cannot serve its
loss: a non-zero weight on it is refused with a message naming the parameter (set it to 0 or use a torch
encoder such as ALADIN); refusing beats silently training a different objective.

Everything random (batch order, t, noise, dropout, VAE sampling) comes from one CPU torch generator that is
saved in each checkpoint, so a resumed run continues exactly as an uninterrupted one would (on one device).
A Ctrl-C in the middle of a step puts that step's batch position and random state back before the checkpoint
is written, so the resumed run redoes the step (only a Ctrl-C inside the optimizer's own update can leave a
half-applied step).
accelerate provides the device, mixed precision (fp16/bf16 autocast with a grad scaler on a GPU), backward
and gradient clipping; checkpoints are our own safetensors files (`checkpoint.py`), never pickles.
"""
from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from indexer.limits import check_seed

from ..base import StylizeError
from . import checkpoint as ckpt
from .conditioning import dropout_masks
from .curve import write_loss_curve
from .data import BatchOrder, Triplet, TripletData
from .descriptors import DescriptorEncoder
from .network import TRAINABLE, ParasolModel
from .models import build_model, load_checkpoint_model

MIXED_PRECISION = ("no", "fp16", "bf16")
LOSS_CURVE = "loss_curve.png"


@dataclass
class TrainConfig:
    """Training settings (saved with every checkpoint). Learning rates, loss weights and dropout rates are
    ours: the review gives none. `resolution` None = the base model's native size."""

    style_encoder: str
    content_encoder: str
    base: str = "sd15"
    resolution: int | None = None
    steps: int = 1000
    batch_size: int = 4
    learning_rate: float = 1e-5
    conditioner_lr: float = 1e-4
    w_s: float = 1.0
    w_y: float = 1.0
    p_drop_style: float = 0.1
    p_drop_content: float = 0.1
    p_drop_both: float = 0.1
    trainable: str = "all"
    mixed_precision: str = "no"
    device: str = "auto"
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = False
    checkpoint_every: int = 250
    seed: int = 0
    allow_download: bool = False


def _number(name: str, value: Any, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise StylizeError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")


def _integer(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise StylizeError(f"{name} must be an integer >= {low}, got {value!r}")


def validate(cfg: TrainConfig) -> None:
    """Refuse bad settings with a StylizeError naming the parameter (before any model loads)."""
    for name in ("steps", "batch_size", "checkpoint_every"):
        _integer(name, getattr(cfg, name), 1)
    check_seed(cfg.seed)
    if cfg.resolution is not None:
        _integer("resolution", cfg.resolution, 8)
    for name in ("learning_rate", "conditioner_lr"):
        _number(name, getattr(cfg, name), 0.0, 1.0)
    for name in ("w_s", "w_y", "max_grad_norm"):
        _number(name, getattr(cfg, name), 0.0)
    for name in ("p_drop_style", "p_drop_content", "p_drop_both"):
        _number(name, getattr(cfg, name), 0.0, 1.0)
    if cfg.p_drop_style + cfg.p_drop_content + cfg.p_drop_both > 1.0:
        raise StylizeError("p_drop_style + p_drop_content + p_drop_both must not exceed 1")
    if cfg.trainable not in TRAINABLE:
        raise StylizeError(f"trainable must be one of {TRAINABLE}, got {cfg.trainable!r}")
    if cfg.mixed_precision not in MIXED_PRECISION:
        raise StylizeError(f"mixed_precision must be one of {MIXED_PRECISION}, got {cfg.mixed_precision!r}")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise StylizeError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    on_gpu = cfg.device != "cpu" and torch.cuda.is_available()
    if cfg.mixed_precision == "fp16" and not on_gpu:
        raise StylizeError("mixed_precision fp16 needs a CUDA GPU (use no on the CPU)")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise StylizeError("device cuda was asked for, but torch sees no CUDA GPU")


def check_encoders(style: DescriptorEncoder, content: DescriptorEncoder, w_s: float, w_y: float) -> None:
    """Refuse a modality loss whose encoder cannot give gradients (see module docstring)."""
    for name, weight, enc in (("w_s", w_s, style), ("w_y", w_y, content)):
        if weight > 0 and not enc.grad_capable:
            raise StylizeError(f"{name} = {weight:g} needs gradients through {enc.encoder_id}, which runs in ONNX "
                               f"and gives none; set {name}=0 or use a torch encoder (e.g. aladin/vit-b16:<path>)")


def training_losses(model: ParasolModel, x: torch.Tensor, a_s: torch.Tensor, c_y: torch.Tensor, t: torch.Tensor,
                    noise: torch.Tensor, latent_noise: torch.Tensor | None, keep_style: torch.Tensor,
                    keep_content: torch.Tensor, w_s: float, w_y: float) -> dict[str, torch.Tensor]:
    """{"loss", "dm", "style", "content"} of one batch (module docstring); everything on the model's device."""
    device = model.device
    with torch.no_grad():
        z0 = model.encode(x.to(device), latent_noise)
    ab = model.alphas_cumprod.to(device)[t.to(device)].float().view(-1, 1, 1, 1)
    noise = noise.to(device)
    z_t = ab.sqrt() * z0 + (1.0 - ab).sqrt() * noise
    a_s, c_y = a_s.to(device), c_y.to(device)
    tokens = model.conditioner.tokens(model.conditioner.project_style(a_s), c_y, keep_style=keep_style.to(device),
                                      keep_content=keep_content.to(device))
    eps = model.eps(z_t, t.to(device), tokens)
    dm = torch.nn.functional.mse_loss(eps, noise)
    zero = dm.new_zeros(())
    style, content = zero, zero
    if (w_s > 0 and bool(keep_style.any())) or (w_y > 0 and bool(keep_content.any())):
        x_rec = model.decode((z_t - (1.0 - ab).sqrt() * eps) / ab.sqrt())
        if w_s > 0 and bool(keep_style.any()):
            rows = keep_style.to(device)
            style = torch.nn.functional.mse_loss(model.style.differentiable(x_rec[rows]), a_s[rows].float())
        if w_y > 0 and bool(keep_content.any()):
            rows = keep_content.to(device)
            content = torch.nn.functional.mse_loss(model.content.differentiable(x_rec[rows]), c_y[rows].float())
    return {"loss": dm + w_s * style + w_y * content, "dm": dm, "style": style, "content": content}


@torch.no_grad()
def evaluate(model: ParasolModel, data: TripletData, idx: Sequence[int], seed: int = 0) -> float:
    """L_DM on fixed draws (t, noise from `seed`), every condition kept: comparable across training."""
    g = torch.Generator().manual_seed(seed)
    x, a_s, c_y = data.batch(list(idx))
    shape = _latent_shape(model, len(idx), data.resolution)
    t = torch.randint(0, len(model.alphas_cumprod), (len(idx),), generator=g)
    noise = torch.randn(shape, generator=g)
    keep = torch.ones(len(idx), dtype=torch.bool)
    return float(training_losses(model, x, a_s, c_y, t, noise, None, keep, keep, 0.0, 0.0)["dm"])


def _latent_shape(model: ParasolModel, n: int, resolution: int) -> tuple[int, int, int, int]:
    side = resolution // model.vae_factor
    return n, int(model.unet.config.in_channels), side, side


@dataclass
class TrainSummary:
    """What a `train` call did: where the checkpoint is, the steps it ran and the last losses."""

    out_dir: str
    checkpoint: str
    step: int
    steps_run: int
    triplets: int
    last: dict[str, float]
    loss_curve: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _accelerator(cfg: TrainConfig) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    kwargs = dict(mixed_precision=cfg.mixed_precision, cpu=cfg.device == "cpu")
    try:
        return Accelerator(**kwargs)
    except ValueError:  # accelerate keeps one state per process; another run with other settings resets it
        AcceleratorState._reset_state(reset_partial_state=True)
        return Accelerator(**kwargs)


def _same_setup(saved: dict[str, Any], cfg: TrainConfig) -> None:
    mine = {"base": cfg.base, "style_encoder": cfg.style_encoder, "content_encoder": cfg.content_encoder,
            "trainable": cfg.trainable}
    if cfg.resolution is not None:
        mine["resolution"] = cfg.resolution
    differ = {k: (saved.get(k), v) for k, v in mine.items() if saved.get(k) != v}
    if differ:
        raise StylizeError(f"the checkpoint here was trained with other settings {differ} (saved, asked); resume "
                           "with the same ones or train into a new folder")


def _optimizer(model: ParasolModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    trained = set(ckpt.trained_unet_names(model.unet, cfg.trainable))
    unet_params = []
    for name, p in model.unet.named_parameters():
        p.requires_grad_(name in trained)
        if name in trained:
            unet_params.append(p)
    groups = [{"params": unet_params, "lr": cfg.learning_rate},
              {"params": list(model.conditioner.parameters()), "lr": cfg.conditioner_lr}]
    return torch.optim.AdamW(groups, weight_decay=0.0)


def _model_for(cfg: TrainConfig, out: Path, existing: Path | None, device: str,
               prebuilt: ParasolModel | None) -> ParasolModel:
    """The model a run trains: the caller's prebuilt one, the checkpoint's (resuming), or a fresh one."""
    if prebuilt is not None:
        if existing is not None:
            raise StylizeError(f"{out} already holds a checkpoint; a prebuilt model trains into a new folder")
        built = (prebuilt.config.style_encoder, prebuilt.config.content_encoder, prebuilt.config.trainable)
        if built != (cfg.style_encoder, cfg.content_encoder, cfg.trainable):
            raise StylizeError(f"the prebuilt model has (style encoder, content encoder, trainable) = {built}, "
                               "which the settings must repeat")
        for part in (prebuilt.unet, prebuilt.conditioner, prebuilt.vae):
            part.to(device)
        return prebuilt
    if existing is not None:
        return load_checkpoint_model(existing, device, allow_download=cfg.allow_download)[0]
    return build_model(cfg.base, cfg.style_encoder, cfg.content_encoder, device, resolution=cfg.resolution,
                       trainable=cfg.trainable, seed=cfg.seed, allow_download=cfg.allow_download)


def train(cfg: TrainConfig, triplets: Sequence[Triplet], out_dir: str | Path, *, resume: bool = True,
          progress: bool | None = None, on_step: Callable[[int, int, dict[str, float]], None] | None = None,
          model: ParasolModel | None = None) -> TrainSummary:
    """Train (or resume training) into `out_dir` until `cfg.steps` steps; checkpoints every
    `cfg.checkpoint_every` steps, at the end and on Ctrl-C, with the loss curve. `on_step(step, total, losses)`.

    `model`: a fresh model built by the caller to train instead of `cfg.base` (e.g. random weights in real
    shapes for a benchmark); its encoders must be the configured ones, and `out_dir` must hold no checkpoint."""
    validate(cfg)
    out = Path(out_dir).expanduser()
    accelerator = _accelerator(cfg)
    device = str(accelerator.device)
    existing = ckpt.find_checkpoint(out) if resume else None
    if existing is None and ckpt.find_checkpoint(out) is not None:
        raise StylizeError(f"{out} already holds a PARASOL checkpoint; resume it or choose another folder")
    if existing is not None:
        _same_setup(ckpt.read_config(existing), cfg)
    # the encoders first (cached by the registry): a loss they cannot serve is refused before the base loads
    check_encoders(DescriptorEncoder(cfg.style_encoder, device), DescriptorEncoder(cfg.content_encoder, device),
                   cfg.w_s, cfg.w_y)
    model = _model_for(cfg, out, existing, device, model)
    resolution = model.config.resolution
    if resolution % model.size_multiple:
        raise StylizeError(f"resolution {resolution} is not a multiple of {model.size_multiple}, which this base needs")
    data = TripletData(triplets, resolution, model.style, model.content)
    generator = torch.Generator().manual_seed(cfg.seed)
    order = BatchOrder(len(data), cfg.batch_size, generator)
    optimizer = _optimizer(model, cfg)
    if cfg.gradient_checkpointing:
        model.unet.enable_gradient_checkpointing()
    model.unet, model.conditioner, optimizer = accelerator.prepare(model.unet, model.conditioner, optimizer)
    step, history, run_id = 0, [], uuid.uuid4().hex[:12]
    if existing is not None:
        tensors, meta, trainer = ckpt.read_training_state(existing)
        optimizer.load_state_dict(ckpt.optimizer_state(tensors, meta))
        generator.set_state(tensors["rng.generator"])
        order.restore(tensors["data.perm"], meta["cursor"])
        if accelerator.scaler is not None and meta.get("scaler"):
            accelerator.scaler.load_state_dict(meta["scaler"])
        step, run_id, history = int(meta["step"]), meta["run_id"], list(trainer.get("history", []))
    model.unet.train()
    model.conditioner.train()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    start = step
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=step, desc="train parasol", unit="step",
               disable=None if progress is None else not progress)
    shape = _latent_shape(model, cfg.batch_size, resolution)
    last: dict[str, float] = dict(history[-1]) if history else {}
    saved = step
    rewind: tuple[int, torch.Tensor, torch.Tensor, int] | None = None
    try:
        while step < cfg.steps:
            rewind = (step, generator.get_state(), *order.state())  # restored when this step is cut short
            idx = order.next()
            x, a_s, c_y = data.batch(idx)
            t = torch.randint(0, len(model.alphas_cumprod), (len(idx),), generator=generator)
            noise = torch.randn(shape, generator=generator)
            latent_noise = torch.randn(shape, generator=generator)
            keep_s, keep_y = dropout_masks(len(idx), cfg.p_drop_style, cfg.p_drop_content, cfg.p_drop_both, generator)
            with accelerator.autocast():
                parts = training_losses(model, x, a_s, c_y, t, noise, latent_noise, keep_s, keep_y, cfg.w_s, cfg.w_y)
            accelerator.backward(parts["loss"])
            if cfg.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            step += 1
            optimizer.zero_grad(set_to_none=True)
            last = {"step": step, **{k: float(v.detach()) for k, v in parts.items()}}
            history.append(last)
            bar.update(1)
            bar.set_postfix(loss=f"{last['loss']:.4f}")
            if on_step is not None:
                on_step(step, cfg.steps, last)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _save(out, accelerator, model, optimizer, generator, order, cfg, step, run_id, history)
                saved = step
    except KeyboardInterrupt:  # Ctrl-C: keep the finished steps, then stop as asked
        if rewind is not None and rewind[0] == step:  # mid-step: its batch and draws go back, so a resume redoes it
            generator.set_state(rewind[1])
            order.restore(rewind[2], rewind[3])
        if step > saved:
            _save(out, accelerator, model, optimizer, generator, order, cfg, step, run_id, history)
        raise
    finally:
        bar.close()
    checkpoint = ckpt.find_checkpoint(out)
    return TrainSummary(str(out), str(checkpoint) if checkpoint else "", step, step - start, len(data), last,
                        str(out / LOSS_CURVE))


def _save(out: Path, accelerator: Any, model: ParasolModel, optimizer: Any, generator: torch.Generator,
          order: BatchOrder, cfg: TrainConfig, step: int, run_id: str, history: list[dict[str, float]]) -> None:
    unet = accelerator.unwrap_model(model.unet)
    conditioner = accelerator.unwrap_model(model.conditioner)
    weights = ckpt.model_tensors(unet, conditioner, model.config.trainable)
    opt_tensors, opt_meta = ckpt.optimizer_tensors(optimizer)
    perm, cursor = order.state()
    state = {**opt_tensors, "rng.generator": generator.get_state(), "data.perm": perm}
    scaler = accelerator.scaler.state_dict() if accelerator.scaler is not None else None
    meta = {**opt_meta, "step": step, "cursor": cursor, "run_id": run_id, "scaler": scaler}
    config = {**dataclasses.asdict(model.config), "step": step, "checkpoint_id": f"{run_id}@{step}"}
    trainer = {"config": dataclasses.asdict(cfg), "step": step, "history": history}
    ckpt.save_checkpoint(out, config, weights, state, meta, trainer)
    write_loss_curve(history, out / LOSS_CURVE)
