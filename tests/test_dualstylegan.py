"""DualStyleGAN on tiny seeded models (1024 px, 18 layers, 1-16 channels), CPU, offline.

What is checked is what the paper and the released checkpoints promise, not image quality: w = 0 is exactly
StyleGAN2; w's structure part (rows 0-6) drives only the ModRes blocks and its colour part (rows 7-17) only
the colour transforms; stage-I initialisation is style mixing; the official names and shapes load strictly
(and anything else is refused by name); the pickled code files are read without running code from them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from generation import ContentRef, StyleRef, StylizeError
from generation.dualstylegan import Params, create, tiny
from generation.dualstylegan.align import centre_crop, ffhq_quad, prepare_face
from generation.dualstylegan.exemplar import ExemplarNets, ExemplarSettings, extract, resolve_terms
from generation.dualstylegan.inference import blend_codes, transfer
from generation.dualstylegan.network import DualStyleGAN, ModRes, stage1_init
from generation.dualstylegan.ops import fused_leaky_relu, make_kernel, upfirdn2d, upfirdn2d_reference
from synthetic_images import noise_with_square

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CENTRE = dict(align="centre", output_size=64)


@pytest.fixture(scope="module")
def parts() -> tiny.Parts:
    return tiny.build()


@pytest.fixture(scope="module")
def stylizer():
    return create(model="dualstylegan/tiny")


def _image(seed: int, size: tuple[int, int] = (96, 80)) -> Image.Image:
    return noise_with_square(seed, size, colour=(220, 60, 40))


def _codes(seed: int, model: DualStyleGAN) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 18, model.style_dim, generator=g), torch.randn(1, 18, model.style_dim, generator=g)


# ------------------------------------------------------------------------------------------------ ops


@pytest.mark.parametrize("taps", [(1, 3, 3, 1), (1, 2, 1), (1, 3, 3, 1, 2)])
@pytest.mark.parametrize("up, down, pad", [(2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (2, 2)), (2, 1, (1, 3, 0, 2)),
                                           (1, 1, (-1, 2)), (2, 1, (5, 0))])
def test_upfirdn2d_fast_path_equals_the_four_step_reference(taps, up, down, pad) -> None:
    x = torch.randn(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    k = make_kernel(taps) * up ** 2
    fast, ref = upfirdn2d(x, k, up, down, pad), upfirdn2d_reference(x, k, up, down, pad)
    assert fast.shape == ref.shape
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=0)


def test_upfirdn2d_reference_on_a_hand_computed_case_and_fused_lrelu_values() -> None:
    x = torch.tensor([[[[1.0, 2.0]]]])  # 1 x 2, upsample x2 along both axes with a [1, 1] box: repeats
    out = upfirdn2d_reference(x, torch.ones(2, 2), up=2, pad=(1, 0))
    assert out[0, 0].tolist() == [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]
    y = fused_leaky_relu(torch.tensor([[-1.0, 0.5]]), torch.tensor([0.0, 0.5]))
    torch.testing.assert_close(y, torch.tensor([[-0.2 * 2 ** 0.5, 2 ** 0.5]]))


# ------------------------------------------------------------------------------------------------ w


def _noise(model: DualStyleGAN, seed: int = 0) -> list[torch.Tensor]:
    return model.generator.make_noise(1, torch.Generator().manual_seed(seed))


def test_w_zero_is_exactly_the_plain_stylegan2_output(parts) -> None:
    model = parts.generator
    z, ex = _codes(1, model)
    noise = _noise(model)
    with torch.no_grad():
        plain, _ = model.generator([z], z_plus_latent=True, noise=noise)
        dual, _ = model([z], model.map_extrinsic(ex), z_plus_latent=True, noise=noise, interp_weights=[0.0] * 18)
        styled, _ = model([z], model.map_extrinsic(ex), z_plus_latent=True, noise=noise)
    assert torch.equal(dual, plain)
    assert (styled - plain).abs().mean() > 1e-3  # the extrinsic path does act at w = 1


def _layer_modules(model: DualStyleGAN) -> dict[torch.nn.Module, int]:
    """Every StyledConv / ToRGB of g with the latent row it reads (conv1 0, to_rgb1 1, then per resolution)."""
    g = model.generator
    rows = {g.conv1: 0, g.to_rgb1: 1}
    for j in range(len(g.to_rgbs)):
        rows.update({g.convs[2 * j]: 2 * j + 1, g.convs[2 * j + 1]: 2 * j + 2, g.to_rgbs[j]: 2 * j + 3})
    return rows


def test_w_splits_into_structure_rows_0_to_6_and_colour_rows_7_to_17(parts) -> None:
    model = parts.generator
    assert list(model.structure_layers) == list(range(7)) and list(model.colour_layers) == list(range(7, 18))
    z, ex = _codes(2, model)
    w = [0.15 + 0.04 * k for k in range(18)]
    received: dict[int, torch.Tensor] = {}
    modres: dict[int, tuple[float, int]] = {}
    hooks = [m.register_forward_hook(lambda mod, args, out, k=k: received.__setitem__(k, args[1]))
             for m, k in _layer_modules(model).items()]
    hooks += [blk.register_forward_hook(lambda mod, args, out, k=k: modres.__setitem__(k, (args[2], args[0].shape[-1])))
              for k, blk in enumerate(model.res) if isinstance(blk, ModRes)]
    exw = model.map_extrinsic(ex)
    with torch.no_grad():
        model([z], exw, z_plus_latent=True, noise=_noise(model), interp_weights=w)
        intrinsic = model.generator.latents([z], z_plus_latent=True)
        for h in hooks:
            h.remove()
        assert sorted(modres) == list(range(7))  # ModRes run after exactly the layers of rows 0-6 ...
        assert all(modres[k][0] == w[k] for k in range(7))  # ... each with its own w
        assert max(side for _, side in modres.values()) == 32  # the 4-32 px layers
        for m, k in _layer_modules(model).items():
            if k < 7:  # structure rows: the StyleGAN layers keep the intrinsic style
                assert torch.equal(received[k], intrinsic[:, k]), k
            else:  # colour rows: w_k T_c(extrinsic_k) + (1 - w_k) intrinsic_k
                expected = w[k] * model.res[k](exw[:, k]) + (1 - w[k]) * intrinsic[:, k]
                torch.testing.assert_close(received[k], expected, atol=1e-6, rtol=1e-6)


def test_each_part_of_w_acts_only_through_its_own_path(parts) -> None:
    model = parts.generator
    z, ex = _codes(3, model)
    other = ex.clone()
    other[:, :7] = torch.randn(1, 7, model.style_dim, generator=torch.Generator().manual_seed(9))
    noise = _noise(model)

    def run(code, w_s, w_c):
        with torch.no_grad():
            return model([z], model.map_extrinsic(code), z_plus_latent=True, noise=noise,
                         interp_weights=[w_s] * 7 + [w_c] * 11)[0]

    # w_s = 0: the structure rows of the extrinsic code no longer matter; w_s = 1: they do
    assert torch.equal(run(ex, 0.0, 1.0), run(other, 0.0, 1.0))
    assert not torch.allclose(run(ex, 1.0, 0.0), run(other, 1.0, 0.0))


# ------------------------------------------------------------------------------------------------ stage I


def test_stage1_initialisation_reproduces_standard_style_mixing() -> None:
    model = tiny.generator(5)
    z1, z2 = _codes(4, model)
    noise = _noise(model)
    with torch.no_grad():
        mixed, _ = model.generator([z1, z2], z_plus_latent=True, inject_index=7, noise=noise)
        plain, _ = model.generator([z1], z_plus_latent=True, noise=noise)
        stage1_init(model, jitter=0.0, modres_scale=0.0, seed=0)  # exactly 0 and exactly the identity
        exact, _ = model([z1], model.map_extrinsic(z2), z_plus_latent=True, noise=noise)
    torch.testing.assert_close(exact, mixed, atol=1e-5, rtol=0)
    assert (mixed - plain).abs().mean() > 1e-2  # rows 7-17 of z2 do change the image

    stage1_init(model, seed=0)  # the official init: ModRes convs x 0.01, T_c = I + N(0, 0.01^2) on its weight
    residuals: dict[int, float] = {}
    hooks = [b.register_forward_hook(lambda m, a, out, k=k: residuals.__setitem__(k, float((out - a[0]).norm()
                                                                                          / a[0].norm())))
             for k, b in enumerate(model.res) if isinstance(b, ModRes)]
    with torch.no_grad():
        exw = model.map_extrinsic(z2)
        near, _ = model([z1], exw, z_plus_latent=True, noise=noise)
        colour = [float((model.res[k](exw[:, k]) - exw[:, k]).norm() / exw[:, k].norm()) for k in range(7, 18)]
    for h in hooks:
        h.remove()
    assert sorted(residuals) == list(range(7)) and max(residuals.values()) < 0.05  # negligible residual features
    assert max(colour) < 0.02  # T_c is the identity up to its jitter
    assert (near - mixed).abs().mean() < 0.25 * (near - plain).abs().mean()  # much nearer the mixing target


# ------------------------------------------------------------------------------------------------ inference


def test_colour_preservation_both_ways_truncation_and_blending(parts) -> None:
    model = parts.generator
    z, ex = _codes(6, model)
    recoloured = ex.clone()
    recoloured[:, 7:] += 1.0
    restructured = ex.clone()
    restructured[:, :7] += 1.0
    w = [0.75] * 7 + [1.0] * 11
    noise = _noise(model)

    def run(code, **kw):
        return transfer(model, z, code, kw.pop("weights", w), noise=noise, **kw)

    for mode in ("weights", "intrinsic"):  # the exemplar's colour rows no longer matter; its structure does
        assert torch.equal(run(ex, preserve_colour=mode), run(recoloured, preserve_colour=mode))
        assert not torch.allclose(run(ex, preserve_colour=mode), run(restructured, preserve_colour=mode))
    assert torch.equal(run(ex, preserve_colour="weights"), run(ex, weights=[0.75] * 7 + [0.0] * 11))
    assert not torch.allclose(run(ex, preserve_colour="intrinsic"), run(ex, preserve_colour="weights"))  # via T_c
    other = torch.randn(1, 18, 32, generator=torch.Generator().manual_seed(7))
    assert torch.equal(transfer(model, z, ex, w, truncation=0.0, noise=noise),  # W -> 0: the content is gone
                       transfer(model, other, ex, w, truncation=0.0, noise=noise))
    assert torch.equal(blend_codes([ex, other], [1.0, 0.0]), ex)
    torch.testing.assert_close(blend_codes([ex, other], [1.0, 3.0]), 0.25 * ex + 0.75 * other)


def test_stylize_with_a_style_id_records_resolved_params(stylizer) -> None:
    content, style = ContentRef(image=_image(1)), [StyleRef(image=_image(2))]
    with pytest.warns(UserWarning, match="no landmark model given.*centre-cropped"):
        first = stylizer.stylize(content, style, {"style_id": 1, "output_size": 64}, seed=5)
    p = first.params
    assert p["align"] == "centre" and p["code_set"] == "refined" and p["output_size"] == 64
    assert p["weights"] == [0.75] * 7 + [1.0] * 11  # the default w_s of the set (tiny: cartoon's 0.75)
    assert p["exemplar_losses"] == ["perceptual", "contextual", "identity", "latent_spread", "noise"]
    by_name = stylizer.stylize(content, style, dict(p, style_id="tiny-01.png"), seed=5)
    assert by_name.images[0].tobytes() == first.images[0].tobytes()
    other_id = stylizer.stylize(content, style, dict(p, style_id=2), seed=5)
    assert other_id.images[0].tobytes() != first.images[0].tobytes()
    code = stylizer.loaded.codes["refined"]["tiny-01.png"]
    as_vector = stylizer.stylize(content, [StyleRef(vector=code.ravel())], dict(p, style_id=None), seed=5)
    assert as_vector.images[0].tobytes() == first.images[0].tobytes()  # a vector style is a Z+ code
    resolved = Params(**p)  # intrinsic blending through the library: E(face 1) and E(face 2) interpolated
    faces = [stylizer.intrinsic(img, resolved) for img in (_image(1), _image(3))]
    ex = torch.from_numpy(code)
    assert stylizer.render(blend_codes(faces, [1, 0]), ex, resolved, 5).tobytes() == first.images[0].tobytes()
    halfway = stylizer.render(blend_codes(faces, [1, 1]), ex, resolved, 5)
    assert halfway.tobytes() == stylizer.render(0.5 * faces[0] + 0.5 * faces[1], ex, resolved, 5).tobytes()
    assert halfway.tobytes() != first.images[0].tobytes()


@pytest.mark.parametrize("params, message", [
    ({"style_id": 9}, "style_id 9 is out of range: dualstylegan/tiny has 4 refined codes"),
    ({"style_id": "nope.png"}, "style_id 'nope.png' is not an image name"),
    ({"w_s": 3}, "w_s must be a number in [-2, 2]"),
    ({"weights": [1.0] * 17}, "weights must be a list of 18 numbers"),
    ({"preserve_colour": "yes"}, "preserve_colour must be one of none, weights, intrinsic"),
    ({"truncation": 1.5}, "truncation must be a number in [0, 1]"),
    ({"align": "eyes"}, "align must be one of auto, landmarks, centre"),
    ({"exemplar_steps": -1}, "exemplar_steps must be an integer in [0, 10000]"),
    ({"exemplar_losses": ["pixel_l2", "vibes"]}, "exemplar_losses must be one of"),
    ({"exemplar_losses": ["noise"]}, "needs a reconstruction term"),
    ({"sample_style": True, "style_id": 0}, "give style_id or sample_style, not both"),
    ({"align": "landmarks"}, "align='landmarks' cannot run: no landmark model given"),
])
def test_bad_parameters_are_refused_by_name(stylizer, params, message) -> None:
    with pytest.raises(StylizeError) as err:
        stylizer.stylize(ContentRef(image=_image(1)), [StyleRef(image=_image(2))], {**CENTRE, **params})
    assert message in str(err.value)


def test_anime_default_w_s_and_a_vector_of_the_wrong_size(stylizer, monkeypatch) -> None:
    from generation.dualstylegan.models import MODELS

    anime = dataclasses.replace(stylizer.spec, default_w_s=MODELS["dualstylegan/anime"].default_w_s)
    monkeypatch.setattr(stylizer, "spec", anime)
    p = stylizer.resolve_params(Params(style_id=0, **CENTRE), ContentRef(image=_image(1)))
    assert p.weights == [0.0] * 4 + [0.75] * 3 + [1.0] * 11
    with pytest.raises(StylizeError, match="extrinsic Z\\+ code of 18 x 32 finite values; got 5 values"):
        stylizer.stylize(ContentRef(image=_image(1)), [StyleRef(vector=np.ones(5))], CENTRE)


def test_sampled_styles_come_from_the_sampling_network_and_the_seed(stylizer) -> None:
    code0 = stylizer.extrinsic([], Params(sample_style=True), seed=0)
    assert code0.shape == (1, 18, 32) and torch.equal(code0, stylizer.extrinsic([], Params(sample_style=True), 0))
    assert not torch.allclose(code0, stylizer.extrinsic([], Params(sample_style=True), seed=1))
    sampler = stylizer.loaded.sampler  # structure rows 0-6 and colour rows 7-17 from separate networks
    s = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(code0[:, :7].reshape(1, -1), sampler.structure(s))


# ------------------------------------------------------------------------------------------------ faces


def test_ffhq_quad_from_landmarks_and_alignment_fallbacks() -> None:
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48] = (40, 50), (60, 50)  # eyes 20 px apart, level
    lm[48], lm[54] = (42, 80), (58, 80)        # mouth 30 px below the eyes
    quad = ffhq_quad(lm)  # side = max(2 * 20, 1.8 * 30) = 54 per half-diagonal axis, centre (50, 53)
    np.testing.assert_allclose(quad, [[-4, -1], [-4, 107], [104, 107], [104, -1]], atol=1e-9)
    img = _image(3, (120, 100))
    face, note = prepare_face(img, 32, "auto", None, "no landmark model given")
    assert note.startswith("centre crop (no landmark model") and face.tobytes() == centre_crop(img, 32).tobytes()
    aligned, note = prepare_face(img, 32, "auto", lambda rgb: lm, "")
    assert note == "aligned by facial landmarks" and aligned.size == (32, 32)
    assert aligned.tobytes() != face.tobytes()


def test_an_unreadable_landmark_model_falls_back_or_is_refused_by_name(tmp_path, monkeypatch) -> None:
    import sys
    import types

    def shape_predictor(path):
        raise RuntimeError("Error deserializing object of type int")

    fake = types.SimpleNamespace(get_frontal_face_detector=lambda: None, shape_predictor=shape_predictor)
    monkeypatch.setitem(sys.modules, "dlib", fake)
    bad = tmp_path / "shape_predictor_68_face_landmarks.dat"
    bad.write_bytes(b"not a predictor")
    s = create(model="dualstylegan/tiny", landmarks_path=str(bad))
    s.files = types.SimpleNamespace(landmarks=bad)  # tiny models have no files; give it the landmark model
    with pytest.warns(UserWarning, match="dlib cannot read the landmark model .*Error deserializing"):
        assert s.resolve_params(Params(style_id=0), ContentRef(image=_image(1))).align == "centre"
    with pytest.raises(StylizeError, match="align='landmarks' cannot run: dlib cannot read the landmark model"):
        s.stylize(ContentRef(image=_image(1)), [StyleRef(image=_image(2))], dict(style_id=0, align="landmarks"))


def test_auto_alignment_uses_landmarks_when_they_find_a_face(stylizer, monkeypatch) -> None:
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48], lm[48], lm[54] = (30, 35), (50, 35), (32, 60), (48, 60)
    face, blank = _image(1), Image.new("RGB", (80, 80), "white")
    monkeypatch.setattr(stylizer, "_detector", (lambda rgb: None if rgb.min() == 255 else lm, ""))
    resolved = stylizer.resolve_params(Params(style_id=0), ContentRef(image=face))
    assert resolved.align == "landmarks"
    with pytest.warns(UserWarning, match="found no face in the content image; the content face is centre-cropped"):
        assert stylizer.resolve_params(Params(style_id=0), ContentRef(image=blank)).align == "centre"
    aligned = stylizer.intrinsic(face, resolved)
    assert not torch.equal(aligned, stylizer.intrinsic(face, dataclasses.replace(resolved, align="centre")))


# ------------------------------------------------------------------------------------------------ exemplars


def test_unseen_exemplar_is_destylised_and_its_code_refined_with_the_terms_here(parts) -> None:
    from generation.dualstylegan.inference import to_tensor

    style = to_tensor(centre_crop(_image(4), 256))
    full = ExemplarNets(parts.generator, parts.encoder, parts.finetuned, parts.vgg, parts.arcface)
    settings = ExemplarSettings(refine_steps=3, destylise_steps=2, loss_size=32)
    terms = resolve_terms(full, None)
    assert terms == ("perceptual", "contextual", "identity", "latent_spread", "noise")
    out = extract(full, style, settings, terms, torch.Generator().manual_seed(0))
    assert out.destylised and len(out.history["destylise"]) == 2 and len(out.history["refine"]) == 3
    assert all(np.isfinite(v) for v in out.history["refine"]) and not torch.equal(out.extrinsic, out.encoded)
    torch.testing.assert_close(out.intrinsic[:, 8:], out.encoded[:, 8:])  # colour rows kept from E(S)
    bare = ExemplarNets(parts.generator, parts.encoder)  # no g', VGG or ArcFace weights here
    assert resolve_terms(bare, None) == ("pixel_l2", "noise")
    with pytest.raises(StylizeError, match="'identity' needs ArcFace weights"):
        resolve_terms(bare, ["pixel_l2", "identity"])
    plain = extract(bare, style, ExemplarSettings(refine_steps=2, loss_size=32), ("pixel_l2", "noise"),
                    torch.Generator().manual_seed(0))
    assert not plain.destylised and plain.history["destylise"] == [] and len(plain.history["refine"]) == 2
