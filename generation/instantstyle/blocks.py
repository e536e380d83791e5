"""Which UNet attention blocks receive the image features, per UNet family, and proof that they do.

InstantStyle injects the IP-Adapter's image tokens only into the block(s) that carry style (and optionally
spatial layout); every other cross-attention gets IP scale 0 (METHODS.md section 2). The block names differ
between UNet families:

- SDXL (3 down / 3 up blocks, attention from down block 1 and in up blocks 0-1): style =
  `up_blocks.0.attentions.1`, layout = `down_blocks.2.attentions.1` (the InstantStyle paper's findings).
- SD1.5 (4 down / 4 up blocks; up_blocks.0 has *no* attention, so the SDXL name matches nothing there):
  the authors' SD1.5 script (`infer_style_sd15.py`, marked experimental) uses the whole `up_blocks.1` for
  style and `down_blocks.2` + `mid_block` in addition for style+layout. We follow that: style = all three
  attentions of `up_blocks.1` (the same resolution level as SDXL's up_blocks.0, the lowest one with
  attention), layout = both attentions of `down_blocks.2` plus `mid_block`.

diffusers' `set_ip_adapter_scale` silently ignores block names that do not exist in the UNet, which leaves
every scale at 0 (plain text-to-image without any style). `apply_block_scales` therefore resolves every name
against the UNet first, and after setting the scales walks the attention processors to check that exactly
the named blocks carry their non-zero scale.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..base import StylizeError

_ATTENTION = re.compile(r"^((?:down_blocks|up_blocks)\.\d+|mid_block)\.attentions\.(\d+)")


@dataclass(frozen=True)
class BlockMap:
    """The style and layout blocks of one UNet family; each name is a block or one of its attentions."""

    style: tuple[str, ...]
    layout: tuple[str, ...]


BLOCK_MAPS: dict[str, BlockMap] = {
    "sdxl": BlockMap(style=("up_blocks.0.attentions.1",), layout=("down_blocks.2.attentions.1",)),
    "sd15": BlockMap(style=("up_blocks.1",), layout=("down_blocks.2", "mid_block")),
}


def _config_value(config: Any, key: str) -> Any:
    return config[key] if isinstance(config, Mapping) else getattr(config, key)


def detect_family(config: Any) -> str:
    """`sdxl` or `sd15` from a UNet config's block types (never from a model name).

    SDXL: 3 down blocks (plain, cross-attn, cross-attn) and 3 up blocks (cross-attn, cross-attn, plain).
    SD1.5: 4 down blocks (cross-attn x3, plain) and 4 up blocks (plain, cross-attn x3).
    """
    down = [str(t) for t in _config_value(config, "down_block_types")]
    up = [str(t) for t in _config_value(config, "up_block_types")]
    attn_down = [("CrossAttn" in t) for t in down]
    attn_up = [("CrossAttn" in t) for t in up]
    if attn_down == [False, True, True] and attn_up == [True, True, False]:
        return "sdxl"
    if attn_down == [True, True, True, False] and attn_up == [False, True, True, True]:
        return "sd15"
    raise StylizeError(f"unsupported UNet layout for InstantStyle (down {down}, up {up}); "
                       "give style_blocks / layout_blocks explicitly")


def cross_attentions(unet: Any) -> list[str]:
    """Names of the UNet's attention modules that have a cross-attention (`...attentions.N`), in order."""
    seen: dict[str, None] = {}
    for name in unet.attn_processors:
        m = _ATTENTION.match(name)
        if m and name.endswith("attn2.processor"):
            seen[f"{m.group(1)}.attentions.{m.group(2)}"] = None
    return list(seen)


def resolve_blocks(unet: Any, names: Iterable[str]) -> list[str]:
    """Expand block names (`up_blocks.1`, `mid_block`, `up_blocks.0.attentions.1`) to attention modules.

    Refuses a name that matches no cross-attention of this UNet, naming the ones that exist.
    """
    available = cross_attentions(unet)
    out: list[str] = []
    for name in names:
        name = str(name).strip().rstrip(".")
        hits = [a for a in available if a == name or a.startswith(name + ".")]
        if not hits:
            raise StylizeError(
                f"block {name!r} matches no cross-attention in this UNet, so the image features would reach "
                f"no layer (every IP-Adapter scale 0); attention blocks here: {', '.join(available)}")
        out.extend(h for h in hits if h not in out)
    return out


def attention_scales(unet: Any, style_scale: float, layout_scale: float,
                     style_blocks: Iterable[str] | None = None,
                     layout_blocks: Iterable[str] | None = None) -> dict[str, float]:
    """Attention module -> IP scale for every cross-attention: style/layout blocks get their scale, rest 0.

    `style_blocks` / `layout_blocks` default to the family's `BLOCK_MAPS` entry (family from the config).
    """
    if style_blocks is None or layout_blocks is None:
        mapping = BLOCK_MAPS[detect_family(unet.config)]
        style_blocks = mapping.style if style_blocks is None else style_blocks
        layout_blocks = mapping.layout if layout_blocks is None else layout_blocks
    style = resolve_blocks(unet, style_blocks)
    layout = resolve_blocks(unet, layout_blocks) if layout_blocks else []
    overlap = sorted(set(style) & set(layout))
    if overlap:
        raise StylizeError(f"blocks {overlap} are named for both style and layout")
    scales = {a: 0.0 for a in cross_attentions(unet)}
    scales.update({a: float(style_scale) for a in style})
    scales.update({a: float(layout_scale) for a in layout})
    return scales


def diffusers_scale_config(unet: Any, scales: Mapping[str, float]) -> dict[str, Any]:
    """The nested dict `pipe.set_ip_adapter_scale` takes (`{"up": {"block_0": [0, s, 0]}, "mid": s}`)."""
    config: dict[str, Any] = {"mid": 0.0}
    for name, scale in scales.items():
        m = _ATTENTION.match(name)
        if not m or m.end() != len(name):
            raise StylizeError(f"{name!r} is not an attention module name")
        block, index = m.group(1), int(m.group(2))
        if block == "mid_block":
            config["mid"] = float(scale)
            continue
        updown, number = block.split("_blocks.")
        n_attn = len((unet.down_blocks if updown == "down" else unet.up_blocks)[int(number)].attentions)
        row = config.setdefault(updown, {}).setdefault(f"block_{number}", [0.0] * n_attn)
        row[index] = float(scale)
    return config


def ip_adapter_scales(unet: Any) -> dict[str, list[float]]:
    """Processor name -> its IP-Adapter scales (one per loaded adapter), read from the processors."""
    from diffusers.models.attention_processor import (
        IPAdapterAttnProcessor,
        IPAdapterAttnProcessor2_0,
    )

    return {name: [float(s) for s in proc.scale] for name, proc in unet.attn_processors.items()
            if isinstance(proc, (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0))}


def verify_block_scales(unet: Any, scales: Mapping[str, float]) -> None:
    """Check, processor by processor, that each attention carries exactly its planned scale.

    Unplanned attentions must be 0. Raises StylizeError on any difference, and when non-zero scales were
    planned but no processor carries one (the silent all-zero case).
    """
    actual = ip_adapter_scales(unet)
    if not actual:
        raise StylizeError("no IP-Adapter attention processors in this UNet; load the IP-Adapter first")
    wrong: list[str] = []
    for proc_name, values in actual.items():
        m = _ATTENTION.match(proc_name)
        owner = f"{m.group(1)}.attentions.{m.group(2)}" if m else proc_name
        want = float(scales.get(owner, 0.0))
        if any(v != want for v in values):
            wrong.append(f"{proc_name}: {values} (planned {want})")
    if wrong:
        raise StylizeError("IP-Adapter scales differ from the block plan: " + "; ".join(wrong[:8]))
    if any(s != 0 for s in scales.values()) and not any(v != 0 for vs in actual.values() for v in vs):
        raise StylizeError("every IP-Adapter scale is 0 although non-zero block scales were planned")


def apply_block_scales(pipe: Any, scales: Mapping[str, float]) -> dict[str, float]:
    """Set the planned per-attention scales through `pipe.set_ip_adapter_scale`, then verify them."""
    unknown = sorted(set(scales) - set(cross_attentions(pipe.unet)))
    if unknown:
        raise StylizeError(f"attention(s) {unknown} do not exist in this UNet")
    pipe.set_ip_adapter_scale(diffusers_scale_config(pipe.unet, scales))
    verify_block_scales(pipe.unet, scales)
    return dict(scales)
