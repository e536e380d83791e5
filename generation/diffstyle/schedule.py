"""The DDIM arithmetic DiffStyle runs on (eta = 0 except in the quality-boosting interval).

Notation of METHODS.md section 3: x_{t-1} = sqrt(a_{t-1}) P_t(eps) + D_t(eps) + sigma_t z with
P_t = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) the predicted x0 and D_t = sqrt(1 - a_{t-1} - sigma_t^2) eps
the direction to x_t. The timestep grid is the official InjectFusion code's (the paper does not fix one):
n points spread uniformly over [0, T-1] and floored, int(k (T-1) / (n-1) + 1e-6) for k = 0..n-1, so for
n = 50 and T = 1000 the grid is 999, 978, 958, 937, ..., 20, 0. Inversion walks it upwards from the clean image
taken as x_0 (n-1 steps, 0 -> 20 -> ... -> 999); generation walks it downwards (n steps, the last from t = 0
to the clean end of the chain, alpha = 1). So a given t_edit / t_boost selects the same steps as there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Schedule:
    """The training noise schedule: alphas_cumprod[t] for t in [0, T)."""

    alphas_cumprod: torch.Tensor  # float64, (T,)

    @classmethod
    def from_scheduler_config(cls, config: dict) -> Schedule:
        """Read betas from a diffusers scheduler config (DDPM/DDIM/PNDM... share these keys)."""
        from diffusers import DDIMScheduler

        allowed = {k: v for k, v in dict(config).items()
                   if k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                            "prediction_type")}
        prediction = allowed.get("prediction_type", "epsilon")
        if prediction != "epsilon":
            raise ValueError(f"DiffStyle needs an epsilon-prediction model; this one predicts {prediction!r}")
        scheduler = DDIMScheduler(**allowed)
        return cls(scheduler.alphas_cumprod.to(torch.float64).clone())

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def alpha(self, t: int | None) -> float:
        """a_t; None stands for the clean end of the chain (alpha = 1)."""
        return 1.0 if t is None else float(self.alphas_cumprod[t])

    def timesteps(self, n: int) -> list[int]:
        """The official grid of n timesteps over [0, T-1], descending (generation order)."""
        total = self.num_train_timesteps
        if not 2 <= n <= total:
            raise ValueError(f"the number of timesteps must be in [2, {total}], got {n}")
        # numpy's linspace, then +1e-6 and a floor, exactly as the official code computes it
        grid = [int(s + 1e-6) for s in np.linspace(0.0, 1.0, n) * (total - 1)]
        return grid[::-1]


def predicted_x0(x: torch.Tensor, eps: torch.Tensor, a_t: float) -> torch.Tensor:
    """P_t(eps) = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)."""
    return (x - (1.0 - a_t) ** 0.5 * eps) / a_t ** 0.5


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, a_next: float) -> torch.Tensor:
    """The deterministic DDIM move to the noise level a_next: sqrt(a_next) P + sqrt(1 - a_next) eps.

    The same formula serves both directions: denoising (a_next > a_t) and inversion (a_next < a_t)."""
    return a_next ** 0.5 * x0 + (1.0 - a_next) ** 0.5 * eps


def stochastic_step(x0: torch.Tensor, eps: torch.Tensor, a_t: float, a_prev: float, noise: torch.Tensor,
                    eta: float = 1.0) -> torch.Tensor:
    """A DDIM step with sigma_t = eta sqrt((1 - a_{t-1}) / (1 - a_t)) sqrt(1 - a_t / a_{t-1}) and fresh noise:
    Asyrp's quality boosting (eta = 1 is DDPM-like ancestral sampling)."""
    sigma = eta * ((1.0 - a_prev) / (1.0 - a_t)) ** 0.5 * (1.0 - a_t / a_prev) ** 0.5
    direction = max(1.0 - a_prev - sigma ** 2, 0.0) ** 0.5
    return a_prev ** 0.5 * x0 + direction * eps + sigma * noise
