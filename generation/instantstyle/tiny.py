"""Seeded tiny SDXL-like and SD1.5-like pipelines with an IP-Adapter, for tests and CPU benchmarks only.

The components are the shared tiny Stable Diffusion models of `generation.diffusion.tiny`; this module adds
what is InstantStyle's: the IP-Adapter, the pipelines, a tiny ControlNet and the hub layouts. The IP-Adapter weights are built in the official checkpoint layout (`image_proj.*`,
`ip_adapter.{n}.to_k_ip/to_v_ip.weight` numbered by processor position), written as `.safetensors` and
loaded through diffusers' real `load_ip_adapter` path.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from indexer.compat import import_torchvision

from ..diffusion import quiet_diffusers
from ..diffusion.tiny import IMAGE_EMBED_DIM, TINY_SIZE, components, content_text_encoder, seeded, unet_config

__all__ = ["IMAGE_EMBED_DIM", "TINY_SIZE", "WEIGHT_NAME", "components", "content_text_encoder", "controlnet",
           "pipeline", "save_like_hub", "write_ip_adapter"]

WEIGHT_NAME = "ip-adapter_tiny.safetensors"


def ip_adapter_state_dict(unet: Any, image_embed_dim: int = IMAGE_EMBED_DIM, seed: int = 0,
                          std: float = 0.3) -> dict[str, torch.Tensor]:
    """Random IP-Adapter weights for `unet` in the official flat layout that `load_ip_adapter` reads.

    `ip_adapter.{n}` numbers a cross-attention by its position among *all* the UNet's attention
    processors (self- and cross-attention alternate, so cross-attentions are 1, 3, 5, ...).
    """
    cross = unet.config.cross_attention_dim
    g = torch.Generator().manual_seed(seed)
    state = {
        "image_proj.proj.weight": torch.randn(4 * cross, image_embed_dim, generator=g) * std,
        "image_proj.proj.bias": torch.randn(4 * cross, generator=g) * std,
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    expected = 1
    for position, name in enumerate(unet.attn_processors):
        if not name.endswith("attn2.processor"):
            continue
        if position != expected:  # diffusers counts 1, 3, 5, ... and assumes this alternation
            raise RuntimeError(f"unexpected attention processor order at {name}")
        expected += 2
        hidden = unet.get_submodule(name[: -len(".processor")]).to_k.out_features
        state[f"ip_adapter.{position}.to_k_ip.weight"] = torch.randn(hidden, cross, generator=g) * std
        state[f"ip_adapter.{position}.to_v_ip.weight"] = torch.randn(hidden, cross, generator=g) * std
    return state


def write_ip_adapter(folder: str | Path, unet: Any, seed: int = 0, subfolder: str = "models",
                     weight_name: str = WEIGHT_NAME) -> Path:
    """Save `ip_adapter_state_dict(unet)` as `<folder>/<subfolder>/<weight_name>`."""
    from safetensors.torch import save_file

    path = Path(folder) / subfolder / weight_name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in ip_adapter_state_dict(unet, seed=seed).items()}, str(path))
    return path


def load_ip_adapter(pipe: Any, seed: int = 0) -> None:
    """Write tiny IP-Adapter weights to a temporary folder and load them with `pipe.load_ip_adapter`."""
    with tempfile.TemporaryDirectory(prefix="stylelens-tiny-ipa-") as folder:
        write_ip_adapter(folder, pipe.unet, seed=seed)
        # the pipeline already holds its image encoder, so diffusers loads none
        with quiet_diffusers():
            pipe.load_ip_adapter(folder, subfolder="models", weight_name=WEIGHT_NAME, image_encoder_folder=None,
                                 low_cpu_mem_usage=False)


_IP_SEED_OFFSET = 5


def pipeline(family: str, seed: int = 0, ip_adapter: bool = True) -> Any:
    """A tiny text-to-image pipeline of `family`; with `ip_adapter=False` the same weights without one."""
    parts = components(family, seed)
    if family == "sdxl":
        from diffusers import StableDiffusionXLPipeline

        pipe = StableDiffusionXLPipeline(**parts, add_watermarker=False)
    else:
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline(**parts, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    if ip_adapter:
        load_ip_adapter(pipe, seed=seed + _IP_SEED_OFFSET)
    return pipe


def controlnet(family: str, seed: int = 0) -> Any:
    """A tiny ControlNet shaped like the family's UNet, with random (not zero) output convolutions so the
    control image visibly matters."""
    import_torchvision()
    from diffusers import ControlNetModel, UNet2DConditionModel

    with seeded(seed + 11):
        net = ControlNetModel.from_unet(UNet2DConditionModel(**unet_config(family)),
                                        conditioning_embedding_out_channels=(8, 16))
        for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
            torch.nn.init.normal_(conv.weight, std=0.05)
    return net.eval()


def save_like_hub(folder: str | Path, family: str, seed: int = 0) -> dict[str, Path]:
    """Write the tiny model in the hub's file layouts, to exercise the real loading path offline.

    Returns folders for `create(model=..., ip_adapter=..., content_text_encoder=...)`: a diffusers pipeline
    folder (no image encoder, like the SDXL/SD1.5 repos), a folder laid out like h94/IP-Adapter (weights
    and `image_encoder/` under `sdxl_models/` or `models/`), and for SD1.5 a projected text encoder folder.
    Loaded that way the model equals `pipeline(family, seed)` weight for weight.
    """
    root = Path(folder)
    pipe = pipeline(family, seed, ip_adapter=False)
    encoder = pipe.image_encoder
    pipe.image_encoder = None
    pipe.register_to_config(image_encoder=[None, None])
    if family == "sdxl":  # the SDXL repo ships no feature extractor; load_ip_adapter makes one
        pipe.feature_extractor = None
        pipe.register_to_config(feature_extractor=[None, None])
    pipe.save_pretrained(root / "base", safe_serialization=True)
    subfolder, weight = ("sdxl_models", "ip-adapter_sdxl.safetensors") if family == "sdxl" else \
        ("models", "ip-adapter_sd15.safetensors")
    write_ip_adapter(root / "ip_adapter", pipe.unet, seed + _IP_SEED_OFFSET, subfolder, weight)
    encoder.save_pretrained(root / "ip_adapter" / subfolder / "image_encoder", safe_serialization=True)
    out = {"model": root / "base", "ip_adapter": root / "ip_adapter"}
    if family == "sd15":
        content_text_encoder(seed)[1].save_pretrained(root / "content_text", safe_serialization=True)
        out["content_text_encoder"] = root / "content_text"
    return out
