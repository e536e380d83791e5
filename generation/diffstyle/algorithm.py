"""DiffStyle's two passes (METHODS.md section 3), written against a `Denoiser`.

1. `invert`: DDIM inversion (eta = 0) of an image to x_T. For the content image it also keeps the
   bottleneck h_t of the content's own trajectory at every timestep (h(x_t, t), as the public code keeps
   it: each step's eps is evaluated at the current x_t and t, then x moves to the next noise level).
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
   A mask (h-space grid) confines the injection to a region (local style mixing).
The content h for a generation timestep is the one recorded at the nearest inversion timestep, so the
numbers of inversion and generation steps may differ.
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
        """The recorded h at the inversion timestep nearest to t."""
        if not self.hs:
            raise ValueError("this inversion kept no h-space features (invert with record_h=True)")
        nearest = min(self.hs, key=lambda s: (abs(s - t), s))
        return self.hs[nearest]


@dataclass(frozen=True)
class TransferSettings:
    """The algorithm's knobs (the paper's defaults: gamma = omega = 0.3, t_edit = 400, t_boost = 200).

    `steps`: generation steps; `renormalise`: the style calibration's std renormalisation of P';
    `mask`: an (h, w) h-space mask in [0, 1], or None for the whole feature map."""

    gamma: float = 0.3
    omega: float = 0.3
    t_edit: int = 400
    t_boost: int = 200
    steps: int = 50
    renormalise: bool = True
    mask: torch.Tensor | None = None


@torch.no_grad()
def invert(den: Denoiser, x0: torch.Tensor, steps: int, record_h: bool = False,
           on_step: StepCallback | None = None) -> Inversion:
    """DDIM-invert x0 (in the model's space) to the last training timestep in `steps` steps.

    With `record_h` the result holds h(x_t, t) for every inversion timestep t (one extra UNet call at x_T
    records the last one)."""
    ascending = list(reversed(den.schedule.timesteps(steps)))
    x, a_cur, t_cur = x0.float(), 1.0, ascending[0]
    hs: dict[int, torch.Tensor] = {}
    total = len(ascending) + int(record_h)
    with den.tap:
        for i, t_next in enumerate(ascending):
            eps = den.eps(x, t_cur)
            if record_h and i > 0:  # x is x_{t_cur} here (the first call sees the clean image)
                hs[t_cur] = den.tap.h.clone()
            a_next = den.schedule.alpha(t_next)
            x = ddim_step(predicted_x0(x, eps, a_cur), eps, a_next)
            a_cur, t_cur = a_next, t_next
            if on_step is not None:
                on_step(i + 1, total)
        if record_h:
            den.eps(x, t_cur)
            hs[t_cur] = den.tap.h.clone()
            if on_step is not None:
                on_step(total, total)
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
                    x = ddim_step(predicted_x0(x, eps_mod, a_t), eps, a_prev)
                else:
                    x = x + calibration_shift(x, eps, eps_mod, a_t, settings.omega, settings.renormalise)
                    eps = den.eps(x, t)
                    x = ddim_step(predicted_x0(x, eps, a_t), eps, a_prev)
            else:
                eps = den.eps(x, t)
                x0 = predicted_x0(x, eps, a_t)
                if t <= settings.t_boost:
                    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device)
                    x = stochastic_step(x0, eps, a_t, a_prev, noise)
                else:
                    x = ddim_step(x0, eps, a_prev)
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
