"""PARASOL sampling on the tiny model (METHODS.md 1b, 1d): modality-specific guidance, the inversion with stored
noises, lambda switching, descriptor encoders, interpolation, text conditions and parameter errors."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from generation.base import ContentRef, StyleRef, StylizeError
from generation.diffusion.images import to_image, to_tensor
from generation.parasol.ddpm import chain_levels, denoise, invert, posterior
from generation.parasol.descriptors import DescriptorEncoder, nlerp
from generation.parasol.grid import descriptor_grid
from generation.parasol.models import resolve_spec
from generation.parasol.stylizer import Parasol
from generation.parasol.tiny import synthetic_triplets
from image_checks import assert_images_close

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def stylizer() -> Parasol:
    return Parasol(resolve_spec("parasol/tiny"), device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Image.Image]:
    t = synthetic_triplets(tmp_path_factory.mktemp("parasol-img"), n=3)
    return {"y": Image.open(t[0].y).convert("RGB"), "s": Image.open(t[0].s).convert("RGB"),
            "y2": Image.open(t[1].y).convert("RGB"), "s2": Image.open(t[2].s).convert("RGB")}


def _own(stylizer: Parasol, image: Image.Image):
    """(z0, m_y, c_y): y's latent and its own style (projected) and semantic descriptors."""
    m = stylizer.model
    with torch.no_grad():
        return (m.encode(to_tensor(image, 32, 32, "cpu")), m.conditioner.project_style(m.style.images([image])),
                m.content.images([image]))


def test_guidance_with_zero_weights_is_the_unconditional_prediction(stylizer: Parasol, images) -> None:
    m = stylizer.model
    _, m_s, c_y = _own(stylizer, images["y"])
    z = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        uncond = m.eps(z, 500, m.conditioner.tokens(None, None, batch=1))
        e_style = m.eps(z, 500, m.conditioner.tokens(m_s, None))
        e_content = m.eps(z, 500, m.conditioner.tokens(None, c_y))
        assert torch.equal(m.guided_eps(z, 500, m_s, c_y, 0.0, 0.0), uncond)
        # the conditions do change the prediction, and the guided mix is the paper's formula
        assert (e_style - uncond).abs().max() > 1e-3 and (e_content - uncond).abs().max() > 1e-3
        mixed = m.guided_eps(z, 500, m_s, c_y, 2.0, 0.5)
    torch.testing.assert_close(mixed, uncond + 2.0 * (e_style - uncond) + 0.5 * (e_content - uncond),
                               atol=1e-5, rtol=1e-5)


def test_dropped_rows_get_the_null_tokens(stylizer: Parasol, images) -> None:
    _, m_s, c_y = _own(stylizer, images["y"])
    cond = copy.deepcopy(stylizer.model.conditioner)
    with torch.no_grad():  # unit null tokens unlike each other (the tiny model's are both still 0): a swap shows
        for token, seed in ((cond.null_style, 1), (cond.null_content, 2)):
            draw = torch.randn(token.shape, generator=torch.Generator().manual_seed(seed))
            token.copy_(draw / draw.norm())
    keep_s, keep_y = torch.tensor([True, False, True]), torch.tensor([True, True, False])
    with torch.no_grad():
        tok = cond.tokens(m_s.expand(3, -1), c_y.expand(3, -1), keep_style=keep_s, keep_content=keep_y)
        full = cond.tokens(m_s, c_y)[0]
        null = cond.to_tokens(torch.stack([cond.null_style, cond.null_content]) * cond.content_dim ** 0.5) + cond.slots
    # `to_tokens` is a Linear over 6 rows here and over 2 rows in the references: the GEMM kernel may differ
    # with the row count, so rows agree to rounding, not bit for bit (issue 15). A dot product of 32 terms
    # with sum |w x| <= ~3 has a worst-case float32 ordering error of 32 * 1.2e-7 * 3 ~ 1.1e-5.
    close = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cond.tokens(None, None, batch=1)[0], null, **close)  # [null style, null content]
    torch.testing.assert_close(tok[1, 0], null[0], **close)  # dropped: null token
    torch.testing.assert_close(tok[2, 1], null[1], **close)
    torch.testing.assert_close(tok[0], full, **close)  # kept: the row's own token
    torch.testing.assert_close(tok[1, 1], full[1], **close)
    torch.testing.assert_close(tok[2, 0], full[0], **close)
    assert (full - null).abs().min() > 1e-3  # and the null tokens differ from real ones in every entry, by far


@pytest.mark.parametrize("mode", ["markov", "independent"])
def test_stored_noises_reconstruct_y_with_unchanged_conditions(stylizer: Parasol, images, mode: str) -> None:
    m = stylizer.model
    z0, m_y, c_y = _own(stylizer, images["y"])
    m_s = m.conditioner.project_style(m.style.images([images["s"]])).detach()
    chain = chain_levels(m.alphas_cumprod, 12)
    same = (lambda x, t, k: m.guided_eps(x, t, m_y, c_y, 3.0, 3.0))  # noqa: E731
    inv = invert(same, z0, chain, torch.Generator().manual_seed(1), mode)
    assert inv.states[-1].std() > 0.8  # x_n really is noise: the chain reached the last timestep (999)
    assert chain.timesteps[-1] == 999 and chain.alphas[0] == 1.0
    rec = denoise(same, inv.states[-1], chain, noises=inv.noises)
    torch.testing.assert_close(rec, z0.double(), atol=1e-10, rtol=0)
    other = denoise(lambda x, t, k: m.guided_eps(x, t, m_s, c_y, 3.0, 3.0), inv.states[-1], chain, noises=inv.noises)
    assert (other - z0).abs().max() > 1e-2  # another style condition moves away from y


def test_reverse_step_is_the_ddpm_posterior() -> None:
    # q(x_{t-1} | x_t, x0) for a single step, against the textbook closed form with x0 known
    a_t, a_prev = 0.5, 0.8
    x0, eps = torch.tensor([0.3], dtype=torch.float64), torch.tensor([-1.2], dtype=torch.float64)
    x_t = a_t ** 0.5 * x0 + (1 - a_t) ** 0.5 * eps
    mean, sigma = posterior(x_t, eps, a_t, a_prev)
    beta = 1 - a_t / a_prev
    expected = (a_prev ** 0.5 * beta * x0 + (a_t / a_prev) ** 0.5 * (1 - a_prev) * x_t) / (1 - a_t)
    torch.testing.assert_close(mean, expected)
    assert sigma == pytest.approx(((1 - a_prev) / (1 - a_t) * beta) ** 0.5)
    assert posterior(x_t, eps, a_t, 1.0)[1] == 0.0  # the last step is deterministic


def _full_switching_run(stylizer: Parasol, y: Image.Image, s: Image.Image, steps: int, lam: int) -> torch.Tensor:
    """Every reverse step run for real: y's own conditions for the first `lam`, then the style's."""
    m = stylizer.model
    z0, m_y, c_y = _own(stylizer, y)
    m_s = m.conditioner.project_style(m.style.images([s])).detach()
    chain = chain_levels(m.alphas_cumprod, steps)
    own = (lambda x, t, k: m.guided_eps(x, t, m_y, c_y, 3.0, 3.0))  # noqa: E731
    inv = invert(own, z0, chain, torch.Generator().manual_seed(5), "markov")

    def switching(x, t, k):
        return own(x, t, k) if k > steps - lam else m.guided_eps(x, t, m_s, c_y, 3.0, 3.0)

    with torch.no_grad():
        return m.decode(denoise(switching, inv.states[-1], chain, noises=inv.noises))


def test_lambda_switching_and_lambda_T_equals_the_reconstruction(stylizer: Parasol, images) -> None:
    y, s = ContentRef(image=images["y"]), [StyleRef(image=images["s"])]
    run = (lambda lam: np.asarray(stylizer.stylize(y, s, {"steps": 6, "lam": lam}, seed=5).images[0],  # noqa: E731
                                  dtype=np.int16))
    full_t = np.asarray(to_image(_full_switching_run(stylizer, images["y"], images["s"], 6, 6)), dtype=np.int16)
    assert np.abs(run(6) - full_t).max() <= 1  # lambda = T never switches: the reconstruction of y
    with torch.no_grad():
        vae_rec = np.asarray(to_image(stylizer.model.decode(_own(stylizer, images["y"])[0])), dtype=np.int16)
    assert np.abs(run(6) - vae_rec).max() <= 1  # ... which is y through the autoencoder
    # lambda < T: starting from the stored state equals running the first lambda steps for real
    full_3 = np.asarray(to_image(_full_switching_run(stylizer, images["y"], images["s"], 6, 3)), dtype=np.int16)
    assert np.abs(run(3) - full_3).max() <= 1
    assert np.abs(run(3) - run(6)).max() > 20 and np.abs(run(0) - run(3)).max() > 20  # lambda matters


def test_a_style_vector_equals_its_image(stylizer: Parasol, images) -> None:
    y = ContentRef(image=images["y"])
    params = {"steps": 4, "lam": 1}
    a = stylizer.stylize(y, [StyleRef(image=images["s"])], params, seed=3).images[0]
    vector = stylizer.model.style.images([images["s"]])[0].numpy()
    b = stylizer.stylize(y, [StyleRef(vector=vector)], params, seed=3).images[0]
    # a vector style is renormalised on the way in (v / |v|, |v| = 1 only to rounding), the image's descriptor
    # is used as it is: the same value to float32 rounding, so one uint8 level at most (issue 15)
    assert_images_close(a, b)
    with pytest.raises(StylizeError, match="16 dimensions"):
        stylizer.stylize(y, [StyleRef(vector=np.ones(5))], params)


def test_descriptor_interpolation_grid(stylizer: Parasol, images) -> None:
    contents = [ContentRef(image=images["y"]), ContentRef(image=images["y2"])]
    styles = [StyleRef(image=images["s"]), StyleRef(image=images["s2"])]
    params = {"steps": 4, "lam": 1}
    grid = descriptor_grid(stylizer, contents, styles, 2, params, seed=2)
    assert (grid.rows, grid.columns, len(grid.images)) == (2, 2, 4)
    assert grid.labels[1] == "content 0.00 style 1.00" and grid.labels[2] == "content 1.00 style 0.00"
    for cell, style in ((0, styles[0]), (1, styles[1])):  # row 0 = the single-content runs, bit for bit
        assert grid.images[cell].tobytes() == stylizer.stylize(contents[0], [style], params, seed=2).images[0].tobytes()
    arr = [np.asarray(im, dtype=np.int16) for im in grid.images]
    assert np.abs(arr[0] - arr[2]).max() > 0 and np.abs(arr[0] - arr[1]).max() > 0  # both axes change the image
    with pytest.raises(StylizeError, match="two contents and two styles"):
        descriptor_grid(stylizer, contents[:1], styles, 2, params)


def test_nlerp_endpoints_and_midpoint() -> None:
    v = torch.nn.functional.normalize(torch.randn(2, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    assert torch.equal(nlerp(v, [1.0, 0.0]), v[0]) and torch.equal(nlerp(v, [0.0, 2.0]), v[1])
    mid = nlerp(v, [0.5, 0.5])
    torch.testing.assert_close(mid, (v[0] + v[1]) / (v[0] + v[1]).norm())
    with pytest.raises(StylizeError, match="cancel out"):
        nlerp(torch.stack([v[0], -v[0]]), [1.0, 1.0])


def test_text_stands_in_for_content_where_the_encoder_has_a_text_side(stylizer: Parasol, images) -> None:
    s = [StyleRef(image=images["s"])]
    from_text = stylizer.stylize(ContentRef(prompt="a red circle"), s, {"steps": 3, "lam": 1}, seed=0).images[0]
    other = stylizer.stylize(ContentRef(prompt="a blue square"), s, {"steps": 3, "lam": 1}, seed=0).images[0]
    assert from_text.size == (32, 32) and from_text.tobytes() != other.tobytes()
    # an image with a prompt: structure from the image, the content condition switches to the text
    edited = stylizer.stylize(ContentRef(image=images["y"], prompt="a red circle"), s, {"steps": 4, "lam": 2}).images[0]
    plain = stylizer.stylize(ContentRef(image=images["y"]), s, {"steps": 4, "lam": 2}).images[0]
    assert edited.tobytes() != plain.tobytes()
    with pytest.raises(StylizeError, match="style_prompt: the style encoder tiny/aladin has no text side"):
        stylizer.stylize(ContentRef(image=images["y"]), s, {"style_prompt": "watercolour"})


def test_text_stands_in_for_the_style_where_the_style_encoder_has_a_text_side(images) -> None:
    # review (issue 9): the style_prompt path had no positive test (no style encoder of ours has a text side)
    from generation.parasol.models import TINY_BASE, build_model

    model = build_model(TINY_BASE, "tiny/open_clip", "tiny/open_clip", "cpu")
    model.unet.eval()
    stylizer = Parasol.from_model(model, "test/text-style")
    y, s, p = ContentRef(image=images["y"]), [StyleRef(image=images["s"])], {"steps": 3, "lam": 1}
    a_s = stylizer.style_descriptor(s, stylizer.Params(style_prompt="a watercolour"))
    assert torch.equal(a_s, model.style.texts(["a watercolour"], "style_prompt"))
    run = (lambda extra: stylizer.stylize(y, s, {**p, **extra}, seed=0).images[0].tobytes())  # noqa: E731
    assert run({"style_prompt": "a watercolour"}) != run({"style_prompt": "an oil painting"}) != run({})


@pytest.mark.parametrize("params, message", [
    ({"steps": 4, "lam": 5}, "lam must be an integer in [0, 4]"),
    ({"g_s": -1}, "g_s must be a number in [0, 50]"),
    ({"g_y": float("nan")}, "g_y must be a number"),
    ({"inversion_noise": "ddim"}, "inversion_noise must be one of"),
    ({"invert": "yes"}, "invert must be true or false"),
    ({"height": 40}, "height 40 is not a multiple of 16"),
])
def test_bad_params_are_refused_by_name(stylizer: Parasol, images, params, message) -> None:
    with pytest.raises(StylizeError) as err:
        stylizer.stylize(ContentRef(image=images["y"]), [StyleRef(image=images["s"])], params)
    assert message in str(err.value)


def test_differentiable_descriptors_match_the_indexing_path(images) -> None:
    y = images["y"].resize((32, 32))
    for encoder_id in ("tiny/aladin", "tiny/open_clip", "tiny/efficientnet-lite", "starter/efficientnet-lite0"):
        enc = DescriptorEncoder(encoder_id, "cpu")
        x = to_tensor(y, 32, 32, "cpu").requires_grad_(True)
        d = enc.differentiable(x)
        cos = float(torch.nn.functional.cosine_similarity(d.detach(), enc.images([y]), dim=-1))
        assert cos > 0.99, (encoder_id, cos)
        d.sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
        assert not any(p.requires_grad for p in (getattr(enc.encoder, "model", None) or enc.encoder.net).parameters())
    for encoder_id in ("tiny/magenta-style", "starter/magenta-style"):  # ONNX: no gradients
        magenta = DescriptorEncoder(encoder_id, "cpu")
        assert not magenta.grad_capable
        with pytest.raises(StylizeError, match="gives no gradients"):
            magenta.differentiable(to_tensor(y, 32, 32, "cpu"))


def test_models_listing_finds_checkpoints_and_refuses_unknown_ones(tmp_path, monkeypatch) -> None:
    from generation import create_stylizer, list_generators
    from indexer.layout import WorkspaceLayout

    monkeypatch.delenv("STYLELENS_PARASOL_CHECKPOINTS", raising=False)
    monkeypatch.setenv("STYLELENS_HOME", str(tmp_path / "elsewhere"))  # the workspace is passed, never read here
    ws = WorkspaceLayout(tmp_path / "ws")
    rows = [g for g in list_generators(ws) if g.method == "parasol"]
    assert [g.model_id for g in rows][-1] == "parasol/tiny" and rows[-1].weights_present
    assert len(rows) == 2 and not rows[0].weights_present and "stylelens train parasol" in rows[0].description
    with pytest.raises(StylizeError, match="parasol needs a trained checkpoint"):
        create_stylizer("parasol")
    with pytest.raises(StylizeError, match="no PARASOL checkpoint at"):
        create_stylizer("parasol", model=str(tmp_path))

    def fake_run(folder) -> str:  # the two files that make a folder a checkpoint
        (folder / "checkpoint").mkdir(parents=True)
        (folder / "checkpoint" / "parasol.json").write_text('{"step": 7, "base": "tiny"}')
        (folder / "checkpoint" / "model.safetensors").write_bytes(b"")
        return str(folder)

    in_ws, elsewhere = fake_run(ws.parasol_run_dir("r1")), fake_run(tmp_path / "runs" / "b")
    assert in_ws == str(tmp_path / "ws" / "parasol" / "r1")
    assert create_stylizer("parasol", workspace=ws).spec.model_id == in_ws  # the workspace's run is the default
    monkeypatch.setenv("STYLELENS_PARASOL_CHECKPOINTS", str(tmp_path / "runs"))
    rows = [g for g in list_generators(ws) if g.method == "parasol"]
    assert [g.model_id for g in rows] == [elsewhere, in_ws, "parasol/tiny"] and all(g.weights_present for g in rows)
    assert [g.model_id for g in list_generators() if g.method == "parasol"] == [elsewhere, "parasol/tiny"]
    assert "step 7" in rows[0].description
    assert create_stylizer("parasol", workspace=ws).spec.model_id == elsewhere  # the first listed is the default
