"""`Encoder.torch_forward`: the indexing path in torch, differentiable, for losses on generated images.

Tolerance. torch's antialiased resampling uses PIL's kernels, so the only difference from the PIL path is
PIL's uint8 arithmetic: it rounds the horizontal pass's result (error <= 0.5 level), the vertical pass carries
that error times the sum of its absolute kernel weights (<= 1.25 for bicubic a = -0.5), and it rounds again
(<= 0.5): at most 0.5 + 0.5 * 1.25 = 1.125 levels of 255 per pixel. Without PIL's clipping of each pass,
bicubic overshoot at sharp edges would add up to ~16 levels; without PIL's kernel (plain bicubic a = -0.75,
no antialiasing) a downscale differs by tens of levels, so the bound would catch either. On the embeddings,
tiny random networks keep cos > 0.9999. Lite0's real features are sensitive to single grey levels (uniform
+-1-level noise on its input alone gives cos 0.96-0.999 on these photographs), so it is held to cos > 0.99.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from indexer.encoders.base import GradientsNotSupported
from indexer.encoders.registry import create_encoder

skdata = pytest.importorskip("skimage.data")
TORCH_IDS = ["tiny/aladin", "tiny/csd", "tiny/open_clip", "tiny/efficientnet-lite", "starter/efficientnet-lite0"]
MAX_LEVELS = 1.125 + 0.01  # see the module docstring; 0.01 for float arithmetic


def _photo(name: str, size: tuple[int, int]) -> Image.Image:
    return Image.open(os.path.join(os.path.dirname(skdata.__file__), name)).convert("RGB").resize(size)


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


@pytest.fixture(scope="module", params=TORCH_IDS)
def encoder(request):  # noqa: ANN001, ANN201
    return create_encoder(request.param, device="cpu")


@pytest.mark.parametrize("size", [(300, 220), (45, 38), (20, 26)])  # down-, mixed- and up-scaling
def test_torch_preprocessing_is_the_pil_path_up_to_its_uint8_rounding(encoder, size) -> None:  # noqa: ANN001
    image = _photo("astronaut.png", size)
    pre = encoder.preprocess
    levels = (torch.from_numpy(pre(image))[None] - pre.torch_input(_tensor(image))).abs()
    levels *= torch.tensor(pre.std).view(1, 3, 1, 1) * 255
    assert float(levels.max()) <= MAX_LEVELS, (encoder.encoder_id, float(levels.max()))


@pytest.mark.parametrize("name", ["astronaut.png", "chelsea.png", "coffee.png"])
def test_torch_forward_embeds_like_the_indexing_path_with_gradients_to_the_image(encoder, name) -> None:  # noqa: ANN001
    image = _photo(name, (180, 150))
    indexed = encoder.embed_images(encoder.preprocess(image)[None])  # first: the model is built for inference
    x = _tensor(image).requires_grad_(True)
    embedded = encoder.torch_forward(x)
    assert embedded.shape == (1, encoder.dim)
    cos = float((embedded.detach().numpy() * indexed).sum())
    assert cos > (0.99 if not encoder.tiny else 0.9999), (encoder.encoder_id, cos)
    embedded.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert encoder.supports_torch_forward


def test_the_encoder_weights_are_frozen(encoder) -> None:  # noqa: ANN001
    encoder.torch_forward(_tensor(_photo("coffee.png", (40, 40))))
    net = getattr(encoder, "model", None) or encoder.net
    assert not any(p.requires_grad for p in net.parameters())


def test_an_onnx_encoder_has_no_torch_forward() -> None:
    magenta = create_encoder("tiny/magenta-style", device="cpu")
    assert not magenta.supports_torch_forward
    with pytest.raises(GradientsNotSupported, match="gives no gradients"):
        magenta.torch_forward(torch.zeros(1, 3, 32, 32))
