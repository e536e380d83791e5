"""DiffStyle's two passes (METHODS.md section 3), written against a `Denoiser`.

Where the paper leaves a choice open this follows the official InjectFusion code: its timestep grid
(schedule.py), its inversion (from the clean image taken as x_0, recording h(x_t, t) at every grid point
but the last), its nearest-timestep lookup, its masked slerp (hspace.py) and its `dt_lambda`.

1. `invert`: DDIM inversion (eta = 0) of an image to x_T along the grid 0 -> ... -> T-1. For the content
   image it also keeps the bottleneck h_t of the content's own trajectory: each step evaluates eps at the
   current x_t and t (recording h there), then x moves to the next grid point. h is recorded at every grid
   point but T-1, as the official code does.
2. `transfer`: the reverse process from the style image's x_T.
   - T >= t >= t_edit (edit interval): h~_t = normalised Slerp(h_t, h_t^content, gamma), used only in the
     predicted x0 (Asyrp's asymmetric step; D_t keeps the unmodified eps). With omega > 0 the step is
     style-calibrated: P' = P_t(eps(x|h~)) renormalised to the std of P_t(eps(x)), then
     dx = sqrt(a_t)(P' - P_t) + omega sqrt(1 - a_t)(eps(x|h~) - eps(x)), x' = x + dx, and a plain DDIM
     step from x'. Without the renormalisation the shift is (omega - 1) sqrt(1 - a_t)(eps(x|h~) - eps(x))
     exactly, so omega = 1 is no injection; omega = 0 takes the asymmetric step itself (no calibration),
     as the public code does.
   - t_edit > t > t_boost: plain DDIM.
   - t <= t_boost: quality boosting, a stochastic DDIM step (eta = 1) with seeded noise.
   - t >= dt_end with dt_lambda != 1: the step's direction term is scaled, x_{t-1} = sqrt(a_{t-1}) P_t +
     dt_lambda sqrt(1 - a_{t-1}) eps (deterministic). As in the official code this applies to the plain and
     the asymmetric update; a style-calibrated step (omega > 0) recomputes its update from x' unscaled.
   A mask (h-space grid) confines the injection to a region (local style mixing).
The content h for a generation timestep is the one recorded at the nearest inversion timestep (ties go to
the later one, as in the official lookup), so the numbers of inversion and generation steps may differ.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .denoisers import Denoiser
from .hspace import inject
from .schedule import ddim_step, predicted_x0, stochastic_step

StepCallback = Callable[[int, int], None]


@dataclass
class Inversion:
    """x_T of an image, and (for a content image) its bottleneck features by timestep."""

    x_t: torch.Tensor
    hs: dict[int, torch.Tensor]

    def h_at(self, t: int) -> torch.Tensor:
        """The recorded h at the inversion timestep nearest to t; of two equally near, the later one."""
        if not self.hs:
            raise ValueError("this inversion kept no h-space features (invert with record_h=True)")
        nearest = min(self.hs, key=lambda s: (abs(s - t), -s))
        return self.hs[nearest]


@dataclass(frozen=True)
class TransferSettings:
    """The algorithm's knobs (the paper's defaults: gamma = omega = 0.3, t_edit = 400, t_boost = 200).

    `steps`: generation steps (points of the timestep grid); `renormalise`: the style calibration's std
    renormalisation of P'; `mask`: an (h, w) h-space mask in [0, 1], or None for the whole feature map;
    `dt_lambda` / `dt_end`: the official code's scaling of the direction term on the steps with
    t >= dt_end (1.0 = off, its default; its in-domain script uses 0.9985)."""

    gamma: float = 0.3
    omega: float = 0.3
    t_edit: int = 400
    t_boost: int = 200
    steps: int = 50
    renormalise: bool = True
    mask: torch.Tensor | None = None
    dt_lambda: float = 1.0
    dt_end: int = 950


@torch.no_grad()
def invert(den: Denoiser, x0: torch.Tensor, steps: int, record_h: bool = False,
           on_step: StepCallback | None = None) -> Inversion:
    """DDIM-invert x0 (in the model's space) along the `steps`-point grid to its last timestep.

    The clean image is taken as x_0 at t = 0 (alpha = a_0), then moved point by point: steps - 1 UNet
    calls. With `record_h` the result holds h(x_t, t) for every grid point but the last."""
    ascending = list(reversed(den.schedule.timesteps(steps)))
    x = x0.float()
    hs: dict[int, torch.Tensor] = {}
    total = len(ascending) - 1
    with den.tap:
        for i, (t_cur, t_next) in enumerate(zip(ascending[:-1], ascending[1:])):
            eps = den.eps(x, t_cur)
            if record_h:
                hs[t_cur] = den.tap.h.clone()
            x = ddim_step(predicted_x0(x, eps, den.schedule.alpha(t_cur)), eps, den.schedule.alpha(t_next))
            if on_step is not None:
                on_step(i + 1, total)
    return Inversion(x, hs)


def _renormalised(p_mod: torch.Tensor, p_ref: torch.Tensor) -> torch.Tensor:
    """p_mod with its per-sample std set to p_ref's, mean kept (the calibration's normalisation of P')."""
    dims = tuple(range(1, p_mod.dim()))
    mean = p_mod.mean(dim=dims, keepdim=True)
    centred = p_mod - mean
    scale = p_ref.std(dim=dims, keepdim=True) / centred.std(dim=dims, keepdim=True).clamp_min(1e-12)
    return mean + centred * scale


def calibration_shift(x: torch.Tensor, eps: torch.Tensor, eps_mod: torch.Tensor, a_t: float, omega: float,
                      renormalise: bool = True) -> torch.Tensor:
    """dx_t = sqrt(a_t) dP_t + omega sqrt(1 - a_t) (eps(x|h~) - eps(x)), dP_t = P' - P_t(eps(x))."""
    p_ref = predicted_x0(x, eps, a_t)
    p_mod = predicted_x0(x, eps_mod, a_t)
    if renormalise:
        p_mod = _renormalised(p_mod, p_ref)
    return a_t ** 0.5 * (p_mod - p_ref) + omega * (1.0 - a_t) ** 0.5 * (eps_mod - eps)


def _eps_pair(den: Denoiser, x: torch.Tensor, t: int, content_h: torch.Tensor, settings: TransferSettings
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps(x), eps(x | h~)) in one batched call: the hook edits only the second row's bottleneck."""
    den.tap.rows = slice(x.shape[0], None)
    den.tap.edit = lambda h: inject(h, content_h.to(h.dtype), settings.gamma, settings.mask)
    try:
        both = den.eps(torch.cat([x, x]), t)
    finally:
        den.tap.edit = None
    return both[: x.shape[0]], both[x.shape[0]:]


def _scaled(t: int, settings: TransferSettings) -> bool:
    """Whether the step at t has its direction term scaled by dt_lambda (and so draws no boosting noise)."""
    return settings.dt_lambda != 1.0 and t >= settings.dt_end


def _next_x(x0: torch.Tensor, eps: torch.Tensor, a_prev: float, t: int, settings: TransferSettings) -> torch.Tensor:
    """The deterministic DDIM move to a_prev, with the direction term scaled by dt_lambda for t >= dt_end."""
    if _scaled(t, settings):
        return a_prev ** 0.5 * x0 + settings.dt_lambda * (1.0 - a_prev) ** 0.5 * eps
    return ddim_step(x0, eps, a_prev)


@torch.no_grad()
def transfer(den: Denoiser, x_t: torch.Tensor, content: Inversion, settings: TransferSettings,
             generator: torch.Generator | None = None, on_step: StepCallback | None = None) -> torch.Tensor:
    """The reverse process from x_t (the style's x_T) with the content's h injected; returns x0."""
    timesteps = den.schedule.timesteps(settings.steps)
    x = x_t.float().clone()
    with den.tap:
        for i, t in enumerate(timesteps):
            a_t = den.schedule.alpha(t)
            a_prev = den.schedule.alpha(timesteps[i + 1] if i + 1 < len(timesteps) else None)
            if t >= settings.t_edit:
                eps, eps_mod = _eps_pair(den, x, t, content.h_at(t), settings)
                if settings.omega == 0:  # Asyrp: modified h in P_t only, D_t from the unmodified eps
                    x = _next_x(predicted_x0(x, eps_mod, a_t), eps, a_prev, t, settings)
                else:  # calibrated: the official code leaves this step unscaled by dt_lambda
                    x = x + calibration_shift(x, eps, eps_mod, a_t, settings.omega, settings.renormalise)
                    eps = den.eps(x, t)
                    x = ddim_step(predicted_x0(x, eps, a_t), eps, a_prev)
            else:
                eps = den.eps(x, t)
                x0 = predicted_x0(x, eps, a_t)
                if t <= settings.t_boost and not _scaled(t, settings):
                    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device)
                    x = stochastic_step(x0, eps, a_t, a_prev, noise)
                else:
                    x = _next_x(x0, eps, a_prev, t, settings)
            if on_step is not None:
                on_step(i + 1, len(timesteps))
    return x


def blend_latents(latents: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Weighted spherical blend of several x_T (an interpolation strip between styles): successive slerps,
    so two latents with weights (1 - w, w) give Slerp(x1, x2, w) and a weight of 1 gives that latent."""
    from .hspace import slerp

    if len(latents) != len(weights) or not latents:
        raise ValueError("one weight per latent, at least one")
    out, acc = None, 0.0
    for lat, w in zip(latents, weights, strict=True):
        if w <= 0:
            continue
        out = lat if out is None else slerp(out, lat, w / (acc + w))
        acc += w
    if out is None:
        raise ValueError("the weights sum to 0")
    return out
