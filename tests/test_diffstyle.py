"""DiffStyle on tiny seeded UNets of both families (pixel UNet2DModel, Stable Diffusion layout), CPU, offline.

What is checked is what the paper's algorithm promises, not image quality: gamma = 0 with omega = 0 is the
plain DDIM reconstruction of the style (checked against the official code's DDIM update written out here
on diffusers' noise schedule), the normalised slerp keeps |h|, omega = 1 cancels the injection, a mask
confines it, inversion round-trips within a tolerance on a (briefly trained) tiny model, and a seed fixes
the image. Where the paper is silent the official InjectFusion code decides (timestep grid, masked slerp,
dt_lambda); those tests compare with values worked out by hand from its formulas.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from generation import ContentRef, StyleRef, StylizeError, create_stylizer
from generation.aligned import ALIGNMENT
from generation.diffstyle import (
    DiffStyle,
    Params,
    WeightsMissingError,
    create,
    list_models,
    models,
    tiny,
)
from generation.diffstyle.algorithm import (
    Inversion,
    TransferSettings,
    blend_latents,
    calibration_shift,
    invert,
    transfer,
)
from generation.diffstyle.denoisers import PixelDenoiser
from generation.diffusion.images import to_tensor
from generation.diffusion.tiny import sd15_parts
from generation.diffstyle.hspace import box_mask, inject, normalized_slerp, slerp
from generation.diffstyle.schedule import Schedule
from synthetic_images import noise_with_square

FAMILIES = ("pixel", "sd")
STEPS = 10  # inversion and generation steps for the invariant tests
NO_BOOST = dict(t_boost=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def stylizers() -> dict[str, DiffStyle]:
    return {f: create(model=f"diffstyle/tiny-{f}") for f in FAMILIES}


_image = noise_with_square


CONTENT, STYLE_A, STYLE_B = _image(1, (48, 40)), _image(2), _image(3)


def _x0(stylizer: DiffStyle, image: Image.Image) -> tuple[object, torch.Tensor]:
    den = stylizer.loaded.denoiser(None)
    size = den.default_size
    with torch.no_grad():
        return den, den.encode(to_tensor(image, size, size, den.device))


def _inversions(stylizer: DiffStyle) -> tuple[object, Inversion, Inversion]:
    den, content = _x0(stylizer, CONTENT)
    _, style = _x0(stylizer, STYLE_A)
    return den, invert(den, content, STEPS, record_h=True), invert(den, style, STEPS)


def _official_grid(n: int, total: int = 1000) -> list[int]:
    """The official code's grid, written out: np.linspace(0, 1, n) * t_0 floored after + 1e-6, t_0 = T - 1."""
    return [int(s + 1e-6) for s in np.linspace(0, 1, n) * (total - 1)][::-1]


def _reference_ddim(den, x_t: torch.Tensor, steps: int, scheduler_config: dict) -> torch.Tensor:
    """Plain DDIM (eta = 0) from x_t on the official grid, with the official update
    x_next = sqrt(a_next) (x - sqrt(1 - a_t) eps) / sqrt(a_t) + sqrt(1 - a_next) eps, alphas from diffusers'
    own DDPMScheduler and the UNet called directly: an independent reference for `transfer`."""
    from diffusers import DDPMScheduler

    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule")
    alphas = DDPMScheduler(**{k: scheduler_config[k] for k in keys}).alphas_cumprod.double()
    grid = _official_grid(steps, len(alphas))
    x = x_t.clone().double()
    with torch.no_grad():
        for i, t in enumerate(grid):
            a_t, a_next = alphas[t], (alphas[grid[i + 1]] if i + 1 < len(grid) else torch.tensor(1.0).double())
            if isinstance(den, PixelDenoiser):
                eps = den.unet(x.float(), t).sample.double()
            else:
                eps = den.unet(x.float(), t, encoder_hidden_states=den.condition).sample.double()
            x = a_next.sqrt() * (x - (1 - a_t).sqrt() * eps) / a_t.sqrt() + (1 - a_next).sqrt() * eps
    return x.float()


def _scheduler_config(family: str) -> dict:
    return tiny.DDPM_SCHEDULE if family == "pixel" else dict(sd15_parts()["scheduler"].config)


# ------------------------------------------------------------------------------------------ h-space


def test_normalised_slerp_keeps_the_norm_of_h_and_moves_by_gamma_of_the_angle() -> None:
    g = torch.Generator().manual_seed(0)
    h, content = torch.randn(2, 8, 4, 4, generator=g), 5 * torch.randn(2, 8, 4, 4, generator=g)
    h_flat = h.flatten(1).double()
    c_flat = content.flatten(1).double()
    theta = torch.arccos((h_flat * c_flat).sum(1) / (h_flat.norm(dim=1) * c_flat.norm(dim=1)))
    for gamma in (0.0, 0.3, 0.7, 1.0):
        out = normalized_slerp(h, content, gamma).flatten(1).double()
        torch.testing.assert_close(out.norm(dim=1), h_flat.norm(dim=1), rtol=1e-6, atol=0)
        angle = torch.arccos(((out * h_flat).sum(1) / (out.norm(dim=1) * h_flat.norm(dim=1))).clamp(-1, 1))
        torch.testing.assert_close(angle, gamma * theta, rtol=1e-3, atol=1e-3)  # arccos near 0 is ill-conditioned
    torch.testing.assert_close(normalized_slerp(h, content, 0.0), h)
    torch.testing.assert_close(normalized_slerp(h, content, 1.0),
                               content / content.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                               * h.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
    # the plain slerp of unequal norms does not keep |h|: the normalisation is what does
    plain = slerp(h, content, 0.3).flatten(1).norm(dim=1)
    assert (plain - h.flatten(1).norm(dim=1)).abs().min() > 1.0


def test_a_mask_confines_the_change_to_its_region_of_h() -> None:
    g = torch.Generator().manual_seed(1)
    h, content = torch.randn(1, 8, 6, 6, generator=g), torch.randn(1, 8, 6, 6, generator=g)
    mask = box_mask([0.0, 0.5, 0.5, 1.0], 6, 6)  # the lower-left quarter of the grid
    assert mask.sum() == 9 and mask[3:, :3].all()
    out = inject(h, content, 0.8, mask)
    outside = (mask == 0).expand_as(h[0])[None]
    assert torch.equal(out[outside], h[outside])  # exactly unchanged where the mask is 0
    assert (out[~outside] - h[~outside]).abs().max() > 0.1
    torch.testing.assert_close(inject(h, content, 0.8, torch.ones(6, 6)), slerp(h, content, 0.8))  # the plain slerp
    with pytest.raises(ValueError, match="covers no cell"):
        box_mask([0.0, 0.0, 0.05, 0.05], 6, 6)


def test_the_masked_slerp_is_the_official_plain_slerp_of_the_masked_features() -> None:
    """Worked by hand from the official code, slerp(gamma, m h, m c) + (1 - m) h: on a 2-channel, 1x2 grid
    masked at its left cell, h there is (3, 0) and the content (0, 1), orthogonal, so gamma = 0.5 gives
    sin(pi/4)/sin(pi/2) of each: (3/sqrt 2, 1/sqrt 2). The right cell keeps h. Norm-matching the content
    first (the earlier behaviour) would give (3/sqrt 2, 3/sqrt 2) there."""
    h = torch.tensor([[[[3.0, 7.0]], [[0.0, -2.0]]]])  # (1, C=2, H=1, W=2)
    content = torch.tensor([[[[0.0, 5.0]], [[1.0, 4.0]]]])
    out = inject(h, content, 0.5, torch.tensor([[1.0, 0.0]]))
    r = 2 ** -0.5
    expected = torch.tensor([[[[3 * r, 7.0]], [[1 * r, -2.0]]]])
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)  # float32 of a few products: ~1e-7 each
    # gamma 1 lands on the masked content itself, unscaled (the official code does not rescale it)
    torch.testing.assert_close(inject(h, content, 1.0, torch.tensor([[1.0, 0.0]])),
                               torch.tensor([[[[0.0, 7.0]], [[1.0, -2.0]]]]), rtol=1e-6, atol=1e-6)


def test_the_timestep_grid_is_the_official_uniform_floor_grid() -> None:
    """By hand: int(k * 999 / 49 + 1e-6) for k = 49, 48, 47, ..., 1, 0 is 999, 978, 958, 937, ..., 20, 0
    (999 / 49 = 20.387..., 46 of them 937.8); 10 points give multiples of 111. The same t_edit = 400 then selects the 30
    generation steps with k >= 20 (20 * 20.387 = 407.7), as it does in the official code."""
    schedule = Schedule.from_scheduler_config(tiny.DDPM_SCHEDULE)
    grid = schedule.timesteps(50)
    assert grid[:4] == [999, 978, 958, 937] and grid[-3:] == [40, 20, 0] and len(set(grid)) == 50
    assert grid == _official_grid(50)
    assert schedule.timesteps(10) == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert schedule.timesteps(1000) == list(range(999, -1, -1))
    assert sum(t >= 400 for t in grid) == 30 and min(t for t in grid if t >= 400) == 407
    with pytest.raises(ValueError, match=r"\[2, 1000\]"):
        schedule.timesteps(1)


def test_dt_lambda_scales_the_direction_term_of_the_steps_from_dt_end_as_the_official_code_does(stylizers) -> None:
    """Three-point grid 999, 499, 0 with no injection (t_edit above the grid) and no boosting: worked from
    the official update, only the first step (t = 999 >= dt_end = 950) has its direction term scaled,
    x_499 = sqrt(a_499) P_999 + dt_lambda sqrt(1 - a_499) eps_999; the later steps are plain DDIM."""
    den, x0 = _x0(stylizers["pixel"], CONTENT)
    alphas = den.schedule.alphas_cumprod
    x_t = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))
    inv = invert(den, x0, 3, record_h=True)
    settings = TransferSettings(gamma=0.5, omega=0.0, t_edit=1000, t_boost=0, steps=3, dt_lambda=0.8, dt_end=950)
    ours = transfer(den, x_t, inv, settings)
    with torch.no_grad():
        x = x_t.double()
        for t, t_next, lam in ((999, 499, 0.8), (499, 0, 1.0), (0, None, 1.0)):
            eps = den.eps(x.float(), t).double()
            a_t, a_next = alphas[t], (alphas[t_next] if t_next is not None else torch.tensor(1.0).double())
            x = a_next.sqrt() * (x - (1 - a_t).sqrt() * eps) / a_t.sqrt() + lam * (1 - a_next).sqrt() * eps
    tol = dict(rtol=1e-4, atol=1e-4 * float(x.abs().max()))  # float32 steps against the float64 reference
    torch.testing.assert_close(ours, x.float(), **tol)
    plain = transfer(den, x_t, inv, dataclasses.replace(settings, dt_lambda=1.0))
    assert not torch.allclose(ours, plain, **tol)  # the scaling is far outside that tolerance
    # dt_end above every scaled step is no scaling at all (the same code path: bitwise)
    assert torch.equal(transfer(den, x_t, inv, dataclasses.replace(settings, dt_end=1000)), plain)
    # a style-calibrated step is left unscaled, as in the official code
    calibrated = dataclasses.replace(settings, t_edit=0, omega=0.3)
    assert torch.equal(transfer(den, x_t, inv, calibrated),
                       transfer(den, x_t, inv, dataclasses.replace(calibrated, dt_lambda=1.0)))


def test_calibration_shift_is_the_derivations_closed_form_without_renormalisation() -> None:
    g = torch.Generator().manual_seed(2)
    x, eps, eps_mod = (torch.randn(1, 3, 8, 8, generator=g) for _ in range(3))
    a_t = 0.4
    for omega in (0.0, 0.3, 1.0):
        expected = (omega - 1) * (1 - a_t) ** 0.5 * (eps_mod - eps)
        torch.testing.assert_close(calibration_shift(x, eps, eps_mod, a_t, omega, renormalise=False), expected,
                                   rtol=1e-5, atol=1e-6)
    # renormalised, the calibrated x0 prediction has the std of the uncalibrated one
    shift = calibration_shift(x, eps, eps_mod, a_t, 1.0, renormalise=True)
    assert shift.abs().max() > 1e-3


# ------------------------------------------------------------------------------ the algorithm, both families


@pytest.mark.parametrize("family", FAMILIES)
def test_gamma_and_omega_zero_give_the_plain_ddim_reconstruction_of_the_style(stylizers, family: str) -> None:
    den, content, style = _inversions(stylizers[family])
    ours = transfer(den, style.x_t, content, TransferSettings(gamma=0.0, omega=0.0, steps=STEPS, **NO_BOOST))
    reference = _reference_ddim(den, style.x_t, STEPS, _scheduler_config(family))
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
    injected = transfer(den, style.x_t, content, TransferSettings(gamma=0.5, omega=0.0, steps=STEPS, **NO_BOOST))
    assert (injected - reference).abs().max() > 1e-2 * float(reference.abs().max())  # injection does something


@pytest.mark.parametrize("family", FAMILIES)
def test_omega_one_equals_no_injection(stylizers, family: str) -> None:
    den, content, style = _inversions(stylizers[family])
    none = transfer(den, style.x_t, content, TransferSettings(gamma=0.0, omega=0.0, steps=STEPS, **NO_BOOST))
    cancelled = transfer(den, style.x_t, content,
                         TransferSettings(gamma=0.6, omega=1.0, renormalise=False, steps=STEPS, **NO_BOOST))
    torch.testing.assert_close(cancelled, none, rtol=1e-4, atol=1e-4 * float(none.abs().max()))
    calibrated = transfer(den, style.x_t, content,
                          TransferSettings(gamma=0.6, omega=0.3, renormalise=False, steps=STEPS, **NO_BOOST))
    assert (calibrated - none).abs().max() > 1e-2 * float(none.abs().max())


@pytest.mark.parametrize("family", FAMILIES)
def test_a_mask_covering_all_of_h_is_the_plain_slerp_run_and_half_a_mask_differs(stylizers, family: str,
                                                                                  monkeypatch) -> None:
    """With the official masked mix a full mask is Slerp(h, c, gamma) without the norm matching: not the
    unmasked (normalised) run. Checked against a run whose injection is that plain slerp."""
    import generation.diffstyle.algorithm as algorithm

    den, content, style = _inversions(stylizers[family])
    grid = content.h_at(999).shape[-2:]
    full = transfer(den, style.x_t, content, TransferSettings(steps=STEPS, mask=torch.ones(*grid), **NO_BOOST))
    normalised = transfer(den, style.x_t, content, TransferSettings(steps=STEPS, **NO_BOOST))
    half = transfer(den, style.x_t, content, TransferSettings(steps=STEPS, mask=box_mask([0, 0, 1, 0.5], *grid),
                                                                **NO_BOOST))
    monkeypatch.setattr(algorithm, "inject", lambda h, c, gamma, mask=None: slerp(h, c.expand_as(h), gamma))
    plain = transfer(den, style.x_t, content, TransferSettings(steps=STEPS, **NO_BOOST))
    # (1 - 1) h adds exact zeros, so only float32 rounding of the same slerp separates the two runs
    torch.testing.assert_close(full, plain, rtol=1e-5, atol=1e-5 * float(plain.abs().max()))
    assert not torch.allclose(full, normalised) and not torch.allclose(half, plain)


def test_inversion_then_reconstruction_stays_within_tolerance_on_a_trained_tiny_model() -> None:
    """A random UNet is no denoiser (its DDIM ODE does not converge), so this uses a tiny UNet trained for
    ~20 s on smooth images. Stated tolerance: mean |error| < 0.1 and max < 0.5 (images in [-1, 1]) at 50
    steps, and first-order convergence: doubling the steps at least shrinks the error by 1/0.6."""
    den = PixelDenoiser(tiny.trained_pixel_unet(), Schedule.from_scheduler_config(tiny.DDPM_SCHEDULE))
    x0 = tiny.smooth_images(1, torch.Generator().manual_seed(7))
    errors = {}
    for steps in (50, 100):
        inv = invert(den, x0, steps, record_h=True)
        rec = transfer(den, inv.x_t, inv, TransferSettings(gamma=0.0, omega=0.0, t_boost=0, steps=steps))
        errors[steps] = (rec - x0).abs()
    assert float(errors[50].mean()) < 0.1 and float(errors[50].max()) < 0.5, errors[50].mean()
    assert float(errors[100].mean()) < 0.6 * float(errors[50].mean())


def test_inversion_records_h_at_every_step_and_generation_takes_the_nearest(stylizers) -> None:
    """The official inversion: from the clean image taken as x_0, h(x_t, t) kept at every grid point but
    the last (5 points: 0, 249, 499, 749, 999 -> h at 0, 249, 499, 749); the lookup takes the nearest and,
    between two equally near, the later one (the official list is searched from the top)."""
    den, x0 = _x0(stylizers["pixel"], CONTENT)
    inv = invert(den, x0, 5, record_h=True)
    assert den.schedule.timesteps(5) == [999, 749, 499, 249, 0]
    assert sorted(inv.hs) == [0, 249, 499, 749]
    assert inv.h_at(999) is inv.hs[749] and inv.h_at(450) is inv.hs[499] and inv.h_at(374) is inv.hs[499]
    assert inv.h_at(124) is inv.hs[0] and inv.h_at(125) is inv.hs[249]  # 124.5 is the midpoint
    # the first h is the clean image's own bottleneck at t = 0
    with den.tap:
        den.eps(x0, 0)
        torch.testing.assert_close(den.tap.h, inv.hs[0], rtol=0, atol=0)  # the same call on the same input
    more = transfer(den, inv.x_t, inv, TransferSettings(steps=20, **NO_BOOST))  # 20 generation, 5 inversion points
    assert torch.isfinite(more).all()


def test_an_adm_style_unet_with_learned_variance_uses_the_eps_half() -> None:
    unet = tiny.pixel_unet(3, learned_variance=True)
    den = PixelDenoiser(unet, Schedule.from_scheduler_config(tiny.DDPM_SCHEDULE))
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(den.eps(x, 500), unet(x, 500).sample[:, :3])


def test_blending_style_latents_is_a_slerp_whose_endpoints_are_the_styles() -> None:
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(1, 3, 8, 8, generator=g), torch.randn(1, 3, 8, 8, generator=g)
    torch.testing.assert_close(blend_latents([a, b], [1.0, 0.0]), a)
    torch.testing.assert_close(blend_latents([a, b], [0.0, 1.0]), b)
    torch.testing.assert_close(blend_latents([a, b], [0.7, 0.3]), slerp(a, b, 0.3))


# -------------------------------------------------------------------------------------------- the stylizer


@pytest.mark.parametrize("family", FAMILIES)
def test_a_run_has_the_models_native_size_and_records_it(stylizers, family: str) -> None:
    params = dict(inversion_steps=STEPS, generation_steps=STEPS, t_boost=300)
    run = stylizers[family].stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A)], params, seed=5)
    expected = 16 if family == "pixel" else 32
    assert run.images[0].size == (expected, expected)
    assert run.params == dict(dataclasses.asdict(Params(**params)), height=expected, width=expected)
    assert run.model_ids == {"model": f"diffstyle/tiny-{family}", "source": "tiny"}


@pytest.mark.parametrize("family", FAMILIES)
def test_stylize_with_gamma_zero_is_the_decoded_ddim_reconstruction(stylizers, family: str) -> None:
    stylizer = stylizers[family]
    params = dict(gamma=0.0, omega=0.0, t_boost=0, inversion_steps=STEPS, generation_steps=STEPS)
    out = stylizer.stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A)], params).images[0]
    den, _, style = _inversions(stylizer)
    with torch.no_grad():
        reference = den.decode(_reference_ddim(den, style.x_t, STEPS, _scheduler_config(family)))
    ref = ((reference[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().numpy()
    assert np.abs(np.asarray(out, dtype=np.float64) - ref).max() <= 1


def test_a_strip_between_two_styles_has_the_single_style_runs_at_its_ends(stylizers) -> None:
    stylizer = stylizers["sd"]
    params = dict(inversion_steps=STEPS, generation_steps=STEPS, **NO_BOOST)
    single = [np.asarray(stylizer.stylize(ContentRef(image=CONTENT), [StyleRef(image=s)], params).images[0])
              for s in (STYLE_A, STYLE_B)]
    ends = [np.asarray(stylizer.stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A, weight=1 - w),
                                                                     StyleRef(image=STYLE_B, weight=w)],
                                        params).images[0]) for w in (0.0, 1.0)]
    assert np.array_equal(ends[0], single[0]) and np.array_equal(ends[1], single[1])
    middle = stylizer.stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A), StyleRef(image=STYLE_B)], params)
    assert not np.array_equal(np.asarray(middle.images[0]), single[0])


def test_sd_takes_a_prompt_and_the_pixel_model_refuses_one(stylizers) -> None:
    params = dict(inversion_steps=4, generation_steps=4)
    styles = [StyleRef(image=STYLE_A)]
    plain = stylizers["sd"].stylize(ContentRef(image=CONTENT), styles, params)
    prompted = stylizers["sd"].stylize(ContentRef(image=CONTENT, prompt="a red square"), styles, params)
    assert not np.array_equal(np.asarray(plain.images[0]), np.asarray(prompted.images[0]))
    with pytest.raises(StylizeError, match="unconditional pixel-space model; it takes no prompt"):
        stylizers["pixel"].stylize(ContentRef(image=CONTENT, prompt="a red square"), styles, params)


@pytest.mark.parametrize(("params", "message"), [
    (dict(gamma=1.5), "gamma must be a number in"),
    (dict(t_boost=500, t_edit=400), "t_boost (500) must not exceed t_edit"),
    (dict(inversion_steps=0), "inversion_steps must be an integer"),
    (dict(mask_box=[0.5, 0.5, 0.2, 0.9]), "left < right"),
    (dict(mask_box=[0, 0, 1]), "mask_box must be"),
    (dict(height=24), "not a multiple of 16"),
])
def test_bad_parameters_are_refused_by_name(stylizers, params: dict, message: str) -> None:
    with pytest.raises(StylizeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        stylizers["sd"].stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A)], params)


def test_style_vectors_and_unknown_options_are_refused(stylizers) -> None:
    with pytest.raises(StylizeError, match="needs style images"):
        stylizers["pixel"].stylize(ContentRef(image=CONTENT), [StyleRef(vector=np.ones(8, np.float32))],
                                   dict(inversion_steps=2, generation_steps=2))
    with pytest.raises(StylizeError, match="unknown diffstyle option"):
        create(model="diffstyle/tiny-pixel", controlnet="canny")
    with pytest.raises(StylizeError, match="needs a content image"):
        stylizers["pixel"].stylize(ContentRef(prompt="a cat"), [StyleRef(image=STYLE_A)])


# ------------------------------------------------------------------------------------------ models, loading


def test_real_models_name_every_missing_file_and_the_fix(monkeypatch) -> None:
    monkeypatch.setattr(models, "file_present", lambda source, filename: False)  # as on a machine without them
    rows = {r.model_id: r for r in list_models()}
    assert not rows["diffstyle/celebahq"].weights_present and rows["diffstyle/tiny-pixel"].weights_present
    assert rows["diffstyle/sd15"].licence == "CreativeML OpenRAIL-M"
    stylizer = create_stylizer("diffstyle")
    with pytest.raises(WeightsMissingError) as err:
        stylizer.stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A)])
    text = str(err.value)
    assert "google/ddpm-ema-celebahq-256" in text and "unet/config.json" in text
    assert "hf download google/ddpm-ema-celebahq-256" in text
    with pytest.raises(WeightsMissingError, match="text_encoder/model.safetensors"):
        create(model="diffstyle/sd15").stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A)])


def _save_pixel(folder, root_layout: bool) -> None:
    from diffusers import DDPMScheduler

    unet_dir, sched_dir = (folder, folder) if root_layout else (folder / "unet", folder / "scheduler")
    tiny.pixel_unet().save_pretrained(unet_dir, safe_serialization=True)
    DDPMScheduler(**tiny.DDPM_SCHEDULE).save_pretrained(sched_dir)


def _save_sd(folder) -> None:
    """The tiny SD model in the SD1.5 repo's layout, the tokenizer as vocab.json + merges.txt like the hub's."""
    import shutil

    from generation.diffusion.tokenizer import clip_bpe_files

    parts = sd15_parts()
    for name in ("unet", "vae", "text_encoder"):
        parts[name].save_pretrained(folder / name, safe_serialization=True)
    parts["scheduler"].save_pretrained(folder / "scheduler")
    (folder / "tokenizer").mkdir()
    for file in clip_bpe_files():
        shutil.copy(file, folder / "tokenizer" / file.name)


@pytest.mark.parametrize("layout", ["pixel-subfolders", "pixel-root", "sd"])
def test_local_diffusers_folders_load_through_the_real_path_and_match_the_tiny_models(tmp_path, stylizers,
                                                                                     layout: str) -> None:
    folder = tmp_path / layout
    if layout == "sd":
        _save_sd(folder)
    else:
        _save_pixel(folder, root_layout=layout == "pixel-root")
    family = "sd" if layout == "sd" else "pixel"
    loaded = create(model=str(folder))
    assert loaded.spec.family == family and not models.missing_files(loaded.spec)
    params = dict(inversion_steps=4, generation_steps=4)
    ours = loaded.stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A)], params, seed=1)
    built = stylizers[family].stylize(ContentRef(image=CONTENT), [StyleRef(image=STYLE_A)], params, seed=1)
    for part in ("unet", "vae", "text_encoder"):  # weight for weight the same model...
        mine, theirs = getattr(loaded.loaded, part), getattr(stylizers[family].loaded, part)
        if mine is not None:
            assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in mine.state_dict().items())
            # in torch-allocated memory, not mapped-file views (whose alignment changes MKL's rounding)
            assert all(v.data_ptr() % ALIGNMENT == 0 for v in mine.state_dict().values() if v.numel())
    # ...so the same image, up to float rounding: the models were built apart (ours on the meta device,
    # then filled), which may leave other layouts; one uint8 level covers a rounding flip at a boundary
    diff = np.abs(np.asarray(ours.images[0], dtype=int) - np.asarray(built.images[0], dtype=int))
    assert diff.max() <= 1
    assert ours.model_ids == {"model": str(folder), "source": str(folder)}


def test_a_folder_that_is_not_a_diffusers_unet_is_refused(tmp_path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text('{"_class_name": "ControlNetModel"}')
    with pytest.raises(StylizeError, match="ControlNetModel"):
        create(model=str(tmp_path))
    with pytest.raises(StylizeError, match="unknown DiffStyle model"):
        create(model="diffstyle/nope")
