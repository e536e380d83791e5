"""PARASOL's sampling arithmetic (METHODS.md 1d): the DDPM chain, the inversion that stores the noises of the
forward process, and the reverse process that re-uses them.

The chain has levels k = 0..n: level 0 is the clean latent (alpha-bar 1), level k >= 1 sits at training
timestep tau_k, spaced evenly and ending at the last timestep ("trailing" spacing), so n sampling steps cover
the whole forward process. One reverse step is the DDPM posterior q(x_{k-1} | x_k, x0) with x0 predicted
from the model's eps:
    mu_k = sqrt(a_{k-1}) beta_k / (1 - a_k) x0_hat + sqrt(alpha_k) (1 - a_{k-1}) / (1 - a_k) x_k,
    sigma_k^2 = (1 - a_{k-1}) / (1 - a_k) beta_k,     alpha_k = a_k / a_{k-1}, beta_k = 1 - alpha_k,
and x_{k-1} = mu_k + sigma_k z_k.

The inversion (why "re-using the stored noises reconstructs y exactly"): encode y to x_0 and run the whole
forward process x_0 -> x_n, keeping every state. The paper stores "the noise added at each step"; for the
reverse process to re-use it, the noise that matters is the one the *reverse* step needs to land on the
stored state: w_k = x_{k-1} - mu_k(x_k) (= sigma_k z_k), with mu_k computed under y's own conditions. This
is the edit-friendly DDPM noise space of Huberman-Spiegelglas et al. (2023). Then the reverse process
x_{k-1} = mu_k(x_k) + w_k, started from the stored x_n, reproduces every x_{k-1} -- and x_0 -- whenever the
conditions (and guidance) are unchanged, up to float rounding. With other conditions mu_k changes while
the w_k stay, which keeps y's structure. We store w_k itself rather than z_k = w_k / sigma_k because the
last step (to the clean level) has sigma_1 = 0 and still needs its correction.

The forward states are drawn either as the Markov chain the paper describes (`markov`: each step adds fresh
noise to the previous state) or independently per level (`independent`: x_k = sqrt(a_k) x_0 +
sqrt(1 - a_k) e_k, the edit-friendly paper's choice, whose stored noises carry more of the image). Both
reconstruct exactly.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

EpsFn = Callable[[torch.Tensor, int, int], torch.Tensor]  # (x_k, training timestep tau_k, level k) -> eps
NOISE_MODES = ("markov", "independent")


@dataclass(frozen=True)
class Chain:
    """Noise levels of an n-step chain: `alphas[k]` is alpha-bar at level k (alphas[0] = 1, the clean
    latent) and `timesteps[k]` the training timestep of level k >= 1 (timesteps[0] = -1, unused)."""

    alphas: tuple[float, ...]
    timesteps: tuple[int, ...]

    @property
    def steps(self) -> int:
        return len(self.alphas) - 1


def chain_levels(alphas_cumprod: torch.Tensor, steps: int) -> Chain:
    """The n = `steps` levels over a training schedule of T = len(alphas_cumprod) timesteps."""
    total = int(alphas_cumprod.shape[0])
    if not 1 <= steps <= total:
        raise ValueError(f"the number of steps must be in [1, {total}], got {steps}")
    stride = total // steps
    timesteps = [total - 1 - (steps - k) * stride for k in range(1, steps + 1)]
    return Chain((1.0, *(float(alphas_cumprod[t]) for t in timesteps)), (-1, *timesteps))


def posterior(x: torch.Tensor, eps: torch.Tensor, a_t: float, a_prev: float) -> tuple[torch.Tensor, float]:
    """(mu, sigma) of the reverse step from level a_t to a_prev, x0 predicted from eps (module docstring)."""
    x0 = (x - (1.0 - a_t) ** 0.5 * eps) / a_t ** 0.5
    alpha = a_t / a_prev
    beta = 1.0 - alpha
    mean = (a_prev ** 0.5 * beta / (1.0 - a_t)) * x0 + (alpha ** 0.5 * (1.0 - a_prev) / (1.0 - a_t)) * x
    return mean, max((1.0 - a_prev) / (1.0 - a_t) * beta, 0.0) ** 0.5


def _noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise drawn on the CPU generator (the same numbers on every device), as float64."""
    return torch.randn(like.shape, generator=generator, dtype=torch.float32).to(like.device, torch.float64)


def forward_chain(x0: torch.Tensor, chain: Chain, generator: torch.Generator, mode: str = "markov"
                  ) -> list[torch.Tensor]:
    """States x_0..x_n of the forward process from the clean latent x0 (float64, see `invert`)."""
    if mode not in NOISE_MODES:
        raise ValueError(f"inversion noise must be one of {NOISE_MODES}, got {mode!r}")
    states = [x0.double()]
    for k in range(1, chain.steps + 1):
        a_k, a_prev = chain.alphas[k], chain.alphas[k - 1]
        if mode == "markov":
            alpha = a_k / a_prev
            states.append(alpha ** 0.5 * states[-1] + (1.0 - alpha) ** 0.5 * _noise(x0, generator))
        else:
            states.append(a_k ** 0.5 * states[0] + (1.0 - a_k) ** 0.5 * _noise(x0, generator))
    return states


@dataclass
class Inversion:
    """The forward states x_0..x_n and the stored noises w_1..w_n (`noises[0]` is None)."""

    states: list[torch.Tensor]
    noises: list[torch.Tensor | None]


@torch.no_grad()
def invert(eps_fn: EpsFn, x0: torch.Tensor, chain: Chain, generator: torch.Generator, mode: str = "markov",
           on_step: Callable[[], None] | None = None) -> Inversion:
    """Run the forward process from x0 and store w_k = x_{k-1} - mu_k(x_k) under `eps_fn`'s conditions.

    The chain's arithmetic is float64 while the U-Net sees its own dtype: the rounding of mu + (x - mu)
    then stays far below a float32 step, the U-Net gets bit-identical inputs on the way back, and the
    reconstruction is exact to ~1e-12 instead of accumulating float32 rounding through every step (an
    untrained, guided U-Net amplifies input perturbations a lot)."""
    states = forward_chain(x0, chain, generator, mode)
    noises: list[torch.Tensor | None] = [None] * (chain.steps + 1)
    for k in range(chain.steps, 0, -1):
        eps = eps_fn(states[k], chain.timesteps[k], k).double()
        mean, _ = posterior(states[k], eps, chain.alphas[k], chain.alphas[k - 1])
        noises[k] = states[k - 1] - mean
        if on_step is not None:
            on_step()
    return Inversion(states, noises)


@torch.no_grad()
def denoise(eps_fn: EpsFn, x: torch.Tensor, chain: Chain, start: int | None = None,
            noises: list[torch.Tensor | None] | None = None, generator: torch.Generator | None = None,
            on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """The reverse process from level `start` (default n) down to the clean latent. Each step adds the
    stored noise w_k when `noises` is given (the inversion's), else sigma_k z with z from `generator`.
    Float64 arithmetic like `invert`; returns float64."""
    if noises is None and generator is None:
        raise ValueError("denoise needs the stored noises or a generator for fresh ones")
    start = chain.steps if start is None else start
    x = x.double()
    for k in range(start, 0, -1):
        eps = eps_fn(x, chain.timesteps[k], k).double()
        mean, sigma = posterior(x, eps, chain.alphas[k], chain.alphas[k - 1])
        if noises is not None:
            x = mean + noises[k]
        else:
            x = mean + sigma * _noise(x, generator) if sigma > 0 else mean
        if on_step is not None:
            on_step()
    return x
