"""IDL, the Identifier Disentanglement Learner (METHODS.md section 4): fine-tune the UNet on three text-image
pairs, (x_src, P_src), (x_tgt, P_tgt) and (x_aux, P_aux), with the triple reconstruction loss

    L = ||eps - eps_theta(z_src^t, t, phi(P_src))|| + ||eps - eps_theta(z_tgt^t, t, phi(P_tgt))||
      + ||eps - eps_theta(z_aux^t, t, phi(P_aux))||

Each term is the mean squared error (the LDM objective the paper states in its preliminaries; its triple
loss writes the norm without the square). As the formula reads, one t and one eps are drawn per iteration
and shared by the three terms; x_aux is one image drawn from the auxiliary set. Latents are samples of the
VAE posterior (as diffusers' fine-tuning scripts do), the text encoder and VAE stay frozen, and the UNet
trains in float32 with Adam (the paper: lr 1e-6, 400 iterations), or only a LoRA adapter (lr 1e-4 by
default, the usual LoRA rate; the paper has no LoRA).

Every draw of iteration k comes from a generator seeded with (seed, k), so a run resumed from a checkpoint
(weights + Adam state) continues exactly as if it had not stopped.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from ..base import StylizeError
from .encoding import encode_images, encode_prompts
from .lora import add_lora
from .models import Parts, size_multiple

PAPER_LR, LORA_LR = 1e-6, 1e-4
_STEP_STRIDE = 1_000_003  # seed * stride + step: one generator per (seed, iteration)


@dataclass(frozen=True)
class TrainSettings:
    """IDL's knobs (recorded with the model). `lr=None`: 1e-6 (the paper's) for a full fine-tune, 1e-4 for
    LoRA. `resolution=None`: the base model's native size. `save_every`: iterations between checkpoints."""

    steps: int = 400
    lr: float | None = None
    lora: bool = False
    lora_rank: int = 4
    seed: int = 0
    resolution: int | None = None
    save_every: int = 100
    gradient_checkpointing: bool = False

    @property
    def learning_rate(self) -> float:
        return float(self.lr) if self.lr is not None else (LORA_LR if self.lora else PAPER_LR)

    def validate(self) -> None:
        """StylizeError naming the first bad value."""
        def integer(name: str, value: Any, low: int, high: int) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise StylizeError(f"{name} must be an integer in [{low}, {high}], got {value!r}")

        integer("steps", self.steps, 1, 1_000_000)
        integer("lora_rank", self.lora_rank, 1, 1024)
        integer("seed", self.seed, 0, 2**31 - 1)
        integer("save_every", self.save_every, 1, 1_000_000)
        if self.resolution is not None:
            integer("resolution", self.resolution, 8, 4096)
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))):
            raise StylizeError(f"lr must be a number in (0, 1], got {self.lr!r}")
        lr = self.learning_rate
        if not math.isfinite(lr) or not 0 < lr <= 1:
            raise StylizeError(f"lr must be a number in (0, 1], got {self.lr!r}")
        for name in ("lora", "gradient_checkpointing"):
            if not isinstance(getattr(self, name), bool):
                raise StylizeError(f"{name} must be true or false, got {getattr(self, name)!r}")


class IDL:
    """The fine-tuning state: encoded data, the trainable UNet (or its adapter) and Adam."""

    def __init__(self, parts: Parts, prompts: dict[str, str], source: Image.Image, target: Image.Image,
                 aux: list[Image.Image], settings: TrainSettings, resolution: int) -> None:
        from diffusers import DDPMScheduler

        if not aux:
            raise StylizeError("IDL needs at least one auxiliary image")
        if resolution % size_multiple(parts):
            raise StylizeError(f"resolution {resolution} is not a multiple of {size_multiple(parts)}, which this "
                               "model's down-sampling needs")
        self.parts, self.settings = parts, settings
        self.noise = DDPMScheduler.from_config(parts.scheduler_config)
        if self.noise.config.prediction_type != "epsilon":
            raise StylizeError(f"StyO needs an epsilon-prediction model; this one predicts "
                               f"{self.noise.config.prediction_type!r}")
        unet = parts.unet
        self.pairs = encode_images(parts.vae, [source, target], resolution)
        self.aux = encode_images(parts.vae, aux, resolution)
        self.cond = encode_prompts(parts.tokenizer, parts.text_encoder,
                                   [prompts["src"], prompts["tgt"], prompts["aux"]]).to(unet.device, torch.float32)
        if settings.lora:
            trainable = add_lora(unet, settings.lora_rank, settings.seed)
        else:
            unet.requires_grad_(True)
            trainable = list(unet.parameters())
        self.names = [n for n, p in unet.named_parameters() if p.requires_grad]
        if settings.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        unet.train()
        self.optimizer = torch.optim.Adam(trainable, lr=settings.learning_rate)

    @property
    def unet(self) -> Any:
        return self.parts.unet

    def draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy latents (3, ...), the noise, t) of iteration `step`: rows src, tgt, one aux image."""
        g = torch.Generator().manual_seed(self.settings.seed * _STEP_STRIDE + int(step))
        aux_row = torch.randint(len(self.aux.mean), (1,), generator=g)
        t = torch.randint(0, int(self.noise.config.num_train_timesteps), (1,), generator=g)
        noise = torch.randn((1, *self.pairs.mean.shape[1:]), generator=g)
        z0 = torch.cat([self.pairs.sample(torch.tensor([0, 1]), g), self.aux.sample(aux_row, g)])
        device = self.unet.device
        noise, t = noise.to(device), t.to(device)
        noisy = self.noise.add_noise(z0, noise.expand_as(z0), t.expand(3))
        return noisy, noise, t

    def loss(self, step: int) -> torch.Tensor:
        """The triple reconstruction loss at iteration `step`'s draws (with gradients when enabled)."""
        noisy, noise, t = self.draw(step)
        eps = self.unet(noisy, t.expand(3), encoder_hidden_states=self.cond).sample.float()
        return ((eps - noise) ** 2).mean(dim=(1, 2, 3)).sum()

    def train_step(self, step: int) -> float:
        """One Adam iteration; returns its loss."""
        loss = self.loss(step)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self, steps: range) -> float:
        """Mean loss over the draws of `steps`, without training (for checking that training helps)."""
        return sum(float(self.loss(s)) for s in steps) / len(steps)

    # -- Adam's state as safetensors tensors + JSON metadata ----------------------------------------------

    def optimizer_state(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        state = self.optimizer.state_dict()
        tensors = {f"{self.names[i]}::{key}": value.detach().to("cpu").contiguous()
                   for i, slots in state["state"].items() for key, value in slots.items()}
        meta = {"param_groups": json.dumps(state["param_groups"]), "names": json.dumps(self.names)}
        return tensors, meta

    def load_optimizer_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
        if json.loads(meta.get("names", "[]")) != self.names:
            raise StylizeError("the checkpoint's optimizer state is for other parameters; it cannot resume here")
        index = {name: i for i, name in enumerate(self.names)}
        slots: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            name, _, slot = key.rpartition("::")
            slots.setdefault(index[name], {})[slot] = value
        self.optimizer.load_state_dict({"state": slots, "param_groups": json.loads(meta["param_groups"])})
