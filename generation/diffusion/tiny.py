"""Seeded tiny Stable Diffusion components shared by every diffusion method's tests and CPU benchmarks.

The SDXL- and SD1.5-layout UNets have the real families' block *layout* (so block names resolve the same
way) at toy width: 32 px images, a 2x VAE, 8-32 UNet channels, 16-wide CLIP towers with CLIP's real
49,408-token vocabulary (`generation.diffusion.tokenizer`). Their outputs are noise-like; they prove the
wiring and the algorithms' invariants, never image quality. Method-specific extras (InstantStyle's
IP-Adapter, DiffStyle's pixel UNet) stay in the method's own `tiny` module.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from indexer.compat import import_torchvision

from .tokenizer import VOCAB_SIZE, offline_clip_tokenizer

TINY_SIZE = 32  # pixels
IMAGE_EMBED_DIM = 24  # projection_dim shared by the tiny image encoder and the content text encoders
_TEXT_HIDDEN = 16
_TIME_EMBED_DIM = 8
_CONTENT_TEXT_SEED_OFFSET = 7


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed module initialisation without disturbing the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def unet_config(family: str) -> dict[str, Any]:
    """UNet2DConditionModel config of the tiny `sdxl` or `sd15` model (the families' block layout)."""
    common = dict(sample_size=TINY_SIZE // 2, in_channels=4, out_channels=4, layers_per_block=2,
                  norm_num_groups=8, attention_head_dim=2)
    if family == "sdxl":
        return dict(common, block_out_channels=(8, 16, 32),
                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                    transformer_layers_per_block=(1, 1, 2), use_linear_projection=True,
                    cross_attention_dim=2 * _TEXT_HIDDEN, addition_embed_type="text_time",
                    addition_time_embed_dim=_TIME_EMBED_DIM,
                    projection_class_embeddings_input_dim=IMAGE_EMBED_DIM + 6 * _TIME_EMBED_DIM)
    if family == "sd15":
        return dict(common, block_out_channels=(8, 16, 32, 32),
                    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                    cross_attention_dim=_TEXT_HIDDEN)
    raise ValueError(f"unknown tiny family {family!r}; use 'sdxl' or 'sd15'")


def _text_model(seed: int, with_projection: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=VOCAB_SIZE, hidden_size=_TEXT_HIDDEN, intermediate_size=32,
                            num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                            projection_dim=IMAGE_EMBED_DIM, bos_token_id=49406, eos_token_id=49407,
                            pad_token_id=49407)
    with seeded(seed):
        model = (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)
    return model.eval()


def content_text_encoder(seed: int = 0) -> tuple[Any, Any]:
    """(tokenizer, CLIPTextModelWithProjection) in the tiny image encoder's embedding size."""
    import_torchvision()
    return offline_clip_tokenizer(), _text_model(seed + _CONTENT_TEXT_SEED_OFFSET, with_projection=True)


def components(family: str, seed: int = 0) -> dict[str, Any]:
    """Seeded pipeline components (UNet, VAE, text encoder(s), tokenizer(s), scheduler, image encoder)."""
    import_torchvision()
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        EulerDiscreteScheduler,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    with seeded(seed):
        unet = UNet2DConditionModel(**unet_config(family))
    with seeded(seed + 1):
        vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, layers_per_block=1,
                            norm_num_groups=8, sample_size=TINY_SIZE)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                              image_size=TINY_SIZE, patch_size=8, projection_dim=IMAGE_EMBED_DIM)
    with seeded(seed + 2):
        image_encoder = CLIPVisionModelWithProjection(vision).eval()
    schedule = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    out: dict[str, Any] = {
        "unet": unet.eval(), "vae": vae.eval(), "image_encoder": image_encoder,
        "feature_extractor": CLIPImageProcessor(size={"shortest_edge": TINY_SIZE},
                                                crop_size={"height": TINY_SIZE, "width": TINY_SIZE}),
        "text_encoder": _text_model(seed + 3, with_projection=False),
        "tokenizer": offline_clip_tokenizer(),
    }
    if family == "sdxl":
        out["scheduler"] = EulerDiscreteScheduler(**schedule, timestep_spacing="leading")
        out["text_encoder_2"] = _text_model(seed + 4, with_projection=True)
        out["tokenizer_2"] = offline_clip_tokenizer(pad_token="!")
    else:
        out["scheduler"] = DDIMScheduler(**schedule, clip_sample=False, set_alpha_to_one=False)
    return out


SD15_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def sd15_parts(seed: int = 0) -> dict[str, Any]:
    """unet, vae, text_encoder, tokenizer and scheduler of the tiny SD1.5-layout model."""
    parts = components("sd15", seed)
    return {k: parts[k] for k in SD15_PARTS}
