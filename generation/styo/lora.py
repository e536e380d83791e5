"""The LoRA option of IDL fine-tuning (for GPUs too small for a full UNet fine-tune with Adam), on peft.

The adapter goes on the UNet's attention projections (to_q, to_k, to_v, to_out.0), as diffusers' DreamBooth
LoRA script does; lora_alpha = rank, so the scale is 1. `init_lora_weights="gaussian"` starts B at zero, so
an untrained adapter leaves the base model's output unchanged. The adapter's state dict (peft layout, no
adapter name) is what a fine-tuned LoRA model stores, in safetensors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from indexer.compat import import_torchvision

from ..base import StylizeError

TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")


def _peft() -> Any:
    import_torchvision()  # peft imports transformers' image utilities, which import torchvision
    try:
        import peft
    except ImportError as exc:
        raise StylizeError(f"the LoRA option needs peft (pip install peft): {exc}") from exc
    return peft


def add_lora(unet: Any, rank: int, seed: int = 0) -> list[torch.nn.Parameter]:
    """Freeze `unet`, add a rank-`rank` adapter (seeded), and return its trainable parameters."""
    peft = _peft()
    unet.requires_grad_(False)
    config = peft.LoraConfig(r=int(rank), lora_alpha=int(rank), init_lora_weights="gaussian",
                             target_modules=list(TARGET_MODULES))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet.add_adapter(config)
    params = [p for p in unet.parameters() if p.requires_grad]
    for p in params:  # the adapter trains in float32 whatever the frozen base's dtype
        p.data = p.data.float()
    return params


def lora_state(unet: Any) -> dict[str, torch.Tensor]:
    """The adapter's weights (peft's layout), contiguous on CPU, ready for safetensors."""
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().to("cpu").contiguous() for k, v in get_peft_model_state_dict(unet).items()}


def load_lora(unet: Any, path: Path) -> None:
    """Load adapter weights saved by `lora_state` into a UNet that already has the adapter; every key must fit."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = load_file(str(path))
    result = set_peft_model_state_dict(unet, state)
    expected = set(lora_state(unet))
    if set(state) != expected or getattr(result, "unexpected_keys", None):
        raise StylizeError(f"{path} does not fit this UNet's LoRA adapter (rank or layers differ)")
