"""Style encoder: CSD, Contrastive Style Descriptors (Somepalli et al. 2024), published ViT-L checkpoint.

Encoder id: `csd/vit-l14:<local checkpoint path>` -- the released CSD ViT-L checkpoint (`checkpoint.pth`
linked from https://github.com/learn2phoenix/CSD, also on the Hugging Face Hub as tomg-group-umd/CSD-ViT-L
`pytorch_model.bin`); no hub download here, the user fetches the file. `csd/tiny:<path>` loads a tiny-config
checkpoint through the same code; `tiny/csd` is seeded random weights.

Architecture (read from the official `CSD/model.py`, class CSD_CLIP with name="vit_large"): OpenAI CLIP
ViT-L/14 visual tower at 224 px (24 layers, width 1024, 16 heads, QuickGELU, LayerNorm eps 1e-5) with its own
`proj` removed, so it returns the 1024-d ln_post(class token); then two (1024, 768) matrices,
`last_layer_style` and `last_layer_content`, applied as `feature @ W`. We index the style output: 768-d,
L2-normalised (as the official forward does). We build the tower with open_clip's VisionTransformer, whose
keys equal OpenAI CLIP's (conv1, class_embedding, positional_embedding, ln_pre, transformer.resblocks.N.
{ln_1, attn.in_proj_*, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_post).

Official checkpoint key layout: {"model_state_dict": {"module.backbone.<CLIP visual key>", "module.last_layer_style",
"module.last_layer_content"}, ...}; `load_checkpoint` unwraps it and strips `module.`. Preprocessing: Resize(224,
bicubic) + CenterCrop(224) + CLIP mean/std normalisation.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .base import EncoderError
from .content_open_clip import OPENAI_MEAN, OPENAI_STD
from .preprocess import Preprocess
from .runtime import resolve_device, seeded
from .style_aladin import (
    TorchStyleEncoder,
    load_checkpoint,
    load_strict,
    parse_local_id,
)

PREFIX = "csd/"
TINY_ID = "tiny/csd"
DEFAULT_ARCH = "vit-l14"
CHECKPOINT_ENV = "STYLELENS_CSD_CHECKPOINT"
OFFICIAL_FILE = "checkpoint.pth"
SOURCE = ("the CSD ViT-L checkpoint linked from https://github.com/learn2phoenix/CSD (Google Drive checkpoint.pth), "
          "or pytorch_model.bin of Hugging Face repo tomg-group-umd/CSD-ViT-L")
LICENCE = ("MIT per the official code (learn2phoenix/CSD declares license='mit'); backbone initialised from OpenAI "
           "CLIP ViT-L/14 (MIT); trained on LAION-Styles -- check the model card before commercial use")


@dataclass(frozen=True)
class CsdConfig:
    """CLIP visual tower + style-head sizes. The official model is `ARCHS["vit-l14"]`."""

    image_size: int
    patch_size: int
    width: int
    layers: int
    heads: int
    style_dim: int


ARCHS: dict[str, CsdConfig] = {
    "vit-l14": CsdConfig(image_size=224, patch_size=14, width=1024, layers=24, heads=16, style_dim=768),
    "tiny": CsdConfig(image_size=32, patch_size=8, width=64, layers=2, heads=2, style_dim=16),
}


def csd_preprocess(size: int) -> Preprocess:
    """Official CSD/CLIP recipe: shorter side to `size` (bicubic), centre crop, CLIP mean/std."""
    return Preprocess(size=size, crop="center", resize_to=size, mean=OPENAI_MEAN, std=OPENAI_STD,
                      interpolation="bicubic")


def build_csd(cfg: CsdConfig):
    """CSD as a torch module: CLIP visual tower without `proj` + style/content matrices; forward -> style."""
    import torch
    from torch import nn

    from .content_open_clip import _import_open_clip

    _import_open_clip()
    from open_clip.model import QuickGELU
    from open_clip.transformer import VisionTransformer

    class CsdClip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = VisionTransformer(
                image_size=cfg.image_size, patch_size=cfg.patch_size, width=cfg.width, layers=cfg.layers,
                heads=cfg.heads, mlp_ratio=4.0, output_dim=cfg.style_dim, act_layer=QuickGELU,
            )
            self.backbone.proj = None  # as in the official model: the tower returns ln_post(class token)
            self.last_layer_style = nn.Parameter(torch.empty(cfg.width, cfg.style_dim))
            self.last_layer_content = nn.Parameter(torch.empty(cfg.width, cfg.style_dim))
            nn.init.normal_(self.last_layer_style, std=cfg.width ** -0.5)
            nn.init.normal_(self.last_layer_content, std=cfg.width ** -0.5)

        def forward(self, x):
            return self.backbone(x) @ self.last_layer_style

    return CsdClip().eval()


def _hint(arch: str) -> str:
    return (f"CSD ({PREFIX}{arch}) expects the official CSD ViT-L checkpoint: {SOURCE}; download it and pass its "
            f"path as {PREFIX}{arch}:/path/to/{OFFICIAL_FILE} (or set {CHECKPOINT_ENV} so `stylelens models list` "
            "shows it)")


def configured_id() -> str | None:
    """`csd/vit-l14:<$STYLELENS_CSD_CHECKPOINT>` when that variable is set, else None."""
    path = os.environ.get(CHECKPOINT_ENV, "").strip()
    return f"{PREFIX}{DEFAULT_ARCH}:{path}" if path else None


def dim_of(encoder_id: str) -> int:
    """Style-embedding dimension for a `csd/<arch>:<path>` id (768 for the official model)."""
    return ARCHS[parse_local_id(encoder_id, PREFIX, ARCHS, "CSD")[0]].style_dim


def weights_present(encoder_id: str) -> bool:
    """True when the id's checkpoint file exists locally."""
    try:
        return Path(parse_local_id(encoder_id, PREFIX, ARCHS, "CSD")[1]).expanduser().is_file()
    except EncoderError:
        return False


def create(encoder_id: str, device: str | None = None) -> TorchStyleEncoder:
    """`csd/<arch>:<path>`: build the architecture and load the official checkpoint strictly."""
    arch, path = parse_local_id(encoder_id, PREFIX, ARCHS, "CSD")
    cfg = ARCHS[arch]
    state = load_checkpoint(path, _hint(arch))  # official keys equal ours once `module.` is stripped
    net = build_csd(cfg)
    load_strict(net, state, f"CSD {PREFIX}{arch}", path, _hint(arch))
    return TorchStyleEncoder(encoder_id, net, csd_preprocess(cfg.image_size), cfg.style_dim, resolve_device(device),
                             tiny=(arch == "tiny"))


def create_tiny(device: str | None = None, seed: int = 0) -> TorchStyleEncoder:
    """`tiny/csd`: the CSD class at tiny sizes (32 px, 2 layers, 16-d style), seeded random weights."""
    cfg = ARCHS["tiny"]
    with seeded(seed):
        net = build_csd(cfg)
    return TorchStyleEncoder(TINY_ID, net, csd_preprocess(cfg.image_size), cfg.style_dim, resolve_device(device),
                             tiny=True)


def tiny_official_state(seed: int = 0) -> dict:
    """`tiny/csd` (same seed) saved the official way: {"model_state_dict": {"module.<key>": tensor}}."""
    with seeded(seed):
        net = build_csd(ARCHS["tiny"])
    return {"model_state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}
