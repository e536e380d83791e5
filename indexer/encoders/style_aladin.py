"""Style encoder: ALADIN-ViT (Ruta et al., ALADIN ICCV 2021 / StyleBabel ECCV 2022), the style encoder PARASOL uses.

Encoder id: `aladin/vit-b16:<local checkpoint path>` -- the released `aladinVIT_bamfg_64.47.pt` from
https://github.com/DanRuta/ALADIN/releases (no hub download; the user fetches the file). `aladin/tiny:<path>`
loads a checkpoint of the tiny test config through the very same code; `tiny/aladin` is seeded random weights.

Architecture (read from the official `vit_networks.py` / `main.py`): a ViT-B/16 at 224 px (12 layers, width
768, 12 heads, MLP 3072, exact GELU, pre-norm LayerNorm eps 1e-6, class token, learned position embedding,
final LayerNorm), its class token after the final norm -> projection head LeakyReLU -> Linear(768, 512) ->
LeakyReLU -> Linear(512, 256). The 256-d head output, L2-normalised, is the style code. We build the backbone
from timm's VisionTransformer and rename the official keys (`enc_style.transformer...`, separate q/k/v
Linears) onto it, see `official_to_model`. Official preprocessing: Resize((224, 224)) -- a stretch, no crop --
then Normalize(0.5, 0.5).

Also home of the small helpers the local-checkpoint style encoders share (`parse_local_id`, `load_checkpoint`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .base import Encoder, EncoderError
from .preprocess import Preprocess, StretchPreprocess
from .runtime import configure_torch_threads, differentiable_forward, resolve_device, seeded, torch_forward

if TYPE_CHECKING:
    import torch

PREFIX = "aladin/"
TINY_ID = "tiny/aladin"
DEFAULT_ARCH = "vit-b16"
CHECKPOINT_ENV = "STYLELENS_ALADIN_CHECKPOINT"
OFFICIAL_FILE = "aladinVIT_bamfg_64.47.pt"
SOURCE = "https://github.com/DanRuta/ALADIN/releases"
LICENCE = ("no licence stated in the official repo DanRuta/ALADIN (code and weights); research use, "
           "ask the authors before commercial use")


@dataclass(frozen=True)
class AladinConfig:
    """ViT + projection-head sizes. The official model is `ARCHS["vit-b16"]`."""

    image_size: int
    patch_size: int
    width: int
    layers: int
    heads: int
    code_dim: int

    @property
    def mid(self) -> int:
        """Hidden width of the projection head: int((768 + 256) / 2) = 512 in the official code."""
        return (self.width + self.code_dim) // 2


ARCHS: dict[str, AladinConfig] = {
    "vit-b16": AladinConfig(image_size=224, patch_size=16, width=768, layers=12, heads=12, code_dim=256),
    "tiny": AladinConfig(image_size=32, patch_size=8, width=32, layers=2, heads=2, code_dim=16),
}


# ------------------------------------------------------------------ shared local-checkpoint helpers


def parse_local_id(encoder_id: str, prefix: str, archs: dict, model: str) -> tuple[str, str]:
    """`<prefix><arch>:<path>` -> (arch, path); EncoderError naming the accepted forms otherwise."""
    rest = encoder_id[len(prefix):] if encoder_id.startswith(prefix) else ""
    arch, sep, path = rest.partition(":")
    if not sep or arch not in archs or not path:
        raise EncoderError(
            f"bad {model} encoder id {encoder_id!r}; expected {prefix}<arch>:<local checkpoint path> with arch one "
            f"of {', '.join(archs)}"
        )
    return arch, path


def load_checkpoint(path: str | Path, missing_hint: str) -> dict:
    """A flat {key: tensor} dict from a local .pt/.pth/.bin (torch.load weights_only) or .safetensors file.

    Unwraps {"state_dict": ...} / {"model_state_dict": ...} and strips DataParallel's `module.` prefix.
    `missing_hint` says which model/file is expected and where to get it (used in every error).
    """
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise EncoderError(f"checkpoint not found: {p}. {missing_hint}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(p), device="cpu")
        else:
            raw = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or pickled objects that weights_only refuses
        raise EncoderError(
            f"cannot read checkpoint {p} as plain tensors ({type(exc).__name__}: {str(exc)[:300]}). If you trust "
            f"the file, re-save just its state dict (torch.load(..., weights_only=False) then torch.save(state_dict)). "
            f"{missing_hint}"
        ) from exc
    for key in ("model_state_dict", "state_dict"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise EncoderError(f"checkpoint {p} is not a state dict of tensors. {missing_hint}")
    return {(k.removeprefix("module.")): v for k, v in raw.items()}


def load_strict(net, state: dict, model: str, path: str | Path, hint: str) -> None:
    """`net.load_state_dict(state, strict=True)`; a mismatch becomes an EncoderError listing a few keys."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        raise EncoderError(
            f"checkpoint {path} does not match {model}: {len(missing)} missing keys {missing[:4]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:4]}, {len(shapes)} shape mismatches {sorted(shapes)[:4]}. "
            f"{hint}"
        )
    net.load_state_dict(state, strict=True)


# ------------------------------------------------------------------ preprocessing


def aladin_preprocess(size: int) -> StretchPreprocess:
    """The official recipe: stretch to size x size (PIL bilinear), [0, 1], normalise with mean = std = 0.5."""
    return StretchPreprocess(size=size, crop="square", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                             interpolation="bilinear")


# ------------------------------------------------------------------ model and key layout


def build_aladin_vit(cfg: AladinConfig):
    """ALADIN-ViT as a torch module: timm ViT backbone (class-token output) + the 2-layer projection head."""
    from collections import OrderedDict

    from torch import nn

    from ..compat import import_torchvision

    import_torchvision()  # timm imports torchvision; use the documented workaround
    from timm.models.vision_transformer import VisionTransformer

    class AladinViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = VisionTransformer(
                img_size=cfg.image_size, patch_size=cfg.patch_size, embed_dim=cfg.width, depth=cfg.layers,
                num_heads=cfg.heads, mlp_ratio=4.0, qkv_bias=True, num_classes=0, global_pool="token",
            )
            self.head = nn.Sequential(OrderedDict([
                ("relu1", nn.LeakyReLU()), ("fc1", nn.Linear(cfg.width, cfg.mid)),
                ("relu2", nn.LeakyReLU()), ("fc2", nn.Linear(cfg.mid, cfg.code_dim)),
            ]))

        def forward(self, x):
            return self.head(self.backbone(x))

    return AladinViT().eval()


_OFF = "enc_style.transformer."
# One table for both directions: (official key, our key), with {i} a layer, {p} weight|bias, {fc} fc1|fc2.
# q/k/v are fused (official -> ours) and split (ours -> official) separately.
_KEY_PAIRS: list[tuple[str, str]] = [
    (_OFF + "embeddings.patch_embeddings.{p}", "backbone.patch_embed.proj.{p}"),
    (_OFF + "embeddings.position_embeddings", "backbone.pos_embed"),
    (_OFF + "embeddings.cls_token", "backbone.cls_token"),
    (_OFF + "encoder.layer.{i}.attention_norm.{p}", "backbone.blocks.{i}.norm1.{p}"),
    (_OFF + "encoder.layer.{i}.ffn_norm.{p}", "backbone.blocks.{i}.norm2.{p}"),
    (_OFF + "encoder.layer.{i}.ffn.{fc}.{p}", "backbone.blocks.{i}.mlp.{fc}.{p}"),
    (_OFF + "encoder.layer.{i}.attn.out.{p}", "backbone.blocks.{i}.attn.proj.{p}"),
    (_OFF + "encoder.encoder_norm.{p}", "backbone.norm.{p}"),
    ("enc_style.proj_head.{fc}.{p}", "head.{fc}.{p}"),
]
_FIELDS = {"i": r"\d+", "p": "weight|bias", "fc": "fc1|fc2"}
_QKV = re.compile(rf"^{re.escape(_OFF)}encoder\.layer\.(\d+)\.attn\.(query|key|value)\.(weight|bias)$")
_OUR_QKV = re.compile(r"^backbone\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)$")


def _pattern(template: str) -> re.Pattern[str]:
    """A key template -> a regex with one named group per {field}."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>{_FIELDS[part]})"
                              for n, part in enumerate(parts)))


_TO_OURS = [(_pattern(official), ours) for official, ours in _KEY_PAIRS]
_TO_OFFICIAL = [(_pattern(ours), official) for official, ours in _KEY_PAIRS]


def _rename(key: str, table: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, template in table:
        m = pattern.fullmatch(key)
        if m:
            return template.format(**m.groupdict())
    return None


def official_to_model(state: dict) -> dict:
    """Official `AViT` state dict -> ours. Unknown keys pass through (strict loading then reports them)."""
    import torch

    out: dict = {}
    parts: dict[tuple[str, str], dict[str, object]] = {}
    for key, value in state.items():
        m = _QKV.match(key)
        if m:
            parts.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = value
            continue
        out[_rename(key, _TO_OURS) or key] = value
    for (layer, kind), qkv in parts.items():
        if set(qkv) == {"query", "key", "value"}:
            out[f"backbone.blocks.{layer}.attn.qkv.{kind}"] = torch.cat([qkv["query"], qkv["key"], qkv["value"]])
        else:  # incomplete: keep the originals so the mismatch is reported by name
            out.update({f"{_OFF}encoder.layer.{layer}.attn.{n}.{kind}": v for n, v in qkv.items()})
    return out


def model_to_official(state: dict) -> dict:
    """Our state dict -> the official `AViT` layout (`torch.save` of it loads in the official main.py)."""
    out: dict = {}
    for key, value in state.items():
        m = _OUR_QKV.match(key)
        if m:
            for name, chunk in zip(("query", "key", "value"), value.chunk(3)):
                out[f"{_OFF}encoder.layer.{m.group(1)}.attn.{name}.{m.group(2)}"] = chunk.clone()
            continue
        official = _rename(key, _TO_OFFICIAL)
        if official is None:
            raise KeyError(f"no official ALADIN key for {key}")
        out[official] = value
    return out


# ------------------------------------------------------------------ encoder


class TorchStyleEncoder(Encoder):
    """A torch module image -> style code; the L2-normalised code is the style vector."""

    supports_text = False
    supports_torch_forward = True

    def __init__(self, encoder_id: str, net, preprocess: Preprocess, dim: int, device: str, tiny: bool = False):
        self.encoder_id = encoder_id
        self.device = device
        self.net = net.eval().to(device)
        self.preprocess = preprocess
        self.dim = dim
        self.tiny = tiny
        configure_torch_threads()

    def embed_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) preprocessed batch -> (N, dim) L2-normalised style vectors."""
        return torch_forward(self.net, batch, self.device)

    def torch_forward(self, images: torch.Tensor) -> torch.Tensor:
        return differentiable_forward(self.net, self.net, self.preprocess, images)


def _hint(arch: str) -> str:
    return (f"ALADIN-ViT ({PREFIX}{arch}) expects the official checkpoint {OFFICIAL_FILE} (ViT-B/16, 256-d style "
            f"codes) from {SOURCE}; download it and pass its path as {PREFIX}{arch}:/path/to/{OFFICIAL_FILE} "
            f"(or set {CHECKPOINT_ENV} so `stylelens models list` shows it)")


def configured_id() -> str | None:
    """`aladin/vit-b16:<$STYLELENS_ALADIN_CHECKPOINT>` when that variable is set, else None."""
    path = os.environ.get(CHECKPOINT_ENV, "").strip()
    return f"{PREFIX}{DEFAULT_ARCH}:{path}" if path else None


def dim_of(encoder_id: str) -> int:
    """Style-code dimension for an `aladin/<arch>:<path>` id (256 for the official model)."""
    return ARCHS[parse_local_id(encoder_id, PREFIX, ARCHS, "ALADIN-ViT")[0]].code_dim


def weights_present(encoder_id: str) -> bool:
    """True when the id's checkpoint file exists locally."""
    try:
        return Path(parse_local_id(encoder_id, PREFIX, ARCHS, "ALADIN-ViT")[1]).expanduser().is_file()
    except EncoderError:
        return False


def create(encoder_id: str, device: str | None = None) -> TorchStyleEncoder:
    """`aladin/<arch>:<path>`: build the architecture, map the official keys, load strictly."""
    arch, path = parse_local_id(encoder_id, PREFIX, ARCHS, "ALADIN-ViT")
    cfg = ARCHS[arch]
    state = official_to_model(load_checkpoint(path, _hint(arch)))
    net = build_aladin_vit(cfg)
    load_strict(net, state, f"ALADIN-ViT {PREFIX}{arch}", path, _hint(arch))
    return TorchStyleEncoder(encoder_id, net, aladin_preprocess(cfg.image_size), cfg.code_dim,
                             resolve_device(device), tiny=(arch == "tiny"))


def create_tiny(device: str | None = None, seed: int = 0) -> TorchStyleEncoder:
    """`tiny/aladin`: the ALADIN-ViT class at tiny sizes (32 px, 2 layers, 16-d codes), seeded random weights."""
    cfg = ARCHS["tiny"]
    with seeded(seed):
        net = build_aladin_vit(cfg)
    return TorchStyleEncoder(TINY_ID, net, aladin_preprocess(cfg.image_size), cfg.code_dim, resolve_device(device),
                             tiny=True)


def tiny_official_state(seed: int = 0) -> dict:
    """State dict of `tiny/aladin` (same seed) in the official key layout; for tests and examples."""
    with seeded(seed):
        net = build_aladin_vit(ARCHS["tiny"])
    return model_to_official(net.state_dict())

