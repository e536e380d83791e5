"""The loss terms of DualStyleGAN's destylisation, latent optimisation and fine-tuning, on images in [-1, 1].

Networks with weights (used only when their weights are available locally, never downloaded):
- `VGG19Features`: torchvision's VGG19 `features` (names `features.N.*`), relu1_1 ... relu5_1, with the
  ImageNet normalisation mapped to [-1, 1] inputs, as the official `model/vgg.py`;
- `irse.ArcFace`: the IR-SE-50 ArcFace of `model_ir_se50.pth`, for the identity loss.

Terms: `perceptual` (L1 between VGG features, per-layer weights; the official fine-tuning uses this form,
its destylisation and code refinement use LPIPS-VGG instead: simplified here to this VGG19 feature
distance, which needs no LPIPS calibration weights), `contextual` (Mechrez et al. 2018, cosine, band 0.2,
on relu3_1), `feature_matching` (MSE between channel means of relu2_1 and relu3_1), `identity`
(1 - cosine of ArcFace embeddings of the central face crop), `latent_spread` (sigma(z+): the mean std of
the 18 rows, Eq. 1's regulariser), `noise_regularize` (StyleGAN2 projector's multi-scale autocorrelation),
`pixel_l2` (MSE at 256 px; what optimisation falls back to when no VGG weights are here).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
VGG_TAPS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in torchvision's numbering
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LOSS_SIZE = 256  # losses compare images at 256 px, as the official scripts do


class VGG19Features(nn.Module):
    """torchvision VGG19 `features` up to relu5_1; `forward` returns the five relu_1 maps."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                c = max(1, int(v * width))
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(inplace=False)]
                c_in = c
        self.features = nn.Sequential(*layers[: VGG_TAPS[-1] + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 2 - 1, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 2, persistent=False)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG_TAPS:
                taps.append(x)
        return taps


def vgg_state(full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries of a torchvision VGG19 state dict that `VGG19Features` uses (features up to relu5_1)."""
    return {k: v for k, v in full.items() if k.startswith("features.") and int(k.split(".")[1]) <= VGG_TAPS[-1]}


def to_loss_size(x: torch.Tensor, size: int = LOSS_SIZE) -> torch.Tensor:
    """Average-pool a square image down to `size` (exact when it divides; else antialiased resize)."""
    if x.shape[-1] == size:
        return x
    if x.shape[-1] % size == 0:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def perceptual(fake: Sequence[torch.Tensor], real: Sequence[torch.Tensor],
               weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """sum_i weights_i * L1(fake_i, real_i) over VGG feature maps (zero weights skip the layer)."""
    terms = [w * F.l1_loss(f, r.detach()) for w, f, r in zip(weights, fake, real) if w > 0]
    return torch.stack(terms).sum()


def contextual(x: torch.Tensor, y: torch.Tensor, band_width: float = 0.2, eps: float = 1e-5) -> torch.Tensor:
    """Contextual loss with cosine distances: features of x matched to their most similar feature of y.

    d_ij = 1 - cos(x_i - mu_y, y_j - mu_y); d~_ij = d_ij / (min_k d_ik + 1e-5); w_ij = exp((1 - d~_ij) / h);
    CX_ij = w_ij / sum_k w_ik; CX = mean_j max_i CX_ij; loss = mean over the batch of -log(CX + eps)."""
    n, c = x.shape[:2]
    mu = y.mean(dim=(0, 2, 3), keepdim=True)
    xv = F.normalize((x - mu).reshape(n, c, -1), dim=1)
    yv = F.normalize((y - mu).reshape(n, c, -1), dim=1)
    dist = 1 - torch.bmm(xv.transpose(1, 2), yv)  # (n, Nx, Ny)
    rel = dist / (dist.min(dim=2, keepdim=True)[0] + 1e-5)
    w = torch.exp((1 - rel) / band_width)
    cx = w / w.sum(dim=2, keepdim=True)
    return torch.mean(-torch.log(cx.max(dim=1)[0].mean(dim=1) + eps))


def feature_matching(fake: Sequence[torch.Tensor], real: Sequence[torch.Tensor], layers: Sequence[int] = (1, 2)):
    """MSE between the channel means (global average pools) of the chosen VGG layers."""
    return sum(F.mse_loss(fake[i].mean((2, 3)), real[i].mean((2, 3)).detach()) for i in layers)


def identity(arcface: nn.Module, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean(1 - <e(fake), e(real)>) of ArcFace embeddings of the face crop [35:223, 32:220] at 256 px."""
    dtype = next(arcface.parameters()).dtype

    def embed(img: torch.Tensor) -> torch.Tensor:
        crop = to_loss_size(img)[:, :, 35:223, 32:220]
        return arcface(F.adaptive_avg_pool2d(crop, arcface.input_size).to(dtype)).float()

    return (1 - (embed(fake) * embed(real).detach()).sum(1)).mean()


def latent_spread(z_plus: torch.Tensor) -> torch.Tensor:
    """sigma(z+): the standard deviation over the rows of each code, averaged (Eq. 1's regulariser)."""
    return z_plus.std(dim=1).mean()


def noise_regularize(noises: Sequence[torch.Tensor]) -> torch.Tensor:
    """Squared autocorrelation of each noise map at 1-pixel shifts, over a pyramid down to 8 px."""
    loss = torch.zeros(())
    for noise in noises:
        size = noise.shape[-1]
        while True:
            loss = loss.to(noise) + (noise * torch.roll(noise, 1, dims=3)).mean().pow(2) \
                + (noise * torch.roll(noise, 1, dims=2)).mean().pow(2)
            if size <= 8:
                break
            noise = noise.reshape(-1, 1, size // 2, 2, size // 2, 2).mean([3, 5])
            size //= 2
    return loss


def noise_normalize_(noises: Sequence[torch.Tensor]) -> None:
    """Re-standardise each optimised noise map in place (zero mean, unit std)."""
    with torch.no_grad():
        for noise in noises:
            noise.sub_(noise.mean()).div_(noise.std())


def pixel_l2(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """MSE between the two images (`fake` pooled to `real`'s size)."""
    return F.mse_loss(to_loss_size(fake, real.shape[-1]), real.detach())
