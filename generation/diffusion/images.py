"""PIL images <-> the (1, 3, H, W) tensors in [-1, 1] that diffusion models and their VAEs take.

Shared by the diffusion stylizers (DiffStyle, StyO), so every method resizes and crops the same way."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_tensor(image: Image.Image, height: int, width: int, device: torch.device | str) -> torch.Tensor:
    """RGB image -> (1, 3, height, width) in [-1, 1], resized to cover the size and centre-cropped (the
    models are trained on square crops; cropping keeps proportions instead of squashing)."""
    image = image.convert("RGB")
    w0, h0 = image.size
    scale = max(width / w0, height / h0)
    rw, rh = max(width, round(w0 * scale)), max(height, round(h0 * scale))
    image = image.resize((rw, rh), Image.Resampling.BICUBIC)
    left, top = (rw - width) // 2, (rh - height) // 2
    image = image.crop((left, top, left + width, top + height))
    arr = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).to(device)


def to_image(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) in [-1, 1] -> RGB image."""
    arr = ((tensor[0].detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(arr.permute(1, 2, 0).numpy())
